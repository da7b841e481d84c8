//! The upstream's tool list, cached: refreshed when older than
//! [`CATALOG_TTL`], after the circuit reconnected (a new server may have
//! other tools), and on demand when a client names a tool not in it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mcp_reconnect_retry::ToolHints;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{CallError, McpClient};

/// How long a tool list is served before it is fetched again: 60 s.
pub const CATALOG_TTL: Duration = Duration::from_secs(60);
/// Least time between two fetches asked for on demand (an unknown tool): 1 s.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// The most `tools/list` pages fetched (bounds a server that pages forever).
pub const MAX_TOOL_PAGES: usize = 64;
/// The most tools kept from one server.
pub const MAX_TOOLS: usize = 4096;
/// The most bytes of `tools/list` results read from one server, over all
/// pages: 16 MiB. Past it the catalog keeps the tools read so far and says
/// it was cut short (a hostile or broken server cannot make the gateway
/// hold gigabytes of schemas).
pub const MAX_CATALOG_BYTES: usize = 16 * 1024 * 1024;

/// One tool, as `tools/list` described it.
#[derive(Clone, Debug, PartialEq)]
pub struct Tool {
    /// `name`: the REST route is `POST /<name>`.
    pub name: String,
    /// `title`, if given.
    pub title: Option<String>,
    /// `description`, if given.
    pub description: Option<String>,
    /// `inputSchema` (a JSON Schema object).
    pub input_schema: Value,
    /// `outputSchema`, if given.
    pub output_schema: Option<Value>,
    /// What `annotations` say about repeating a call (`readOnlyHint`, `idempotentHint`).
    pub hints: ToolHints,
}

impl Tool {
    fn from_json(value: &Value) -> Option<Tool> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        Some(Tool {
            name: text("name")?,
            title: text("title").or_else(|| value.pointer("/annotations/title")?.as_str().map(str::to_owned)),
            description: text("description"),
            input_schema: value
                .get("inputSchema")
                .filter(|schema| schema.is_object())
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"})),
            output_schema: value
                .get("outputSchema")
                .filter(|schema| schema.is_object())
                .cloned(),
            hints: ToolHints {
                read_only: value
                    .pointer("/annotations/readOnlyHint")
                    .and_then(Value::as_bool)
                    == Some(true),
                idempotent: value
                    .pointer("/annotations/idempotentHint")
                    .and_then(Value::as_bool)
                    == Some(true),
            },
        })
    }
}

/// The tool list at one moment.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// The tools, minus `disabledTools`, in the server's order.
    pub tools: Vec<Tool>,
    /// When the tools were fetched (`None`: never).
    pub fetched: Option<Instant>,
    /// The last fetch's failure, if it failed.
    pub error: Option<CallError>,
    /// Why the list was cut short ([`MAX_TOOLS`], [`MAX_CATALOG_BYTES`],
    /// [`MAX_TOOL_PAGES`]), if it was: the tools that fit are served.
    pub truncated: Option<String>,
    attempted: Option<Instant>,
    reconnects: u64,
}

impl Catalog {
    /// The tool named `name`.
    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|tool| tool.name == name)
    }
}

