//! [`StdioConfig`] and [`SseConfig`]: bounds on one link.

use std::time::Duration;

/// Default for [`StdioConfig::handshake_timeout`]: 30 s (a `uvx` or `npx`
/// child may download its package first).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default for [`StdioConfig::max_line`]: 16 MiB, the most one message from
/// the child may take; a longer line stops the child.
pub const DEFAULT_MAX_LINE: usize = 16 * 1024 * 1024;
/// Default for [`StdioConfig::stop_grace`]: 5 s between `TERM` and `KILL`.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);

/// How a [`StdioConnector`](crate::StdioConnector) runs its children.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StdioConfig {
    /// How long a new child has to answer `initialize`.
    pub handshake_timeout: Duration,
    /// The longest line read from the child's stdout.
    pub max_line: usize,
    /// How long a stopped child has between `TERM` and `KILL`.
    pub stop_grace: Duration,
}

impl Default for StdioConfig {
    fn default() -> Self {
        StdioConfig {
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_line: DEFAULT_MAX_LINE,
            stop_grace: DEFAULT_STOP_GRACE,
        }
    }
}

impl StdioConfig {
    mcp_reconnect_core::setters! {
        /// How long a new child has to answer `initialize`. Default is 30 s.
        pub fn handshake_timeout(handshake_timeout: Duration);

        /// The longest line read from the child's stdout. Default is 16 MiB.
        pub fn max_line(max_line: usize);

        /// How long a stopped child has between `TERM` and `KILL`. Default is 5 s.
        pub fn stop_grace(stop_grace: Duration);
    }
}

/// Default for [`SseConfig::handshake_timeout`]: 30 s.
pub const DEFAULT_SSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default for [`SseConfig::max_message`]: 16 MiB, the most one event from the server may take.
pub const DEFAULT_MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// How an [`SseConnector`](crate::SseConnector) links to its servers.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseConfig {
    /// How long the stream has to name its endpoint and the server to answer `initialize`.
    pub handshake_timeout: Duration,
    /// The longest event read from the stream; a longer one is dropped (and counted).
    pub max_message: usize,
}

impl Default for SseConfig {
    fn default() -> Self {
        SseConfig {
            handshake_timeout: DEFAULT_SSE_HANDSHAKE_TIMEOUT,
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }
}

impl SseConfig {
    mcp_reconnect_core::setters! {
        /// How long the stream has to name its endpoint and the server to answer
        /// `initialize` (each). Default is 30 s.
        pub fn handshake_timeout(handshake_timeout: Duration);

        /// The longest event read from the stream. Default is 16 MiB.
        pub fn max_message(max_message: usize);
    }
}
