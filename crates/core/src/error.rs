//! Classifying errors (hyper, hyper-util, `std::io`, tokio and tower timeouts)
//! by walking their `source()` chain, and the error type that carries a class.

use std::error::Error;
use std::fmt;
use std::io;

use crate::class::{Failure, FailureClass, Reached};

/// A boxed error, as tower's services return them.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// An upstream call's error, with the class it was given.
///
/// `ClassifyLayer` returns this; the other layers find it anywhere in an
/// error's `source()` chain, so an error is classified once.
#[derive(Debug)]
pub struct ClassifiedError {
    failure: Failure,
    source: BoxError,
}

impl ClassifiedError {
    /// Wraps `source`, classifying it with [`classify_error`].
    pub fn classify(source: impl Into<BoxError>) -> Self {
        let source = source.into();
        let failure = classify_error(&*source);
        ClassifiedError { failure, source }
    }

    /// Wraps `source` with a class already known.
    pub fn new(failure: Failure, source: impl Into<BoxError>) -> Self {
        ClassifiedError {
            failure,
            source: source.into(),
        }
    }

    /// The failure's class, reach and `Retry-After`.
    pub fn failure(&self) -> &Failure {
        &self.failure
    }

    /// The error that was classified.
    pub fn into_source(self) -> BoxError {
        self.source
    }
}

impl fmt::Display for ClassifiedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "upstream call failed: {}", self.failure)
    }
}

impl Error for ClassifiedError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// An error and all its sources, outermost first.
pub fn chain<'a>(error: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

/// The first error of type `T` in `error`'s `source()` chain (linkerd's `cause_ref`).
pub fn cause_ref<'a, T: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a T> {
    chain(error).find_map(|e| e.downcast_ref::<T>())
}

