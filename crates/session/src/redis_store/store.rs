//! [`RedisStore`]: the handle, the store behind it (its keys, its round trips
//! with a deadline, and the [`SessionStore`] operations over Redis and the
//! local cache).
//!
//! Longer than the other files on purpose: each operation is a Redis round
//! trip, its fallback to the local cache and its status bookkeeping, and
//! reading one means reading those three together.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{RedisResult, Script, Value as Reply};

use super::codec::{decode, encode, millis};
use super::config::RedisConfig;
use super::forward::forward_session_store;
use super::probe::spawn_probe;
use super::scripts::{CAS_SCRIPT, CLAIM_SCRIPT, RELEASE_SCRIPT};
use mcp_reconnect_core::status::StoreCounts;

use super::status::{Cell, DEGRADED, StoreStatus};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::memory::MemoryStore;
use crate::store::{ReinitClaim, SessionRecord, SessionStore, Swap};

/// Deletes remembered while Redis is unavailable, replayed when it returns: 10 000.
pub const MAX_PENDING_DELETES: usize = 10_000;

/// Client sessions in Redis, shared by every replica that uses the same
/// Redis and key prefix, with a local cache that keeps this replica working
/// while Redis is unavailable.
///
/// # What is stored
///
/// One string per client session, under `<prefix>session:<sha1 of the
/// client's id>` (the id itself, a bearer credential, is never a key or a
/// value), expiring by Redis' own TTL (`touch` is `PEXPIRE`): a small JSON
/// object with the client's `initialize` body, the upstream's session id,
/// the negotiated protocol version, the generation, the creation and
/// re-initialize times and the idle TTL. Never an API key, a client's or the
/// upstream's credentials: those travel in headers, which are not stored.
/// Besides: `<prefix>reinit:<sha1>:<generation>`, a short lease naming the
/// replica re-initializing a session, and `<prefix>epoch`, a random marker
/// that tells a replica Redis lost its data (restarted without persistence).
///
/// # Redis unavailable
///
/// Every operation has a deadline ([`RedisConfig::op_timeout`]). A failure
/// never reaches the session layer: the store turns *degraded*, counts the
/// error, and serves from its local cache — a bounded [`MemoryStore`] in
/// front of Redis that holds every session this replica created or loaded —
/// so existing sessions keep working and new ones are created locally. A
/// probe task checks Redis every [`RedisConfig::probe_interval`]; when Redis
/// answers again (or lost its data), the replica writes its local sessions
/// back (never over a newer generation), replays the deletes it missed, and
/// leaves the degraded state. [`RedisStore::status`] is the handle for
/// `/health` and `/metrics`.
///
/// # Re-initializing once
///
/// Re-initializes are arbitrated across replicas:
/// [`claim_reinit`](SessionStore::claim_reinit) is a lease (`SET NX PX` in a
/// script) on `(session, generation)`, and
/// [`compare_and_store`](SessionStore::compare_and_store) a script that
/// replaces the record only at the expected generation.
///
/// ```no_run
/// use std::sync::Arc;
/// use mcp_reconnect_session::SessionLayer;
/// use mcp_reconnect_session::{RedisConfig, RedisStore};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let store = RedisStore::connect(RedisConfig::new("redis://127.0.0.1:6379")).await?;
/// let status = store.status(); // for /health and /metrics
/// let layer = SessionLayer::with_store(Arc::new(store), Default::default());
/// # let _ = (layer, status);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    pub(super) inner: Arc<Inner>,
}

/// The store itself; [`RedisStore`] is a cheap handle on it, and the probe
/// task holds it weakly so that it ends with the last handle.
pub(super) struct Inner {
    pub(super) client: redis::Client,
    /// The connection; `None` after a failure, until the probe reconnects.
    pub(super) connection: Mutex<Option<MultiplexedConnection>>,
    pub(super) config: RedisConfig,
    pub(super) local: Arc<MemoryStore>,
    pub(super) cell: Arc<Cell>,
    /// This replica's name on the re-initialize leases.
    token: String,
    /// The epoch marker this replica last synchronized with.
    pub(super) known_epoch: Mutex<Option<String>>,
    /// Keys of sessions deleted while Redis was unavailable.
    pub(super) pending_deletes: Mutex<HashSet<String>>,
    cas: Script,
    claim: Script,
    release: Script,
}

impl RedisStore {
    /// A store on the Redis at `config`'s URL, synchronized with Redis
    /// before it returns (when Redis answers within the op timeout). A URL
    /// that cannot be used is an error; a Redis that does not answer is not:
    /// the store starts degraded (local sessions only) and joins Redis when
    /// it answers. Spawns the probe task (it ends when the last clone of the
    /// store is dropped).
    pub async fn connect(config: RedisConfig) -> Result<RedisStore, StoreError> {
        let inner = Inner::new(config)?;
        inner.probe().await;
        if inner.cell.is_degraded() {
            tracing::warn!(redis = %inner.config.display_url(), "Redis does not answer: sessions stay on this replica until it does");
        }
        spawn_probe(&inner, false)?;
        Ok(RedisStore { inner })
    }

