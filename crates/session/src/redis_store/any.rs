//! [`AnyStore`]: the in-memory or the Redis store, chosen at run time.

use super::forward::forward_session_store;
use super::status::StoreStatus;
use super::store::RedisStore;
use crate::memory::MemoryStore;

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

forward_session_store!(AnyStore as store: AnyStore::Memory(store), AnyStore::Redis(store));
