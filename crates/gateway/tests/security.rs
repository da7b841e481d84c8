//! Security and bad input, over real TCP on 127.0.0.1: the gateway in process
//! in front of the testkit's MCP server and fault proxy.
//!
//! - keys: missing `401` + `WWW-Authenticate: Bearer`, wrong `403`, nothing forwarded;
//!   the constant-time comparison refuses equal- and different-length keys;
//! - bodies over the limit (`Content-Length` or chunked) `413`, huge headers `431`, nothing forwarded;
//! - malformed JSON-RPC to `/mcp`: `400` with `-32700` / `-32600`, nothing forwarded;
//! - unknown and forged session ids `404`, malformed ones `400`, nothing forwarded;
//! - header injection through `Mcp-Session-Id` (raw bytes): `400` or a plain
//!   unknown id, never an echoed header;
//! - slow clients: headers (see also `limits.rs`), a trickled REST body (`408`
//!   at `--tool-timeout`), a trickled `/mcp` body (the call deadline);
//! - 1000 concurrent hung calls: the excess shed with `503` + `Retry-After`
//!   while they hang, memory bounded, another upstream unaffected;
//! - the API key and the upstream's credentials never in logs (TRACE),
//!   `/health`, `/metrics` (JSON, Prometheus, OpenMetrics) or docs.
//!
//! No assertion is on time: every wait is a bounded loop or a bound that
//! only stops a broken test.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use common::{Answer, Http, READ_BOUND, assert_mcp_echo, gateway, raw, upstream_and_gateway};
use http::{HeaderValue, Method, Request, StatusCode};
use mcp_reconnect_gateway::Gateway;
use mcp_reconnect_gateway::auth::Auth;
use mcp_reconnect_gateway::config::ApiKey;
use mcp_reconnect_gateway::edge::GateLayer;
use mcp_reconnect_testkit::{Fault, RawClient, Rule, TestUpstream};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

const KEY: &str = "secret-key-123";
const UPSTREAM_SECRET: &str = "upstream-secret";
const ACCEPT_MCP: &str = "application/json, text/event-stream";
/// The two tests that load the process (1000 calls, TRACE capture) never overlap,
/// so the memory one measures only itself.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits (bounded) until every upstream's warm-up fetched its tools: from
/// then on, the upstream sees only what the test sends.
async fn warmed(gateway: &Gateway) {
    for client in gateway.clients() {
        for _ in 0..1000 {
            if client.catalog().fetched.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            client.catalog().fetched.is_some(),
            "the warm-up fetched the tools"
        );
    }
}

/// A gateway (`flags` first) in front of a new upstream, its tool list fetched.
async fn warmed_up(flags: &[&str]) -> (TestUpstream, Gateway) {
    let (upstream, gateway) = upstream_and_gateway(flags, &[]).await;
    warmed(&gateway).await;
    (upstream, gateway)
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "security-test", "version": "0"}}})
}

/// A JSON-RPC error answer: `(HTTP status, error code)`.
fn rpc_error(answer: &Answer) -> (u16, i64) {
    let body = answer.json();
    assert_eq!(body["jsonrpc"], "2.0", "{answer:?}");
    (
        answer.status.as_u16(),
        body["error"]["code"].as_i64().unwrap_or_default(),
    )
}

// ----------------------------------------------------------------------- keys

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_wrong_keys_are_refused_and_nothing_reaches_the_upstream() {
    let (upstream, gateway) = warmed_up(&["--api-key", KEY]).await;
    let (base, http) = (gateway.url(), Http::default());
    let before = upstream.proxy.requests();
    let missing = [
        None,
        Some("Bearer".to_owned()),
        Some("Bearer ".to_owned()),
        Some(KEY.to_owned()),
        Some(format!("Basic {KEY}")),
        Some(format!("Bearer{KEY}")),
    ];
    let wrong = [
        "Bearer secret-key-124".to_owned(),  // same length, last byte differs
        "Bearer Secret-key-123".to_owned(),  // same length, first byte differs
        "Bearer secret-key-12".to_owned(),   // a prefix
        "Bearer secret-key-1234".to_owned(), // longer
        format!("Bearer {}", KEY.to_uppercase()),
        format!("Bearer {}", "k".repeat(8192)),
    ];
    let calls = [
        (Method::POST, "/echo", json!({"text": "x"}).to_string()),
        (Method::POST, "/mcp", initialize().to_string()),
        (Method::GET, "/mcp", String::new()),
        (Method::DELETE, "/mcp", String::new()),
        (
            Method::POST,
            "/mcp?api_key=secret-key-123",
            initialize().to_string(),
        ),
    ];
    for (method, path, body) in &calls {
        for header in &missing {
            let mut headers = vec![("content-type", "application/json"), ("accept", ACCEPT_MCP)];
            if let Some(value) = header {
                headers.push(("authorization", value));
            }
            let answer = http
                .send(method.clone(), &format!("{base}{path}"), &headers, body.clone())
                .await;
            assert_eq!(answer.status, 401, "{method} {path} {header:?}");
            assert_eq!(answer.headers["www-authenticate"], "Bearer");
            assert_eq!(answer.json()["detail"], "Not authenticated");
        }
        for value in &wrong {
            let headers = [
                ("content-type", "application/json"),
                ("accept", ACCEPT_MCP),
                ("authorization", value.as_str()),
            ];
            let answer = http
                .send(method.clone(), &format!("{base}{path}"), &headers, body.clone())
                .await;
            assert_eq!(answer.status, 403, "{method} {path} {value:.30}");
            assert!(answer.headers.get("www-authenticate").is_none());
            assert_eq!(answer.json()["detail"], "Invalid API key");
        }
    }
    assert_eq!(
        upstream.proxy.requests(),
        before,
        "no refused request reached the upstream"
    );
    let right = format!("Bearer {KEY}");
    http.assert_echo(&format!("{base}/echo"), &[("authorization", &right)], "x")
        .await;
    gateway.shutdown().await;
}

