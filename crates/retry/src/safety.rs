//! Which calls are safe to repeat: the read-only MCP methods, and the tools
//! whose `tools/list` annotations (or the configuration) say so.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use mcp_reconnect_core::peek::JsonRpcId;
use mcp_reconnect_core::sse::SseDecoder;
use serde_json::Value;

use crate::config::Config;

/// The MCP methods that are safe to send twice: they read, or (`initialize`)
/// only open a session a second time.
pub const SAFE_METHODS: [&str; 10] = [
    "ping",
    "tools/list",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "server/discover",
    "initialize",
];

/// The most tools remembered; tools listed beyond it stay unknown (not repeatable).
pub const MAX_LEARNED_TOOLS: usize = 4096;

/// The `tools/list` method, whose results teach tool annotations.
pub const TOOLS_LIST: &str = "tools/list";

/// What a tool's `annotations` say about repeating it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ToolHints {
    /// `readOnlyHint: true`: the tool does not change its environment.
    pub read_only: bool,
    /// `idempotentHint: true`: calling it again with the same arguments has no further effect.
    pub idempotent: bool,
}

impl ToolHints {
    /// Whether a call may be sent again after it may have run.
    pub fn is_repeatable(&self) -> bool {
        self.read_only || self.idempotent
    }
}

/// The annotations learned from `tools/list` answers, shared by every clone
/// of the layer (the lock is never held across an `.await`).
///
/// ```
/// use mcp_reconnect_retry::{ToolHints, ToolSafety};
///
/// let safety = ToolSafety::new();
/// let answer = br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[
///     {"name":"echo","inputSchema":{},"annotations":{"readOnlyHint":true}},
///     {"name":"increment","inputSchema":{}}]}}"#;
/// assert_eq!(safety.learn_from_tools_list(answer, false, &[]), 2);
/// assert!(safety.hints("echo").unwrap().is_repeatable());
/// assert_eq!(safety.hints("increment"), Some(ToolHints::default()));
/// assert_eq!(safety.hints("unknown"), None);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ToolSafety {
    tools: Arc<RwLock<HashMap<String, ToolHints>>>,
}

impl ToolSafety {
    /// An empty map: every tool unknown, so none repeatable.
    pub fn new() -> Self {
        Self::default()
    }

    /// What is known of `tool`.
    pub fn hints(&self, tool: &str) -> Option<ToolHints> {
        let tools = self.tools.read().unwrap_or_else(PoisonError::into_inner);
        tools.get(tool).copied()
    }

    /// Records `tool`'s hints (replacing older ones). Returns `false` when the
    /// map is full ([`MAX_LEARNED_TOOLS`]) and `tool` is new.
    pub fn record(&self, tool: impl Into<String>, hints: ToolHints) -> bool {
        self.record_all(std::iter::once((tool.into(), hints))) == 1
    }

    /// How many tools are known.
    pub fn len(&self) -> usize {
        self.tools.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no tool is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Learns the tools of a complete `tools/list` answer (JSON, or an SSE
    /// stream when `event_stream`); only responses whose id is in `ids` count,
    /// unless `ids` is empty. Returns how many tools were recorded.
    pub fn learn_from_tools_list(&self, body: &[u8], event_stream: bool, ids: &[JsonRpcId]) -> usize {
        let mut learned = Vec::new();
        if event_stream {
            let mut decoder = SseDecoder::new(body.len().max(1));
            let mut on_event = |event: mcp_reconnect_core::sse::SseEvent| {
                if let Ok(message) = serde_json::from_str::<Value>(&event.data) {
                    collect_tools(&message, ids, &mut learned);
                }
            };
            decoder.push(body, &mut on_event);
            // A stream may end without the blank line that dispatches its last event.
            decoder.push(b"\n\n", &mut on_event);
        } else if let Ok(message) = serde_json::from_slice::<Value>(body) {
            collect_tools(&message, ids, &mut learned);
        }
        self.record_all(learned)
    }

    fn record_all(&self, learned: impl IntoIterator<Item = (String, ToolHints)>) -> usize {
        let mut tools = self.tools.write().unwrap_or_else(PoisonError::into_inner);
        let mut recorded = 0;
        for (name, hints) in learned {
            if tools.len() < MAX_LEARNED_TOOLS || tools.contains_key(&name) {
                tools.insert(name, hints);
                recorded += 1;
            }
        }
        recorded
    }
}

/// The tools of a JSON-RPC response (or batch of them) to one of `ids`.
fn collect_tools(message: &Value, ids: &[JsonRpcId], learned: &mut Vec<(String, ToolHints)>) {
    if let Value::Array(batch) = message {
        for message in batch {
            collect_tools(message, ids, learned);
        }
        return;
    }
    let answers_us = ids.is_empty()
        || message
            .get("id")
            .is_some_and(|id| ids.iter().any(|ours| same_id(id, ours)));
    let Some(tools) = message.pointer("/result/tools").and_then(Value::as_array) else {
        return;
    };
    if !answers_us {
        return;
    }
    for tool in tools {
        let Some(name) = tool.get("name").and_then(Value::as_str) else {
            continue;
        };
        let hint = |key: &str| {
            tool.get("annotations")
                .and_then(|a| a.get(key))
                .and_then(Value::as_bool)
                == Some(true)
        };
        let hints = ToolHints {
            read_only: hint("readOnlyHint"),
            idempotent: hint("idempotentHint"),
        };
        learned.push((name.to_owned(), hints));
    }
}

fn same_id(value: &Value, id: &JsonRpcId) -> bool {
    match (value, id) {
        (Value::Number(a), JsonRpcId::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        (Value::String(a), JsonRpcId::String(b)) => a == b,
        (Value::Null, JsonRpcId::Null) => true,
        _ => false,
    }
}

/// Whether `method` is safe to send twice (see [`SAFE_METHODS`]).
pub fn is_safe_method(method: &str) -> bool {
    SAFE_METHODS.contains(&method)
}

/// Whether `tool` may be called again after it may have run: the deny list
/// wins, then the allow list, then the learned hints; unknown tools may not.
pub(crate) fn is_repeatable_tool(config: &Config, safety: &ToolSafety, tool: &str) -> bool {
    if config.deny_tools.contains(tool) {
        return false;
    }
    if config.allow_tools.contains(tool) {
        return true;
    }
    safety.hints(tool).is_some_and(|hints| hints.is_repeatable())
}
