//! One request's way through the session layer.

use std::future::poll_fn;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::Full;
use mcp_reconnect_core::body::collect_bytes;
use mcp_reconnect_core::headers::{LAST_EVENT_ID, MCP_PROTOCOL_VERSION, MCP_SESSION_ID, header_method};
use mcp_reconnect_core::peek::{MessageKind, Peek, peek};
use mcp_reconnect_core::{
    BoxError, Classification, ClassifiedError, Failure, FailureClass, Reached, RequestFacts, classify_status,
};

use crate::bounds::{SharedUpstream, UpstreamBody};
use crate::ending::{self, PinSession};
use crate::error::{InvalidUpstreamSession, ReinitFailed, StoreError};
use crate::flights::Recovery;
use crate::future::SessionBody;
use crate::id::SessionId;
use crate::layer::Shared;
use crate::local;
use crate::reinit::{Handshake, recover};
use crate::stats::Counters;
use crate::store::{SessionRecord, SessionStore};

/// The method that opens a legacy session.
const INITIALIZE: &str = "initialize";

type Answer<B> = Result<Response<SessionBody<B>>, BoxError>;

pub(crate) async fn handle<S, St, ReqB, RB>(
    shared: Arc<Shared<St>>,
    mut inner: S,
    request: Request<ReqB>,
    session: Option<SessionId>,
) -> Answer<RB>
where
    S: SharedUpstream<RB>,
    St: SessionStore,
    ReqB: Body,
    ReqB::Error: Into<BoxError>,
    RB: UpstreamBody<Data: Send> + Send + 'static,
{
    let (parts, body) = request.into_parts();
    let bytes = match collect_bytes(body, shared.config.max_body).await {
        Ok(bytes) => bytes,
        Err(error) if mcp_reconnect_core::body::is_over_limit(&error) => {
            let id = local::request_id(&parts.extensions, None);
            return Ok(local::too_large("the request body", shared.config.max_body, id));
        }
        Err(error) => return Err(error),
    };
    // Only the pass-through lives in this future; opening a session and
    // serving one (store round trips, re-initialization) are boxed apart, so
    // the future every call allocates and moves stays small: 2026-07-28
    // traffic never needs more than the pass-through.
    match session {
        None if !is_initialize(&parts, &bytes) => {
            let response = inner.call(Request::from_parts(parts, Full::new(bytes))).await;
            Ok(response.map_err(Into::into)?.map(SessionBody::inner))
        }
        None => Box::pin(open_session(&shared, inner, parts, bytes)).await,
        Some(id) => Box::pin(with_session(&shared, inner, parts, bytes, id)).await,
    }
}

/// An `initialize` without a session opens one (anything else without a
/// session, 2026-07-28 stateless traffic, passed straight through).
async fn open_session<S, St, RB>(
    shared: &Arc<Shared<St>>,
    mut inner: S,
    parts: Parts,
    bytes: Bytes,
) -> Answer<RB>
where
    S: SharedUpstream<RB>,
    St: SessionStore,
    RB: Send + 'static,
{
    if bytes.len() > shared.config.max_initialize_body {
        let id = local::request_id(&parts.extensions, Some(&bytes));
        let limit = shared.config.max_initialize_body;
        return Ok(local::too_large("the initialize request", limit, id));
    }
    let pinned = parts.extensions.get::<PinSession>().is_some();
    if !pinned && !shared.open_rate.admit() {
        Counters::count(&shared.counters.open_refused);
        tracing::debug!("new session refused: over the open rate");
        let id = local::request_id(&parts.extensions, Some(&bytes));
        return Ok(local::too_many_opens(id));
    }
    let version = parts.headers.get(MCP_PROTOCOL_VERSION).cloned();
    let request = Request::from_parts(parts, Full::new(bytes.clone()));
    let spare = inner.clone();
    let mut response = inner.call(request).await.map_err(Into::into)?;
    let Some(upstream) = response.headers().get(MCP_SESSION_ID) else {
        // A server without sessions: nothing to map.
        return Ok(response.map(SessionBody::inner));
    };
    if !response.status().is_success() {
        return Ok(response.map(SessionBody::inner));
    }
    let Ok(upstream) = SessionId::parse_upstream(upstream) else {
        let failure = Failure::new(FailureClass::Business, Reached::Yes);
        return Err(ClassifiedError::new(failure, InvalidUpstreamSession::new()).into());
    };
    let client = SessionId::generate().map_err(|error| BoxError::from(error.to_string()))?;
    let record = SessionRecord::new(bytes, upstream)
        .with_protocol_version(version)
        .with_pinned(pinned);
    shared
        .store
        .store(&client, record, shared.config.idle_timeout)
        .await
        .map_err(store_failed)?;
    Counters::count(&shared.counters.opened);
    tracing::debug!(session = %client, pinned, "session opened");
    // Storing may have evicted or swept sessions: end them upstream.
    ending::end_upstream(shared, &spare);
    response
        .headers_mut()
        .insert(MCP_SESSION_ID, client.header_value().clone());
    Ok(response.map(SessionBody::inner))
}

