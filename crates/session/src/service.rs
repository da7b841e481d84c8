//! [`Session`]: the service made by [`SessionLayer`](crate::SessionLayer).

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use mcp_reconnect_core::BoxError;
use tower_service::Service;

use crate::flow;
use crate::future::{ResponseFuture, SessionBody};
use crate::id::SessionId;
use crate::layer::Shared;
use crate::local;
use crate::memory::MemoryStore;
use crate::stats::{Counters, SessionStats};
use crate::store::SessionStore;

/// The service made by [`SessionLayer`](crate::SessionLayer).
///
/// `poll_ready` is the inner service's readiness; `call` takes the ready
/// inner service into the response future and leaves a clone behind (so the
/// first send uses the readiness the caller waited for; later sends — the
/// handshake, the retry — wait for readiness again, which is how they wait
/// for the circuit's reconnect).
pub struct Session<S, St = MemoryStore> {
    inner: S,
    shared: Arc<Shared<St>>,
}

impl<S, St> Session<S, St> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<St>>) -> Self {
        Session { inner, shared }
    }

    /// The store.
    pub fn store(&self) -> Arc<St> {
        Arc::clone(&self.shared.store)
    }

    /// What the layer did so far.
    pub fn stats(&self) -> SessionStats {
        self.shared.counters.snapshot()
    }

    mcp_reconnect_core::inner_service_accessors!(inner: S);
}

impl<S: Clone, St> Clone for Session<S, St> {
    fn clone(&self) -> Self {
        Session {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, St> fmt::Debug for Session<S, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, St, ReqB, RB> Service<Request<ReqB>> for Session<S, St>
where
    S: Service<Request<Full<Bytes>>, Response = Response<RB>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    St: SessionStore,
    ReqB: Body + Send + 'static,
    ReqB::Data: Send,
    ReqB::Error: Into<BoxError>,
    RB: Body + Send + 'static,
    RB::Data: Buf + From<Bytes> + Send,
    RB::Error: Into<BoxError>,
{
    type Response = Response<SessionBody<RB>>;
    type Error = BoxError;
    type Future = ResponseFuture<RB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqB>) -> ResponseFuture<RB> {
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let session = match SessionId::from_headers(request.headers()) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(invalid)) => {
                Counters::count(&self.shared.counters.invalid);
                let id = local::request_id(request.extensions(), None);
                return ResponseFuture::local(local::invalid_session(invalid, id));
            }
        };
        let shared = Arc::clone(&self.shared);
        ResponseFuture::running(Box::pin(flow::handle(shared, ready, request, session)))
    }
}
