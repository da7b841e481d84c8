//! [`MemoryStore`]: the default, bounded, in-memory [`SessionStore`].

use std::collections::HashMap;
use std::fmt;
use std::future::{Future, ready};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::StoreError;
use crate::session::id::SessionId;
use crate::session::store::{SessionRecord, SessionStore, Swap};

/// How often the in-memory store drops expired sessions while it is not full: 60 s.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// The default [`SessionStore`]: a map in memory, bounded — at most
/// `max_sessions` sessions; when full, expired sessions go first, then the
/// least recently used — and with idle expiry (checked on load, swept every
/// [`SWEEP_INTERVAL`] and whenever it is full). Time is tokio's, so tests can
/// pause it.
///
/// ```
/// use std::time::Duration;
/// use bytes::Bytes;
/// use mcp_reconnect_upstream::session::{MemoryStore, SessionId, SessionRecord, SessionStore};
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
}

struct Entry {
    record: SessionRecord,
    used: Instant,
    expires: Instant,
}

impl MemoryStore {
    /// A store that keeps at most `max_sessions` sessions (at least 1).
    pub fn new(max_sessions: usize) -> Self {
        MemoryStore {
            max_sessions: max_sessions.max(1),
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                last_sweep: Instant::now(),
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
                inner.sessions.remove(id);
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
            inner.sessions.retain(|_, entry| entry.expires > now);
            inner.last_sweep = now;
        }
        if inner.sessions.len() >= self.max_sessions {
            let oldest = inner
                .sessions
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                tracing::debug!(session = %oldest, "session store full: least recently used session evicted");
                inner.sessions.remove(&oldest);
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
                inner.sessions.remove(id);
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
    fn load(&self, id: &SessionId) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send {
        ready(Ok(self.load_now(id)))
    }

    fn store(
        &self,
        id: &SessionId,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.store_now(id, record, idle_ttl);
        ready(Ok(()))
    }

    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.lock().sessions.remove(id);
        ready(Ok(()))
    }

    fn touch(
        &self,
        id: &SessionId,
        idle_ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.touch_now(id, idle_ttl);
        ready(Ok(()))
    }

    fn compare_and_store(
        &self,
        id: &SessionId,
        expected_generation: u64,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> impl Future<Output = Result<Swap, StoreError>> + Send {
        ready(Ok(self.compare_and_store_now(
            id,
            expected_generation,
            record,
            idle_ttl,
        )))
    }
}
