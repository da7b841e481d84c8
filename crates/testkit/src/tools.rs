//! The test server's tools, built with rmcp's `#[tool_router]` macros.
//!
//! | tool | arguments | answer | annotations |
//! |---|---|---|---|
//! | `echo` | `{text}` | the text | read-only |
//! | `add` | `{a, b}` numbers | the sum as text | read-only |
//! | `increment` | `{key}` | the key's new count | not read-only, not idempotent |
//! | `slow` | `{ms}` | `"slept N ms"` after N ms | read-only |
//! | `fail_business` | `{}` | an `isError` result | read-only |

use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;

use crate::counters::Counters;

/// The longest `slow` sleeps, whatever it is asked: 10 minutes.
pub const MAX_SLOW: Duration = Duration::from_secs(600);

/// The text of the `fail_business` tool's error result.
pub const BUSINESS_ERROR_TEXT: &str = "business rule violated (injected by fail_business)";

/// The server name the test server reports in `serverInfo`.
pub const SERVER_NAME: &str = "mcp-reconnect-testkit";

/// Arguments of `echo`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub(crate) struct EchoArgs {
    /// The text to send back.
    text: String,
}

/// Arguments of `add`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub(crate) struct AddArgs {
    /// The left operand.
    a: f64,
    /// The right operand.
    b: f64,
}

/// Arguments of `increment`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub(crate) struct IncrementArgs {
    /// The counter to increment.
    key: String,
}

/// Arguments of `slow`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub(crate) struct SlowArgs {
    /// How long to sleep, in milliseconds.
    ms: u64,
}

/// One incarnation's MCP handler; made anew for every session (or stateless
/// request), all sharing one [`Counters`].
#[derive(Debug, Clone)]
pub(crate) struct TestTools {
    counters: Arc<Counters>,
    tool_router: ToolRouter<Self>,
}

impl TestTools {
    /// A handler that counts into `counters`.
    pub(crate) fn new(counters: Arc<Counters>) -> Self {
        Self {
            counters,
            tool_router: Self::tool_router(),
        }
    }
}

#[tool_router]
impl TestTools {
    /// Returns the text it is given.
    #[tool(annotations(read_only_hint = true))]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        self.counters.record_call("echo");
        text
    }

    /// Adds two numbers and returns the sum as text.
    #[tool(annotations(read_only_hint = true))]
    fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> String {
        self.counters.record_call("add");
        (a + b).to_string()
    }

    /// Increments the counter named `key` and returns its new value. Not
    /// idempotent: running it twice counts twice.
    #[tool(annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false))]
    fn increment(&self, Parameters(IncrementArgs { key }): Parameters<IncrementArgs>) -> String {
        self.counters.record_call("increment");
        self.counters.increment(&key).to_string()
    }

    /// Sleeps `ms` milliseconds (at most 10 minutes), then answers "slept N ms".
    #[tool(annotations(read_only_hint = true))]
    async fn slow(&self, Parameters(SlowArgs { ms }): Parameters<SlowArgs>) -> String {
        self.counters.record_call("slow");
        tokio::time::sleep(Duration::from_millis(ms).min(MAX_SLOW)).await;
        format!("slept {ms} ms")
    }

    /// Always fails with an `isError` tool result (a business failure).
    #[tool(annotations(read_only_hint = true))]
    fn fail_business(&self) -> CallToolResult {
        self.counters.record_call("fail_business");
        CallToolResult::error(vec![ContentBlock::text(BUSINESS_ERROR_TEXT)])
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for TestTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION")))
    }
}