/// With no key, a web page can still send a "simple" request that needs no
/// CORS preflight (`text/plain`, a form): REST tool routes take JSON only
/// (`415` otherwise), so such a request never runs a tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_tool_routes_take_json_only() {
    let (upstream, gateway) = warmed_up(&[]).await;
    let (base, http) = (gateway.url(), Http::default());
    let body = json!({"key": "simple"}).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let headers = [
            ("content-type", content_type),
            ("origin", "http://localhost:3000"),
        ];
        let answer = http
            .send(Method::POST, &format!("{base}/increment"), &headers, body.clone())
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}: {answer:?}"
        );
    }
    assert_eq!(upstream.counters().increments("simple"), 0, "no tool ran");
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "application/vnd.api+json",
    ] {
        let headers = [("content-type", content_type)];
        let answer = http
            .send(Method::POST, &format!("{base}/echo"), &headers, r#"{"text":"j"}"#)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{content_type}: {answer:?}");
    }
    // A call without a body (a tool with no arguments) needs no type.
    let answer = http
        .send(Method::POST, &format!("{base}/fail_business"), &[], Bytes::new())
        .await;
    assert_ne!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    gateway.shutdown().await;
}

/// `/mcp` and the REST routes cross the same edge: the DNS-rebinding guard of
/// a loopback listener, CORS preflights answered before the key is asked
/// for, and the key itself; `/health` stays open to probes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_and_rest_cross_the_same_edge() {
    let (upstream, gateway) = warmed_up(&["--api-key", KEY]).await;
    let (base, http) = (gateway.url(), Http::default());
    let bearer = format!("Bearer {KEY}");
    let before = upstream.proxy.requests();
    let calls = [
        ("/mcp", initialize().to_string()),
        ("/echo", json!({"text": "x"}).to_string()),
    ];
    for (path, body) in &calls {
        let url = format!("{base}{path}");
        let send = |extra: (&'static str, &'static str)| {
            let headers = vec![
                ("content-type", "application/json"),
                ("accept", ACCEPT_MCP),
                ("authorization", bearer.as_str()),
                extra,
            ];
            let (http, url, body) = (http.clone(), url.clone(), body.clone());
            async move { http.send(Method::POST, &url, &headers, body).await }
        };
        // `Origin: null` is any sandboxed iframe or `data:` page: foreign too.
        for foreign in [
            ("host", "evil.example"),
            ("origin", "http://evil.example"),
            ("origin", "null"),
        ] {
            let answer = send(foreign).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path} with {foreign:?}");
            assert!(String::from_utf8_lossy(&answer.body).contains("Host or Origin not allowed"));
        }
        let answer = send(("origin", "http://localhost:3000")).await;
        assert_eq!(answer.status, StatusCode::OK, "{path} from a loopback origin");
        assert_eq!(
            answer.headers["access-control-allow-origin"],
            "http://localhost:3000"
        );
        // No Origin, no CORS request: the answer carries no CORS headers (as Starlette's).
        let answer = send(("accept-language", "en")).await;
        assert_eq!(answer.status, StatusCode::OK, "{path} without an origin");
        for cors in [
            "access-control-allow-origin",
            "access-control-expose-headers",
            "vary",
        ] {
            assert!(
                !answer.headers.contains_key(cors),
                "{path}: {cors} without an origin"
            );
        }

        let preflight = [
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "authorization, mcp-session-id"),
        ];
        let answer = http.send(Method::OPTIONS, &url, &preflight, Bytes::new()).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: a preflight needs no key");
        assert!(answer.headers.contains_key("access-control-allow-methods"));
    }
    // Refused and preflight requests never reached the upstream: only the
    // allowed calls did (the initialize and echo's tools/call, each with and
    // without an origin).
    assert_eq!(upstream.proxy.requests() - before, 4);
    let health = http
        .get(&format!("{base}/health"), &[("host", "evil.example")])
        .await;
    assert_eq!(health.status, StatusCode::OK, "probes are not guarded");
    gateway.shutdown().await;
}

/// The comparison is `subtle`'s `ConstantTimeEq` (no early exit on the first
/// differing byte; a different length is refused at once, which reveals the
/// length only). Checked here for outcomes, never for time.
#[tokio::test]
async fn the_key_comparison_refuses_equal_and_different_lengths_without_panicking() {
    let guard = Auth::new(Some(ApiKey::new(KEY)), false, BTreeSet::new());
    let app = Router::new()
        .route("/x", get(|| async { "ok" }))
        .layer(GateLayer::from(guard));
    let status = |token: &[u8]| {
        let app = app.clone();
        let mut value = b"Bearer ".to_vec();
        value.extend_from_slice(token);
        async move {
            let request = Request::get("/x")
                .header("authorization", HeaderValue::from_bytes(&value).unwrap())
                .body(axum::body::Body::empty())
                .unwrap();
            app.oneshot(request).await.unwrap().status()
        }
    };
    let mut same_length: Vec<Vec<u8>> = (0..KEY.len())
        .map(|at| {
            let mut key = KEY.as_bytes().to_vec();
            key[at] ^= 0x01;
            key
        })
        .collect();
    same_length.push(vec![b'x'; KEY.len()]);
    same_length.push(vec![0xff; KEY.len()]); // obs-text: not UTF-8
    for token in &same_length {
        assert_eq!(status(token).await, StatusCode::FORBIDDEN, "{token:?}");
    }
    for length in [1, KEY.len() - 1, KEY.len() + 1, 2 * KEY.len(), 65_536] {
        let token: Vec<u8> = KEY.bytes().cycle().take(length).collect();
        assert_eq!(status(&token).await, StatusCode::FORBIDDEN, "length {length}");
    }
    assert_eq!(status(KEY.as_bytes()).await, StatusCode::OK);
}

