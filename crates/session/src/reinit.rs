//! Re-initializing a lost upstream session: the stored `initialize`, then
//! `notifications/initialized`, once per session however many requests wait.

use std::future::poll_fn;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use mcp_reconnect_core::headers::{
    LAST_EVENT_ID, MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, MCP_SESSION_ID, is_event_stream,
};
use mcp_reconnect_core::sse::SseDecoder;
use mcp_reconnect_core::{
    BoxError, Classification, Failure, FailureClass, Reached, RequestFacts, classify_error, classify_status,
};
use serde_json::Value;

use crate::bounds::{Upstream, UpstreamBody};
use crate::flights::{Outcome, Recovery};
use crate::id::SessionId;
use crate::layer::Shared;
use crate::stats::Counters;
use crate::store::{ReinitClaim, SessionRecord, SessionStore, Swap};
use mcp_reconnect_core::headers::ACCEPT_MCP;

/// The most of the upstream's `initialize` answer read while re-initializing: 1 MiB.
pub const MAX_HANDSHAKE_ANSWER: usize = 1024 * 1024;

/// How often a replica that lost the claim on a re-initialize re-reads the
/// session for the winner's record: 20 ms.
pub const REINIT_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// How much longer than the re-initialize timeout (the claim's lease) a
/// replica waits for another's re-initialize: 1 s.
pub const REINIT_CLAIM_SLACK: Duration = Duration::from_secs(1);

/// The notification that ends the handshake.
const INITIALIZED: &[u8] = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// What a re-initialize's handshake is sent with: the service below, and the
/// failed request's headers (for the client's own credentials and version)
/// and URI, which shape the handshake's requests.
pub(crate) struct Handshake<'a, S> {
    pub(crate) inner: S,
    pub(crate) template: &'a HeaderMap,
    pub(crate) uri: &'a Uri,
}

/// Restores session `id` after its upstream session of generation `seen` was
/// lost: joins the re-initialize running for it, or runs it.
pub(crate) async fn recover<S, St, RB>(
    shared: &Arc<Shared<St>>,
    id: &SessionId,
    seen: u64,
    handshake: Handshake<'_, S>,
) -> Outcome
where
    S: Upstream<RB, Future: Send> + Send,
    St: SessionStore,
    RB: UpstreamBody<Data: Send> + Send,
{
    let flight = shared.flights.join(id, seen);
    // A caller dropped mid-way hands the work to the next waiter (tokio's
    // `OnceCell`), which starts over from the stored record.
    let outcome = flight
        .get_or_init(|| reinitialize(shared, id, seen, handshake))
        .await
        .clone();
    shared.flights.finish(id, &flight);
    outcome
}

async fn reinitialize<S, St, RB>(
    shared: &Shared<St>,
    id: &SessionId,
    seen: u64,
    handshake: Handshake<'_, S>,
) -> Outcome
where
    S: Upstream<RB>,
    St: SessionStore,
    RB: UpstreamBody,
{
    let current = match shared.store.load(id).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err(Recovery::Gone("the session expired meanwhile".into())),
        Err(error) => return Err(store_failed(&error)),
    };
    if current.generation() > seen {
        // Someone restored it since this caller loaded it.
        return Ok(current);
    }
    let timeout = shared.config.reinit_timeout;
    // Replicas sharing a store that saw the same loss: one of them re-initializes.
    let waited = tokio::time::timeout(timeout + REINIT_CLAIM_SLACK, claim(shared, id, &current)).await;
    match waited {
        Ok(Ok(None)) => {}
        Ok(Ok(Some(restored))) => return Ok(restored),
        Ok(Err(recovery)) => return Err(recovery),
        Err(_) => {
            return Err(timed_out(
                "another replica's re-initialize did not finish in time".into(),
            ));
        }
    }
    // The handshake, then the new record stored over `current`.
    let outcome = match tokio::time::timeout(timeout, handshake.run(&current)).await {
        Ok(Ok((upstream, version))) => store_fresh(shared, id, current, upstream, version).await,
        Ok(Err(recovery)) => Err(recovery),
        Err(_) => Err(timed_out(format!("no answer within {} ms", timeout.as_millis()))),
    };
    if let Err(error) = shared.store.release_reinit(id, seen).await {
        tracing::debug!(session = %id, %error, "could not release the re-initialize claim; it expires");
    }
    outcome
}

