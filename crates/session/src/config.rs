//! Settings of the session layer ([`SessionConfig`]): named defaults, each
//! overridable by a builder method or an `MCPO_*` environment variable
//! (builder beats env beats default).

use std::time::Duration;

use mcp_reconnect_core::config::{ConfigError, Env, FromEnv};

/// Client sessions the in-memory store keeps before evicting the least recently used: 10 000.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;
/// A client session unused this long is forgotten (the client then gets `404`
/// and initializes again, as the spec says): 1 hour.
pub const DEFAULT_SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// The largest request body the session layer reads (over it: `413`): 4 MiB.
pub const DEFAULT_MAX_BODY: usize = mcp_reconnect_core::body::DEFAULT_MESSAGE_LIMIT;
/// The largest `initialize` body kept per session for re-initializing: 16 KiB
/// (so the store holds at most `max_sessions` × 16 KiB of them).
pub const DEFAULT_MAX_INITIALIZE_BODY: usize = 16 * 1024;
/// How long re-initializing a lost upstream session may take: 30 s.
pub const DEFAULT_REINIT_TIMEOUT: Duration = Duration::from_secs(30);

/// `MCPO_CONNECTION_TIMEOUT`: seconds to connect (connector), and to re-initialize a session.
pub use mcp_reconnect_core::config::ENV_CONNECTION_TIMEOUT;
/// `MCPO_SESSION_MAX`: client sessions kept by the in-memory store.
pub const ENV_SESSION_MAX: &str = "MCPO_SESSION_MAX";
/// `MCPO_SESSION_IDLE_TIMEOUT`: seconds after which an unused client session is forgotten.
pub const ENV_SESSION_IDLE_TIMEOUT: &str = "MCPO_SESSION_IDLE_TIMEOUT";
/// `MCPO_SESSION_OPEN_RATE`: new client sessions a second (0: no bound).
pub const ENV_SESSION_OPEN_RATE: &str = "MCPO_SESSION_OPEN_RATE";
/// New client sessions opened a second, by default: 100 (a burst of as many).
/// Far above what people opening chats need, and low enough that one caller
/// needs minutes, not seconds, to push every other session out of a full
/// store or to fill a server's session limit.
pub const DEFAULT_SESSION_OPEN_RATE: u32 = 100;

/// The most sessions a setting may ask the in-memory store to keep.
const MAX_SESSIONS_SETTING: u32 = 10_000_000;

/// How the [`SessionLayer`](crate::SessionLayer) keeps client sessions.
///
/// ```
/// use std::time::Duration;
/// use mcp_reconnect_session::{FromEnv, SessionConfig};
///
/// let env = |name: &str| match name {
///     "MCPO_SESSION_MAX" => Some("500".to_string()),
///     "MCPO_SESSION_IDLE_TIMEOUT" => Some("600".to_string()),
///     _ => None,
/// };
/// let config = SessionConfig::from_lookup(env)?;
/// assert_eq!(config.max_sessions, 500);
/// assert_eq!(config.idle_timeout, Duration::from_secs(600));
/// # Ok::<(), mcp_reconnect_core::config::ConfigError>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Client sessions kept by the in-memory store (the least recently used goes first).
    pub max_sessions: usize,
    /// How long an unused client session is kept.
    pub idle_timeout: Duration,
    /// The largest request body read.
    pub max_body: usize,
    /// The largest `initialize` body kept for re-initializing.
    pub max_initialize_body: usize,
    /// How long re-initializing a lost session may take.
    pub reinit_timeout: Duration,
    /// New client sessions opened a second (0: no bound).
    pub open_rate: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_sessions: DEFAULT_MAX_SESSIONS,
            idle_timeout: DEFAULT_SESSION_IDLE_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            max_initialize_body: DEFAULT_MAX_INITIALIZE_BODY,
            reinit_timeout: DEFAULT_REINIT_TIMEOUT,
            open_rate: DEFAULT_SESSION_OPEN_RATE,
        }
    }
}

impl FromEnv for SessionConfig {
    fn read(&mut self, env: &Env<'_>) -> Result<(), ConfigError> {
        env.count(ENV_SESSION_MAX, 1..=MAX_SESSIONS_SETTING, &mut self.max_sessions)?;
        env.secs(ENV_SESSION_IDLE_TIMEOUT, &mut self.idle_timeout)?;
        env.secs(ENV_CONNECTION_TIMEOUT, &mut self.reinit_timeout)?;
        env.count(ENV_SESSION_OPEN_RATE, 0..=u32::MAX, &mut self.open_rate)
    }
}

impl SessionConfig {
    /// Client sessions kept by the in-memory store (the least recently used
    /// goes first). Default is 10 000 (`MCPO_SESSION_MAX`); at least 1.
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max.max(1);
        self
    }

    mcp_reconnect_core::setters! {
        /// How long an unused client session is kept. Default is 1 hour
        /// (`MCPO_SESSION_IDLE_TIMEOUT`).
        pub fn idle_timeout(idle_timeout: Duration);

        /// The largest request body read. Default is 4 MiB.
        pub fn max_body(max_body: usize);

        /// The largest `initialize` body kept for re-initializing. Default is 16 KiB.
        pub fn max_initialize_body(max_initialize_body: usize);

        /// How long re-initializing a lost session may take. Default is 30 s
        /// (`MCPO_CONNECTION_TIMEOUT`).
        pub fn reinit_timeout(reinit_timeout: Duration);

        /// New client sessions opened a second; an `initialize` over it gets
        /// `429`. Default is 100 (`MCPO_SESSION_OPEN_RATE`); 0 is no bound.
        pub fn open_rate(open_rate: u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_the_variable() {
        let error =
            SessionConfig::from_lookup(|name| (name == ENV_SESSION_MAX).then(|| "0".into())).unwrap_err();
        assert_eq!(error.name(), ENV_SESSION_MAX);
        assert_eq!(SessionConfig::default().max_sessions(0).max_sessions, 1);
    }
}
