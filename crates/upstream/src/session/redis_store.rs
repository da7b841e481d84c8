//! [`RedisStore`]: client sessions in Redis, shared by gateway replicas
//! behind a load balancer (cargo feature `redis`), and [`AnyStore`], the
//! in-memory or the Redis store chosen at run time.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderValue;
use mcp_reconnect_core::redact_url;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisResult, Script, Value as Reply};
use serde_json::{Value, json};

use crate::error::StoreError;
use crate::session::id::SessionId;
use crate::session::memory::MemoryStore;
use crate::session::store::{ReinitClaim, SessionRecord, SessionStore, Swap};

/// The default prefix of every key the store writes: `mcp-reconnect:`.
pub const DEFAULT_KEY_PREFIX: &str = "mcp-reconnect:";
/// The default deadline of one Redis round trip (connecting included): 500 ms.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(500);
/// The default interval between two checks of Redis: 1 s (a returning Redis
/// is noticed within about a second).
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Sessions written back per pipelined round trip after an outage: 256.
pub const WRITEBACK_BATCH: usize = 256;
/// Deletes remembered while Redis is unavailable, replayed when it returns: 10 000.
pub const MAX_PENDING_DELETES: usize = 10_000;

/// The version of the stored JSON record.
const RECORD_VERSION: u64 = 1;
/// The degraded bit of the store's state word (the rest counts failures).
const DEGRADED: u64 = 1;

/// Replaces the record if it is still at generation `ARGV[1]`. Returns 1
/// (stored), 0 (no session), or the current record (conflict).
const CAS_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, decoded = pcall(cjson.decode, current)
if ok and type(decoded) == 'table' and decoded['generation'] ~= tonumber(ARGV[1]) then return current end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// Writes a record back unless Redis holds the same or a newer generation.
const RESTORE_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and tonumber(decoded['generation']) ~= nil
     and decoded['generation'] >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// Takes (or renews, for the same holder) the lease on a re-initialize. 1: granted.
const CLAIM_SCRIPT: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// Ends the lease if this holder still has it.
const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Where and how [`RedisStore`] talks to Redis.
///
/// ```
/// use std::time::Duration;
/// use mcp_reconnect_upstream::session::RedisConfig;
///
/// let config = RedisConfig::new("redis://:secret@127.0.0.1:6379/0")
///     .key_prefix("mcp-reconnect:time-server:")
///     .op_timeout(Duration::from_millis(200));
/// assert!(!format!("{config:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    url: String,
    key_prefix: String,
    op_timeout: Duration,
    probe_interval: Duration,
    max_local_sessions: usize,
}

impl RedisConfig {
    /// Redis at `url` (`redis://[:password@]host:port[/db]`), with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            op_timeout: DEFAULT_OP_TIMEOUT,
            probe_interval: DEFAULT_PROBE_INTERVAL,
            max_local_sessions: crate::config::DEFAULT_MAX_SESSIONS,
        }
    }

    /// The prefix of every key (one per session space: several gateways or
    /// upstreams may share one Redis). Default is [`DEFAULT_KEY_PREFIX`].
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The deadline of one Redis round trip. Default is [`DEFAULT_OP_TIMEOUT`].
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// How often Redis is checked (and, after an outage, written back to).
    /// Default is [`DEFAULT_PROBE_INTERVAL`].
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// Sessions the local cache keeps (the least recently used go first).
    /// Default is 10 000, as the in-memory store; at least 1.
    pub fn max_local_sessions(mut self, max: usize) -> Self {
        self.max_local_sessions = max.max(1);
        self
    }

    /// The URL without its password, for logs.
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.display_url())
            .field("key_prefix", &self.key_prefix)
            .field("op_timeout", &self.op_timeout)
            .field("probe_interval", &self.probe_interval)
            .field("max_local_sessions", &self.max_local_sessions)
            .finish()
    }
}

/// What a [`RedisStore`] went through (a snapshot; counters only grow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Redis is unavailable (or lost its data and the write-back is pending):
    /// sessions are served from this replica's memory.
    pub degraded: bool,
    /// Failed Redis round trips (errors and timeouts, probes included).
    pub errors: u64,
    /// Times the store left the degraded state.
    pub recoveries: u64,
    /// Sessions written back to Redis after an outage or a data loss.
    pub written_back: u64,
    /// Sessions in the local cache now.
    pub local_sessions: usize,
}

/// A handle on a [`RedisStore`]'s state for `/health` and `/metrics`
/// (cheap to clone; it does not keep the store's connection alive).
#[derive(Clone)]
pub struct StoreStatus {
    cell: Arc<Cell>,
    local: Arc<MemoryStore>,
    url: String,
}