/// Claims the re-initialize of session `id` from `current`'s generation.
/// `None`: this caller runs it (also when the store cannot arbitrate: the
/// compare-and-store still keeps a newer record). `Some`: another replica
/// restored the session meanwhile; here is its record.
async fn claim<St: SessionStore>(
    shared: &Shared<St>,
    id: &SessionId,
    current: &SessionRecord,
) -> Result<Option<SessionRecord>, Recovery> {
    let seen = current.generation();
    loop {
        match shared
            .store
            .claim_reinit(id, seen, shared.config.reinit_timeout)
            .await
        {
            Ok(ReinitClaim::Granted) => return Ok(None),
            Ok(ReinitClaim::Held) => {}
            Err(error) => {
                tracing::warn!(session = %id, %error, "could not claim the re-initialize; running it anyway");
                return Ok(None);
            }
        }
        tokio::time::sleep(REINIT_POLL_INTERVAL).await;
        match shared.store.load(id).await {
            Ok(Some(record)) if record.generation() > seen => {
                tracing::debug!(session = %id, generation = record.generation(), "another replica re-initialized the session");
                return Ok(Some(record));
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err(Recovery::Gone("the session expired meanwhile".into())),
            Err(error) => return Err(store_failed(&error)),
        }
    }
}

/// The record after a handshake that gave upstream session `upstream` (and
/// maybe a negotiated `version`), stored over `current` — unless another
/// replica stored a newer one first (then that one is used).
async fn store_fresh<St: SessionStore>(
    shared: &Shared<St>,
    id: &SessionId,
    current: SessionRecord,
    upstream: SessionId,
    version: Option<HeaderValue>,
) -> Outcome {
    let version = version.or_else(|| current.protocol_version().cloned());
    let seen = current.generation();
    let fresh = current.reinitialized(upstream).with_protocol_version(version);
    let idle = shared.config.idle_timeout;
    match shared
        .store
        .compare_and_store(id, seen, fresh.clone(), idle)
        .await
    {
        Ok(Swap::Stored) => {}
        Ok(Swap::Conflict(Some(newer))) if newer.generation() > seen => {
            // Another replica won (its claim expired, or the store could not
            // arbitrate); ours is an unused upstream session the upstream expires.
            tracing::info!(session = %id, generation = newer.generation(), "another replica re-initialized first");
            return Ok(newer);
        }
        Ok(Swap::Conflict(Some(_))) => {
            // An older record came back (a shared store restored after losing
            // its data): the fresh one is newer.
            if let Err(error) = shared.store.store(id, fresh.clone(), idle).await {
                return Err(store_failed(&error));
            }
        }
        Ok(Swap::Conflict(None)) => return Err(Recovery::Gone("the session ended meanwhile".into())),
        Err(error) => return Err(store_failed(&error)),
    }
    Counters::count(&shared.counters.reinitialized);
    tracing::info!(session = %id, generation = fresh.generation(), "upstream session re-initialized");
    Ok(fresh)
}

impl<S> Handshake<'_, S> {
    /// `initialize` (`record`'s stored body), then `notifications/initialized`
    /// in the new session. Returns the new upstream session id and the
    /// negotiated version.
    async fn run<RB>(self, record: &SessionRecord) -> Result<(SessionId, Option<HeaderValue>), Recovery>
    where
        S: Upstream<RB>,
        RB: UpstreamBody,
    {
        let Handshake {
            mut inner,
            template,
            uri,
        } = self;
        let mut headers = template.clone();
        for name in [
            MCP_SESSION_ID,
            LAST_EVENT_ID,
            MCP_METHOD,
            MCP_NAME,
            MCP_PROTOCOL_VERSION,
        ] {
            headers.remove(name);
        }
        headers.remove(header::CONTENT_LENGTH);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::ACCEPT, ACCEPT_MCP);

        let request = post(uri, headers.clone(), record.initialize().clone());
        let answer = send(&mut inner, request).await?;
        let upstream = match answer
            .headers()
            .get(MCP_SESSION_ID)
            .map(SessionId::parse_upstream)
        {
            Some(Ok(upstream)) => upstream,
            _ => {
                return Err(Recovery::Gone(
                    "the initialize answer has no valid Mcp-Session-Id".into(),
                ));
            }
        };
        let version = negotiated_version(answer).await?;

        headers.insert(MCP_SESSION_ID, upstream.header_value().clone());
        if let Some(version) = version
            .clone()
            .or_else(|| template.get(MCP_PROTOCOL_VERSION).cloned())
        {
            headers.insert(MCP_PROTOCOL_VERSION, version);
        }
        let request = post(uri, headers, Bytes::from_static(INITIALIZED));
        // The answer is a bodiless 202; dropping it costs nothing.
        drop(send(&mut inner, request).await?);
        Ok((upstream, version))
    }
}

