//! `HealthLayer` and `CircuitReconnectLayer` in an axum app in front of the
//! testkit's MCP server (through its fault proxy). It prints the gateway's
//! URL and the `curl` lines to watch it, drives a little traffic itself, and
//! breaks the upstream on a cycle (three `502`s, then a server stop and
//! restart) so `/health` and `/metrics` move. It exits by itself.
//!
//! ```text
//! cargo run --example health_axum -- --seconds 30
//! curl -s localhost:PORT/health | jq .current_status
//! curl -s localhost:PORT/metrics | jq '.connection.reconnect_attempts'
//! curl -s -H 'Accept: text/plain' localhost:PORT/metrics
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect::circuit::{Config, FromEnv};
use mcp_reconnect::core::BoxError;
use mcp_reconnect::core::respond::RespondLayer;
use mcp_reconnect::{CircuitReconnectLayer, ClassifyLayer, HealthLayer};
use mcp_reconnect_testkit::jsonrpc::{jsonrpc_request, tools_call};
use mcp_reconnect_testkit::{Fault, Rule, ServerOptions, TestUpstream};
use serde_json::{Value, json};
use tower::{Layer, ServiceBuilder, service_fn};

/// How long the example runs unless `--seconds N` says otherwise.
const DEFAULT_SECONDS: u64 = 30;
/// One round of traffic and printing.
const TICK: Duration = Duration::from_secs(1);
/// The fault cycle, in ticks: 502s at `BAD_GATEWAY_AT`, the server stops at
/// `STOP_AT` and comes back at `START_AT`.
const CYCLE: u64 = 20;
const BAD_GATEWAY_AT: u64 = 4;
const STOP_AT: u64 = 9;
const START_AT: u64 = 14;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let seconds = seconds_from_args()?;
    let options = ServerOptions::default()
        .with_sessions(false)
        .with_json_response(true);
    let mut upstream = TestUpstream::start_with(options).await?;
    let upstream_url: http::Uri = upstream.url().parse()?;

    // The connector proves the MCP server's port answers, then forwards
    // through the proxy (where the 502s come from).
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    let connector = service_fn(move |server: SocketAddr| {
        let client = client.clone();
        let upstream_url = upstream_url.clone();
        async move {
            tokio::net::TcpStream::connect(server).await?;
            let forward = service_fn(move |mut request: http::Request<Body>| {
                *request.uri_mut() = upstream_url.clone();
                request.headers_mut().remove(http::header::HOST);
                client.request(request)
            });
            Ok::<_, BoxError>(ClassifyLayer::new().layer(forward))
        }
    });
    let circuit =
        CircuitReconnectLayer::with_config(upstream.server.addr(), Config::from_env()?.max_attempts(2))
            .name(format!("StreamableHTTP-{}", upstream.url()));
    let health = HealthLayer::new(circuit.status());
    let mcp = ServiceBuilder::new()
        .layer(RespondLayer::new())
        .layer(circuit)
        .service(connector);
    let app = Router::new().route_service("/mcp", mcp).layer(health);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("gateway: {base}/mcp  (running {seconds} s)");
    println!("  curl -s {base}/health | jq .current_status");
    println!("  curl -s {base}/metrics | jq '.connection.reconnect_attempts'");
    println!("  curl -s -H 'Accept: text/plain' {base}/metrics");

    let raw: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    for tick in 0..seconds {
        match tick % CYCLE {
            BAD_GATEWAY_AT => upstream
                .proxy
                .push(Rule::any(Fault::status(StatusCode::BAD_GATEWAY)).times(3)),
            STOP_AT => upstream.server.stop().await,
            START_AT => upstream.server.start_again().await?,
            _ => {}
        }
        let call = jsonrpc_request(
            &format!("{base}/mcp"),
            None,
            &tools_call(tick, "echo", json!({"text": "hi"})),
        )?;
        let called = raw.request(call).await?.status();
        let answer = raw
            .request(http::Request::get(format!("{base}/health")).body(Full::default())?)
            .await?;
        let code = answer.status();
        let health: Value = serde_json::from_slice(&answer.into_body().collect().await?.to_bytes())?;
        println!(
            "t={tick:>3}s  call {called}  /health {code} {}",
            serde_json::to_string(&health["current_status"])?
        );
        tokio::time::sleep(TICK).await;
    }
    Ok(())
}

/// `--seconds N` (default 30).
fn seconds_from_args() -> Result<u64, BoxError> {
    let mut args = std::env::args().skip(1);
    let mut seconds = DEFAULT_SECONDS;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().ok_or("--seconds needs a number")?.parse()?,
            other => return Err(format!("unknown argument {other:?} (try --seconds N)").into()),
        }
    }
    Ok(seconds)
}
