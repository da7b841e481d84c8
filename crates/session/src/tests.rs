//! The session layer against an in-memory legacy MCP server that can "restart".

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_reconnect_core::headers::{LAST_EVENT_ID, MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use mcp_reconnect_core::peek::{MessageKind, peek};
use mcp_reconnect_core::{Attempt, FailureClass, classify_error};
use tokio::sync::Semaphore;
use tower::{Layer, ServiceExt};

use super::*;
use crate::config::SessionConfig;

const VERSION: &str = "2025-06-18";

/// What the fake server saw and does.
#[derive(Default)]
pub(super) struct Fake {
    next: AtomicUsize,
    sessions: Mutex<Vec<String>>,
    pub(super) initializes: AtomicUsize,
    lost: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    /// When set, `initialize` waits for a permit (to hold a re-initialize open).
    gate: Option<Arc<Semaphore>>,
    refuse_initialize: AtomicBool,
    reinit_unavailable: AtomicBool,
}

/// One request as the fake server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    session: Option<String>,
    rpc: Option<String>,
    resumes: bool,
    version: Option<String>,
}

impl Fake {
    /// A server whose `initialize`s each take a permit of `gate`.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) fn gated(gate: Arc<Semaphore>) -> Fake {
        Fake {
            gate: Some(gate),
            ..Fake::default()
        }
    }

    pub(super) fn restart(&self) {
        self.sessions.lock().unwrap().clear();
    }

    fn seen_methods(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter_map(|seen| seen.rpc.clone()).collect()
    }
}

pub(super) type Upstream =
    tower::util::BoxCloneSyncService<Request<Full<Bytes>>, Response<Full<Bytes>>, Infallible>;

pub(super) fn upstream(fake: Arc<Fake>) -> Upstream {
    tower::util::BoxCloneSyncService::new(tower::service_fn(move |request: Request<Full<Bytes>>| {
        let fake = Arc::clone(&fake);
        async move { Ok::<_, Infallible>(answer(&fake, request).await) }
    }))
}

async fn answer(fake: &Fake, request: Request<Full<Bytes>>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let message = peek(&body).ok().and_then(|p| p.single().cloned());
    let method = message.as_ref().and_then(|m| m.method().map(str::to_owned));
    let session = parts
        .headers
        .get(MCP_SESSION_ID)
        .map(|v| v.to_str().unwrap().to_owned());
    let version = parts
        .headers
        .get(MCP_PROTOCOL_VERSION)
        .map(|v| v.to_str().unwrap().to_owned());
    let resumes = parts.headers.contains_key(LAST_EVENT_ID);
    fake.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        session: session.clone(),
        rpc: method.clone(),
        resumes,
        version,
    });
    let json = |status: u16, text: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(text)))
            .unwrap()
    };
    if method.as_deref() == Some("initialize") {
        fake.initializes.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &fake.gate {
            gate.acquire().await.unwrap().forget();
        }
        if fake.reinit_unavailable.load(Ordering::SeqCst) {
            return json(503, String::new());
        }
        if fake.refuse_initialize.load(Ordering::SeqCst) {
            return json(401, r#"{"error":"who are you"}"#.into());
        }
        let id = format!("up-{}", fake.next.fetch_add(1, Ordering::SeqCst));
        fake.sessions.lock().unwrap().push(id.clone());
        let result = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{{"protocolVersion":"{VERSION}"}}}}"#);
        let mut response = json(200, result);
        response
            .headers_mut()
            .insert(MCP_SESSION_ID, HeaderValue::from_str(&id).unwrap());
        return response;
    }
    let known = session
        .as_ref()
        .is_some_and(|s| fake.sessions.lock().unwrap().contains(s));
    if session.is_some() && !known {
        fake.lost.fetch_add(1, Ordering::SeqCst);
        return json(
            404,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}"#.into(),
        );
    }
    if parts.method == http::Method::DELETE {
        fake.sessions
            .lock()
            .unwrap()
            .retain(|s| Some(s) != session.as_ref());
        return json(200, String::new());
    }
    match message.map(|m| m.kind()) {
        Some(MessageKind::Request) => json(200, r#"{"jsonrpc":"2.0","id":2,"result":{}}"#.into()),
        _ => json(202, String::new()),
    }
}

