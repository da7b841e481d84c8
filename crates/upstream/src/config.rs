//! Settings of the connector ([`Config`]): named defaults, each overridable
//! by a builder method or an `MCPO_*` environment variable (builder beats env
//! beats default). The session layer's are in `mcp-reconnect-session`.

use std::time::Duration;

use mcp_reconnect_core::config::{ConfigError, Env, FromEnv};

/// How long opening a connection (TCP, then TLS) may take: 30 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an idle pooled connection is kept: 90 s.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle pooled connections kept to the upstream: 256.
///
/// At least as many as calls in flight at a busy moment: when the pool keeps
/// fewer, every call past the limit closes its connection on the way back
/// and a later one opens a new one (BENCHMARKS.md measures what that cost).
/// 256 idle HTTP/1 connections hold a few MiB; they close after the idle
/// timeout.
pub const DEFAULT_POOL_MAX_IDLE: usize = 256;

/// `MCPO_CONNECTION_TIMEOUT`: seconds to connect (connector), and to re-initialize a session.
pub use mcp_reconnect_core::config::ENV_CONNECTION_TIMEOUT;

/// How the [`UpstreamConnector`](crate::UpstreamConnector) connects.
///
/// ```
/// use std::time::Duration;
/// use mcp_reconnect_upstream::{Config, FromEnv};
///
/// let env = |name: &str| (name == "MCPO_CONNECTION_TIMEOUT").then(|| "5".to_string());
/// let config = Config::from_lookup(env)?.http2_only(true);
/// assert_eq!(config.connect_timeout, Duration::from_secs(5));
/// assert!(Config::from_lookup(|_| Some("soon".into())).is_err());
/// # Ok::<(), mcp_reconnect_core::config::ConfigError>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// How long a connect attempt (TCP, TLS and the probe) may take.
    pub connect_timeout: Duration,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// Idle pooled connections kept per host.
    pub pool_max_idle: usize,
    /// Whether the upstream is spoken to in HTTP/2 only.
    pub http2_only: bool,
    /// Whether the client's `Authorization` and `Cookie` headers are forwarded.
    pub forward_client_credentials: bool,
    /// How a connect attempt proves the upstream up.
    pub probe: Probe,
}

/// How the connector proves an upstream is up before it hands out a service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Probe {
    /// A JSON-RPC `ping` `POST` to the server's URL, with the target's
    /// headers: any answer of the MCP server proves it up (a `400` or `404`
    /// for the missing session included); `502`/`503`/`504`, `429`, refused,
    /// reset and timeout prove it down. A `429`/`503` carrying a JSON-RPC
    /// error is the server's own (it is up, and full). The default: a proxy
    /// in front of the server accepts TCP while the server is down.
    #[default]
    Mcp,
    /// A TCP (and TLS) connect only: proves something listens.
    Connect,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
            pool_max_idle: DEFAULT_POOL_MAX_IDLE,
            http2_only: false,
            forward_client_credentials: false,
            probe: Probe::Mcp,
        }
    }
}

impl FromEnv for Config {
    fn read(&mut self, env: &Env<'_>) -> Result<(), ConfigError> {
        env.secs(ENV_CONNECTION_TIMEOUT, &mut self.connect_timeout)
    }
}

impl Config {
    mcp_reconnect_core::setters! {
        /// How long opening a connection may take. Default is 30 s (`MCPO_CONNECTION_TIMEOUT`).
        pub fn connect_timeout(connect_timeout: Duration);

        /// How long idle pooled connections are kept. Default is 90 s.
        pub fn pool_idle_timeout(pool_idle_timeout: Duration);

        /// Idle pooled connections kept. Default is [`DEFAULT_POOL_MAX_IDLE`] (256).
        pub fn pool_max_idle(pool_max_idle: usize);

        /// Speak HTTP/2 only: prior knowledge (h2c) to `http://` upstreams, and
        /// only `h2` offered in TLS. Default is off: HTTP/1.1 to `http://`, and
        /// HTTP/2 or HTTP/1.1 by ALPN to `https://`.
        pub fn http2_only(http2_only: bool);

        /// Forward the client's `Authorization`, `Proxy-Authorization` and
        /// `Cookie` headers. Default is off: a client's credentials are usually
        /// for the gateway, and the upstream's own go in the target's headers.
        pub fn forward_client_credentials(forward_client_credentials: bool);

        /// How a connect attempt proves the upstream up. Default is
        /// [`Probe::Mcp`], a `ping` to the MCP server itself.
        pub fn probe(probe: Probe);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_the_variable() {
        let error = Config::from_lookup(|_| Some("-1".into())).unwrap_err();
        assert_eq!(error.name(), ENV_CONNECTION_TIMEOUT);
        assert_eq!(Config::from_lookup(|_| None).unwrap(), Config::default());
    }
}
