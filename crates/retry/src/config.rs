//! [`Config`]: how hard and how long [`ToolRetryLayer`](crate::ToolRetryLayer)
//! retries, and which tools it may repeat.

use std::collections::HashSet;
use std::time::Duration;

use mcp_reconnect_core::config::{ConfigError, Env, FromEnv};
use tower::retry::budget::TpsBudget;

/// Default for [`Config::max_retries`]: 2 retries, so at most 3 tries.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// The most retries a configuration may ask for (bounds the loop whatever the input).
pub const MAX_RETRIES_LIMIT: u32 = 10;
/// Default for [`Config::connection_timeout`]: the whole call, retries included, within 30 s.
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Default for [`Config::max_body`]: request bodies up to 4 MiB are buffered; larger ones get `413`.
pub const DEFAULT_MAX_BODY: usize = mcp_reconnect_core::peek::DEFAULT_PEEK_LIMIT;
/// Default for [`Config::tools_list_capture`]: at most 1 MiB of a `tools/list`
/// answer is copied to learn tool annotations.
pub const DEFAULT_TOOLS_LIST_CAPTURE: usize = 1024 * 1024;
/// Default retry budget window: a request's deposit counts for 10 s.
pub const DEFAULT_BUDGET_TTL: Duration = Duration::from_secs(10);
/// Default retry budget floor: 10 retries per second are always allowed.
pub const DEFAULT_BUDGET_MIN_PER_SEC: u32 = 10;
/// Default retry budget ratio: on top of the floor, 20% of requests may be retried.
pub const DEFAULT_BUDGET_RETRY_RATIO: f32 = 0.2;
/// Shortest budget window `TpsBudget` accepts.
pub const MIN_BUDGET_TTL: Duration = Duration::from_secs(1);
/// Longest budget window `TpsBudget` accepts.
pub const MAX_BUDGET_TTL: Duration = Duration::from_secs(60);
/// Largest retry ratio `TpsBudget` accepts (1000 retries per request).
pub const MAX_BUDGET_RETRY_RATIO: f32 = 1000.0;
/// Largest retry floor accepted (retries per second).
pub const MAX_BUDGET_MIN_PER_SEC: u32 = 1_000_000;

/// Environment variable for [`Config::max_retries`] (0 to [`MAX_RETRIES_LIMIT`]).
pub const ENV_MAX_RETRIES: &str = "MCPO_TOOL_MAX_RETRIES";
/// Environment variable for [`Config::connection_timeout`], in seconds.
pub use mcp_reconnect_core::config::ENV_CONNECTION_TIMEOUT;
/// Environment variable for [`Config::allow_tools`]: comma-separated tool names.
pub const ENV_RETRY_ALLOW: &str = "MCPO_TOOL_RETRY_ALLOW";
/// Environment variable for [`Config::deny_tools`]: comma-separated tool names.
pub const ENV_RETRY_DENY: &str = "MCPO_TOOL_RETRY_DENY";

/// The settings of [`ToolRetryLayer`](crate::ToolRetryLayer).
///
/// Precedence is builder, then environment, then these defaults; only the
/// gateway and the facade read the environment ([`Config::from_env`]).
///
/// ```
/// use mcp_reconnect_retry::{Config, FromEnv};
///
/// let env = |name: &str| match name {
///     "MCPO_TOOL_MAX_RETRIES" => Some("3".to_string()),
///     "MCPO_TOOL_RETRY_ALLOW" => Some("send_email_idempotent, lookup".to_string()),
///     _ => None,
/// };
/// let config = Config::from_lookup(env).unwrap();
/// assert_eq!(config.max_retries, 3);
/// assert!(config.allow_tools.contains("lookup"));
/// assert_eq!(config.connection_timeout.as_secs(), 30);
/// ```
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct Config {
    /// How many times a failed call may be sent again (at most [`MAX_RETRIES_LIMIT`]).
    pub max_retries: u32,
    /// The deadline of the whole call, retries and waits included.
    pub connection_timeout: Duration,
    /// The largest request body buffered; a larger one is answered `413`.
    pub max_body: usize,
    /// How many bytes of a `tools/list` answer are copied to learn tool annotations.
    pub tools_list_capture: usize,
    /// The retry budget that stops retry storms.
    pub budget: RetryBudget,
    /// Tools that may be repeated after an ambiguous failure, whatever their annotations say.
    pub allow_tools: HashSet<String>,
    /// Tools never repeated after an ambiguous failure, whatever their annotations
    /// (or the allow list) say. They are still retried when the request provably
    /// never reached the server.
    pub deny_tools: HashSet<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_retries: DEFAULT_MAX_RETRIES,
            connection_timeout: DEFAULT_CONNECTION_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            tools_list_capture: DEFAULT_TOOLS_LIST_CAPTURE,
            budget: RetryBudget::default(),
            allow_tools: HashSet::new(),
            deny_tools: HashSet::new(),
        }
    }
}