// --------------------------------------------------------------------- bodies

/// Sends `head`, then `body_chunks` chunks of 64 KiB with chunked transfer
/// coding while reading the answer: the gateway may answer and close before
/// the body is sent (write errors are expected then), and what it answered
/// is read first.
async fn raw_chunked(addr: SocketAddr, head: String, body_chunks: usize) -> String {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
        for _ in 0..body_chunks {
            writer.write_all(chunk.as_bytes()).await?;
        }
        writer.write_all(b"0\r\n\r\n").await
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(READ_BOUND, reader.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the gateway answered or closed");
    writing.abort();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_bodies_and_headers_are_refused_and_never_forwarded() {
    let (upstream, gateway) = warmed_up(&[]).await;
    let addr = gateway.local_addr();
    let before = upstream.proxy.requests();
    let over = 5 * 1024 * 1024; // the default limit is 4 MiB
    for path in ["/mcp", "/echo"] {
        // A Content-Length over the limit: refused before any body byte is read.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Accept: {ACCEPT_MCP}\r\nConnection: close\r\nContent-Length: {over}\r\n\r\n{{"
        );
        let answer = raw(addr, head.as_bytes()).await;
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "{path} Content-Length: {answer:.300}"
        );
        // Chunked, no length known in advance: refused once the limit is passed.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Accept: {ACCEPT_MCP}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let answer = raw_chunked(addr, head, over / 0x10000).await;
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "{path} chunked: {answer:.300}"
        );
        if path == "/mcp" {
            assert!(answer.contains("-32052"), "a JSON-RPC error: {answer:.600}");
        }
    }
    // A 1 MiB header.
    let big = format!(
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let answer = raw_chunked(addr, big, 0).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer:.80}"
    );
    assert_eq!(upstream.proxy.requests(), before, "nothing reached the upstream");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_rpc_gets_a_json_rpc_error_and_never_reaches_the_upstream() {
    let (upstream, gateway) = warmed_up(&[]).await;
    let (base, http) = (gateway.url(), Http::default());
    let mut client = RawClient::new(format!("{base}/mcp"));
    assert_eq!(client.initialize().await.unwrap().status, 200);
    let session = client.session().expect("a session").to_owned();
    let before = upstream.proxy.requests();
    let ping = r#"{"jsonrpc":"2.0","method":"ping","id":1}"#;
    let cases: Vec<(&str, Vec<u8>, i64)> = vec![
        ("not JSON", b"{not json".to_vec(), -32700),
        ("empty", Vec::new(), -32700),
        ("binary", vec![0xff, 0xfe, 0x00, 0x80], -32700),
        ("truncated", ping.as_bytes()[..20].to_vec(), -32700),
        ("nested 100 000 deep", "[".repeat(100_000).into_bytes(), -32700),
        ("empty batch", b"[]".to_vec(), -32600),
        ("a string", br#""ping""#.to_vec(), -32600),
        ("a number", b"42".to_vec(), -32600),
        ("null", b"null".to_vec(), -32600),
        ("no method", br#"{"jsonrpc":"2.0","id":1}"#.to_vec(), -32600),
        (
            "JSON-RPC 1.0",
            br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#.to_vec(),
            -32600,
        ),
        (
            "method a number",
            br#"{"jsonrpc":"2.0","id":1,"method":5}"#.to_vec(),
            -32600,
        ),
        (
            "id an object",
            br#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#.to_vec(),
            -32600,
        ),
        ("batch of invalid", br#"[1, {"x": 2}]"#.to_vec(), -32600),
        (
            "batch of 2000",
            format!("[{}]", vec![ping; 2000].join(",")).into_bytes(),
            -32600,
        ),
    ];
    for with_session in [false, true] {
        for (name, body, code) in &cases {
            let mut headers = vec![("content-type", "application/json"), ("accept", ACCEPT_MCP)];
            if with_session {
                headers.push(("mcp-session-id", &session));
            }
            let answer = http
                .send(Method::POST, &format!("{base}/mcp"), &headers, body.clone())
                .await;
            assert_eq!(rpc_error(&answer), (400, *code), "{name}: {answer:?}");
            assert_eq!(answer.headers["content-type"], "application/json");
        }
    }
    assert_eq!(
        upstream.proxy.requests(),
        before,
        "no malformed body reached the upstream"
    );
    // The session still works.
    assert_mcp_echo(&mut client, "still here").await;
    gateway.shutdown().await;
}

// ------------------------------------------------------------------- sessions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_forged_session_ids_get_404_or_400_and_never_reach_the_upstream() {
    let (upstream, gateway) = warmed_up(&[]).await;
    let (base, http) = (gateway.url(), Http::default());
    // The upstream's own id for a session opened directly: it means nothing to the gateway.
    let mut direct = RawClient::new(upstream.server.url());
    assert_eq!(direct.initialize().await.unwrap().status, 200);
    let upstream_id = direct.session().expect("an upstream session").to_owned();
    let mut through = RawClient::new(format!("{base}/mcp"));
    assert_eq!(through.initialize().await.unwrap().status, 200);
    let issued = through.session().expect("a gateway session").to_owned();
    assert_ne!(
        issued, upstream_id,
        "clients see the gateway's ids, never the upstream's"
    );
    let before = upstream.proxy.requests();
    let ping = json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}).to_string();
    let send = |method: Method, ids: Vec<String>| {
        let (http, base, ping) = (http.clone(), base.clone(), ping.clone());
        async move {
            let mut headers = vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("accept".to_owned(), ACCEPT_MCP.to_owned()),
            ];
            headers.extend(ids.into_iter().map(|id| ("mcp-session-id".to_owned(), id)));
            let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let body = if method == Method::POST {
                ping
            } else {
                String::new()
            };
            http.send(method, &format!("{base}/mcp"), &headers, body).await
        }
    };
    let mut forged_issued = issued.clone();
    let last = forged_issued.pop().expect("non-empty");
    forged_issued.push(if last == 'a' { 'b' } else { 'a' });
    for id in [
        "00000000000000000000000000000000".to_owned(),
        upstream_id.clone(),
        forged_issued,
        format!("{issued}x"),
        "a%0d%0aX-Injected:%20y".to_owned(),
    ] {
        for method in [Method::POST, Method::DELETE] {
            let answer = send(method.clone(), vec![id.clone()]).await;
            assert_eq!(answer.status, 404, "{method} {id}: {answer:?}");
            assert_eq!(answer.json()["jsonrpc"], "2.0", "{method} {id}");
        }
        let answer = send(Method::POST, vec![id.clone()]).await;
        assert_eq!(rpc_error(&answer).1, -32001, "{id}");
        assert_eq!(answer.json()["id"], 7);
    }
    for ids in [
        vec!["a b".to_owned()],
        vec!["x".repeat(200)],
        vec!["é".to_owned()],
        vec![issued.clone(), issued.clone()],
        vec![issued.clone(), "other".to_owned()],
    ] {
        let answer = send(Method::POST, ids.clone()).await;
        assert_eq!(rpc_error(&answer), (400, -32600), "{ids:?}");
    }
    assert_eq!(
        upstream.proxy.requests(),
        before,
        "no bad id reached the upstream"
    );
    let answer = through.call_tool("echo", json!({"text": "mine"})).await.unwrap();
    assert_eq!(
        answer.text().as_deref(),
        Some("mine"),
        "the real session still works"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_injection_through_session_ids_is_refused_and_never_echoed() {
    let (upstream, gateway) = warmed_up(&[]).await;
    let before = upstream.proxy.requests();
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    // (what is sent after the other headers, what the gateway may answer)
    let cases = [
        ("Mcp-Session-Id: a\rX-Injected: y\r\n", &["400"][..]), // bare CR
        ("Mcp-Session-Id: a\r\n X-Injected: y\r\n", &["400"]),  // obsolete line folding
        ("Mcp-Session-Id: a\0X-Injected: y\r\n", &["400"]),     // NUL
        ("Mcp-Session-Id\r\nX-Injected: y\r\n", &["400"]),      // no colon
        ("Mcp-Session-Id: a\x0bX-Injected: y\r\n", &["400"]),   // vertical tab
        // A bare LF ends a header line (RFC 9112 lets servers accept it): two
        // headers, and `a` is an unknown session.
        ("Mcp-Session-Id: a\nX-Injected: y\r\n", &["404"]),
        ("Mcp-Session-Id: a%0d%0aX-Injected:%20y\r\n", &["404"]),
    ];
    for (header, allowed) in cases {
        let request = format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Accept: {ACCEPT_MCP}\r\nConnection: close\r\n{header}Content-Length: {}\r\n\r\n{ping}",
            ping.len()
        );
        let answer = raw(gateway.local_addr(), request.as_bytes()).await;
        let status = answer.get(9..12).unwrap_or_default();
        assert!(
            answer.is_empty() || allowed.contains(&status),
            "{header:?}: {answer}"
        );
        assert!(
            !answer.to_ascii_lowercase().contains("x-injected"),
            "{header:?} echoed: {answer}"
        );
    }
    assert_eq!(upstream.proxy.requests(), before, "nothing reached the upstream");
    gateway.shutdown().await;
}