    /// [`connect`](Self::connect) without waiting: the store starts degraded
    /// and the probe task synchronizes it with Redis at once, in the
    /// background (sessions opened meanwhile are written back). For code that
    /// builds its stack synchronously; it must run inside a tokio runtime
    /// (otherwise: an error).
    pub fn new(config: RedisConfig) -> Result<RedisStore, StoreError> {
        let inner = Inner::new(config)?;
        spawn_probe(&inner, true)?;
        Ok(RedisStore { inner })
    }

    /// The handle for `/health` and `/metrics`.
    pub fn status(&self) -> StoreStatus {
        StoreStatus::new(
            Arc::clone(&self.inner.cell),
            Arc::clone(&self.inner.local),
            self.inner.config.display_url(),
        )
    }

    /// The state now.
    pub fn stats(&self) -> StoreCounts {
        self.status().snapshot()
    }

    /// The settings.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish()
    }
}

forward_session_store!(RedisStore as inner: RedisStore { inner });

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each change is one assignment or set operation: a poisoned value is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The key part of a session: the SHA-1 of its id (40 hex characters). Only
/// preimage resistance matters here (an id is 128 random bits).
fn digest(id: &SessionId) -> String {
    sha1_smol::Sha1::from(id.as_str()).digest().to_string()
}

impl Inner {
    fn new(config: RedisConfig) -> Result<Arc<Inner>, StoreError> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|error| StoreError::new(format!("{}: {error}", config.display_url())))?;
        let token = SessionId::generate()
            .map_err(|error| StoreError::new(error.to_string()))?
            .as_str()
            .to_owned();
        let cell = Arc::new(Cell {
            // Degraded until the first probe has synchronized with Redis.
            state: AtomicU64::new(DEGRADED),
            ..Cell::default()
        });
        Ok(Arc::new(Inner {
            client,
            connection: Mutex::new(None),
            local: Arc::new(MemoryStore::cache(config.max_local_sessions)),
            config,
            cell,
            token,
            known_epoch: Mutex::new(None),
            pending_deletes: Mutex::new(HashSet::new()),
            cas: Script::new(CAS_SCRIPT),
            claim: Script::new(CLAIM_SCRIPT),
            release: Script::new(RELEASE_SCRIPT),
        }))
    }

    pub(super) fn session_key(&self, id: &SessionId) -> String {
        format!("{}session:{}", self.config.key_prefix, digest(id))
    }

    fn claim_key(&self, id: &SessionId, generation: u64) -> String {
        format!("{}reinit:{}:{generation}", self.config.key_prefix, digest(id))
    }

    pub(super) fn epoch_key(&self) -> String {
        format!("{}epoch", self.config.key_prefix)
    }

    fn degraded(&self) -> bool {
        self.cell.is_degraded()
    }

    pub(super) fn failed(&self, what: &str, error: &dyn fmt::Display) {
        // Whatever broke, the probe starts over with a new connection.
        *lock(&self.connection) = None;
        self.cell.errors.fetch_add(1, Ordering::Relaxed);
        if self.cell.degrade() {
            tracing::warn!(redis = %self.config.display_url(), %error, "session store degraded ({what} failed): sessions are served from this replica's memory");
        } else {
            tracing::debug!(%error, "Redis {what} failed");
        }
    }

    /// One Redis round trip on the current connection within the deadline;
    /// `None` (and degraded) when it fails or there is no connection.
    pub(super) async fn attempt<T, F>(
        &self,
        what: &str,
        op: impl FnOnce(MultiplexedConnection) -> F,
    ) -> Option<T>
    where
        F: Future<Output = RedisResult<T>>,
    {
        let connection = lock(&self.connection).clone();
        let Some(connection) = connection else {
            self.failed(what, &"not connected");
            return None;
        };
        match tokio::time::timeout(self.config.op_timeout, op(connection)).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                self.failed(what, &error);
                None
            }
            Err(_) => {
                let timeout = format!("no answer within {} ms", self.config.op_timeout.as_millis());
                self.failed(what, &timeout);
                None
            }
        }
    }

    async fn local_load(&self, id: &SessionId) -> Option<SessionRecord> {
        self.local.load(id).await.ok().flatten()
    }

    async fn local_store(&self, id: &SessionId, record: SessionRecord, idle_ttl: Duration) {
        // The in-memory store never fails.
        let _ = self.local.store(id, record, idle_ttl).await;
    }

    async fn local_swap(
        &self,
        id: &SessionId,
        expected: u64,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> Swap {
        match self.local.compare_and_store(id, expected, record, idle_ttl).await {
            Ok(swap) => swap,
            Err(_) => Swap::Conflict(None),
        }
    }
}

