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
