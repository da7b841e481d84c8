//! The [`Attempt`] request extension: which try of a request this is.

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
