//! Counters of what the retry layer did, shared by every clone of the layer
//! and its services, read as a cheap [`RetryCounts`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

use mcp_reconnect_core::status::RetryCounts;

/// The live counters behind a [`RetryCounts`] snapshot.
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

    pub(crate) fn snapshot(&self) -> RetryCounts {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut counts = RetryCounts::default();
        counts.attempted = read(&self.retries);
        counts.succeeded = read(&self.succeeded_after_retry);
        counts.refused_unsafe = read(&self.refused_unsafe);
        counts.budget_exhausted = read(&self.budget_exhausted);
        counts.gave_up = read(&self.gave_up);
        counts.deadline_exceeded = read(&self.deadline_exceeded);
        counts
    }
}
