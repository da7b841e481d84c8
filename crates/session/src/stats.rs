//! [`SessionStats`]: what the session layer did, for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of what one [`SessionLayer`](crate::SessionLayer) did since it was
/// made (a snapshot; every counter only grows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionStats {
    /// Client sessions opened (`initialize` answered with a session).
    pub opened: u64,
    /// Client sessions ended by the client (`DELETE`).
    pub closed: u64,
    /// Lost upstream sessions restored by re-initializing.
    pub reinitialized: u64,
    /// Re-initializes that failed for now (the session was kept).
    pub reinit_failed: u64,
    /// Sessions that could not be restored (the client had to initialize again).
    pub dropped: u64,
    /// Requests answered `404` for an unknown or expired session id.
    pub unknown: u64,
    /// Requests answered `400` for an invalid session id.
    pub invalid: u64,
    /// Sessions the store ended (evicted, expired) that were closed upstream too.
    pub ended_upstream: u64,
    /// Sessions the store ended whose upstream `DELETE` failed or timed out.
    pub ending_failed: u64,
    /// `initialize`s refused with `429`: over the open rate (`MCPO_SESSION_OPEN_RATE`).
    pub open_refused: u64,
}

/// The live counters behind [`SessionStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) opened: AtomicU64,
    pub(crate) closed: AtomicU64,
    pub(crate) reinitialized: AtomicU64,
    pub(crate) reinit_failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) unknown: AtomicU64,
    pub(crate) invalid: AtomicU64,
    pub(crate) ended_upstream: AtomicU64,
    pub(crate) ending_failed: AtomicU64,
    pub(crate) open_refused: AtomicU64,
}

impl Counters {
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> SessionStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        SessionStats {
            opened: read(&self.opened),
            closed: read(&self.closed),
            reinitialized: read(&self.reinitialized),
            reinit_failed: read(&self.reinit_failed),
            dropped: read(&self.dropped),
            unknown: read(&self.unknown),
            invalid: read(&self.invalid),
            ended_upstream: read(&self.ended_upstream),
            ending_failed: read(&self.ending_failed),
            open_refused: read(&self.open_refused),
        }
    }
}
