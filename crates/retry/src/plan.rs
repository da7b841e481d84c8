//! What the layer may do with one request, decided once from its peek and headers.

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;
use mcp_reconnect_core::headers::{header_method, header_name};
use mcp_reconnect_core::peek::{JsonRpcId, MessageKind, MessagePeek, Peek};

use crate::config::Config;
use crate::safety::{TOOLS_LIST, ToolSafety, is_repeatable_tool, is_safe_method};

/// The facts about a request that its retry decisions need (cheap to clone:
/// the peek is shared).
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    peek: Option<Arc<Peek>>,
    retry: bool,
    headers_disagree: bool,
}

impl Plan {
    /// The plan for a request whose body peeked as `peek` (`None`: not JSON-RPC).
    /// `outer_attempt`: an outer retry layer owns the loop.
    pub(crate) fn new(peek: Option<Arc<Peek>>, headers: &HeaderMap, outer_attempt: bool) -> Plan {
        let retry = !outer_attempt && peek.as_deref().is_some_and(has_requests_only_valid);
        let headers_disagree = peek.as_deref().is_some_and(|peek| disagrees(peek, headers));
        Plan {
            peek,
            retry,
            headers_disagree,
        }
    }

    /// Whether failures of this request may be retried at all (a JSON-RPC
    /// request or batch with a request in it, and no outer retry loop).
    /// Anything else is forwarded once, untouched.
    pub(crate) fn retries(&self) -> bool {
        self.retry
    }

    /// Whether every message is a request that may be sent again after it may
    /// have reached the server.
    pub(crate) fn repeatable(&self, config: &Config, safety: &ToolSafety) -> bool {
        let Some(peek) = self.peek.as_deref() else {
            return false;
        };
        !self.headers_disagree
            && peek.messages().iter().all(|message| {
                message.kind() == MessageKind::Request
                    && match (message.method(), message.tool_name()) {
                        (_, Some(tool)) => is_repeatable_tool(config, safety, tool),
                        (Some(method), None) => is_safe_method(method),
                        (None, None) => false,
                    }
            })
    }

    /// The id to answer with: a single message's id; `null` for a batch.
    pub(crate) fn id(&self) -> Option<JsonRpcId> {
        self.single().and_then(|message| message.id().cloned())
    }

    /// The tool of a single `tools/call`.
    pub(crate) fn tool(&self) -> Option<&str> {
        self.single().and_then(MessagePeek::tool_name)
    }

    /// The ids of the `tools/list` requests, when there are any.
    pub(crate) fn tools_list_ids(&self) -> Option<Vec<JsonRpcId>> {
        let peek = self.peek.as_deref()?;
        let is_list = |m: &&MessagePeek| m.kind() == MessageKind::Request && m.method() == Some(TOOLS_LIST);
        let ids: Vec<_> = peek
            .messages()
            .iter()
            .filter(is_list)
            .filter_map(|m| m.id().cloned())
            .collect();
        (!ids.is_empty()).then_some(ids)
    }

    /// What to call the request in logs and error messages (never its arguments).
    pub(crate) fn label(&self) -> Label<'_> {
        match self.peek.as_deref() {
            Some(Peek::Batch(messages)) => Label::Batch(messages.len()),
            Some(Peek::Single(message)) => match (message.tool_name(), message.method()) {
                (Some(tool), _) => Label::Tool(tool),
                (None, Some(method)) => Label::Method(method),
                (None, None) => Label::Unknown,
            },
            None => Label::Unknown,
        }
    }

    fn single(&self) -> Option<&MessagePeek> {
        self.peek.as_deref().and_then(Peek::single)
    }
}

/// Whether every message is well-formed and at least one is a request.
fn has_requests_only_valid(peek: &Peek) -> bool {
    let messages = peek.messages();
    messages.iter().all(|m| m.kind() != MessageKind::Invalid)
        && match peek {
            Peek::Single(message) => message.kind() == MessageKind::Request,
            Peek::Batch(_) => messages.iter().any(|m| m.kind() == MessageKind::Request),
        }
}

/// Whether the 2026-07-28 `Mcp-Method` / `Mcp-Name` headers name something
/// other than the body (or come with a batch): then the call is not repeatable.
fn disagrees(peek: &Peek, headers: &HeaderMap) -> bool {
    let (method, name) = (header_method(headers), header_name(headers));
    if method.is_none() && name.is_none() {
        return false;
    }
    let Some(message) = peek.single() else {
        return true;
    };
    // `Mcp-Name` of `resources/read` names a URI, not `params.name`: compare only names.
    method.is_some_and(|m| message.method() != Some(m))
        || name.is_some_and(|n| message.params_name().is_some_and(|body| body != n))
}

/// A request's name for logs: `tool echo`, `ping`, `batch of 3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Label<'a> {
    Tool(&'a str),
    Method(&'a str),
    Batch(usize),
    Unknown,
}

impl fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Tool(tool) => write!(f, "tool {tool}"),
            Label::Method(method) => f.write_str(method),
            Label::Batch(len) => write!(f, "batch of {len}"),
            Label::Unknown => f.write_str("request"),
        }
    }
}
