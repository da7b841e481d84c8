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

/// One tool, as `tools/list` described it. Its schemas stay the JSON text
/// the server sent: parsed into a tree only while a call is validated or the
/// OpenAPI document is built, so a catalog weighs what its JSON weighs.
#[derive(Clone, Debug)]
pub struct Tool {
    /// `name`: the REST route is `POST /<name>`.
    pub name: String,
    /// `title`, if given.
    pub title: Option<String>,
    /// `description`, if given.
    pub description: Option<String>,
    /// `inputSchema` (a JSON Schema object).
    pub input_schema: Box<RawValue>,
    /// `outputSchema`, if given.
    pub output_schema: Option<Box<RawValue>>,
    /// What `annotations` say about repeating a call (`readOnlyHint`, `idempotentHint`).
    pub hints: ToolHints,
}

impl PartialEq for Tool {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.title == other.title
            && self.description == other.description
            && self.hints == other.hints
            && self.input_schema.get() == other.input_schema.get()
            && self.output_schema.as_deref().map(RawValue::get)
                == other.output_schema.as_deref().map(RawValue::get)
    }
}

impl Tool {
    /// A tool named `name` taking `input_schema` (tests and examples).
    pub fn new(name: impl Into<String>, input_schema: &Value) -> Tool {
        Tool {
            name: name.into(),
            title: None,
            description: None,
            input_schema: to_raw(input_schema),
            output_schema: None,
            hints: ToolHints::default(),
        }
    }

    /// `inputSchema` as a tree.
    pub fn input_schema(&self) -> Value {
        serde_json::from_str(self.input_schema.get()).unwrap_or_else(|_| json!({"type": "object"}))
    }

    /// `outputSchema` as a tree, if given.
    pub fn output_schema(&self) -> Option<Value> {
        self.output_schema
            .as_ref()
            .and_then(|schema| serde_json::from_str(schema.get()).ok())
    }

    /// Reads one tool from its JSON text. Each member is read leniently: one
    /// of another type counts as absent (a tool without a string `name` is
    /// skipped). Only the schemas' text is kept, never their tree.
    fn from_text(text: &str) -> Option<Tool> {
        #[derive(serde::Deserialize)]
        struct Members<'a> {
            #[serde(borrow)]
            name: Option<&'a RawValue>,
            #[serde(borrow)]
            title: Option<&'a RawValue>,
            #[serde(borrow)]
            description: Option<&'a RawValue>,
            #[serde(borrow, rename = "inputSchema")]
            input_schema: Option<&'a RawValue>,
            #[serde(borrow, rename = "outputSchema")]
            output_schema: Option<&'a RawValue>,
            #[serde(borrow)]
            annotations: Option<&'a RawValue>,
        }
        #[derive(Default, serde::Deserialize)]
        struct Annotations {
            title: Option<Value>,
            #[serde(rename = "readOnlyHint")]
            read_only: Option<Value>,
            #[serde(rename = "idempotentHint")]
            idempotent: Option<Value>,
        }
        let members: Members<'_> = super::from_object(text)?;
        let text_of =
            |raw: Option<&RawValue>| raw.and_then(|raw| serde_json::from_str::<String>(raw.get()).ok());
        let object = |raw: Option<&RawValue>| {
            raw.filter(|raw| raw.get().starts_with('{'))
                .map(|raw| raw.to_owned())
        };
        let annotations: Annotations = members
            .annotations
            .and_then(|raw| super::from_object(raw.get()))
            .unwrap_or_default();
        Some(Tool {
            name: text_of(members.name)?,
            title: text_of(members.title).or_else(|| {
                annotations
                    .title
                    .and_then(|title| title.as_str().map(str::to_owned))
            }),
            description: text_of(members.description),
            input_schema: object(members.input_schema).unwrap_or_else(|| to_raw(&json!({"type": "object"}))),
            output_schema: object(members.output_schema),
            hints: ToolHints {
                read_only: annotations.read_only.as_ref().and_then(Value::as_bool) == Some(true),
                idempotent: annotations.idempotent.as_ref().and_then(Value::as_bool) == Some(true),
            },
        })
    }
}

/// `value`'s JSON text (writing a `Value` cannot fail).
fn to_raw(value: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_default()
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
            let result = match self.request_text("tools/list", params).await {
                Ok(result) => result,
                // One page over the answer limit: keep the pages before it.
                Err(CallError::TooLarge { limit }) => {
                    return Ok((tools, Some(format!("a tools/list page is over {limit} bytes"))));
                }
                Err(error) => return Err(error),
            };
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
                // Each tool is read alone, and its schemas stay text: a page
                // never becomes one tree.
                if let Some(tool) = Tool::from_text(raw.get()).filter(|tool| !disabled.contains(&tool.name)) {
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