impl FromEnv for Config {
    fn read(&mut self, env: &Env<'_>) -> Result<(), ConfigError> {
        env.count(ENV_MAX_RETRIES, 0..=MAX_RETRIES_LIMIT, &mut self.max_retries)?;
        env.secs(ENV_CONNECTION_TIMEOUT, &mut self.connection_timeout)?;
        self.allow_tools.extend(names(env, ENV_RETRY_ALLOW));
        self.deny_tools.extend(names(env, ENV_RETRY_DENY));
        Ok(())
    }
}

impl Config {
    /// `max_retries`, capped at [`MAX_RETRIES_LIMIT`].
    pub(crate) fn retries(&self) -> u32 {
        self.max_retries.min(MAX_RETRIES_LIMIT)
    }
}

/// A comma-separated list of tool names.
fn names(env: &Env<'_>, name: &str) -> Vec<String> {
    let value = env.get(name).unwrap_or_default();
    value
        .split(',')
        .map(str::trim)
        .filter(|tool| !tool.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The parameters of the retry budget ([`TpsBudget`]): retries allowed per
/// second as a floor, plus a share of the recent requests.
///
/// Made only through [`RetryBudget::new`], which checks what `TpsBudget`
/// would otherwise panic on.
///
/// ```
/// use std::time::Duration;
/// use mcp_reconnect_retry::RetryBudget;
///
/// assert!(RetryBudget::new(Duration::from_secs(10), 5, 0.1).is_ok());
/// assert!(RetryBudget::new(Duration::from_secs(0), 5, 0.1).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryBudget {
    ttl: Duration,
    min_per_sec: u32,
    retry_ratio: f32,
}

impl RetryBudget {
    /// A budget where each request's deposit lasts `ttl` (1 to 60 s),
    /// `min_per_sec` retries per second are always allowed, and on top of that
    /// `retry_ratio` retries per request (0.2: one retry per five requests; 0 to 1000).
    pub fn new(ttl: Duration, min_per_sec: u32, retry_ratio: f32) -> Result<Self, ConfigError> {
        if !(MIN_BUDGET_TTL..=MAX_BUDGET_TTL).contains(&ttl) {
            return Err(ConfigError::new(
                "retry budget ttl",
                format!("{ttl:?}"),
                "1 to 60 seconds",
            ));
        }
        if min_per_sec > MAX_BUDGET_MIN_PER_SEC {
            return Err(ConfigError::new(
                "retry budget min_per_sec",
                min_per_sec.to_string(),
                format!("at most {MAX_BUDGET_MIN_PER_SEC}"),
            ));
        }
        if !(0.0..=MAX_BUDGET_RETRY_RATIO).contains(&retry_ratio) {
            return Err(ConfigError::new(
                "retry budget retry_ratio",
                retry_ratio.to_string(),
                "a ratio from 0 to 1000",
            ));
        }
        Ok(RetryBudget {
            ttl,
            min_per_sec,
            retry_ratio,
        })
    }

    /// How long one request's deposit counts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Retries per second always allowed.
    pub fn min_per_sec(&self) -> u32 {
        self.min_per_sec
    }

    /// Retries allowed per request on top of the floor.
    pub fn retry_ratio(&self) -> f32 {
        self.retry_ratio
    }

    pub(crate) fn build(&self) -> TpsBudget {
        TpsBudget::new(self.ttl, self.min_per_sec, self.retry_ratio)
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget {
            ttl: DEFAULT_BUDGET_TTL,
            min_per_sec: DEFAULT_BUDGET_MIN_PER_SEC,
            retry_ratio: DEFAULT_BUDGET_RETRY_RATIO,
        }
    }
}
