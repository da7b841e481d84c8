//! [`MemoryStore`]: the default, bounded, in-memory [`SessionStore`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::StoreError;
use crate::id::SessionId;
use crate::store::{SessionRecord, SessionStore, Swap};

/// How often the in-memory store drops expired sessions while it is not full: 60 s.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// The most ended sessions (evicted or expired) the in-memory store keeps
/// for the session layer to end upstream: past it, the oldest is dropped
/// (its upstream session then ends by the upstream's own idle timeout).
pub const MAX_ENDED: usize = 1024;

/// The default [`SessionStore`]: a map in memory, bounded — at most
/// `max_sessions` sessions; when full, expired sessions go first, then the
/// least recently used that is not pinned — and with idle expiry (checked on
/// load, swept every [`SWEEP_INTERVAL`] and whenever it is full). Evicted and
/// expired sessions are kept (at most [`MAX_ENDED`]) until the session layer
/// takes them to end them upstream ([`SessionStore::take_ended`]). Time is
/// tokio's, so tests can pause it.
///
/// ```
/// use std::time::Duration;
/// use bytes::Bytes;
/// use mcp_reconnect_session::{MemoryStore, SessionId, SessionRecord, SessionStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let store = MemoryStore::new(2);
/// let ttl = Duration::from_secs(60);
/// for _ in 0..3 {
///     let record = SessionRecord::new(Bytes::from_static(b"{}"), SessionId::generate()?);
///     store.store(&SessionId::generate()?, record, ttl).await?;
/// }
/// assert_eq!(store.len(), 2);
/// # Ok(())
/// # }
/// ```
pub struct MemoryStore {
    max_sessions: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    sessions: HashMap<SessionId, Entry>,
    last_sweep: Instant,
    /// Sessions the store ended itself, for the layer to end upstream.
    ended: VecDeque<SessionRecord>,
    /// Whether ended sessions are kept for [`SessionStore::take_ended`]
    /// (not in a shared store's local cache: its evictions end nothing).
    keep_ended: bool,
}

impl Inner {
    fn ended(&mut self, record: SessionRecord) {
        if !self.keep_ended {
            return;
        }
        if self.ended.len() >= MAX_ENDED {
            self.ended.pop_front();
        }
        self.ended.push_back(record);
    }

    fn sweep(&mut self, now: Instant) {
        let expired: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, entry)| entry.expires <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(entry) = self.sessions.remove(&id) {
                self.ended(entry.record);
            }
        }
        self.last_sweep = now;
    }
}

struct Entry {
    record: SessionRecord,
    used: Instant,
    expires: Instant,
}

impl MemoryStore {
    /// A store that keeps at most `max_sessions` sessions (at least 1).
    pub fn new(max_sessions: usize) -> Self {
        Self::build(max_sessions, true)
    }

