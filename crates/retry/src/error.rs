//! The error the layer adds: the call's deadline passed.

use std::fmt;
use std::time::Duration;

/// The whole call, retries and waits included, did not finish within
/// `MCPO_CONNECTION_TIMEOUT`. The layer returns it inside a
/// [`ClassifiedError`](mcp_reconnect_core::ClassifiedError) of class `Timeout`.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadlineExceeded {
    /// The deadline that passed.
    pub timeout: Duration,
}

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call did not finish within {:?}", self.timeout)
    }
}

impl std::error::Error for DeadlineExceeded {}
