//! HealthLayer over CircuitReconnectLayer over ClassifyLayer over a real
//! hyper-util client, against the testkit's rmcp server behind its fault
//! proxy, all on 127.0.0.1: real 502s and a real server stop move the counters
//! and the `/health` status code.
#![cfg(feature = "prometheus")]

#[path = "common/expo.rs"]
mod expo;

use std::time::Duration;

use bytes::Bytes;
use http::header::ACCEPT;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_circuit::{CircuitReconnect, CircuitReconnectLayer, Config};
use mcp_reconnect_classify::{Classify, ClassifyBody, ClassifyLayer};
use mcp_reconnect_core::BoxError;
use mcp_reconnect_health::{Health, HealthBody, HealthLayer};
use mcp_reconnect_testkit::jsonrpc::{jsonrpc_request, tools_call};
use mcp_reconnect_testkit::{Fault, Rule, ServerOptions, TestUpstream};
use serde_json::{Value, json};
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt, service_fn};

type HttpClient = Client<HttpConnector, Full<Bytes>>;
type Connector = BoxCloneSyncService<String, Classify<HttpClient>, BoxError>;
type Stack = Health<CircuitReconnect<Connector, String>>;
type StackResponse = Response<HealthBody<ClassifyBody<hyper::body::Incoming>>>;

/// How often a wait for a state looks again, and how many times at most (10 s).
const POLL_EVERY: Duration = Duration::from_millis(20);
const POLL_LIMIT: usize = 500;

/// Makes an upstream service for the URL: connected only when MCP answers a
/// `ping` through the proxy (so a stopped server fails the connect).
fn connector(client: HttpClient) -> Connector {
    BoxCloneSyncService::new(service_fn(move |url: String| {
        let client = client.clone();
        async move {
            let ping = jsonrpc_request(&url, None, &json!({"jsonrpc": "2.0", "id": 0, "method": "ping"}))?;
            let response = client.request(ping).await?;
            let status = response.status();
            response.into_body().collect().await?;
            if !status.is_success() {
                return Err(format!("ping answered {status}").into());
            }
            Ok::<_, BoxError>(ClassifyLayer::new().layer(client))
        }
    }))
}

async fn send(stack: &Stack, request: Request<Full<Bytes>>) -> Result<StackResponse, BoxError> {
    stack.clone().oneshot(request).await
}

/// A `tools/call` of `echo`: its status, or the error (circuit open).
async fn echo(stack: &Stack, url: &str) -> Result<StatusCode, BoxError> {
    let request = jsonrpc_request(url, None, &tools_call(1, "echo", json!({"text": "hi"})))?;
    let response = send(stack, request).await?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}

async fn get(stack: &Stack, url: &str, accept: &str) -> (StatusCode, Bytes) {
    let request = Request::get(url)
        .header(ACCEPT, accept)
        .body(Full::default())
        .expect("a request");
    let response = send(stack, request).await.expect("an answer");
    let status = response.status();
    (
        status,
        response.into_body().collect().await.expect("a body").to_bytes(),
    )
}

async fn health(stack: &Stack, base: &str) -> (u16, Value) {
    let (status, body) = get(stack, &format!("{base}/health"), "*/*").await;
    (status.as_u16(), serde_json::from_slice(&body).expect("JSON"))
}

