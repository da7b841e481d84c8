//! The errors this crate adds. Each keeps its cause as `source()`, so core's
//! `classify_error` finds the io or hyper error underneath.

use std::error::Error;
use std::fmt;

use mcp_reconnect_core::{BoxError, redact_url};

/// An upstream URL that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidTarget {
    url: String,
    reason: String,
}

impl InvalidTarget {
    pub(crate) fn new(url: &str, reason: impl Into<String>) -> Self {
        InvalidTarget {
            url: redact_url(url),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for InvalidTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid upstream URL {:?}: {}", self.url, self.reason)
    }
}

impl Error for InvalidTarget {}

/// The connector could not open a connection to the upstream (refused,
/// unreachable, DNS, TLS, connect timeout). Its `source()` is the cause, so
/// a refused connect classifies as `Unavailable`, not reached.
#[derive(Debug)]
pub struct ConnectError {
    upstream: String,
    source: BoxError,
}

impl ConnectError {
    pub(crate) fn new(upstream: String, source: BoxError) -> Self {
        ConnectError { upstream, source }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot connect to {}: {}", self.upstream, self.source)
    }
}

impl Error for ConnectError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// The session store failed (a shared store that is down, …).
#[derive(Debug)]
pub struct StoreError {
    source: BoxError,
}

impl StoreError {
    /// A store failure caused by `source`.
    pub fn new(source: impl Into<BoxError>) -> Self {
        StoreError {
            source: source.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session store failed: {}", self.source)
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// Re-initializing a lost upstream session failed; the client's session is
/// kept, and the next request tries again.
#[derive(Clone, Debug)]
pub struct ReinitFailed {
    pub(crate) reason: String,
}

impl fmt::Display for ReinitFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "re-initializing the upstream session failed: {}", self.reason)
    }
}

impl Error for ReinitFailed {}

/// The upstream answered `initialize` with an `Mcp-Session-Id` that is not
/// visible ASCII, or is too long.
#[derive(Clone, Copy, Debug, Default)]
pub struct InvalidUpstreamSession {
    _private: (),
}

impl InvalidUpstreamSession {
    pub(crate) const fn new() -> Self {
        InvalidUpstreamSession { _private: () }
    }
}

impl fmt::Display for InvalidUpstreamSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the upstream sent an invalid Mcp-Session-Id")
    }
}

impl Error for InvalidUpstreamSession {}
