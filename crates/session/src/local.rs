//! The answers the session layer gives by itself: JSON-RPC errors for a bad,
//! unknown or expired session id, and for bodies over the limits.

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use mcp_reconnect_core::peek::{JsonRpcId, Peek, peek};
use mcp_reconnect_core::respond::{JsonRpcError, codes};
use mcp_reconnect_core::{Classification, Failure, FailureClass, Reached};

use crate::future::SessionBody;
use crate::id::InvalidSessionId;

/// The JSON-RPC error code of "session not found" (as the MCP SDKs answer it).
pub const SESSION_NOT_FOUND: i64 = -32001;

/// `404`: the client's session is unknown or expired; it must initialize again.
pub(crate) fn session_not_found<B>(id: Option<JsonRpcId>) -> Response<SessionBody<B>> {
    answer(
        JsonRpcError::new(
            SESSION_NOT_FOUND,
            "session not found: it expired or never existed; send initialize without Mcp-Session-Id",
        )
        .with_status(StatusCode::NOT_FOUND)
        .with_id(id),
    )
}

/// `400`: the `Mcp-Session-Id` header breaks the spec's rules.
pub(crate) fn invalid_session<B>(error: InvalidSessionId, id: Option<JsonRpcId>) -> Response<SessionBody<B>> {
    answer(
        JsonRpcError::new(codes::INVALID_REQUEST, format!("bad request: {error}"))
            .with_status(StatusCode::BAD_REQUEST)
            .with_id(id),
    )
}

/// `413`: the body is over `limit` bytes; nothing was forwarded.
pub(crate) fn too_large<B>(what: &str, limit: usize, id: Option<JsonRpcId>) -> Response<SessionBody<B>> {
    answer(
        JsonRpcError::new(
            codes::REQUEST_TOO_LARGE,
            format!("{what} is over the {limit} byte limit"),
        )
        .with_status(StatusCode::PAYLOAD_TOO_LARGE)
        .with_id(id),
    )
}

/// `429` with `Retry-After: 1`: an `initialize` over the open rate; nothing was forwarded.
pub(crate) fn too_many_opens<B>(id: Option<JsonRpcId>) -> Response<SessionBody<B>> {
    let mut response = answer(
        JsonRpcError::new(
            codes::TOO_MANY_SESSIONS,
            "too many new sessions at once; try again in a second",
        )
        .with_status(StatusCode::TOO_MANY_REQUESTS)
        .with_id(id),
    );
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
    response
}

/// A local answer, classified as the client's own mistake (business: retrying
/// cannot help; the upstream never saw it).
fn answer<B>(error: JsonRpcError) -> Response<SessionBody<B>> {
    let mut response = error.into_response().map(SessionBody::local);
    let failure = Failure::new(FailureClass::Business, Reached::No);
    response.extensions_mut().insert(Classification::Failure(failure));
    response
}

/// The JSON-RPC id of a request: from the peek a layer above left, or peeked
/// from `body` when there is one (only on these error paths).
pub(crate) fn request_id(extensions: &http::Extensions, body: Option<&Bytes>) -> Option<JsonRpcId> {
    let single = |peek: &Peek| peek.single().and_then(|message| message.id().cloned());
    match extensions.get::<Arc<Peek>>() {
        Some(found) => single(found),
        None => body
            .and_then(|body| peek(body).ok())
            .and_then(|found| single(&found)),
    }
}