// --------------------------------------------------------------- slow clients

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_hold_nothing_for_long() {
    let (_upstream, gateway) = upstream_and_gateway(
        &[
            "--max-concurrent-calls",
            "1",
            "--tool-timeout",
            "1",
            "--header-read-timeout",
            "0.5",
        ],
        &[("MCPO_CONNECTION_TIMEOUT", "1")],
    )
    .await;
    warmed(&gateway).await;
    let (base, http) = (gateway.url(), Http::default());
    let addr = gateway.local_addr();
    // 200 connections that never finish their headers: all closed, and calls go on meanwhile.
    let slowloris: Vec<_> = (0..200)
        .map(|_| tokio::spawn(raw(addr, b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")))
        .collect();
    let echo = http
        .post_json(&format!("{base}/echo"), &[], &json!({"text": "x"}))
        .await;
    assert_eq!(echo.status, 200, "{echo:?}");
    for connection in slowloris {
        let answer = connection.await.unwrap();
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    // A REST body that never arrives: 408 at the tool deadline, and the one permit comes back.
    let trickle = "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                   Content-Length: 100\r\n\r\n{\"text\":";
    let answer = raw(addr, trickle.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // The same on /mcp: the call deadline ends it.
    let trickle = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: {ACCEPT_MCP}\r\nContent-Length: 100\r\n\r\n{{\"jsonrpc\":"
    );
    let answer = raw(addr, trickle.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
    assert!(answer.contains("-32050"), "{answer}");
    // The permit came back.
    http.assert_echo(&format!("{base}/echo"), &[], "y").await;
    gateway.shutdown().await;
}

// ------------------------------------------------------- 1000 hung calls

/// This process's resident memory, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_hung_calls_are_shed_over_the_bound_and_memory_stays_bounded() {
    const CALLS: usize = 1000;
    const BOUND: usize = 64;
    const RSS_GROWTH_LIMIT_KIB: u64 = 200 * 1024;
    let _heavy = HEAVY.lock().await;
    let hung = TestUpstream::start().await.unwrap();
    let fine = TestUpstream::start().await.unwrap();
    let path = std::env::temp_dir().join(format!("mcp-gateway-security-{}.json", std::process::id()));
    let servers = json!({"mcpServers": {
        "hung": {"type": "streamable-http", "url": hung.url()},
        "fine": {"type": "streamable-http", "url": fine.url()},
    }});
    std::fs::write(&path, servers.to_string()).unwrap();
    let bound = BOUND.to_string();
    let gateway = gateway(
        &[
            "--max-concurrent-calls",
            &bound,
            "--config",
            path.to_str().unwrap(),
        ],
        &[("MCPO_CONNECTION_TIMEOUT", "60")],
    )
    .await;
    let _ = std::fs::remove_file(&path);
    warmed(&gateway).await;
    let (base, http) = (gateway.url(), Http::default());
    let mut client = RawClient::new(format!("{base}/hung/mcp"));
    assert_eq!(client.initialize().await.unwrap().status, 200);
    let session = client.session().expect("a session").to_owned();
    hung.proxy.push(Rule::tool("slow", Fault::Hang));
    let before = hung.proxy.requests();
    let rss_before = rss_kib();

    let calls: Vec<_> = (0..CALLS)
        .map(|n| {
            let (http, base, session) = (http.clone(), base.clone(), session.clone());
            tokio::spawn(async move {
                let call = json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                    "params": {"name": "slow", "arguments": {"ms": 1}}});
                http.post_json(
                    &format!("{base}/hung/mcp"),
                    &[("accept", ACCEPT_MCP), ("mcp-session-id", &session)],
                    &call,
                )
                .await
            })
        })
        .collect();
    // While BOUND calls hang upstream, every other one is answered: shed.
    for _ in 0..6000 {
        let done = calls.iter().filter(|call| call.is_finished()).count();
        if done >= CALLS - BOUND && hung.proxy.requests() - before >= BOUND as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (over, hanging): (Vec<_>, Vec<_>) = calls.into_iter().partition(|call| call.is_finished());
    assert_eq!(
        over.len(),
        CALLS - BOUND,
        "everything over the bound was answered"
    );
    assert_eq!(
        hung.proxy.requests() - before,
        BOUND as u64,
        "the upstream got exactly the bound"
    );
    let rss_during = rss_kib();
    println!(
        "[security] {CALLS} concurrent hung calls, bound {BOUND}: RSS {} MiB before, {} MiB during",
        rss_before / 1024,
        rss_during / 1024
    );
    assert!(
        rss_during.saturating_sub(rss_before) < RSS_GROWTH_LIMIT_KIB,
        "RSS grew from {rss_before} KiB to {rss_during} KiB"
    );
    // Meanwhile: the other upstream serves, the hung one sheds, probes answer.
    http.assert_echo(&format!("{base}/fine/echo"), &[], "x").await;
    let shed = http
        .post_json(&format!("{base}/hung/echo"), &[], &json!({"text": "x"}))
        .await;
    assert_eq!(shed.status, 503);
    assert_eq!(http.get(&format!("{base}/health"), &[]).await.status, 200);

    for call in over {
        let answer = call.await.unwrap();
        assert_eq!(rpc_error(&answer), (503, -32050), "{answer:?}");
        assert_eq!(answer.headers["retry-after"], "1");
    }
    // The hung calls end when their connections drop (`slow` is read-only:
    // retried, then refused while the proxy refuses).
    hung.proxy.refuse().await;
    for call in hanging {
        let answer = tokio::time::timeout(READ_BOUND, call)
            .await
            .expect("every call ends")
            .unwrap();
        assert!(rpc_error(&answer).0 >= 500, "{answer:?}");
    }
    assert_eq!(hung.counters().calls("slow"), 0, "the tool never ran");
    hung.proxy.clear();
    hung.proxy.accept().await.unwrap();
    let mut echo = http
        .post_json(&format!("{base}/hung/echo"), &[], &json!({"text": "back"}))
        .await;
    for _ in 0..100 {
        if echo.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        echo = http
            .post_json(&format!("{base}/hung/echo"), &[], &json!({"text": "back"}))
            .await;
    }
    assert_eq!(
        (echo.status.as_u16(), echo.json()),
        (200, json!("back")),
        "the permits came back"
    );
    gateway.shutdown().await;
}

// -------------------------------------------------------------------- secrets

/// Captured log output (TRACE, every target) while `CAPTURING` is set.
static CAPTURING: AtomicBool = AtomicBool::new(false);

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber once for this test binary.
fn capture() -> Captured {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt;
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .with_filter(tracing_subscriber::filter::filter_fn(|_| {
                    CAPTURING.load(Ordering::Relaxed)
                }));
            let subscriber = tracing_subscriber::registry().with(layer);
            tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
            captured
        })
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_and_upstream_credentials_never_appear_in_logs_health_or_metrics() {
    let _heavy = HEAVY.lock().await;
    let captured = capture();
    CAPTURING.store(true, Ordering::Relaxed);
    let mut upstream = TestUpstream::start().await.unwrap();
    let url = format!("{}?token=query-{UPSTREAM_SECRET}", upstream.url());
    let upstream_header = format!("Authorization: Bearer {UPSTREAM_SECRET}");
    let gateway = gateway(
        &[
            "--api-key",
            KEY,
            "--header",
            &upstream_header,
            "streamablehttp",
            &url,
        ],
        &[("MCPO_CONNECTION_TIMEOUT", "5")],
    )
    .await;
    warmed(&gateway).await;
    let spec = Arc::clone(&gateway.clients()[0].upstream().spec);
    assert_eq!(
        spec.headers["authorization"],
        format!("Bearer {UPSTREAM_SECRET}"),
        "sent upstream"
    );
    let (base, http) = (gateway.url(), Http::default());
    let auth = format!("Bearer {KEY}");
    let typo = format!("Bearer {KEY}-typo");
    let mut bodies: Vec<(String, Bytes)> = Vec::new();
    let mut keep = |what: &str, answer: Answer| bodies.push((what.to_owned(), answer.body));

    // REST: right key, wrong key, a key-like typo, an unknown tool, bad arguments.
    for (headers, tool, args) in [
        (
            vec![("authorization", auth.as_str())],
            "echo",
            json!({"text": "x"}),
        ),
        (
            vec![("authorization", "Bearer wrong")],
            "echo",
            json!({"text": "x"}),
        ),
        (
            vec![("authorization", typo.as_str())],
            "echo",
            json!({"text": "x"}),
        ),
        (vec![("authorization", auth.as_str())], "nope", json!({})),
        (vec![("authorization", auth.as_str())], "add", json!({"a": "one"})),
    ] {
        let answer = http.post_json(&format!("{base}/{tool}"), &headers, &args).await;
        keep(tool, answer);
    }
    // /mcp: a session, a call, an upstream restart under it (session re-initialized), faults.
    let mcp = |session: Option<String>, body: Value| {
        let (http, base, auth) = (http.clone(), base.clone(), auth.clone());
        async move {
            let mut headers = vec![("authorization", auth.as_str()), ("accept", ACCEPT_MCP)];
            if let Some(session) = &session {
                headers.push(("mcp-session-id", session));
            }
            http.post_json(&format!("{base}/mcp"), &headers, &body).await
        }
    };
    let init = mcp(None, initialize()).await;
    assert_eq!(init.status, 200, "{init:?}");
    let session = init.headers["mcp-session-id"].to_str().unwrap().to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let _ = mcp(Some(session.clone()), initialized).await;
    let call = |id: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "through"}}})
    };
    assert_eq!(mcp(Some(session.clone()), call(2)).await.status, 200);
    upstream.server.restart().await.unwrap();
    assert_eq!(
        mcp(Some(session.clone()), call(3)).await.status,
        200,
        "after a restart"
    );
    upstream
        .proxy
        .push(Rule::any(Fault::status(StatusCode::BAD_GATEWAY)).times(3));
    upstream.proxy.push(Rule::tool("echo", Fault::Reset).once());
    for id in 4..8 {
        let answer = mcp(Some(session.clone()), call(id)).await;
        keep("mcp under faults", answer);
    }
    let echo = http
        .post_json(
            &format!("{base}/echo"),
            &[("authorization", &auth)],
            &json!({"text": "x"}),
        )
        .await;
    keep("echo after faults", echo);
    // Every surface a probe or scraper reads.
    for (path, accept) in [
        ("/health", "application/json"),
        ("/metrics", "application/json"),
        ("/metrics", "text/plain"),
        ("/metrics", "application/openmetrics-text"),
        ("/metrics?format=prometheus", "*/*"),
        ("/openapi.json", "application/json"),
        ("/docs", "text/html"),
    ] {
        let answer = http
            .get(
                &format!("{base}{path}"),
                &[("accept", accept), ("authorization", &auth)],
            )
            .await;
        assert!(
            answer.status.is_success() || path == "/health",
            "{path}: {answer:?}"
        );
        keep(path, answer);
    }
    gateway.shutdown().await;
    CAPTURING.store(false, Ordering::Relaxed);

    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        log.contains("mcp.request") && log.contains("TRACE"),
        "the capture works: {log:.2000}"
    );
    for secret in [KEY, UPSTREAM_SECRET] {
        let leaks: Vec<&str> = log.lines().filter(|line| line.contains(secret)).take(5).collect();
        assert!(leaks.is_empty(), "`{secret}` in the log: {leaks:#?}");
        for (what, body) in &bodies {
            let text = String::from_utf8_lossy(body);
            assert!(!text.contains(secret), "`{secret}` in {what}: {text:.2000}");
        }
    }
    let lines = log.lines().count();
    println!(
        "[security] {lines} TRACE log lines, {} answers: no key, no upstream credential",
        bodies.len()
    );
}