/// Never an error: whatever Redis does, the store answers from Redis or, when
/// Redis fails, from the local cache (degraded).
impl SessionStore for Inner {
    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        if self.degraded() {
            return Ok(self.local_load(id).await);
        }
        let key = self.session_key(id);
        let get = |mut conn: MultiplexedConnection| async move {
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<Vec<u8>>>(&mut conn)
                .await
        };
        let record = match self.attempt("GET", get).await {
            None => self.local_load(id).await,
            Some(Some(bytes)) => match decode(&bytes) {
                Ok((record, idle_ttl)) => {
                    self.local_store(id, record.clone(), idle_ttl).await;
                    Some(record)
                }
                Err(reason) => {
                    self.cell.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(session = %id, %reason, "unreadable session record in Redis; using the local copy");
                    self.local_load(id).await
                }
            },
            Some(None) => {
                let Some(cached) = self.local_load(id).await else {
                    return Ok(None);
                };
                if self.lost_data().await {
                    // The probe writes this replica's sessions back shortly.
                    return Ok(Some(cached));
                }
                // Expired, or ended on another replica.
                let _ = self.local.delete(id).await;
                None
            }
        };
        Ok(record)
    }

    async fn store(
        &self,
        id: &SessionId,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> Result<(), StoreError> {
        let value = encode(&record, idle_ttl);
        self.local_store(id, record, idle_ttl).await;
        if self.degraded() {
            return Ok(());
        }
        let Some(value) = value else {
            tracing::warn!(session = %id, "initialize body is not UTF-8 JSON: session kept on this replica only");
            return Ok(());
        };
        let key = self.session_key(id);
        let set = |mut conn: MultiplexedConnection| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(millis(idle_ttl))
                .query_async::<()>(&mut conn)
                .await
        };
        self.attempt("SET", set).await;
        Ok(())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let _ = self.local.delete(id).await;
        let key = self.session_key(id);
        if !self.degraded() {
            let key = key.clone();
            let del = |mut conn: MultiplexedConnection| async move {
                redis::cmd("DEL").arg(key).query_async::<i64>(&mut conn).await
            };
            if self.attempt("DEL", del).await.is_some() {
                return Ok(());
            }
        }
        let mut pending = lock(&self.pending_deletes);
        if pending.len() < MAX_PENDING_DELETES {
            pending.insert(key);
        }
        Ok(())
    }

    async fn touch(&self, id: &SessionId, idle_ttl: Duration) -> Result<(), StoreError> {
        let _ = self.local.touch(id, idle_ttl).await;
        if self.degraded() {
            return Ok(());
        }
        let key = self.session_key(id);
        let expire = |mut conn: MultiplexedConnection| async move {
            redis::cmd("PEXPIRE")
                .arg(key)
                .arg(millis(idle_ttl))
                .query_async::<i64>(&mut conn)
                .await
        };
        self.attempt("PEXPIRE", expire).await;
        Ok(())
    }

    async fn compare_and_store(
        &self,
        id: &SessionId,
        expected: u64,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> Result<Swap, StoreError> {
        let value = encode(&record, idle_ttl);
        let (false, Some(value)) = (self.degraded(), value) else {
            return Ok(self.local_swap(id, expected, record, idle_ttl).await);
        };
        let key = self.session_key(id);
        let mut invocation = self.cas.prepare_invoke();
        invocation.key(key).arg(expected).arg(value).arg(millis(idle_ttl));
        let swap = |mut conn: MultiplexedConnection| async move {
            invocation.invoke_async::<Reply>(&mut conn).await
        };
        let swap = match self.attempt("compare-and-set", swap).await {
            None => self.local_swap(id, expected, record, idle_ttl).await,
            Some(Reply::Int(1)) => {
                self.local_store(id, record, idle_ttl).await;
                Swap::Stored
            }
            Some(Reply::BulkString(current)) => match decode(&current) {
                Ok((current, current_ttl)) => {
                    self.local_store(id, current.clone(), current_ttl).await;
                    Swap::Conflict(Some(current))
                }
                Err(reason) => {
                    tracing::warn!(session = %id, %reason, "unreadable session record in Redis");
                    Swap::Conflict(None)
                }
            },
            Some(_) => {
                let _ = self.local.delete(id).await;
                Swap::Conflict(None)
            }
        };
        Ok(swap)
    }

    async fn claim_reinit(
        &self,
        id: &SessionId,
        generation: u64,
        lease: Duration,
    ) -> Result<ReinitClaim, StoreError> {
        if self.degraded() {
            return Ok(ReinitClaim::Granted);
        }
        let mut invocation = self.claim.prepare_invoke();
        invocation
            .key(self.claim_key(id, generation))
            .arg(&self.token)
            .arg(millis(lease));
        let claim =
            |mut conn: MultiplexedConnection| async move { invocation.invoke_async::<i64>(&mut conn).await };
        match self.attempt("claim", claim).await {
            Some(0) => Ok(ReinitClaim::Held),
            // Granted, or Redis cannot arbitrate: the compare-and-set still guards the record.
            _ => Ok(ReinitClaim::Granted),
        }
    }

    async fn release_reinit(&self, id: &SessionId, generation: u64) -> Result<(), StoreError> {
        if self.degraded() {
            return Ok(());
        }
        let mut invocation = self.release.prepare_invoke();
        invocation.key(self.claim_key(id, generation)).arg(&self.token);
        let release =
            |mut conn: MultiplexedConnection| async move { invocation.invoke_async::<i64>(&mut conn).await };
        self.attempt("release", release).await;
        Ok(())
    }
}