/// The cached catalog and the single-flight gate of its refresh.
#[derive(Debug, Default)]
pub(super) struct Cache {
    current: Mutex<Arc<Catalog>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl McpClient {
    /// The cached tool list, without any I/O.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The tool list, fetched first when stale; with `missing`, also when it
    /// lacks that tool (at most once per [`MIN_REFRESH_INTERVAL`]). A failed
    /// fetch keeps the tools fetched before and records the error.
    pub async fn tools(&self, missing: Option<&str>) -> Arc<Catalog> {
        let asked = Instant::now();
        let cached = self.catalog();
        if !self.needs_fetch(&cached, missing) {
            return cached;
        }
        let _gate = self.catalog.refreshing.lock().await;
        let cached = self.catalog();
        if cached.attempted.is_some_and(|at| at >= asked) || !self.needs_fetch(&cached, missing) {
            return cached;
        }
        let reconnects = self.upstream.status.reconnects_succeeded();
        let now = Instant::now();
        let next = match self.fetch_tools().await {
            Ok((tools, truncated)) => {
                if let Some(why) = &truncated {
                    tracing::warn!(upstream = %self.upstream.spec.display, tools = tools.len(), %why, "tool list cut short; serving the tools that fit");
                }
                // The retry layer learns annotations from `tools/list` answers it
                // sees to their end; tell it directly too, so REST calls of a
                // read-only tool are retried even if no client listed the tools.
                let safety = self.upstream.retry.tool_safety();
                for tool in &tools {
                    safety.record(tool.name.clone(), tool.hints);
                }
                tracing::debug!(upstream = %self.upstream.spec.display, tools = tools.len(), "tool list fetched");
                Catalog {
                    tools,
                    fetched: Some(now),
                    error: None,
                    truncated,
                    attempted: Some(now),
                    reconnects,
                }
            }
            Err(error) => {
                tracing::debug!(upstream = %self.upstream.spec.display, %error, "tool list not fetched");
                Catalog {
                    error: Some(error),
                    attempted: Some(now),
                    ..(*cached).clone()
                }
            }
        };
        let next = Arc::new(next);
        *self
            .catalog
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Arc::clone(&next);
        next
    }

    fn needs_fetch(&self, catalog: &Catalog, missing: Option<&str>) -> bool {
        let recently_tried = catalog
            .attempted
            .is_some_and(|at| at.elapsed() < MIN_REFRESH_INTERVAL);
        let Some(fetched) = catalog.fetched else {
            return !recently_tried;
        };
        if missing.is_some_and(|name| catalog.get(name).is_none()) && !recently_tried {
            return true;
        }
        let reconnected = self.upstream.status.reconnects_succeeded() != catalog.reconnects;
        (fetched.elapsed() >= CATALOG_TTL || reconnected) && !recently_tried
    }

    async fn fetch_tools(&self) -> Result<(Vec<Tool>, Option<String>), CallError> {
        /// A page, its tools left as JSON text until one is wanted.
        #[derive(serde::Deserialize)]
        struct Page<'a> {
            #[serde(borrow)]
            tools: Option<Vec<&'a RawValue>>,
            #[serde(rename = "nextCursor")]
            next_cursor: Option<Value>,
        }
        let disabled = &self.upstream.spec.disabled_tools;
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        let mut read = 0usize;
        for _ in 0..MAX_TOOL_PAGES {
            let params = match &cursor {
                Some(cursor) => json!({"cursor": cursor}),
                None => json!({}),
            };
            let result = self.request_text("tools/list", params).await?;
            read = read.saturating_add(result.get().len());
            if read > MAX_CATALOG_BYTES {
                let why = format!("the tool lists are over {MAX_CATALOG_BYTES} bytes");
                return Ok((tools, Some(why)));
            }
            let page: Page<'_> = super::from_object(result.get())
                .ok_or_else(|| CallError::Protocol("tools/list result is not an object".into()))?;
            let Some(listed) = page.tools else {
                return Err(CallError::Protocol(
                    "tools/list result has no `tools` array".into(),
                ));
            };
            for raw in listed {
                if tools.len() >= MAX_TOOLS {
                    return Ok((tools, Some(format!("more than {MAX_TOOLS} tools"))));
                }
                // Each tool is parsed alone: a page's tools never become one tree.
                let Ok(value) = serde_json::from_str::<Value>(raw.get()) else {
                    continue;
                };
                if let Some(tool) = Tool::from_json(&value).filter(|tool| !disabled.contains(&tool.name)) {
                    tools.push(tool);
                }
            }
            cursor = page
                .next_cursor
                .as_ref()
                .and_then(Value::as_str)
                .map(str::to_owned);
            if cursor.is_none() {
                return Ok((tools, None));
            }
        }
        Ok((tools, Some(format!("more than {MAX_TOOL_PAGES} pages"))))
    }
}
