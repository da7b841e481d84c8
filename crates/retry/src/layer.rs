//! [`ToolRetryLayer`]: configuration and the state every service it makes shares.

use std::sync::Arc;
use std::time::Duration;

use tower::retry::budget::TpsBudget;
use tower_layer::Layer;

use crate::config::{Config, MAX_RETRIES_LIMIT, RetryBudget};
use crate::safety::ToolSafety;
use crate::service::ToolRetry;
use crate::stats::Stats;
use mcp_reconnect_core::status::RetryCounts;

/// Replays JSON-RPC calls after a reconnect when that is safe, and never runs
/// a call that is not safe to repeat twice.
///
/// Every clone of the layer, and every service it makes, shares one
/// configuration, one retry budget, one [`ToolSafety`] map and one set of
/// counters ([`stats`](Self::stats)). See the [crate docs](crate).
#[derive(Clone, Debug)]
pub struct ToolRetryLayer {
    pub(crate) shared: Arc<Shared>,
}

/// What every service of one layer shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) budget: Arc<TpsBudget>,
    pub(crate) safety: ToolSafety,
    pub(crate) stats: Arc<Stats>,
}

impl ToolRetryLayer {
    /// A layer with the defaults of [`Config`].
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// A layer with `config` (for instance from [`Config::from_env`]).
    pub fn with_config(config: Config) -> Self {
        let shared = Shared {
            budget: Arc::new(config.budget.build()),
            config,
            safety: ToolSafety::new(),
            stats: Arc::new(Stats::default()),
        };
        ToolRetryLayer {
            shared: Arc::new(shared),
        }
    }

    /// The same layer (same counters, tool map and budget) with a changed
    /// configuration; the budget is made anew only when its own settings
    /// changed. Services made before keep the configuration they were made with.
    fn with(self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.shared.config.clone();
        change(&mut config);
        let budget = if config.budget == self.shared.config.budget {
            Arc::clone(&self.shared.budget)
        } else {
            Arc::new(config.budget.build())
        };
        let shared = Shared {
            budget,
            config,
            safety: self.shared.safety.clone(),
            stats: Arc::clone(&self.shared.stats),
        };
        ToolRetryLayer {
            shared: Arc::new(shared),
        }
    }

    /// How many times a failed call may be sent again, at most
    /// [`MAX_RETRIES_LIMIT`]. Default is 2 (`MCPO_TOOL_MAX_RETRIES`).
    pub fn max_retries(self, retries: u32) -> Self {
        self.with(|config| config.max_retries = retries.min(MAX_RETRIES_LIMIT))
    }

    /// The deadline of a whole call, retries and waits included; when it
    /// passes the call ends with a `Timeout` error. Default is 30 s
    /// (`MCPO_CONNECTION_TIMEOUT`).
    pub fn connection_timeout(self, timeout: Duration) -> Self {
        self.with(|config| config.connection_timeout = timeout)
    }

    /// The largest request body buffered; a larger one is answered `413`
    /// without being forwarded. Default is 4 MiB.
    pub fn max_body(self, bytes: usize) -> Self {
        self.with(|config| config.max_body = bytes)
    }

    /// How many bytes of a `tools/list` answer are copied to learn tool
    /// annotations; a longer answer teaches nothing. Default is 1 MiB.
    pub fn tools_list_capture(self, bytes: usize) -> Self {
        self.with(|config| config.tools_list_capture = bytes)
    }

    /// The retry budget. Default is 10 retries per second plus 20% of the
    /// requests of the last 10 s.
    pub fn retry_budget(self, budget: RetryBudget) -> Self {
        self.with(|config| config.budget = budget)
    }

    /// Lets `tool` be repeated after an ambiguous failure whatever its
    /// annotations say. Default: no tool (`MCPO_TOOL_RETRY_ALLOW`).
    pub fn allow_tool(self, tool: impl Into<String>) -> Self {
        let tool = tool.into();
        self.with(|config| {
            config.allow_tools.insert(tool);
        })
    }

    /// Never repeats `tool` after an ambiguous failure, whatever its
    /// annotations or the allow list say. Default: no tool (`MCPO_TOOL_RETRY_DENY`).
    pub fn deny_tool(self, tool: impl Into<String>) -> Self {
        let tool = tool.into();
        self.with(|config| {
            config.deny_tools.insert(tool);
        })
    }

    /// Whether `tool` may be called again after it may have run: the deny
    /// list wins, then the allow list, then the tool's annotations as learned
    /// from `tools/list`; unknown tools may not. The one rule, for this layer
    /// and for any client that re-sends calls itself.
    pub fn is_repeatable_tool(&self, tool: &str) -> bool {
        crate::safety::is_repeatable_tool(&self.shared.config, &self.shared.safety, tool)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// A snapshot of the retry counters.
    pub fn stats(&self) -> RetryCounts {
        self.shared.stats.snapshot()
    }

    /// The tool annotations learned so far (a handle; cheap to clone).
    pub fn tool_safety(&self) -> ToolSafety {
        self.shared.safety.clone()
    }
}

impl Default for ToolRetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for ToolRetryLayer {
    type Service = ToolRetry<S>;

    fn layer(&self, inner: S) -> ToolRetry<S> {
        ToolRetry::new(inner, Arc::clone(&self.shared))
    }
}
