//! Which connections have shown they belong: when every connection slot is
//! taken, the oldest connection that has not is dropped to make room, so a
//! crowd of clients without the key (or without a finished request) cannot
//! keep out the clients that have one.
//!
//! A connection is *proven* once a request on it passed the API key check
//! or, with no key configured, once it sent a whole request. Until then it
//! is listed here, oldest first.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// The connections not proven yet.
#[derive(Debug, Default)]
pub struct Unproven {
    next: AtomicU64,
    waiting: Mutex<BTreeMap<u64, Arc<Notify>>>,
}

impl Unproven {
    /// Lists a new connection; the mark is its handle.
    pub fn enter(self: &Arc<Self>) -> Arc<ConnectionProof> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let evicted = Arc::new(Notify::new());
        self.list().insert(id, Arc::clone(&evicted));
        Arc::new(ConnectionProof {
            id,
            proven: AtomicBool::new(false),
            evicted,
            unproven: Arc::clone(self),
        })
    }

    /// Tells the oldest unproven connection to close: `false` when there is none.
    pub fn evict_oldest(&self) -> bool {
        let Some((_, evicted)) = self.list().pop_first() else {
            return false;
        };
        // `notify_one` keeps the signal for a connection not waiting on it yet.
        evicted.notify_one();
        true
    }

    /// How many connections are not proven.
    pub fn len(&self) -> usize {
        self.list().len()
    }

    /// Whether every connection is proven.
    pub fn is_empty(&self) -> bool {
        self.list().is_empty()
    }

    fn list(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Notify>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One connection's standing, in its requests' extensions until proven
/// (the API key check proves it).
#[derive(Debug)]
pub struct ConnectionProof {
    id: u64,
    proven: AtomicBool,
    evicted: Arc<Notify>,
    unproven: Arc<Unproven>,
}

impl ConnectionProof {
    /// The connection has shown it belongs: never dropped to make room.
    pub fn prove(&self) {
        if !self.proven.swap(true, Ordering::Relaxed) {
            self.unproven.list().remove(&self.id);
        }
    }

    /// Whether [`prove`](Self::prove) was called.
    pub fn is_proven(&self) -> bool {
        self.proven.load(Ordering::Relaxed)
    }

    /// Resolves when the connection is to close to make room.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }
}

impl Drop for ConnectionProof {
    fn drop(&mut self) {
        if !self.is_proven() {
            self.unproven.list().remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_oldest_unproven_connection_goes_first_and_proven_ones_never() {
        let unproven = Arc::new(Unproven::default());
        let first = unproven.enter();
        let second = unproven.enter();
        let third = unproven.enter();
        first.prove();
        assert_eq!(unproven.len(), 2);
        assert!(unproven.evict_oldest());
        // The signal waits for the connection to look.
        tokio::time::timeout(std::time::Duration::from_secs(5), second.evicted())
            .await
            .expect("the second, oldest unproven, was told");
        drop(third);
        assert!(unproven.is_empty(), "a closed connection leaves the list");
        assert!(!unproven.evict_oldest(), "only proven connections are left");
        assert!(first.is_proven());
    }
}