/// Waits (bounded in count) until `/health` answers `code`.
async fn health_becomes(stack: &Stack, base: &str, code: u16) -> Value {
    for _ in 0..POLL_LIMIT {
        let (status, json) = health(stack, base).await;
        if status == code {
            return json;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    panic!("/health never answered {code}: {:?}", health(stack, base).await);
}

async fn prometheus(stack: &Stack, base: &str) -> expo::Exposition {
    let (status, body) = get(stack, &format!("{base}/metrics"), "text/plain").await;
    assert_eq!(status, 200);
    let text = std::str::from_utf8(&body).expect("UTF-8");
    expo::parse(text, false).unwrap_or_else(|error| panic!("{error}\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_502s_and_a_server_stop_move_the_counters_and_the_status_code() -> Result<(), BoxError> {
    let options = ServerOptions::default()
        .with_sessions(false)
        .with_json_response(true);
    let mut upstream = TestUpstream::start_with(options).await?;
    let url = upstream.url();
    let base = url.trim_end_matches("/mcp").to_owned();
    let config = Config::default()
        .max_attempts(2)
        .min_interval(Duration::ZERO)
        .backoff(Duration::from_millis(20), Duration::from_millis(50))
        .probe(Duration::from_millis(20), Duration::from_millis(100))
        // The test watches the circuit open and fail fast.
        .reconnect_wait(Duration::ZERO)
        .jitter(0.0);
    let circuit = CircuitReconnectLayer::with_config(url.clone(), config)
        .name(format!("https://user:pass@{}?token=abc", &url[7..]));
    let client = Client::builder(TokioExecutor::new()).build_http();
    let stack: Stack = HealthLayer::new(circuit.status()).layer(circuit.layer(connector(client)));

    let (code, json) = health(&stack, &base).await;
    assert_eq!((code, &json["status"]), (200, &json!("healthy")), "idle: {json}");
    assert_eq!(echo(&stack, &url).await?, 200);
    let (code, json) = health(&stack, &base).await;
    assert_eq!(
        (code, json["current_status"]["reconnect_attempts"].as_u64()),
        (200, Some(1))
    );
    let name = json["connection_name"].as_str().unwrap();
    assert!(
        name.starts_with("https://127.0.0.1:") && !name.contains("user") && !name.contains("token"),
        "{name}"
    );

    // A 502 from the proxy: degraded, still 200, counted as a gateway failure.
    upstream
        .proxy
        .push(Rule::method("tools/call", Fault::status(StatusCode::BAD_GATEWAY)).once());
    assert_eq!(echo(&stack, &url).await?, 502);
    let (code, json) = health(&stack, &base).await;
    assert_eq!(
        (code, &json["status"], &json["current_status"]["error_count"]),
        (200, &json!("degraded"), &json!(1))
    );
    let metrics = prometheus(&stack, &base).await;
    let up = ("upstream", name);
    assert_eq!(
        metrics.value("mcp_reconnect_requests_total", &[up, ("class", "gateway")]),
        Some(1.0)
    );

    // The server stops: the proxy answers 502, the threshold starts a
    // reconnect whose pings fail, and the circuit opens: 503.
    upstream.server.stop().await;
    for _ in 0..2 {
        assert_eq!(echo(&stack, &url).await?, 502);
    }
    let json = health_becomes(&stack, &base, 503).await;
    assert_eq!(
        (&json["status"], &json["current_status"]["status"]),
        (&json!("unhealthy"), &json!("open"))
    );
    assert!(echo(&stack, &url).await.is_err(), "fails fast while open");
    let metrics = prometheus(&stack, &base).await;
    let value = |name: &str, labels: &[(&str, &str)]| metrics.value(name, labels).unwrap_or(-1.0);
    assert_eq!(
        value("mcp_reconnect_circuit_state", &[up, ("state", "open")]),
        1.0
    );
    assert!(value("mcp_reconnect_requests_total", &[up, ("class", "gateway")]) >= 3.0);
    assert!(value("mcp_reconnect_reconnects_total", &[up, ("outcome", "failed")]) >= 2.0);
    assert!(
        value(
            "mcp_reconnect_transitions_total",
            &[up, ("reason", "attempts_exhausted")]
        ) >= 1.0
    );
    assert!(value("mcp_reconnect_fail_fast_total", &[up]) >= 1.0);

    // The server is back: a probe half-opens the circuit (200), a call closes it.
    upstream.server.start_again().await?;
    health_becomes(&stack, &base, 200).await;
    assert_eq!(echo(&stack, &url).await?, 200);
    let (code, json) = health(&stack, &base).await;
    assert_eq!(
        (code, &json["current_status"]["status"]),
        (200, &json!("healthy"))
    );
    let (_, body) = get(&stack, &format!("{base}/metrics"), "application/json").await;
    let metrics: Value = serde_json::from_slice(&body)?;
    assert_eq!(metrics["connection"]["recovery_seconds"]["count"], 1);
    assert!(metrics["connection"]["reconnect_attempts"].as_u64() >= Some(4));
    Ok(())
}
