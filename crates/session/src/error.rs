//! The session layer's errors: a failed store, a failed re-initialize, an
//! upstream's unusable session id.

use std::error::Error;
use std::fmt;

use mcp_reconnect_core::BoxError;

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