fn post(uri: &Uri, headers: HeaderMap, body: Bytes) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri.clone();
    *request.headers_mut() = headers;
    request
}

/// Sends one handshake request once the service is ready; a failed answer is
/// a `Recovery` (recoverable: try later; otherwise: the session is gone).
async fn send<S, RB>(inner: &mut S, request: Request<Full<Bytes>>) -> Result<Response<RB>, Recovery>
where
    S: Upstream<RB>,
{
    let facts = RequestFacts::from_request(&request);
    poll_fn(|cx| inner.poll_ready(cx))
        .await
        .map_err(|error| transport_failed(error.into()))?;
    let response = inner
        .call(request)
        .await
        .map_err(|error| transport_failed(error.into()))?;
    let classification = match response.extensions().get::<Classification>() {
        Some(classification) => classification.clone(),
        None => classify_status(response.status(), response.headers(), facts),
    };
    match classification.failure() {
        None => Ok(response),
        Some(failure) if failure.is_recoverable() => Err(Recovery::Failed(
            failure.clone(),
            format!("the upstream answered {}", response.status()),
        )),
        Some(_) => Err(Recovery::Gone(format!(
            "the upstream refused the stored initialize ({})",
            response.status()
        ))),
    }
}

/// Reads the `initialize` answer (JSON, or SSE up to its response event, at
/// most [`MAX_HANDSHAKE_ANSWER`] bytes) for `result.protocolVersion`; a
/// JSON-RPC error means the upstream refused the stored `initialize`.
async fn negotiated_version<RB>(answer: Response<RB>) -> Result<Option<HeaderValue>, Recovery>
where
    RB: UpstreamBody,
{
    let sse = is_event_stream(answer.headers());
    let mut body = pin!(answer.into_body());
    let mut decoder = SseDecoder::new(MAX_HANDSHAKE_ANSWER);
    let mut json = Vec::new();
    let mut found: Option<Value> = None;
    let mut read = 0usize;
    while found.is_none() && read <= MAX_HANDSHAKE_ANSWER {
        let Some(frame) = body.frame().await else { break };
        let frame = frame.map_err(|error| transport_failed(error.into()))?;
        let Ok(mut data) = frame.into_data() else { continue };
        let chunk = data.copy_to_bytes(data.remaining());
        read += chunk.len();
        if sse {
            decoder.push(&chunk, &mut |event| {
                let message = serde_json::from_str::<Value>(&event.data).ok();
                if found.is_none() && message.as_ref().is_some_and(is_response) {
                    found = message;
                }
            });
        } else {
            json.extend_from_slice(&chunk);
        }
    }
    if !sse {
        found = serde_json::from_slice(&json).ok().filter(is_response);
    }
    match found {
        Some(message) if message.get("error").is_some() => Err(Recovery::Gone(
            "the upstream refused the stored initialize with a JSON-RPC error".into(),
        )),
        Some(message) => Ok(message
            .pointer("/result/protocolVersion")
            .and_then(Value::as_str)
            .and_then(|version| HeaderValue::from_str(version).ok())),
        None => Ok(None),
    }
}

fn is_response(message: &Value) -> bool {
    message.get("result").is_some() || message.get("error").is_some()
}

fn transport_failed(error: BoxError) -> Recovery {
    let failure = classify_error(&*error);
    Recovery::Failed(failure, error.to_string())
}

fn timed_out(why: String) -> Recovery {
    Recovery::Failed(Failure::new(FailureClass::Timeout, Reached::No), why)
}

fn store_failed(error: &dyn std::error::Error) -> Recovery {
    Recovery::Failed(
        Failure::new(FailureClass::Unavailable, Reached::No),
        error.to_string(),
    )
}
