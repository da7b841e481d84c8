//! The Redis store's health: the shared state word and counters, and the
//! [`StoreStatus`] handle that reads them for `/health` and `/metrics`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mcp_reconnect_core::status::StoreCounts;

use crate::memory::MemoryStore;

/// The degraded bit of the store's state word (the rest counts failures).
pub(super) const DEGRADED: u64 = 1;

/// A handle on a [`RedisStore`](super::RedisStore)'s state for `/health` and `/metrics`
/// (cheap to clone; it does not keep the store's connection alive).
#[derive(Clone)]
pub struct StoreStatus {
    cell: Arc<Cell>,
    local: Arc<MemoryStore>,
    url: String,
}

impl StoreStatus {
    /// A handle on `cell`, `local` (the cache) and the store at `url` (its password removed).
    pub(super) fn new(cell: Arc<Cell>, local: Arc<MemoryStore>, url: String) -> Self {
        StoreStatus { cell, local, url }
    }

    /// The state now.
    pub fn snapshot(&self) -> StoreCounts {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut counts = StoreCounts::default();
        counts.degraded = self.cell.is_degraded();
        counts.errors = read(&self.cell.errors);
        counts.recoveries = read(&self.cell.recoveries);
        counts.written_back = read(&self.cell.written_back);
        counts.local_sessions = u64::try_from(self.local.len()).unwrap_or(u64::MAX);
        counts
    }

    /// Whether the store is degraded now.
    pub fn is_degraded(&self) -> bool {
        self.cell.is_degraded()
    }

    /// The Redis URL without its password.
    pub fn display_url(&self) -> &str {
        &self.url
    }
}

impl fmt::Debug for StoreStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreStatus")
            .field("url", &self.url)
            .field("stats", &self.snapshot())
            .finish()
    }
}

/// The state word and counters, shared with [`StoreStatus`].
#[derive(Default)]
pub(super) struct Cell {
    /// `(failures << 1) | DEGRADED`: a probe clears the bit only if no
    /// failure happened while it wrote back.
    pub(super) state: AtomicU64,
    pub(super) errors: AtomicU64,
    pub(super) recoveries: AtomicU64,
    pub(super) written_back: AtomicU64,
}

impl Cell {
    pub(super) fn is_degraded(&self) -> bool {
        self.state.load(Ordering::Acquire) & DEGRADED != 0
    }

    /// Sets the degraded bit and counts a failure; whether the store was healthy before.
    pub(super) fn degrade(&self) -> bool {
        let step = |state: u64| Some(((state >> 1).wrapping_add(1) << 1) | DEGRADED);
        match self.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, step) {
            Ok(before) | Err(before) => before & DEGRADED == 0,
        }
    }
}
