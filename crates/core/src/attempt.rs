//! The [`Attempt`] request extension: which try of a request this is; and
//! [`Deadline`]: when the call it belongs to gives up.

/// Which try of a request this is, set by the retry layer that owns the loop.
///
/// A request that already carries an `Attempt` when it reaches a retry layer
/// is being retried by an outer layer: the inner one forwards it once and
/// never starts a loop of its own, so retries never multiply.
///
/// ```
/// use mcp_reconnect_core::Attempt;
///
/// let mut request = http::Request::new(());
/// assert_eq!(Attempt::of(&request), None);
/// request.extensions_mut().insert(Attempt::FIRST.next());
/// assert_eq!(Attempt::of(&request).map(|a| a.number()), Some(2));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Attempt {
    number: u32,
}

impl Attempt {
    /// The first try.
    pub const FIRST: Attempt = Attempt { number: 1 };

    /// The try numbered `number` (1-based; 0 is taken as 1).
    pub const fn new(number: u32) -> Self {
        Attempt {
            number: if number == 0 { 1 } else { number },
        }
    }

    /// The 1-based number of this try.
    pub const fn number(self) -> u32 {
        self.number
    }

    /// Whether this is a retry (not the first try).
    pub const fn is_retry(self) -> bool {
        self.number > 1
    }

    /// The try after this one.
    pub const fn next(self) -> Self {
        Attempt {
            number: self.number.saturating_add(1),
        }
    }

    /// The attempt a request carries, if a retry layer set one.
    pub fn of<B>(request: &http::Request<B>) -> Option<Attempt> {
        request.extensions().get::<Attempt>().copied()
    }
}

/// When the call a request belongs to gives up, set by the layer that owns
/// the deadline (the retry layer). A layer below whose future is dropped at
/// or after it learns the call timed out, rather than that its caller left:
/// the circuit counts that as a `Timeout` outcome.
///
/// ```
/// use std::time::Duration;
/// use mcp_reconnect_core::Deadline;
///
/// let mut request = http::Request::new(());
/// assert_eq!(Deadline::of(&request), None);
/// let deadline = Deadline::after(Duration::from_secs(30));
/// request.extensions_mut().insert(deadline);
/// assert!(!Deadline::of(&request).unwrap().has_passed());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Deadline(tokio::time::Instant);

impl Deadline {
    /// The deadline at `at`.
    pub const fn at(at: tokio::time::Instant) -> Self {
        Deadline(at)
    }

    /// The deadline `timeout` from now.
    pub fn after(timeout: std::time::Duration) -> Self {
        Deadline(tokio::time::Instant::now() + timeout)
    }

    /// When it is.
    pub const fn instant(self) -> tokio::time::Instant {
        self.0
    }

    /// Whether it has passed.
    pub fn has_passed(self) -> bool {
        tokio::time::Instant::now() >= self.0
    }

    /// The deadline a request carries, if a layer above set one.
    pub fn of<B>(request: &http::Request<B>) -> Option<Deadline> {
        request.extensions().get::<Deadline>().copied()
    }
}