impl StoreStatus {
    /// The state now.
    pub fn snapshot(&self) -> StoreStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StoreStats {
            degraded: self.cell.is_degraded(),
            errors: read(&self.cell.errors),
            recoveries: read(&self.cell.recoveries),
            written_back: read(&self.cell.written_back),
            local_sessions: self.local.len(),
        }
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
struct Cell {
    /// `(failures << 1) | DEGRADED`: a probe clears the bit only if no
    /// failure happened while it wrote back.
    state: AtomicU64,
    errors: AtomicU64,
    recoveries: AtomicU64,
    written_back: AtomicU64,
}

impl Cell {
    fn is_degraded(&self) -> bool {
        self.state.load(Ordering::Acquire) & DEGRADED != 0
    }

    /// Sets the degraded bit and counts a failure; whether the store was healthy before.
    fn degrade(&self) -> bool {
        let step = |state: u64| Some(((state >> 1).wrapping_add(1) << 1) | DEGRADED);
        match self.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, step) {
            Ok(before) | Err(before) => before & DEGRADED == 0,
        }
    }
}

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
/// use mcp_reconnect_upstream::SessionLayer;
/// use mcp_reconnect_upstream::session::{RedisConfig, RedisStore};
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
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// The connection; `None` after a failure, until the probe reconnects.
    connection: Mutex<Option<MultiplexedConnection>>,
    config: RedisConfig,
    local: Arc<MemoryStore>,
    cell: Arc<Cell>,
    /// This replica's name on the re-initialize leases.
    token: String,
    /// The epoch marker this replica last synchronized with.
    known_epoch: Mutex<Option<String>>,
    /// Keys of sessions deleted while Redis was unavailable.
    pending_deletes: Mutex<HashSet<String>>,
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
        StoreStatus {
            cell: Arc::clone(&self.inner.cell),
            local: Arc::clone(&self.inner.local),
            url: self.inner.config.display_url(),
        }
    }

    /// The state now.
    pub fn stats(&self) -> StoreStats {
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

/// Checks Redis every probe interval (and at once if `now`) until the store
/// is dropped.
fn spawn_probe(inner: &Arc<Inner>, now: bool) -> Result<(), StoreError> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| StoreError::new("the Redis session store needs a tokio runtime"))?;
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let interval = inner.config.probe_interval;
    runtime.spawn(async move {
        if !now {
            tokio::time::sleep(interval).await;
        }
        loop {
            let Some(inner) = weak.upgrade() else { break };
            inner.probe().await;
            drop(inner);
            tokio::time::sleep(interval).await;
        }
    });
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each change is one assignment or set operation: a poisoned value is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1)
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

    fn session_key(&self, id: &SessionId) -> String {
        format!("{}session:{}", self.config.key_prefix, digest(id))
    }

    fn claim_key(&self, id: &SessionId, generation: u64) -> String {
        format!("{}reinit:{}:{generation}", self.config.key_prefix, digest(id))
    }

    fn epoch_key(&self) -> String {
        format!("{}epoch", self.config.key_prefix)
    }

    fn degraded(&self) -> bool {
        self.cell.is_degraded()
    }

    fn failed(&self, what: &str, error: &dyn fmt::Display) {
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
    async fn attempt<T, F>(&self, what: &str, op: impl FnOnce(MultiplexedConnection) -> F) -> Option<T>
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

    async fn load(&self, id: &SessionId) -> Option<SessionRecord> {
        if self.degraded() {
            return self.local_load(id).await;
        }
        let key = self.session_key(id);
        let get = |mut conn: MultiplexedConnection| async move {
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<Vec<u8>>>(&mut conn)
                .await
        };
        match self.attempt("GET", get).await {
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
                let cached = self.local_load(id).await?;
                if self.lost_data().await {
                    // The probe writes this replica's sessions back shortly.
                    return Some(cached);
                }
                // Expired, or ended on another replica.
                let _ = self.local.delete(id).await;
                None
            }
        }
    }

    /// Whether Redis lost its data since this replica synchronized with it
    /// (its epoch marker is gone or another); if so the store is marked
    /// degraded until the probe has written the local sessions back.
    async fn lost_data(&self) -> bool {
        let key = self.epoch_key();
        let get = |mut conn: MultiplexedConnection| async move {
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<String>>(&mut conn)
                .await
        };
        let Some(remote) = self.attempt("GET epoch", get).await else {
            return true;
        };
        let known = lock(&self.known_epoch).clone();
        if remote.is_some() && remote == known {
            return false;
        }
        self.cell.degrade();
        tracing::warn!(redis = %self.config.display_url(), "Redis lost its sessions (restart without persistence?); writing this replica's back");
        true
    }

    async fn store(&self, id: &SessionId, record: SessionRecord, idle_ttl: Duration) {
        let value = encode(&record, idle_ttl);
        self.local_store(id, record, idle_ttl).await;
        if self.degraded() {
            return;
        }
        let Some(value) = value else {
            tracing::warn!(session = %id, "initialize body is not UTF-8 JSON: session kept on this replica only");
            return;
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
    }

    async fn touch(&self, id: &SessionId, idle_ttl: Duration) {
        let _ = self.local.touch(id, idle_ttl).await;
        if self.degraded() {
            return;
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
    }

    async fn delete(&self, id: &SessionId) {
        let _ = self.local.delete(id).await;
        let key = self.session_key(id);
        if !self.degraded() {
            let key = key.clone();
            let del = |mut conn: MultiplexedConnection| async move {
                redis::cmd("DEL").arg(key).query_async::<i64>(&mut conn).await
            };
            if self.attempt("DEL", del).await.is_some() {
                return;
            }
        }
        let mut pending = lock(&self.pending_deletes);
        if pending.len() < MAX_PENDING_DELETES {
            pending.insert(key);
        }
    }

    async fn compare_and_store(
        &self,
        id: &SessionId,
        expected: u64,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> Swap {
        let value = encode(&record, idle_ttl);
        let (false, Some(value)) = (self.degraded(), value) else {
            return self.local_swap(id, expected, record, idle_ttl).await;
        };
        let key = self.session_key(id);
        let mut invocation = self.cas.prepare_invoke();
        invocation.key(key).arg(expected).arg(value).arg(millis(idle_ttl));
        let swap = |mut conn: MultiplexedConnection| async move {
            invocation.invoke_async::<Reply>(&mut conn).await
        };
        match self.attempt("compare-and-set", swap).await {
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
        }
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

    async fn claim_reinit(&self, id: &SessionId, generation: u64, lease: Duration) -> ReinitClaim {
        if self.degraded() {
            return ReinitClaim::Granted;
        }
        let mut invocation = self.claim.prepare_invoke();
        invocation
            .key(self.claim_key(id, generation))
            .arg(&self.token)
            .arg(millis(lease));
        let claim =
            |mut conn: MultiplexedConnection| async move { invocation.invoke_async::<i64>(&mut conn).await };
        match self.attempt("claim", claim).await {
            Some(0) => ReinitClaim::Held,
            // Granted, or Redis cannot arbitrate: the compare-and-set still guards the record.
            _ => ReinitClaim::Granted,
        }
    }

    async fn release_reinit(&self, id: &SessionId, generation: u64) {
        if self.degraded() {
            return;
        }
        let mut invocation = self.release.prepare_invoke();
        invocation.key(self.claim_key(id, generation)).arg(&self.token);
        let release =
            |mut conn: MultiplexedConnection| async move { invocation.invoke_async::<i64>(&mut conn).await };
        self.attempt("release", release).await;
    }

    /// Opens a connection if there is none; whether there is one.
    async fn connect(&self) -> bool {
        if lock(&self.connection).is_some() {
            return true;
        }
        let timeout = self.config.op_timeout;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        let connect = self.client.get_multiplexed_async_connection_with_config(&config);
        match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(connection)) => {
                *lock(&self.connection) = Some(connection);
                true
            }
            Ok(Err(error)) => {
                self.failed("connect", &error);
                false
            }
            Err(_) => {
                self.failed(
                    "connect",
                    &format!("no connection within {} ms", timeout.as_millis()),
                );
                false
            }
        }
    }

    /// Checks Redis; after an outage, or when Redis lost its data, writes
    /// the local sessions back and leaves the degraded state.
    async fn probe(&self) {
        let before = self.cell.state.load(Ordering::Acquire);
        if !self.connect().await {
            return;
        }
        let Some(remote) = self.remote_epoch().await else {
            return;
        };
        let degraded = before & DEGRADED != 0;
        let changed = lock(&self.known_epoch).as_deref() != Some(remote.as_str());
        if !degraded && !changed {
            return;
        }
        let Some(written) = self.write_back().await else {
            return;
        };
        *lock(&self.known_epoch) = Some(remote);
        if degraded {
            let healthy = before & !DEGRADED;
            let cleared = self
                .cell
                .state
                .compare_exchange(before, healthy, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if cleared {
                self.cell.recoveries.fetch_add(1, Ordering::Relaxed);
                tracing::info!(redis = %self.config.display_url(), written, "session store back on Redis");
            }
        } else {
            tracing::info!(redis = %self.config.display_url(), written, "Redis had lost its sessions: written back");
        }
    }

    /// The epoch marker, set by this replica if Redis has none (fresh or
    /// emptied); `None` when Redis does not answer.
    async fn remote_epoch(&self) -> Option<String> {
        let key = self.epoch_key();
        let fresh = SessionId::generate().ok()?.as_str().to_owned();
        // SET NX, then GET: whoever set it first names the epoch.
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(&key).arg(fresh).arg("NX").ignore();
        pipe.cmd("GET").arg(&key);
        let epoch = |mut conn: MultiplexedConnection| async move {
            pipe.query_async::<(Option<String>,)>(&mut conn).await
        };
        self.attempt("epoch", epoch).await.and_then(|(epoch,)| epoch)
    }

    /// Replays the missed deletes, then writes every local session back
    /// (never over a newer generation). The number written, or `None` when
    /// Redis failed meanwhile.
    async fn write_back(&self) -> Option<usize> {
        let deletes: Vec<String> = lock(&self.pending_deletes).drain().collect();
        for chunk in deletes.chunks(WRITEBACK_BATCH) {
            let mut pipe = redis::pipe();
            pipe.cmd("DEL").arg(chunk).ignore();
            if self
                .attempt("write-back", |mut conn: MultiplexedConnection| async move {
                    pipe.query_async::<()>(&mut conn).await
                })
                .await
                .is_none()
            {
                lock(&self.pending_deletes).extend(deletes);
                return None;
            }
        }
        let entries = self.local.entries();
        let mut written = 0;
        for chunk in entries.chunks(WRITEBACK_BATCH) {
            let mut pipe = redis::pipe();
            for (id, record, left, idle_ttl) in chunk {
                let Some(value) = encode(record, *idle_ttl) else {
                    continue;
                };
                pipe.cmd("EVAL")
                    .arg(RESTORE_SCRIPT)
                    .arg(1)
                    .arg(self.session_key(id))
                    .arg(record.generation())
                    .arg(value)
                    .arg(millis(*left))
                    .ignore();
            }
            let write =
                |mut conn: MultiplexedConnection| async move { pipe.query_async::<()>(&mut conn).await };
            self.attempt("write-back", write).await?;
            written += chunk.len();
        }
        self.cell
            .written_back
            .fetch_add(u64::try_from(written).unwrap_or(u64::MAX), Ordering::Relaxed);
        Some(written)
    }
}

/// The key part of a session: the SHA-1 of its id (40 hex characters). Only
/// preimage resistance matters here (an id is 128 random bits).
fn digest(id: &SessionId) -> String {
    sha1_smol::Sha1::from(id.as_str()).digest().to_string()
}

fn epoch_millis(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The stored JSON of `record`; `None` if its `initialize` body is not UTF-8
/// (it was peeked as JSON, so it always is).
fn encode(record: &SessionRecord, idle_ttl: Duration) -> Option<String> {
    let initialize = std::str::from_utf8(record.initialize()).ok()?;
    let value = json!({
        "v": RECORD_VERSION,
        "generation": record.generation(),
        "initialize": initialize,
        "upstream": record.upstream().as_str(),
        "protocol_version": record.protocol_version().and_then(|version| version.to_str().ok()),
        "created_ms": epoch_millis(record.created_at()),
        "reinitialized_ms": record.reinitialized_at().map(epoch_millis),
        "idle_ttl_ms": millis(idle_ttl),
    });
    Some(value.to_string())
}

/// A record and its idle TTL from the stored JSON.
fn decode(bytes: &[u8]) -> Result<(SessionRecord, Duration), String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| error.to_string())?;
    let field = |name: &str| value.get(name).filter(|field| !field.is_null());
    let number = |name: &str| field(name).and_then(Value::as_u64);
    let text = |name: &str| field(name).and_then(Value::as_str);
    if number("v") != Some(RECORD_VERSION) {
        return Err("unknown record version".into());
    }
    let generation = number("generation").ok_or("no generation")?;
    let initialize = text("initialize").ok_or("no initialize")?;
    let upstream = text("upstream")
        .and_then(|upstream| HeaderValue::from_str(upstream).ok())
        .and_then(|upstream| SessionId::parse_upstream(&upstream).ok())
        .ok_or("no valid upstream session id")?;
    let version = text("protocol_version").and_then(|version| HeaderValue::from_str(version).ok());
    let time = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
    let created = number("created_ms").map_or(UNIX_EPOCH, time);
    let reinitialized = number("reinitialized_ms").map(time);
    let idle_ttl = Duration::from_millis(number("idle_ttl_ms").ok_or("no idle TTL")?);
    let record = SessionRecord::restore(
        Bytes::copy_from_slice(initialize.as_bytes()),
        upstream,
        version,
        generation,
        created,
        reinitialized,
    );
    Ok((record, idle_ttl))
}

impl SessionStore for RedisStore {
    fn load(&self, id: &SessionId) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send {
        async move { Ok(self.inner.load(id).await) }
    }

    fn store(
        &self,
        id: &SessionId,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            self.inner.store(id, record, idle_ttl).await;
            Ok(())
        }
    }

    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            self.inner.delete(id).await;
            Ok(())
        }
    }

    fn touch(
        &self,
        id: &SessionId,
        idle_ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            self.inner.touch(id, idle_ttl).await;
            Ok(())
        }
    }

    fn compare_and_store(
        &self,
        id: &SessionId,
        expected_generation: u64,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> impl Future<Output = Result<Swap, StoreError>> + Send {
        async move {
            Ok(self
                .inner
                .compare_and_store(id, expected_generation, record, idle_ttl)
                .await)
        }
    }

    fn claim_reinit(
        &self,
        id: &SessionId,
        generation: u64,
        lease: Duration,
    ) -> impl Future<Output = Result<ReinitClaim, StoreError>> + Send {
        async move { Ok(self.inner.claim_reinit(id, generation, lease).await) }
    }

    fn release_reinit(
        &self,
        id: &SessionId,
        generation: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            self.inner.release_reinit(id, generation).await;
            Ok(())
        }
    }
}