/// Classifies an upstream call's error by walking its `source()` chain.
/// The hyper and hyper-util rows need the `hyper` feature, tower's `Elapsed`
/// the `tower` feature; without them such an error is read by the `std::io`
/// errors in its chain.
///
/// | found in the chain | class | reached the server? |
/// |---|---|---|
/// | a [`ClassifiedError`] | its class | its answer |
/// | hyper-util connect error (refused, DNS, connect timeout) | `Unavailable` (`Timeout` if timed out) | no |
/// | `io::ErrorKind::ConnectionRefused`, host/network unreachable | `Unavailable` | no |
/// | hyper "canceled" (the request was never sent) | `Connection` | no |
/// | reset, aborted, broken pipe, not connected, unexpected EOF, hyper incomplete message | `Connection` | unknown |
/// | `io::ErrorKind::TimedOut`, tokio or tower `Elapsed`, hyper timeout | `Timeout` | unknown |
/// | anything else | `Business` | unknown |
///
/// Every recognised failure is marked [`is_transport`](Failure::is_transport):
/// no HTTP answer came.
///
/// An error nobody recognises is not recoverable: retrying blindly could run
/// a tool twice for an error that was never about the connection.
///
/// ```
/// use std::io;
/// use mcp_reconnect_core::{FailureClass, Reached, classify_error};
///
/// let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
/// let failure = classify_error(&refused);
/// assert_eq!(failure.class(), FailureClass::Unavailable);
/// assert_eq!(failure.reached(), Reached::No);
/// ```
pub fn classify_error(error: &(dyn Error + 'static)) -> Failure {
    let mut class = None;
    #[cfg_attr(not(feature = "hyper"), allow(unused_mut))]
    let mut not_sent = false;
    for cause in chain(error) {
        if let Some(classified) = cause.downcast_ref::<ClassifiedError>() {
            return classified.failure.clone();
        }
        #[cfg(feature = "hyper")]
        if let Some((hyper_class, hyper_not_sent)) = hyper_cause(cause) {
            class = hyper_class.or(class);
            not_sent |= hyper_not_sent;
            continue;
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            // The innermost io error is the most precise: it wins.
            if let Some(io_class) = classify_io_kind(io.kind()) {
                class = Some(io_class);
            }
        } else if is_elapsed(cause) {
            class = Some(FailureClass::Timeout);
        }
    }
    let class = match class {
        Some(class) => class,
        // A connect error whose cause we do not know (DNS, TLS, proxy): unavailable.
        None if not_sent => FailureClass::Unavailable,
        None => return Failure::new(FailureClass::Business, Reached::Unknown),
    };
    let reached = if not_sent || class == FailureClass::Unavailable {
        Reached::No
    } else {
        Reached::Unknown
    };
    Failure::new(class, reached).with_transport(true)
}

/// What a hyper or hyper-util client error says: its class, if any, and
/// whether the request was certainly not sent. `None`: not one of theirs.
#[cfg(feature = "hyper")]
fn hyper_cause(cause: &(dyn Error + 'static)) -> Option<(Option<FailureClass>, bool)> {
    if let Some(client) = cause.downcast_ref::<hyper_util::client::legacy::Error>() {
        return Some((None, client.is_connect()));
    }
    let hyper = cause.downcast_ref::<hyper::Error>()?;
    Some(if hyper.is_canceled() {
        (Some(FailureClass::Connection), true)
    } else if hyper.is_timeout() {
        (Some(FailureClass::Timeout), false)
    } else if hyper.is_incomplete_message() || hyper.is_closed() || hyper.is_parse() {
        (Some(FailureClass::Connection), false)
    } else {
        (None, false)
    })
}

/// A deadline's error: tokio's `Elapsed`, or tower's with the `tower` feature.
fn is_elapsed(cause: &(dyn Error + 'static)) -> bool {
    #[cfg(feature = "tower")]
    if cause.is::<tower::timeout::error::Elapsed>() {
        return true;
    }
    cause.is::<tokio::time::error::Elapsed>()
}

/// The class of an `io::ErrorKind`, when it says something about the connection.
pub fn classify_io_kind(kind: io::ErrorKind) -> Option<FailureClass> {
    use io::ErrorKind::*;
    match kind {
        ConnectionRefused | HostUnreachable | NetworkUnreachable | NetworkDown | AddrNotAvailable => {
            Some(FailureClass::Unavailable)
        }
        ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected | UnexpectedEof => {
            Some(FailureClass::Connection)
        }
        TimedOut => Some(FailureClass::Timeout),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(BoxError);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapper")
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.0)
        }
    }

    fn of(kind: io::ErrorKind) -> Failure {
        classify_error(&Wrapper(Box::new(io::Error::from(kind))))
    }

    fn transport(class: FailureClass, reached: Reached) -> Failure {
        Failure::new(class, reached).with_transport(true)
    }

    #[test]
    fn io_kinds_follow_the_design_table() {
        use io::ErrorKind::*;
        for (kind, class, reached) in [
            (ConnectionRefused, FailureClass::Unavailable, Reached::No),
            (NetworkUnreachable, FailureClass::Unavailable, Reached::No),
            (HostUnreachable, FailureClass::Unavailable, Reached::No),
            (ConnectionReset, FailureClass::Connection, Reached::Unknown),
            (TimedOut, FailureClass::Timeout, Reached::Unknown),
        ] {
            assert_eq!(of(kind), transport(class, reached), "{kind:?}");
        }
        assert!(of(ConnectionRefused).proves_connection_dead());
        assert!(of(ConnectionReset).proves_connection_dead());
        assert!(!of(TimedOut).proves_connection_dead());
        assert_eq!(of(ConnectionAborted).class(), FailureClass::Connection);
        assert_eq!(of(BrokenPipe).class(), FailureClass::Connection);
        assert_eq!(of(NotConnected).class(), FailureClass::Connection);
        assert_eq!(
            of(PermissionDenied),
            Failure::new(FailureClass::Business, Reached::Unknown)
        );
    }

    #[test]
    fn a_classified_error_keeps_its_class_through_wrappers() {
        let inner = ClassifiedError::new(
            Failure::new(FailureClass::SessionLost, Reached::No),
            io::Error::from(io::ErrorKind::ConnectionReset),
        );
        let failure = classify_error(&Wrapper(Box::new(inner)));
        assert_eq!(failure.class(), FailureClass::SessionLost);
    }

    #[cfg(feature = "tower")]
    #[tokio::test(start_paused = true)]
    async fn timeouts_from_tokio_and_tower_are_timeouts() {
        let tokio_elapsed =
            tokio::time::timeout(std::time::Duration::from_millis(1), std::future::pending::<()>())
                .await
                .unwrap_err();
        assert_eq!(classify_error(&tokio_elapsed).class(), FailureClass::Timeout);
        let tower_elapsed = tower::timeout::error::Elapsed::new();
        assert_eq!(
            classify_error(&Wrapper(Box::new(tower_elapsed))).class(),
            FailureClass::Timeout
        );
    }

    #[test]
    fn unknown_errors_are_not_recoverable() {
        let failure = classify_error(&Wrapper("boom".into()));
        assert!(!failure.is_recoverable());
        assert_eq!(failure.reached(), Reached::Unknown);
    }

    #[test]
    fn cause_ref_finds_a_type_deep_in_the_chain() {
        let error = Wrapper(Box::new(Wrapper(Box::new(io::Error::from(
            io::ErrorKind::BrokenPipe,
        )))));
        let io = cause_ref::<io::Error>(&error).unwrap();
        assert_eq!(io.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(chain(&error).count(), 3);
    }
}
