//! The link connectors' errors, each classified for the layers above.

use std::fmt;
use std::sync::Arc;

use mcp_reconnect_core::{BoxError, ClassifiedError, Failure, FailureClass, Reached};

/// The child could not be started (no such command, not executable…).
#[derive(Debug)]
pub struct SpawnError {
    pub(crate) command: String,
    pub(crate) source: std::io::Error,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not start `{}`: {}", self.command, self.source)
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl From<SpawnError> for ClassifiedError {
    fn from(error: SpawnError) -> Self {
        ClassifiedError::new(
            Failure::new(FailureClass::Unavailable, Reached::No).with_transport(true),
            error,
        )
    }
}

/// The link is gone: the child exited, was killed or stopped for a bad
/// line, or the SSE stream ended. A call whose message was written may have
/// run (reach unknown); one that was not written never reached the server.
#[derive(Clone, Debug)]
pub struct Dead {
    why: Arc<str>,
    written: bool,
}

impl Dead {
    pub(crate) fn before_sending(why: &str) -> Self {
        Dead {
            why: Arc::from(why),
            written: false,
        }
    }

    pub(crate) fn after_sending(why: &str, written: bool) -> Self {
        Dead {
            why: Arc::from(why),
            written,
        }
    }

    /// Whether the call's message was written to the server before the link went.
    pub fn written(&self) -> bool {
        self.written
    }
}

impl fmt::Display for Dead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the server is gone: {}", self.why)
    }
}

impl std::error::Error for Dead {}

impl From<Dead> for ClassifiedError {
    /// A dead connection (the circuit respawns at once), reached only if written.
    fn from(dead: Dead) -> Self {
        let reached = if dead.written {
            Reached::Unknown
        } else {
            Reached::No
        };
        ClassifiedError::new(
            Failure::new(FailureClass::Connection, reached).with_transport(true),
            dead,
        )
    }
}

/// The child started, or the stream opened, but the server did not complete the MCP handshake.
#[derive(Debug)]
pub struct HandshakeError {
    pub(crate) server: String,
    pub(crate) why: String,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` did not complete the MCP initialize: {}",
            self.server, self.why
        )
    }
}

impl std::error::Error for HandshakeError {}

impl From<HandshakeError> for ClassifiedError {
    fn from(error: HandshakeError) -> Self {
        not_linked(error)
    }
}

/// A link that never came up: nothing of a call was sent, so a failed
/// connect, not reached, whatever went wrong.
pub(crate) fn not_linked(error: impl Into<BoxError>) -> ClassifiedError {
    ClassifiedError::new(
        Failure::new(FailureClass::Unavailable, Reached::No).with_transport(true),
        error,
    )
}