/// The in-memory store or a Redis store, chosen at run time (by a gateway
/// flag): one type for one stack.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyStore {
    /// Sessions in this process only.
    Memory(MemoryStore),
    /// Sessions shared through Redis.
    Redis(RedisStore),
}

impl AnyStore {
    /// The Redis store's status handle; `None` for the in-memory store.
    pub fn status(&self) -> Option<StoreStatus> {
        match self {
            AnyStore::Memory(_) => None,
            AnyStore::Redis(store) => Some(store.status()),
        }
    }
}

impl SessionStore for AnyStore {
    fn load(&self, id: &SessionId) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send {
        async move {
            match self {
                AnyStore::Memory(store) => store.load(id).await,
                AnyStore::Redis(store) => store.load(id).await,
            }
        }
    }

    fn store(
        &self,
        id: &SessionId,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            match self {
                AnyStore::Memory(store) => store.store(id, record, idle_ttl).await,
                AnyStore::Redis(store) => store.store(id, record, idle_ttl).await,
            }
        }
    }

    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            match self {
                AnyStore::Memory(store) => store.delete(id).await,
                AnyStore::Redis(store) => store.delete(id).await,
            }
        }
    }

    fn touch(
        &self,
        id: &SessionId,
        idle_ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            match self {
                AnyStore::Memory(store) => store.touch(id, idle_ttl).await,
                AnyStore::Redis(store) => store.touch(id, idle_ttl).await,
            }
        }
    }

    fn compare_and_store(
        &self,
        id: &SessionId,
        expected_generation: u64,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> impl Future<Output = Result<Swap, StoreError>> + Send {
        async move {
            match self {
                AnyStore::Memory(store) => {
                    store
                        .compare_and_store(id, expected_generation, record, idle_ttl)
                        .await
                }
                AnyStore::Redis(store) => {
                    store
                        .compare_and_store(id, expected_generation, record, idle_ttl)
                        .await
                }
            }
        }
    }

    fn claim_reinit(
        &self,
        id: &SessionId,
        generation: u64,
        lease: Duration,
    ) -> impl Future<Output = Result<ReinitClaim, StoreError>> + Send {
        async move {
            match self {
                AnyStore::Memory(store) => store.claim_reinit(id, generation, lease).await,
                AnyStore::Redis(store) => store.claim_reinit(id, generation, lease).await,
            }
        }
    }

    fn release_reinit(
        &self,
        id: &SessionId,
        generation: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            match self {
                AnyStore::Memory(store) => store.release_reinit(id, generation).await,
                AnyStore::Redis(store) => store.release_reinit(id, generation).await,
            }
        }
    }

    fn take_ended(&self, max: usize) -> Vec<SessionRecord> {
        match self {
            AnyStore::Memory(store) => store.take_ended(max),
            AnyStore::Redis(store) => store.take_ended(max),
        }
    }
}

#[cfg(test)]
mod tests;
