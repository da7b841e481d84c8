//! Where client sessions live: the [`SessionStore`] trait and the
//! [`SessionRecord`] it keeps.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::HeaderValue;

use crate::error::StoreError;
use crate::session::id::SessionId;

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
        }
    }

    /// A record as a shared store saved it (every field).
    pub fn restore(
        initialize: Bytes,
        upstream: SessionId,
        protocol_version: Option<HeaderValue>,
        generation: u64,
        created_at: SystemTime,
        reinitialized_at: Option<SystemTime>,
    ) -> Self {
        SessionRecord {
            initialize,
            upstream,
            protocol_version,
            generation,
            created_at,
            reinitialized_at,
        }
    }

    /// The same record with the negotiated protocol version (`MCP-Protocol-Version`).
    pub fn with_protocol_version(mut self, version: Option<HeaderValue>) -> Self {
        self.protocol_version = version;
        self
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
            .finish_non_exhaustive()
    }
}

/// Where the session layer keeps client sessions, by client session id
/// (modelled on rmcp's `SessionStore`: load / store / delete, plus `touch`
/// for idle expiry).
///
/// The in-memory [`MemoryStore`](crate::session::MemoryStore) is the default; a shared store (Redis, a
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
}

impl<T: SessionStore> SessionStore for Arc<T> {
    fn load(&self, id: &SessionId) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send {
        (**self).load(id)
    }

    fn store(
        &self,
        id: &SessionId,
        record: SessionRecord,
        idle_ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).store(id, record, idle_ttl)
    }

    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).delete(id)
    }

    fn touch(
        &self,
        id: &SessionId,
        idle_ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).touch(id, idle_ttl)
    }
}
