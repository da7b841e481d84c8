//! Failure classes and the [`Classification`] every layer reads.

use std::fmt;
use std::time::Duration;

/// Why a call to the upstream failed, in the terms that decide what to do next.
///
/// | class | examples | recoverable |
/// |---|---|---|
/// | [`Unavailable`](Self::Unavailable) | `503`, `429`, connect refused, DNS failure, circuit open | yes |
/// | [`Gateway`](Self::Gateway) | `502`, `504` | yes |
/// | [`Connection`](Self::Connection) | reset, broken pipe, closed before a response | yes |
/// | [`Timeout`](Self::Timeout) | no answer within the deadline | yes |
/// | [`SessionLost`](Self::SessionLost) | `404` to a request carrying `Mcp-Session-Id` | yes, after re-initialize |
/// | [`Business`](Self::Business) | other `4xx`, JSON-RPC errors, `isError` results, invalid JSON | no |
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureClass {
    /// The upstream (or something in front of it) is not taking requests now.
    Unavailable,
    /// A gateway in front of the upstream failed (`502`, `504`).
    Gateway,
    /// The connection failed: reset, broken pipe, closed before a response.
    Connection,
    /// No answer within the deadline.
    Timeout,
    /// The upstream forgot the MCP session the request named.
    SessionLost,
    /// The upstream answered, and the answer is an error: retrying changes nothing.
    Business,
}

impl FailureClass {
    /// Every class, in a fixed order (for metrics that list them all).
    pub const ALL: [FailureClass; 6] = [
        FailureClass::Unavailable,
        FailureClass::Gateway,
        FailureClass::Connection,
        FailureClass::Timeout,
        FailureClass::SessionLost,
        FailureClass::Business,
    ];

    /// Whether reconnecting (or re-initializing) and trying again can help.
    pub const fn is_recoverable(self) -> bool {
        !matches!(self, FailureClass::Business)
    }

    /// A short lower-case name, stable for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureClass::Unavailable => "unavailable",
            FailureClass::Gateway => "gateway",
            FailureClass::Connection => "connection",
            FailureClass::Timeout => "timeout",
            FailureClass::SessionLost => "session_lost",
            FailureClass::Business => "business",
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a failed request reached the upstream MCP server.
///
/// This is half of retry safety: a request that provably never reached the
/// server may be sent again whatever it does; one that may have reached it is
/// sent again only when the operation is safe to repeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reached {
    /// Provably not: refused, never written, answered by a proxy that did not forward.
    No,
    /// Cannot be known: reset after the request was written, `502`, timeout.
    Unknown,
    /// The server answered.
    Yes,
}

impl Reached {
    /// A short lower-case name, stable for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reached::No => "no",
            Reached::Unknown => "unknown",
            Reached::Yes => "yes",
        }
    }
}

impl fmt::Display for Reached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified failure: its class, whether the request reached the server,
/// and how long the upstream asked us to wait (`Retry-After`).
///
/// This is also the `FailureClass` of this crate's tower-http classifier, so
/// `TraceLayer` and the reconnect layers agree on what a failure is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Failure {
    class: FailureClass,
    reached: Reached,
    retry_after: Option<Duration>,
    transport: bool,
}

impl Failure {
    /// A failure of `class` whose request did or did not reach the server.
    pub const fn new(class: FailureClass, reached: Reached) -> Self {
        Failure {
            class,
            reached,
            retry_after: None,
            transport: false,
        }
    }

    /// The same failure, marked as the transport's own (no HTTP answer came:
    /// refused, reset, closed, timed out) or not.
    pub const fn with_transport(mut self, transport: bool) -> Self {
        self.transport = transport;
        self
    }

    /// Whether no HTTP answer came: the transport failed (refused, reset,
    /// closed, timed out). A `503` or `502` is an answer, so not this.
    pub const fn is_transport(&self) -> bool {
        self.transport
    }

    /// Whether the failure proves the connection dead: the transport was
    /// refused, unreachable, reset or closed (a timeout proves nothing: the
    /// server may just be slow). Such failures reconnect at once.
    pub const fn proves_connection_dead(&self) -> bool {
        self.transport && matches!(self.class, FailureClass::Unavailable | FailureClass::Connection)
    }

    /// The same failure with the delay the upstream asked for.
    pub const fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The failure's class.
    pub const fn class(&self) -> FailureClass {
        self.class
    }

    /// Whether the request reached the server.
    pub const fn reached(&self) -> Reached {
        self.reached
    }

    /// The delay the upstream asked for (`Retry-After`), if any.
    pub const fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether reconnecting and trying again can help.
    pub const fn is_recoverable(&self) -> bool {
        self.class.is_recoverable()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (reached server: {})", self.class, self.reached)?;
        if let Some(after) = self.retry_after {
            write!(f, ", retry after {} ms", after.as_millis())?;
        }
        Ok(())
    }
}

/// The outcome of one upstream call, attached by `ClassifyLayer` to the
/// response extensions and read by the layers above it.
///
/// Layers that find no `Classification` compute one with
/// [`classify_response`](crate::classify_response), so each layer works alone.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Classification {
    /// The upstream answered and the answer is not an error.
    Success,
    /// The call failed.
    Failure(Failure),
}

impl Classification {
    /// Whether the call succeeded.
    pub const fn is_success(&self) -> bool {
        matches!(self, Classification::Success)
    }

    /// The failure, if the call failed.
    pub const fn failure(&self) -> Option<&Failure> {
        match self {
            Classification::Success => None,
            Classification::Failure(failure) => Some(failure),
        }
    }

    /// The failure's class, if the call failed.
    pub const fn class(&self) -> Option<FailureClass> {
        match self {
            Classification::Success => None,
            Classification::Failure(failure) => Some(failure.class),
        }
    }

    /// Whether the call failed in a way that reconnecting can help.
    pub const fn is_recoverable(&self) -> bool {
        match self {
            Classification::Success => false,
            Classification::Failure(failure) => failure.is_recoverable(),
        }
    }

    /// `"success"` or the failure class's name: a label for logs and metrics.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Classification::Success => "success",
            Classification::Failure(failure) => failure.class.as_str(),
        }
    }
}

impl From<Failure> for Classification {
    fn from(failure: Failure) -> Self {
        Classification::Failure(failure)
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Classification::Success => f.write_str("success"),
            Classification::Failure(failure) => failure.fmt(f),
        }
    }
}