// -------------------------------------------------------------- headers

/// The answer of [`recording_upstream`]'s `big` tool: 64 MiB, more than any
/// socket buffers between a client and the gateway hold.
const BIG_ANSWER: usize = 64 * 1024 * 1024;

type TestBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// An MCP upstream that records each request's headers and answers with
/// headers of its own origin (banner, CORS, HSTS, cookies, debugging). Its
/// tool `big` answers [`BIG_ANSWER`] bytes; its `GET` stream sends nothing,
/// or a comment every 200 ms when the request has `X-Heartbeat`.
async fn recording_upstream() -> (String, Arc<Mutex<Vec<http::HeaderMap>>>) {
    use http_body_util::Full;
    use hyper_util::rt::TokioIo;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let big = Bytes::from(
        json!({"jsonrpc": "2.0", "id": 0, "result": {"content": [{"type": "text", "text": "x".repeat(BIG_ANSWER)}]}})
            .to_string(),
    );
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (log, big) = (Arc::clone(&log), big.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (log, big) = (Arc::clone(&log), big.clone());
                    async move {
                        log.lock().expect("test setup").push(request.headers().clone());
                        let response = http::Response::builder()
                            .header("mcp-session-id", "rec-session")
                            .header("server", "internal-mcp/1.2")
                            .header("x-internal-debug", "pod=10.0.0.7")
                            .header("access-control-allow-origin", "*")
                            .header("strict-transport-security", "max-age=31536000")
                            .header("set-cookie", "internal=1")
                            .header("connection", "keep-alive, x-hop")
                            .header("x-hop", "1");
                        if request.method() == Method::GET {
                            let heartbeat = request.headers().contains_key("x-heartbeat");
                            let (mut sender, body) =
                                http_body_util::channel::Channel::<Bytes, std::convert::Infallible>::new(1);
                            tokio::spawn(async move {
                                loop {
                                    tokio::time::sleep(Duration::from_millis(200)).await;
                                    if heartbeat
                                        && sender.send_data(Bytes::from_static(b": ping\n\n")).await.is_err()
                                    {
                                        break;
                                    }
                                    if !heartbeat {
                                        // Silent, and open longer than any test waits.
                                        tokio::time::sleep(READ_BOUND).await;
                                        break;
                                    }
                                }
                            });
                            let response = response.header("content-type", "text/event-stream");
                            return Ok::<_, std::convert::Infallible>(
                                response.body(TestBody::new(body)).expect("test setup"),
                            );
                        }
                        let message = common::request_message(request).await;
                        let result = match message["method"].as_str() {
                            Some("initialize") => json!({"protocolVersion": "2025-06-18",
                                "capabilities": {"tools": {}}, "serverInfo": {"name": "rec", "version": "0"}}),
                            Some("tools/list") => json!({"tools": []}),
                            Some("tools/call") if message["params"]["name"] == "big" => {
                                let response = response.header("content-type", "application/json");
                                return Ok(response.body(TestBody::new(Full::new(big))).expect("test setup"));
                            }
                            _ => json!({"content": [{"type": "text", "text": "small"}]}),
                        };
                        let (status, body) = if message["id"].is_null() {
                            (202, Bytes::new())
                        } else {
                            (
                                200,
                                Bytes::from(
                                    json!({"jsonrpc": "2.0", "id": message["id"], "result": result})
                                        .to_string(),
                                ),
                            )
                        };
                        let response = response.status(status).header("content-type", "application/json");
                        Ok(response.body(TestBody::new(Full::new(body))).expect("test setup"))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}/mcp"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_cross_the_gateway_only_as_a_proxy_lets_them() {
    let (url, seen) = recording_upstream().await;
    let gateway = gateway(&["streamablehttp", &url], &[]).await;
    warmed(&gateway).await;
    seen.lock().expect("test setup").clear();
    let body = initialize().to_string();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: {ACCEPT_MCP}\r\nConnection: close, x-private, x-other\r\nX-Private: secret\r\n\
         X-Other: 2\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-Kept: yes\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = raw(gateway.local_addr(), request.as_bytes()).await;
    let (head, _) = answer.split_once("\r\n\r\n").expect("a whole answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("mcp-session-id:"), "{head}");
    for internal in [
        "server: internal",
        "x-internal-debug",
        "access-control-allow-origin",
        "strict-transport-security",
        "set-cookie",
        "x-hop",
    ] {
        assert!(!head.contains(internal), "{internal} relayed: {head}");
    }
    let seen = seen.lock().expect("test setup").clone();
    let upstream = seen.first().expect("the initialize reached the upstream");
    for hop in ["x-private", "x-other", "keep-alive", "te"] {
        assert!(!upstream.contains_key(hop), "{hop} forwarded: {upstream:?}");
    }
    assert_eq!(upstream["x-kept"], "yes", "an end-to-end header passes");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_an_answer_gives_its_call_permit_back() {
    let (url, _seen) = recording_upstream().await;
    let gateway = gateway(
        &[
            "--max-concurrent-calls",
            "1",
            "--send-timeout",
            "1",
            "streamablehttp",
            &url,
        ],
        &[],
    )
    .await;
    warmed(&gateway).await;
    let mcp = format!("{}/mcp", gateway.url());
    let mut reader = RawClient::new(&mcp);
    assert_eq!(reader.initialize().await.expect("initialize").status, 200);
    let session = reader.session().expect("a session").to_owned();
    let mut caller = RawClient::new(&mcp);
    assert_eq!(caller.initialize().await.expect("initialize").status, 200);
    // A client with a small receive window asks for 64 MiB and reads only the head.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("buffer size");
    let mut stalled = socket.connect(gateway.local_addr()).await.expect("connect");
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "big", "arguments": {}}})
    .to_string();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: {ACCEPT_MCP}\r\nMcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-06-18\r\n\
         Content-Length: {}\r\n\r\n{call}",
        call.len()
    );
    stalled.write_all(request.as_bytes()).await.expect("send");
    let mut head = [0u8; 12];
    stalled.read_exact(&mut head).await.expect("the head");
    assert_eq!(&head, b"HTTP/1.1 200");
    // While it holds the one permit, calls are shed; once the send timeout
    // disconnects it, they go through.
    let (mut shed, mut served) = (0, false);
    for _ in 0..300 {
        let answer = caller.call_tool("small", json!({})).await.expect("an answer");
        if answer.status == 200 {
            served = true;
            break;
        }
        assert_eq!(answer.status, 503, "{answer:?}");
        shed += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "the permit came back");
    println!("[security] a stalled reader of a 64 MiB answer: {shed} calls shed before it was disconnected");
    // The stalled client's connection is gone: reading on ends (bounded).
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(READ_BOUND, stalled.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the gateway closed the stalled connection");
    assert!(rest.len() < BIG_ANSWER, "{} bytes", rest.len());
    gateway.shutdown().await;
}