pub(super) fn post(session: Option<&str>, body: &str) -> Request<Full<Bytes>> {
    let mut request = Request::post("http://gateway/mcp").header(MCP_PROTOCOL_VERSION, VERSION);
    if let Some(session) = session {
        request = request.header(MCP_SESSION_ID, session);
    }
    request.body(Full::new(Bytes::from(body.to_owned()))).unwrap()
}

pub(super) const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
pub(super) const CALL: &str =
    r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{}}}"#;
const NOTE: &str = r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}"#;

struct Harness {
    fake: Arc<Fake>,
    layer: SessionLayer,
    service: Session<Upstream>,
}

impl Harness {
    fn new(fake: Fake) -> Harness {
        let fake = Arc::new(fake);
        let layer = SessionLayer::with_config(SessionConfig::default().max_sessions(100));
        let service = layer.layer(upstream(Arc::clone(&fake)));
        Harness { fake, layer, service }
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Response<SessionBody<Full<Bytes>>> {
        self.service.clone().oneshot(request).await.unwrap()
    }

    async fn open(&self) -> String {
        let response = self.send(post(None, INIT)).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.headers()[MCP_SESSION_ID].to_str().unwrap().to_owned()
    }

    /// A harness with one client session (its id) whose upstream has
    /// restarted since, forgetting it.
    async fn restarted_after_open() -> (Harness, String) {
        let h = Harness::new(Fake::default());
        let client = h.open().await;
        h.fake.restart();
        (h, client)
    }
}

async fn json_of<B: http_body::Body>(response: Response<B>) -> serde_json::Value
where
    B::Error: std::fmt::Debug,
{
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn initialize_gets_a_client_id_that_maps_to_the_upstream_one() {
    let h = Harness::new(Fake::default());
    let client = h.open().await;
    assert_eq!(client.len(), 32);
    assert_ne!(client, "up-0");
    assert_eq!(h.layer.store().len(), 1);
    let response = h.send(post(Some(&client), CALL)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let seen = h.fake.seen.lock().unwrap();
    assert_eq!(seen.last().unwrap().session.as_deref(), Some("up-0"));
}

#[tokio::test]
async fn bad_and_unknown_ids_are_answered_here() {
    let h = Harness::new(Fake::default());
    let bad = h.send(post(Some("has space"), CALL)).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body = json_of(bad).await;
    assert_eq!(body["error"]["code"], -32600);
    let mut twice = post(Some("a"), CALL);
    twice
        .headers_mut()
        .append(MCP_SESSION_ID, HeaderValue::from_static("b"));
    assert_eq!(h.send(twice).await.status(), StatusCode::BAD_REQUEST);
    let long = "x".repeat(129);
    assert_eq!(
        h.send(post(Some(&long), CALL)).await.status(),
        StatusCode::BAD_REQUEST
    );

    let unknown = h.send(post(Some("never-issued"), CALL)).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let class = unknown
        .extensions()
        .get::<mcp_reconnect_core::Classification>()
        .unwrap();
    assert_eq!(class.class(), Some(FailureClass::Business), "not worth a retry");
    let body = json_of(unknown).await;
    assert_eq!(body["error"]["code"], SESSION_NOT_FOUND);
    assert_eq!(body["id"], 7);
    assert!(h.fake.seen.lock().unwrap().is_empty(), "nothing was forwarded");
    let stats = h.layer.stats();
    assert_eq!((stats.invalid, stats.unknown), (3, 1));
}

#[tokio::test]
async fn a_lost_session_is_reinitialized_and_the_request_sent_again() {
    let (h, client) = Harness::restarted_after_open().await;
    let response = h.send(post(Some(&client), CALL)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(h.fake.initializes.load(Ordering::SeqCst), 2);
    assert_eq!(
        h.fake.seen_methods(),
        [
            "initialize",
            "tools/call",
            "initialize",
            "notifications/initialized",
            "tools/call"
        ]
    );
    let seen = h.fake.seen.lock().unwrap().clone();
    let initialized = &seen[3];
    assert_eq!(initialized.session.as_deref(), Some("up-1"));
    assert_eq!(initialized.version.as_deref(), Some(VERSION));
    assert_eq!(seen[4].session.as_deref(), Some("up-1"));
    let id = SessionId::parse(&HeaderValue::from_str(&client).unwrap()).unwrap();
    let record = h.layer.store().load(&id).await.unwrap().unwrap();
    assert_eq!(record.generation(), 1);
    assert_eq!(record.protocol_version().unwrap(), VERSION);
    assert_eq!(h.layer.shared.flights.len(), 0);
}

#[tokio::test]
async fn concurrent_requests_of_a_session_share_one_reinitialize() {
    let gate = Arc::new(Semaphore::new(1));
    let h = Harness::new(Fake {
        gate: Some(Arc::clone(&gate)),
        ..Fake::default()
    });
    let client = h.open().await;
    h.fake.restart();
    let calls: Vec<_> = (0..10)
        .map(|_| tokio::spawn(h.service.clone().oneshot(post(Some(&client), CALL))))
        .collect();
    // Hold the re-initialize until every call has met the lost session.
    while h.fake.lost.load(Ordering::SeqCst) < 10 {
        tokio::task::yield_now().await;
    }
    gate.add_permits(1);
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    assert_eq!(h.fake.initializes.load(Ordering::SeqCst), 2, "one re-initialize");
    let stats = h.layer.stats();
    assert_eq!((stats.opened, stats.reinitialized), (1, 1));
    assert_eq!(h.fake.sessions.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn under_an_outer_retry_loop_the_layer_still_resends_after_the_reinitialize() {
    let (h, client) = Harness::restarted_after_open().await;
    // A retry layer above marked the request: the resend is still this
    // layer's own, so no outer retry count or budget can refuse it.
    let mut request = post(Some(&client), CALL);
    request.extensions_mut().insert(Attempt::FIRST);
    assert_eq!(h.send(request).await.status(), StatusCode::OK);
    assert_eq!(h.fake.initializes.load(Ordering::SeqCst), 2);
    let calls = h
        .fake
        .seen_methods()
        .iter()
        .filter(|m| *m == "tools/call")
        .count();
    assert_eq!(calls, 2, "the lost try and the resend, once");

    h.fake.restart();
    let mut note = post(Some(&client), NOTE);
    note.extensions_mut().insert(Attempt::FIRST);
    assert_eq!(h.send(note).await.status(), StatusCode::ACCEPTED);
    assert_eq!(h.fake.initializes.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_resumed_get_stream_starts_afresh_in_the_new_session() {
    let (h, client) = Harness::restarted_after_open().await;
    let get = Request::get("http://gateway/mcp")
        .header(MCP_SESSION_ID, &client)
        .header(LAST_EVENT_ID, "41")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(h.send(get).await.status(), StatusCode::ACCEPTED);
    let seen = h.fake.seen.lock().unwrap();
    let gets: Vec<_> = seen.iter().filter(|s| s.method == "GET").collect();
    assert_eq!(gets.len(), 2);
    assert!(gets[0].resumes, "the first try resumes");
    assert!(!gets[1].resumes, "the retry in the new session does not");
}

#[tokio::test]
async fn delete_ends_both_sessions() {
    let h = Harness::new(Fake::default());
    let client = h.open().await;
    let delete = Request::delete("http://gateway/mcp")
        .header(MCP_SESSION_ID, &client)
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(h.send(delete).await.status(), StatusCode::OK);
    assert!(
        h.fake.sessions.lock().unwrap().is_empty(),
        "upstream session ended"
    );
    assert!(h.layer.store().is_empty(), "mapping dropped");
    assert_eq!(h.layer.stats().closed, 1);
    assert_eq!(
        h.send(post(Some(&client), CALL)).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn requests_without_a_session_pass_through() {
    let h = Harness::new(Fake::default());
    let discover = r#"{"jsonrpc":"2.0","id":1,"method":"server/discover"}"#;
    let response = h.send(post(None, discover)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!response.headers().contains_key(MCP_SESSION_ID));
    assert!(h.layer.store().is_empty());
}

#[tokio::test]
async fn a_refused_reinitialize_sends_the_client_back_to_initialize() {
    let (h, client) = Harness::restarted_after_open().await;
    h.fake.refuse_initialize.store(true, Ordering::SeqCst);
    assert_eq!(
        h.send(post(Some(&client), CALL)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(h.layer.store().is_empty());
    assert_eq!(h.layer.stats().dropped, 1);
}

#[tokio::test]
async fn an_unavailable_upstream_keeps_the_session_and_fails_not_reached() {
    let (h, client) = Harness::restarted_after_open().await;
    h.fake.reinit_unavailable.store(true, Ordering::SeqCst);
    let error = h
        .service
        .clone()
        .oneshot(post(Some(&client), CALL))
        .await
        .unwrap_err();
    let failure = classify_error(&*error);
    assert_eq!(failure.class(), FailureClass::Unavailable);
    assert_eq!(failure.reached(), mcp_reconnect_core::Reached::No);
    assert_eq!(h.layer.store().len(), 1, "the session is kept");
    assert_eq!(h.layer.stats().reinit_failed, 1);
    // The upstream is back: the next request restores the session.
    h.fake.reinit_unavailable.store(false, Ordering::SeqCst);
    assert_eq!(h.send(post(Some(&client), CALL)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn bodies_over_the_limits_are_refused_unforwarded() {
    let fake = Arc::new(Fake::default());
    let layer = SessionLayer::with_config(SessionConfig::default().max_body(64).max_initialize_body(32));
    let service = layer.layer(upstream(Arc::clone(&fake)));
    let big = service.clone().oneshot(post(None, INIT)).await.unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let small_init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#;
    let init = service.clone().oneshot(post(None, small_init)).await.unwrap();
    assert_eq!(init.status(), StatusCode::PAYLOAD_TOO_LARGE, "too big to keep");
    assert!(fake.seen.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_memory_store_stays_bounded_through_10k_abandoned_sessions() {
    let store = MemoryStore::new(1_000);
    let ttl = Duration::from_secs(600);
    let record = || {
        SessionRecord::new(
            Bytes::from_static(INIT.as_bytes()),
            SessionId::generate().unwrap(),
        )
    };
    let keep = SessionId::generate().unwrap();
    store.store(&keep, record(), ttl).await.unwrap();
    for cycle in 0..10_000 {
        store
            .store(&SessionId::generate().unwrap(), record(), ttl)
            .await
            .unwrap();
        if cycle % 100 == 0 {
            // A live client keeps its session in use.
            store.touch(&keep, ttl).await.unwrap();
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        assert!(store.len() <= 1_000);
    }
    assert_eq!(store.len(), 1_000);
    assert!(
        store.load(&keep).await.unwrap().is_some(),
        "least recently used go first"
    );
    // Idle sessions expire.
    tokio::time::advance(ttl).await;
    assert!(store.load(&keep).await.unwrap().is_none());
    store.store(&keep, record(), ttl).await.unwrap();
    assert_eq!(store.len(), 1, "the sweep dropped the expired");
}

#[tokio::test]
async fn the_memory_store_compares_generations_and_always_grants_the_claim() {
    let store = MemoryStore::new(10);
    let ttl = Duration::from_secs(60);
    let id = SessionId::generate().unwrap();
    let upstream = |name: &'static str| SessionId::parse_upstream(&HeaderValue::from_static(name)).unwrap();
    let first = SessionRecord::new(Bytes::from_static(INIT.as_bytes()), upstream("up-0"));
    let missing = store.compare_and_store(&id, 0, first.clone(), ttl).await.unwrap();
    assert!(matches!(missing, Swap::Conflict(None)));
    store.store(&id, first.clone(), ttl).await.unwrap();
    let next = first.clone().reinitialized(upstream("up-1"));
    let swapped = store.compare_and_store(&id, 0, next.clone(), ttl).await.unwrap();
    assert!(matches!(swapped, Swap::Stored));
    let stale = first.reinitialized(upstream("up-2"));
    match store.compare_and_store(&id, 0, stale, ttl).await.unwrap() {
        Swap::Conflict(Some(current)) => assert_eq!(current.upstream(), next.upstream()),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        store.claim_reinit(&id, 1, ttl).await.unwrap(),
        ReinitClaim::Granted
    );
    assert_eq!(
        store.claim_reinit(&id, 1, ttl).await.unwrap(),
        ReinitClaim::Granted
    );
    store.release_reinit(&id, 1).await.unwrap();
}

/// Guards what boxing the session paths apart buys (`flow::handle`): the
/// per-call future holds only the pass-through, so it stays small enough to
/// allocate and move on every call; the bound leaves room for the inner
/// service's own future.
#[test]
fn the_per_call_future_stays_small() {
    let layer = SessionLayer::new();
    let request = Request::post("/mcp")
        .body(Full::new(Bytes::new()))
        .expect("a request");
    let future = flow::handle(Arc::clone(&layer.shared), upstream(Arc::default()), request, None);
    let size = std::mem::size_of_val(&future);
    assert!(
        size <= 2048,
        "the session layer's per-call future is {size} bytes"
    );
}
