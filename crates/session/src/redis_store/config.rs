//! [`RedisConfig`]: where and how the Redis session store talks to Redis.

use std::fmt;
use std::time::Duration;

use mcp_reconnect_core::redact_url;

/// The default prefix of every key the store writes: `mcp-reconnect:`.
pub const DEFAULT_KEY_PREFIX: &str = "mcp-reconnect:";
/// The default deadline of one Redis round trip (connecting included): 500 ms.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(500);
/// The default interval between two checks of Redis: 1 s (a returning Redis
/// is noticed within about a second).
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Where and how [`RedisStore`](super::RedisStore) talks to Redis.
///
/// ```
/// use std::time::Duration;
/// use mcp_reconnect_session::RedisConfig;
///
/// let config = RedisConfig::new("redis://:secret@127.0.0.1:6379/0")
///     .key_prefix("mcp-reconnect:time-server:")
///     .op_timeout(Duration::from_millis(200));
/// assert!(!format!("{config:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    pub(super) url: String,
    pub(super) key_prefix: String,
    pub(super) op_timeout: Duration,
    pub(super) probe_interval: Duration,
    pub(super) max_local_sessions: usize,
}

impl RedisConfig {
    /// Redis at `url` (`redis://[:password@]host:port[/db]`), with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            op_timeout: DEFAULT_OP_TIMEOUT,
            probe_interval: DEFAULT_PROBE_INTERVAL,
            max_local_sessions: crate::config::DEFAULT_MAX_SESSIONS,
        }
    }

    /// The prefix of every key (one per session space: several gateways or
    /// upstreams may share one Redis). Default is [`DEFAULT_KEY_PREFIX`].
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    mcp_reconnect_core::setters! {
        /// The deadline of one Redis round trip. Default is [`DEFAULT_OP_TIMEOUT`].
        pub fn op_timeout(op_timeout: Duration);

        /// How often Redis is checked (and, after an outage, written back to).
        /// Default is [`DEFAULT_PROBE_INTERVAL`].
        pub fn probe_interval(probe_interval: Duration);
    }

    /// Sessions the local cache keeps (the least recently used go first).
    /// Default is 10 000, as the in-memory store; at least 1.
    pub fn max_local_sessions(mut self, max: usize) -> Self {
        self.max_local_sessions = max.max(1);
        self
    }

    /// The URL without its password, for logs.
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.display_url())
            .field("key_prefix", &self.key_prefix)
            .field("op_timeout", &self.op_timeout)
            .field("probe_interval", &self.probe_interval)
            .field("max_local_sessions", &self.max_local_sessions)
            .finish()
    }
}