/// Reads a `GET /mcp` stream's answer until it ends or `bound` passes:
/// whether it ended, and what came.
async fn read_stream(stream: &mut tokio::net::TcpStream, bound: Duration) -> (bool, String) {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    let until = tokio::time::Instant::now() + bound;
    loop {
        match tokio::time::timeout_at(until, stream.read(&mut chunk)).await {
            Err(_) => return (false, String::from_utf8_lossy(&seen).into_owned()),
            Ok(Ok(0) | Err(_)) => return (true, String::from_utf8_lossy(&seen).into_owned()),
            Ok(Ok(n)) => {
                seen.extend_from_slice(&chunk[..n]);
                // The chunked body's last chunk: the stream ended.
                if seen.ends_with(b"\r\n0\r\n\r\n") {
                    return (true, String::from_utf8_lossy(&seen).into_owned());
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_stream_with_nothing_from_upstream_ends_and_heartbeats_keep_one_open() {
    let (url, _seen) = recording_upstream().await;
    let gateway = gateway(&["--stream-idle-timeout", "1", "streamablehttp", &url], &[]).await;
    warmed(&gateway).await;
    let mut client = RawClient::new(format!("{}/mcp", gateway.url()));
    assert_eq!(client.initialize().await.expect("initialize").status, 200);
    let session = client.session().expect("a session").to_owned();
    let open = |heartbeat: bool| {
        let session = session.clone();
        let addr = gateway.local_addr();
        async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let extra = if heartbeat { "X-Heartbeat: 1\r\n" } else { "" };
            let request = format!(
                "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\
                 Mcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-06-18\r\n{extra}\r\n"
            );
            stream.write_all(request.as_bytes()).await.expect("send");
            stream
        }
    };
    let mut silent = open(false).await;
    let mut beating = open(true).await;
    let (ended, seen) = read_stream(&mut silent, READ_BOUND).await;
    assert!(ended && seen.starts_with("HTTP/1.1 200"), "{seen}");
    // Three idle times later, the stream with heartbeats is still open.
    let (ended, seen) = read_stream(&mut beating, Duration::from_secs(3)).await;
    assert!(!ended, "{seen}");
    assert!(seen.contains(": ping"), "{seen}");
    gateway.shutdown().await;
}

/// Starts a gateway with `args` exactly (no `--host` added), in front of `url`.
async fn gateway_bound(args: &[&str], url: &str) -> Gateway {
    use clap::Parser;

    let mut argv = vec!["mcp-gateway", "--port", "0"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["streamablehttp", url]);
    let cli = mcp_reconnect_gateway::Cli::try_parse_from(argv).expect("arguments parse");
    let config = mcp_reconnect_gateway::GatewayConfig::from_args(&cli.serve, |_| None).expect("a config");
    Gateway::start(config).await.expect("the gateway starts")
}

/// The conformance suite's DNS-rebinding check, on every listener: `Host`
/// and `Origin` of a rebinding page are refused on a public bind too, the
/// gateway's own address and pages are served, and `/health` stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_refuses_a_rebinding_page_and_serves_its_own_origin() {
    let upstream = TestUpstream::start().await.expect("the upstream starts");
    let http = Http::default();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    for bind in ["0.0.0.0", "127.0.0.1"] {
        let gateway = gateway_bound(&["--host", bind], &upstream.url()).await;
        let port = gateway.local_addr().port();
        let base = format!("http://127.0.0.1:{port}");
        let own = format!("127.0.0.1:{port}");
        let own_origin = format!("http://{own}");
        let post = |host: String, origin: String| {
            let (http, url, body) = (http.clone(), format!("{base}/mcp"), initialize.to_string());
            async move {
                let headers = [
                    ("content-type", "application/json"),
                    ("accept", "application/json, text/event-stream"),
                    ("host", host.as_str()),
                    ("origin", origin.as_str()),
                ];
                http.send(Method::POST, &url, &headers, body).await
            }
        };
        let evil = post("evil.example.com".into(), "http://evil.example.com".into()).await;
        assert_eq!(evil.status, StatusCode::FORBIDDEN, "{bind}: {evil:?}");
        assert_eq!(
            evil.json()["error"]["message"],
            "Forbidden: Host or Origin not allowed",
            "a JSON-RPC error"
        );
        let foreign_page = post(own.clone(), "http://evil.example.com".into()).await;
        assert_eq!(
            foreign_page.status,
            StatusCode::FORBIDDEN,
            "{bind}: a foreign page"
        );
        let mine = post(own.clone(), own_origin.clone()).await;
        assert_eq!(
            mine.status,
            StatusCode::OK,
            "{bind}: the gateway's own origin: {mine:?}"
        );
        let local_page = post(own.clone(), "http://localhost:3000".into()).await;
        assert_eq!(local_page.status, StatusCode::OK, "{bind}: a loopback page");
        let probe = http
            .get(&format!("{base}/health"), &[("host", "evil.example.com")])
            .await;
        assert_ne!(probe.status, StatusCode::FORBIDDEN, "{bind}: /health stays open");
        gateway.shutdown().await;
    }
    // A public gateway with named hosts answers to those names only.
    let gateway = gateway_bound(
        &["--host", "0.0.0.0", "--allowed-hosts", "gw.example"],
        &upstream.url(),
    )
    .await;
    let base = format!("http://127.0.0.1:{}", gateway.local_addr().port());
    let named = http
        .get(&format!("{base}/docs"), &[("host", "gw.example:8000")])
        .await;
    assert_eq!(named.status, StatusCode::OK);
    let other = http
        .get(&format!("{base}/docs"), &[("host", "other.example")])
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    gateway.shutdown().await;
}
