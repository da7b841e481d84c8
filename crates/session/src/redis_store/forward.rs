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
            use std::future::Future;
            use std::time::Duration;

            use $crate::error::StoreError;
            use $crate::id::SessionId;
            use $crate::store::{ReinitClaim, SessionRecord, SessionStore, Swap};

            impl SessionStore for $ty {
                fn load(
                    &self,
                    id: &SessionId,
                ) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send {
                    async move {
                        match self {
                            $($pattern => $store.load(id).await,)+
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
                            $($pattern => $store.store(id, record, idle_ttl).await,)+
                        }
                    }
                }

                fn delete(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send {
                    async move {
                        match self {
                            $($pattern => $store.delete(id).await,)+
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
                            $($pattern => $store.touch(id, idle_ttl).await,)+
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
                            $($pattern => {
                                $store.compare_and_store(id, expected_generation, record, idle_ttl).await
                            })+
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
                            $($pattern => $store.claim_reinit(id, generation, lease).await,)+
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
                            $($pattern => $store.release_reinit(id, generation).await,)+
                        }
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