/// A request in a client session: mapped to the upstream session; a lost
/// upstream session is re-initialized (once for all its requests), then the
/// request is sent again.
async fn with_session<S, St, RB>(
    shared: &Arc<Shared<St>>,
    mut inner: S,
    parts: Parts,
    bytes: Bytes,
    id: SessionId,
) -> Answer<RB>
where
    S: SharedUpstream<RB>,
    St: SessionStore,
    RB: UpstreamBody<Data: Send> + Send + 'static,
{
    let store = &shared.store;
    let Some(record) = store.load(&id).await.map_err(store_failed)? else {
        Counters::count(&shared.counters.unknown);
        tracing::debug!(session = %id, "unknown or expired session");
        ending::end_upstream(shared, &inner);
        let request_id = local::request_id(&parts.extensions, Some(&bytes));
        return Ok(local::session_not_found(request_id));
    };
    if let Err(error) = store.touch(&id, shared.config.idle_timeout).await {
        tracing::warn!(session = %id, %error, "could not mark the session used");
    }
    let request = mapped(parts.clone(), bytes.clone(), record.upstream());
    let result = inner.call(request).await.map_err(Into::into);
    if parts.method == Method::DELETE {
        // The client ends its session: forget it whatever the upstream said.
        if let Err(error) = store.delete(&id).await {
            tracing::warn!(session = %id, %error, "could not delete the session");
        }
        shared.flights.forget(&id);
        Counters::count(&shared.counters.closed);
        tracing::debug!(session = %id, "session closed by the client");
        ending::end_upstream(shared, &inner);
        return result.map(|response| to_client(response, &id));
    }
    let response = result?;
    if !is_session_lost(&response) {
        return Ok(to_client(response, &id));
    }
    tracing::info!(session = %id, generation = record.generation(), "upstream lost the session");
    let handshake = Handshake {
        inner: inner.clone(),
        template: &parts.headers,
        uri: &parts.uri,
    };
    let fresh = recover(shared, &id, record.generation(), handshake).await;
    match fresh {
        // The request never ran (the upstream answered `404`): this layer
        // sends it again itself, so no outer retry count or budget can
        // refuse it and leak the recovered loss to the client.
        Ok(fresh) => {
            drop(response);
            let mut parts = parts;
            // Event ids belong to the lost session's streams.
            parts.headers.remove(LAST_EVENT_ID);
            poll_fn(|cx| inner.poll_ready(cx)).await.map_err(Into::into)?;
            let retried = inner.call(mapped(parts, bytes, fresh.upstream())).await;
            Ok(to_client(retried.map_err(Into::into)?, &id))
        }
        Err(Recovery::Gone(reason)) => {
            Counters::count(&shared.counters.dropped);
            tracing::warn!(session = %id, %reason, "session cannot be restored; the client must initialize again");
            if let Err(error) = store.delete(&id).await {
                tracing::warn!(session = %id, %error, "could not delete the session");
            }
            shared.flights.forget(&id);
            Ok(to_client(response, &id))
        }
        Err(Recovery::Failed(failure, reason)) => {
            Counters::count(&shared.counters.reinit_failed);
            tracing::warn!(session = %id, class = %failure.class(), %reason, "re-initialize failed; session kept");
            // The request itself never ran (the upstream answered 404). A new
            // session lost at once is an upstream going away again: unavailable
            // (a `SessionLost` here would tell the client to initialize).
            let class = match failure.class() {
                FailureClass::SessionLost => FailureClass::Unavailable,
                class => class,
            };
            let failure = Failure::new(class, Reached::No)
                .with_retry_after(failure.retry_after())
                .with_transport(failure.is_transport());
            Err(ClassifiedError::new(failure, ReinitFailed { reason }).into())
        }
    }
}

/// The request as the upstream must see it: its session header names `upstream`.
fn mapped(mut parts: Parts, bytes: Bytes, upstream: &SessionId) -> Request<Full<Bytes>> {
    parts
        .headers
        .insert(MCP_SESSION_ID, upstream.header_value().clone());
    Request::from_parts(parts, Full::new(bytes))
}

/// The answer as the client must see it: a session header names the client's id.
fn to_client<B>(mut response: Response<B>, id: &SessionId) -> Response<SessionBody<B>> {
    if let Some(value) = response.headers_mut().get_mut(MCP_SESSION_ID) {
        *value = id.header_value().clone();
    }
    response.map(SessionBody::inner)
}

/// Whether the upstream forgot the session: the class `ClassifyLayer` left
/// (which reads a small JSON body: a `404` with `-32601` is not session
/// loss), or, alone, the status (`404` to a request with a session).
fn is_session_lost<B>(response: &Response<B>) -> bool {
    let class = match response.extensions().get::<Classification>() {
        Some(classification) => classification.class(),
        None => {
            let facts = RequestFacts::default().with_session(true);
            classify_status(response.status(), response.headers(), facts).class()
        }
    };
    class == Some(FailureClass::SessionLost)
}

/// Whether a POST without a session is an `initialize`: the `Mcp-Method`
/// header (2026-07-28 clients) or the peek a layer above left rules out most
/// requests without parsing; otherwise the body is peeked.
fn is_initialize(parts: &Parts, bytes: &Bytes) -> bool {
    if parts.method != Method::POST || header_method(&parts.headers).is_some_and(|m| m != INITIALIZE) {
        return false;
    }
    let opens = |found: &Peek| {
        found
            .single()
            .is_some_and(|m| m.kind() == MessageKind::Request && m.method() == Some(INITIALIZE))
    };
    match parts.extensions.get::<Arc<Peek>>() {
        Some(found) => opens(found),
        None => peek(bytes).is_ok_and(|found| opens(&found)),
    }
}

fn store_failed(error: StoreError) -> BoxError {
    let failure = Failure::new(FailureClass::Unavailable, Reached::No);
    ClassifiedError::new(failure, error).into()
}
