//! `forward_session_store!`: the one [`SessionStore`](crate::SessionStore)
//! impl of the types that only hand each call to a store they wrap.

/// Implements `SessionStore` for `$ty` by matching `self` against the
/// patterns, each of which binds the wrapped store as `$store`, and making
/// the same call on it. Every method is forwarded, the defaulted ones
/// included, so the wrapper behaves exactly as the store it holds.
///
/// ```text
/// forward_session_store!(AnyStore as store: AnyStore::Memory(store), AnyStore::Redis(store));
/// ```
macro_rules! forward_session_store {
    ($ty:ty as $store:ident: $($pattern:pat),+ $(,)?) => {
        const _: () = {
            use std::time::Duration;

            use $crate::error::StoreError;
            use $crate::id::SessionId;
            use $crate::store::{ReinitClaim, SessionRecord, SessionStore, Swap};

            impl SessionStore for $ty {
                async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
                    match self {
                        $($pattern => $store.load(id).await,)+
                    }
                }

                async fn store(
                    &self,
                    id: &SessionId,
                    record: SessionRecord,
                    idle_ttl: Duration,
                ) -> Result<(), StoreError> {
                    match self {
                        $($pattern => $store.store(id, record, idle_ttl).await,)+
                    }
                }

                async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
                    match self {
                        $($pattern => $store.delete(id).await,)+
                    }
                }

                async fn touch(&self, id: &SessionId, idle_ttl: Duration) -> Result<(), StoreError> {
                    match self {
                        $($pattern => $store.touch(id, idle_ttl).await,)+
                    }
                }

                async fn compare_and_store(
                    &self,
                    id: &SessionId,
                    expected_generation: u64,
                    record: SessionRecord,
                    idle_ttl: Duration,
                ) -> Result<Swap, StoreError> {
                    match self {
                        $($pattern => {
                            $store.compare_and_store(id, expected_generation, record, idle_ttl).await
                        })+
                    }
                }

                async fn claim_reinit(
                    &self,
                    id: &SessionId,
                    generation: u64,
                    lease: Duration,
                ) -> Result<ReinitClaim, StoreError> {
                    match self {
                        $($pattern => $store.claim_reinit(id, generation, lease).await,)+
                    }
                }

                async fn release_reinit(&self, id: &SessionId, generation: u64) -> Result<(), StoreError> {
                    match self {
                        $($pattern => $store.release_reinit(id, generation).await,)+
                    }
                }

                fn take_ended(&self, max: usize) -> Vec<SessionRecord> {
                    match self {
                        $($pattern => $store.take_ended(max),)+
                    }
                }
            }
        };
    };
}

pub(super) use forward_session_store;
