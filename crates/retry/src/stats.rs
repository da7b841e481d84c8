//! Counters of what the retry layer did, shared by every clone of the layer
//! and its services, read as a cheap [`RetryStats`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the retry counters (`ToolRetryLayer::stats`).
///
/// Counters only grow; a reader (the health layer) computes rates from them.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RetryStats {
    /// Retries sent (each second or later try counts once).
    pub retries: u64,
    /// Calls that succeeded on a retry.
    pub succeeded_after_retry: u64,
    /// Ambiguous failures not retried because the call was not safe to repeat
    /// (answered with a `MAYBE_EXECUTED` JSON-RPC error).
    pub refused_unsafe: u64,
    /// Retries refused because the retry budget was empty.
    pub budget_exhausted: u64,
    /// Calls that failed with every allowed retry used, or whose `Retry-After`
    /// reached past the deadline.
    pub gave_up: u64,
    /// Calls ended by the deadline (`MCPO_CONNECTION_TIMEOUT`).
    pub deadline_exceeded: u64,
}

/// The live counters behind [`RetryStats`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    retries: AtomicU64,
    succeeded_after_retry: AtomicU64,
    refused_unsafe: AtomicU64,
    budget_exhausted: AtomicU64,
    gave_up: AtomicU64,
    deadline_exceeded: AtomicU64,
}

/// Which counter to bump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Retry,
    SucceededAfterRetry,
    RefusedUnsafe,
    BudgetExhausted,
    GaveUp,
    DeadlineExceeded,
}

impl Stats {
    pub(crate) fn count(&self, event: Event) {
        let counter = match event {
            Event::Retry => &self.retries,
            Event::SucceededAfterRetry => &self.succeeded_after_retry,
            Event::RefusedUnsafe => &self.refused_unsafe,
            Event::BudgetExhausted => &self.budget_exhausted,
            Event::GaveUp => &self.gave_up,
            Event::DeadlineExceeded => &self.deadline_exceeded,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> RetryStats {
        RetryStats {
            retries: self.retries.load(Ordering::Relaxed),
            succeeded_after_retry: self.succeeded_after_retry.load(Ordering::Relaxed),
            refused_unsafe: self.refused_unsafe.load(Ordering::Relaxed),
            budget_exhausted: self.budget_exhausted.load(Ordering::Relaxed),
            gave_up: self.gave_up.load(Ordering::Relaxed),
            deadline_exceeded: self.deadline_exceeded.load(Ordering::Relaxed),
        }
    }
}