    /// A store that forgets what it evicts: a cache in front of a shared store.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn cache(max_sessions: usize) -> Self {
        Self::build(max_sessions, false)
    }

    fn build(max_sessions: usize, keep_ended: bool) -> Self {
        MemoryStore {
            max_sessions: max_sessions.max(1),
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                last_sweep: Instant::now(),
                ended: VecDeque::new(),
                keep_ended,
            }),
        }
    }

    /// Sessions held now (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most sessions this store holds.
    pub fn max_sessions(&self) -> usize {
        self.max_sessions
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change is a single map operation, so a poisoned map is still consistent.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn load_now(&self, id: &SessionId) -> Option<SessionRecord> {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.sessions.get(id) {
            Some(entry) if entry.expires > now => Some(entry.record.clone()),
            Some(_) => {
                if let Some(entry) = inner.sessions.remove(id) {
                    inner.ended(entry.record);
                }
                None
            }
            None => None,
        }
    }

    fn store_now(&self, id: &SessionId, record: SessionRecord, idle_ttl: Duration) {
        let now = Instant::now();
        let entry = Entry {
            record,
            used: now,
            expires: now + idle_ttl,
        };
        let mut inner = self.lock();
        if let Some(existing) = inner.sessions.get_mut(id) {
            *existing = entry;
            return;
        }
        let full = inner.sessions.len() >= self.max_sessions;
        if full || now.duration_since(inner.last_sweep) >= SWEEP_INTERVAL {
            inner.sweep(now);
        }
        if inner.sessions.len() >= self.max_sessions {
            // A pinned session is never the one shed; if every session is
            // pinned, the least recently used goes all the same (the bound holds).
            let oldest = inner
                .sessions
                .iter()
                .min_by_key(|(_, entry)| (entry.record.is_pinned(), entry.used))
                .map(|(id, _)| id.clone());
            if let Some(entry) = oldest.and_then(|oldest| {
                tracing::debug!(session = %oldest, "session store full: least recently used session evicted");
                inner.sessions.remove(&oldest)
            }) {
                inner.ended(entry.record);
            }
        }
        inner.sessions.insert(id.clone(), entry);
    }

    /// [`SessionStore::compare_and_store`] under the map's lock.
    fn compare_and_store_now(
        &self,
        id: &SessionId,
        expected_generation: u64,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> Swap {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.sessions.get_mut(id) {
            Some(entry) if entry.expires > now && entry.record.generation() == expected_generation => {
                *entry = Entry {
                    record,
                    used: now,
                    expires: now + idle_ttl,
                };
                Swap::Stored
            }
            Some(entry) if entry.expires > now => Swap::Conflict(Some(entry.record.clone())),
            Some(_) => {
                if let Some(entry) = inner.sessions.remove(id) {
                    inner.ended(entry.record);
                }
                Swap::Conflict(None)
            }
            None => Swap::Conflict(None),
        }
    }

    /// The live sessions, each with the time it has left and its idle TTL
    /// (a shared store writes them back after an outage).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn entries(&self) -> Vec<(SessionId, SessionRecord, Duration, Duration)> {
        let now = Instant::now();
        self.lock()
            .sessions
            .iter()
            .filter(|(_, entry)| entry.expires > now)
            .map(|(id, entry)| {
                let left = entry.expires - now;
                let idle_ttl = entry.expires - entry.used;
                (id.clone(), entry.record.clone(), left, idle_ttl)
            })
            .collect()
    }

    /// Drops the expired sessions now (they are ended as on any sweep).
    pub fn sweep(&self) {
        self.lock().sweep(Instant::now());
    }

    fn take_ended_now(&self, max: usize) -> Vec<SessionRecord> {
        let mut inner = self.lock();
        let take = max.min(inner.ended.len());
        inner.ended.drain(..take).collect()
    }

    fn touch_now(&self, id: &SessionId, idle_ttl: Duration) {
        let now = Instant::now();
        if let Some(entry) = self.lock().sessions.get_mut(id) {
            entry.used = now;
            entry.expires = now + idle_ttl;
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(crate::config::DEFAULT_MAX_SESSIONS)
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.len())
            .field("max_sessions", &self.max_sessions)
            .finish()
    }
}

impl SessionStore for MemoryStore {
    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.load_now(id))
    }

    async fn store(
        &self,
        id: &SessionId,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> Result<(), StoreError> {
        self.store_now(id, record, idle_ttl);
        Ok(())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.lock().sessions.remove(id);
        Ok(())
    }

    async fn touch(&self, id: &SessionId, idle_ttl: Duration) -> Result<(), StoreError> {
        self.touch_now(id, idle_ttl);
        Ok(())
    }

    async fn compare_and_store(
        &self,
        id: &SessionId,
        expected_generation: u64,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> Result<Swap, StoreError> {
        Ok(self.compare_and_store_now(id, expected_generation, record, idle_ttl))
    }

    fn take_ended(&self, max: usize) -> Vec<SessionRecord> {
        self.take_ended_now(max)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn record(pinned: bool) -> SessionRecord {
        SessionRecord::new(Bytes::from_static(b"{}"), SessionId::generate().unwrap()).with_pinned(pinned)
    }

    #[tokio::test(start_paused = true)]
    async fn a_pinned_session_is_never_the_one_evicted_and_ended_ones_are_kept_for_the_layer() {
        let store = MemoryStore::new(2);
        let ttl = Duration::from_secs(60);
        let own = SessionId::generate().unwrap();
        store.store_now(&own, record(true), ttl);
        for _ in 0..5 {
            tokio::time::advance(Duration::from_millis(1)).await;
            store.store_now(&SessionId::generate().unwrap(), record(false), ttl);
        }
        assert!(store.load_now(&own).is_some(), "the pinned session stays");
        assert_eq!(store.len(), 2);
        let ended = store.take_ended_now(10);
        assert_eq!(ended.len(), 4, "each eviction is kept to be ended upstream");
        assert!(ended.iter().all(|record| !record.is_pinned()));
        assert!(store.take_ended_now(10).is_empty(), "taken once");

        // Expiry ends sessions too, pinned or not; a cache keeps nothing.
        tokio::time::advance(ttl * 2).await;
        store.sweep();
        assert_eq!((store.len(), store.take_ended_now(10).len()), (0, 2));
        let cache = MemoryStore::cache(1);
        for _ in 0..3 {
            cache.store_now(&SessionId::generate().unwrap(), record(false), ttl);
        }
        assert!(cache.take_ended_now(10).is_empty());
    }

    #[test]
    fn the_ended_queue_is_bounded() {
        let store = MemoryStore::new(1);
        let ttl = Duration::from_secs(60);
        for _ in 0..MAX_ENDED + 10 {
            store.store_now(&SessionId::generate().unwrap(), record(false), ttl);
        }
        assert_eq!(store.take_ended_now(usize::MAX).len(), MAX_ENDED);
    }
}
