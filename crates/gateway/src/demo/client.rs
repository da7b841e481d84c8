//! The demo's clients: one calling the REST routes, one speaking MCP on a
//! legacy session through `/mcp`, both keeping score in a shared [`Tally`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_testkit::{McpResponse, jsonrpc};
use serde_json::{Value, json};
use tokio::time::Instant;

/// Pause between two calls of one client (about 20 calls a second each).
pub const CALL_PAUSE: Duration = Duration::from_millis(50);
/// Every n-th call is an `increment` (not idempotent); the others `echo`.
pub const INCREMENT_EVERY: u64 = 3;
/// The most `increment` keys remembered for the duplicate check.
pub const MAX_TRACKED_KEYS: usize = 100_000;
/// The most outages remembered for the recovery figures.
pub const MAX_OUTAGES: usize = 10_000;
/// How long one demo call may take before the client gives up on it.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The score of every client.
#[derive(Debug, Default)]
pub struct Tally {
    /// Calls answered with success.
    pub ok: AtomicU64,
    /// Calls that failed.
    pub failed: AtomicU64,
    /// Failed calls whose tool may have run (not repeated on purpose).
    pub maybe_ran: AtomicU64,
    /// Times the MCP client had to open a new session (its first one excluded).
    pub sessions_reopened: AtomicU64,
    /// The `increment` keys called.
    pub keys: Mutex<Vec<String>>,
    /// How long each client-visible outage lasted (first failure to next success).
    pub outages: Mutex<Vec<Duration>>,
}

impl Tally {
    fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `increment` keys called so far.
    pub fn keys(&self) -> Vec<String> {
        Self::lock(&self.keys).clone()
    }

    /// The outages seen so far.
    pub fn outages(&self) -> Vec<Duration> {
        Self::lock(&self.outages).clone()
    }

    fn track_key(&self, key: &str) {
        let mut keys = Self::lock(&self.keys);
        if keys.len() < MAX_TRACKED_KEYS {
            keys.push(key.to_owned());
        }
    }
}

/// The `n`-th call of client `who`: an `increment` of a fresh key every
/// [`INCREMENT_EVERY`] calls (its key remembered), else an `echo`.
fn next_call(who: &str, n: u64, tally: &Tally) -> (&'static str, Value) {
    if n.is_multiple_of(INCREMENT_EVERY) {
        let key = format!("{who}-{n}");
        tally.track_key(&key);
        ("increment", json!({ "key": key }))
    } else {
        ("echo", json!({ "text": format!("{who} call {n}") }))
    }
}

/// One client's view of its own outage: when its current run of failures began.
#[derive(Debug, Default)]
struct Streak {
    failing_since: Option<Instant>,
}

impl Streak {
    fn record(&mut self, tally: &Tally, ok: bool) {
        if ok {
            tally.ok.fetch_add(1, Relaxed);
            if let Some(since) = self.failing_since.take() {
                let mut outages = Tally::lock(&tally.outages);
                if outages.len() < MAX_OUTAGES {
                    outages.push(since.elapsed());
                }
            }
        } else {
            tally.failed.fetch_add(1, Relaxed);
            self.failing_since.get_or_insert_with(Instant::now);
        }
    }
}

/// Calls `POST /echo` and `POST /increment` until `running` turns false.
pub async fn rest(base: String, key: Option<String>, tally: Arc<Tally>, running: Arc<AtomicBool>) {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut streak = Streak::default();
    let mut n = 0u64;
    while running.load(Relaxed) {
        n += 1;
        let (tool, arguments) = next_call("rest", n, &tally);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("{base}/{tool}"))
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(key) = &key {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = request.body(Full::new(Bytes::from(arguments.to_string())));
        let answer = match request {
            Ok(request) => tokio::time::timeout(CALL_TIMEOUT, client.request(request)).await,
            Err(_) => break,
        };
        let (ok, maybe_ran) = match answer {
            Ok(Ok(response)) => {
                let status = response.status();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                (
                    status == StatusCode::OK,
                    String::from_utf8_lossy(&body).contains("may have run"),
                )
            }
            _ => (false, false),
        };
        if maybe_ran {
            tally.maybe_ran.fetch_add(1, Relaxed);
        }
        streak.record(&tally, ok);
        tokio::time::sleep(CALL_PAUSE).await;
    }
}

/// A legacy MCP client (the testkit's JSON-RPC bodies) that sends the API key.
struct McpSession {
    http: Client<HttpConnector, Full<Bytes>>,
    url: String,
    key: Option<String>,
    session: Option<String>,
    next_id: u64,
}

impl McpSession {
    async fn post(&mut self, body: &Value) -> Option<McpResponse> {
        let mut request = jsonrpc::jsonrpc_request(&self.url, self.session.as_deref(), body).ok()?;
        if let Some(key) = &self.key {
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, format!("Bearer {key}").parse().ok()?);
        }
        let response = tokio::time::timeout(CALL_TIMEOUT, self.http.request(request))
            .await
            .ok()?
            .ok()?;
        McpResponse::read(response).await.ok()
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// `initialize` + `notifications/initialized`; keeps the session id.
    async fn open(&mut self) -> bool {
        self.session = None;
        let id = self.id();
        let Some(answer) = self.post(&jsonrpc::initialize(id)).await else {
            return false;
        };
        if answer.status != StatusCode::OK {
            return false;
        }
        self.session = answer.session_id().map(str::to_owned);
        let done = self.post(&jsonrpc::initialized()).await;
        self.session.is_some() && done.is_some_and(|answer| answer.status.is_success())
    }
}

/// Speaks MCP on one legacy session through `/mcp` until `running` turns
/// false; opens a new session only when the old one is refused (`404`), as
/// MCP clients do. The session in use is published in `session`.
pub async fn mcp(
    url: String,
    key: Option<String>,
    tally: Arc<Tally>,
    running: Arc<AtomicBool>,
    session: Arc<Mutex<Option<String>>>,
) {
    let mut client = McpSession {
        http: Client::builder(TokioExecutor::new()).build_http(),
        url,
        key,
        session: None,
        next_id: 0,
    };
    let mut streak = Streak::default();
    let mut opened = 0u64;
    let mut n = 0u64;
    while running.load(Relaxed) {
        if client.session.is_none() {
            if client.open().await {
                opened += 1;
                if opened > 1 {
                    tally.sessions_reopened.fetch_add(1, Relaxed);
                }
                *Tally::lock(&session) = client.session.clone();
            } else {
                client.session = None;
                streak.record(&tally, false);
                tokio::time::sleep(CALL_PAUSE).await;
                continue;
            }
        }
        n += 1;
        let (tool, arguments) = next_call("mcp", n, &tally);
        let id = client.id();
        let ok = match client.post(&jsonrpc::tools_call(id, tool, arguments)).await {
            Some(answer) if answer.status == StatusCode::NOT_FOUND => {
                client.session = None;
                false
            }
            Some(answer) => {
                let code = answer
                    .message()
                    .and_then(|m| m.pointer("/error/code").and_then(Value::as_i64));
                if code == Some(mcp_reconnect_core::respond::codes::MAYBE_EXECUTED) {
                    tally.maybe_ran.fetch_add(1, Relaxed);
                }
                answer.status == StatusCode::OK && answer.result().is_some()
            }
            None => false,
        };
        streak.record(&tally, ok);
        tokio::time::sleep(CALL_PAUSE).await;
    }
}
