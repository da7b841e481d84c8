//! Where client sessions live: the [`SessionStore`] trait and the
//! [`SessionRecord`] it keeps.

use std::fmt;
use std::future::{Future, ready};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::HeaderValue;

use crate::error::StoreError;
use crate::id::SessionId;

/// What the session layer keeps per client session: enough to run the
/// handshake again, and which upstream session the client's id stands for.
#[derive(Clone)]
pub struct SessionRecord {
    initialize: Bytes,
    upstream: SessionId,
    protocol_version: Option<HeaderValue>,
    generation: u64,
    created_at: SystemTime,
    reinitialized_at: Option<SystemTime>,
    pinned: bool,
}

impl SessionRecord {
    /// A new session: the client's `initialize` body and the upstream's session id.
    pub fn new(initialize: Bytes, upstream: SessionId) -> Self {
        SessionRecord {
            initialize,
            upstream,
            protocol_version: None,
            generation: 0,
            created_at: SystemTime::now(),
            reinitialized_at: None,
            pinned: false,
        }
    }

    /// The same record with the history a shared store saved: its
    /// generation, when the client initialized, and when the upstream
    /// session was last re-initialized.
    pub fn with_history(
        mut self,
        generation: u64,
        created_at: SystemTime,
        reinitialized_at: Option<SystemTime>,
    ) -> Self {
        self.generation = generation;
        self.created_at = created_at;
        self.reinitialized_at = reinitialized_at;
        self
    }

    mcp_reconnect_core::setters! {
        /// The same record with the negotiated protocol version (`MCP-Protocol-Version`).
        pub fn with_protocol_version(protocol_version: Option<HeaderValue>);

        /// The same record, pinned or not: a pinned session is never evicted to
        /// make room for another (the gateway's own session; see
        /// [`PinSession`](crate::PinSession)). It still expires when idle.
        pub fn with_pinned(pinned: bool);
    }

    /// Whether the session is never evicted to make room.
    pub fn is_pinned(&self) -> bool {
        self.pinned
    }

    /// The record after a re-initialize: the new upstream session, the next generation.
    pub(crate) fn reinitialized(mut self, upstream: SessionId) -> Self {
        self.upstream = upstream;
        self.generation += 1;
        self.reinitialized_at = Some(SystemTime::now());
        self
    }

    /// The client's `initialize` request body, replayed to re-initialize.
    pub fn initialize(&self) -> &Bytes {
        &self.initialize
    }

    /// The upstream's session id the client's id stands for now.
    pub fn upstream(&self) -> &SessionId {
        &self.upstream
    }

    /// The protocol version the client sends (`MCP-Protocol-Version`), once seen.
    pub fn protocol_version(&self) -> Option<&HeaderValue> {
        self.protocol_version.as_ref()
    }

    /// How many times the upstream session was re-initialized.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// When the client initialized.
    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }

    /// When the upstream session was last re-initialized.
    pub fn reinitialized_at(&self) -> Option<SystemTime> {
        self.reinitialized_at
    }
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("initialize_len", &self.initialize.len())
            .field("upstream", &self.upstream)
            .field("protocol_version", &self.protocol_version)
            .field("generation", &self.generation)
            .field("pinned", &self.pinned)
            .finish_non_exhaustive()
    }
}

/// Where the session layer keeps client sessions, by client session id
/// (modelled on rmcp's `SessionStore`: load / store / delete, plus `touch`
/// for idle expiry).
///
/// The in-memory [`MemoryStore`](crate::MemoryStore) is the default; a shared store (Redis, a
/// database) lets several gateway replicas serve the same client sessions.
/// A store must expire a session `idle_ttl` after its last `store` or
/// `touch`, and may forget sessions earlier to stay bounded.
pub trait SessionStore: Send + Sync + 'static {
    /// The record of session `id`; `None` when unknown or expired.
    fn load(&self, id: &SessionId) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send;

    /// Saves `record` as session `id` (new or replaced).
    fn store(
        &self,
        id: &SessionId,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Forgets session `id`.
    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks session `id` used now: it expires `idle_ttl` from now.
    fn touch(
        &self,
        id: &SessionId,
        idle_ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Saves `record` as session `id` only if the stored record is still at
    /// generation `expected_generation` (a re-initialize replaces the record
    /// it started from, never a newer one another replica stored meanwhile).
    ///
    /// The default loads, compares and stores: enough for a store only one
    /// process writes (the session layer already runs one re-initialize per
    /// session at a time). A shared store must make it atomic.
    fn compare_and_store(
        &self,
        id: &SessionId,
        expected_generation: u64,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> impl Future<Output = Result<Swap, StoreError>> + Send {
        async move {
            match self.load(id).await? {
                Some(current) if current.generation() == expected_generation => {
                    self.store(id, record, idle_ttl).await?;
                    Ok(Swap::Stored)
                }
                other => Ok(Swap::Conflict(other)),
            }
        }
    }

    /// Asks to be the one that re-initializes session `id` from generation
    /// `generation`, for at most `lease`: replicas that see the same loss at
    /// once re-initialize it upstream once. The loser re-reads the record
    /// until its generation moves on.
    ///
    /// The default always grants: within one process the session layer
    /// already runs one re-initialize per session.
    fn claim_reinit(
        &self,
        id: &SessionId,
        generation: u64,
        lease: Duration,
    ) -> impl Future<Output = Result<ReinitClaim, StoreError>> + Send {
        let _ = (id, generation, lease);
        ready(Ok(ReinitClaim::Granted))
    }

    /// Gives back a claim [`claim_reinit`](Self::claim_reinit) granted (the
    /// re-initialize ended, well or not). The default does nothing.
    fn release_reinit(
        &self,
        id: &SessionId,
        generation: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (id, generation);
        ready(Ok(()))
    }

    /// Takes at most `max` of the sessions the store ended on its own
    /// (evicted to make room, or expired), oldest first, so the session layer
    /// ends their upstream sessions too (a `DELETE`). Sessions ended by
    /// [`delete`](Self::delete) are not among them: the layer ended those.
    ///
    /// The default has none: a shared store whose entries expire in the
    /// database cannot tell (the upstream's own idle timeout ends those).
    fn take_ended(&self, max: usize) -> Vec<SessionRecord> {
        let _ = max;
        Vec::new()
    }
}

/// What [`SessionStore::compare_and_store`] did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Swap {
    /// The stored record was at the expected generation; the new one replaced it.
    Stored,
    /// The stored record was not at the expected generation: here it is
    /// (`None`: the session is gone). Nothing was stored.
    Conflict(Option<SessionRecord>),
}

/// The answer to [`SessionStore::claim_reinit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReinitClaim {
    /// This caller re-initializes the session.
    Granted,
    /// Another replica is re-initializing it: wait for the record's generation to move on.
    Held,
}
