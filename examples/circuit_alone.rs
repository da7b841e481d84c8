//! `CircuitReconnectLayer` alone, in front of a `hyper_util` client made by a
//! connector — once through `tower::ServiceBuilder`, once inside an
//! `axum::Router` (with core's `RespondLayer`, so an open circuit answers
//! `503` + `Retry-After` + a JSON-RPC error, no `HandleErrorLayer` needed).
//! It kills and restarts the testkit's MCP server and prints what the
//! circuit does; it exits by itself.
//!
//! ```text
//! RUST_LOG=info cargo run --example circuit_alone
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect::circuit::{Config, FromEnv};
use mcp_reconnect::core::BoxError;
use mcp_reconnect::core::respond::RespondLayer;
use mcp_reconnect::{CircuitReconnectLayer, ClassifyLayer};
use mcp_reconnect_testkit::jsonrpc::{jsonrpc_request, tools_call};
use mcp_reconnect_testkit::{McpServer, ServerOptions};
use serde_json::json;
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let options = ServerOptions::default()
        .with_sessions(false)
        .with_json_response(true);
    let mut server = McpServer::start(options).await?;
    let url = server.url();

    // The connector: proves the port answers, then hands out the pooled client.
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let connector = service_fn(move |addr: SocketAddr| {
        let client = client.clone();
        async move {
            tokio::net::TcpStream::connect(addr).await?;
            Ok::<_, BoxError>(ClassifyLayer::new().layer(client.clone()))
        }
    });

    // 1. Through ServiceBuilder.
    let circuit = CircuitReconnectLayer::with_config(server.addr(), Config::from_env()?.max_attempts(2))
        .name("testkit");
    let status = circuit.status();
    let service = ServiceBuilder::new().layer(circuit).service(connector);
    let call = || {
        let request = jsonrpc_request(&url, None, &tools_call(1, "echo", json!({"text": "hi"})));
        let service = service.clone();
        async move { service.oneshot(request?).await.map(|r| r.status()) }
    };
    println!("call -> {:?} (circuit {})", call().await, status.state());
    server.stop().await;
    for _ in 0..4 {
        println!(
            "upstream down: call -> {:?} (circuit {})",
            call().await.map_err(|e| e.to_string()),
            status.state()
        );
    }
    server.start_again().await?;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    println!(
        "upstream back: call -> {:?} (circuit {})",
        call().await,
        status.state()
    );

    // 2. Inside an axum Router: errors become JSON-RPC answers.
    let upstream_url: http::Uri = url.parse()?;
    let axum_client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    let axum_connector = service_fn(move |addr: SocketAddr| {
        let client = axum_client.clone();
        let upstream_url = upstream_url.clone();
        async move {
            tokio::net::TcpStream::connect(addr).await?;
            let forward = service_fn(move |mut request: http::Request<Body>| {
                *request.uri_mut() = upstream_url.clone();
                request.headers_mut().remove(http::header::HOST);
                client.request(request)
            });
            Ok::<_, BoxError>(ClassifyLayer::new().layer(forward))
        }
    });
    let circuit = CircuitReconnectLayer::with_config(server.addr(), Config::default().max_attempts(1))
        .name("testkit-axum");
    let mcp = ServiceBuilder::new()
        .layer(RespondLayer::new())
        .layer(circuit)
        .service(axum_connector);
    let app = Router::new().route_service("/mcp", mcp);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gateway = format!("http://{}/mcp", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let raw: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let through_axum = || async {
        let request = jsonrpc_request(
            &gateway,
            None,
            &tools_call(7, "echo", json!({"text": "via axum"})),
        )?;
        let response = raw.request(request).await?;
        let retry_after = response.headers().get(http::header::RETRY_AFTER).cloned();
        Ok::<_, BoxError>((response.status(), retry_after))
    };
    println!("axum: call -> {:?}", through_axum().await?);
    server.stop().await;
    for _ in 0..3 {
        println!("axum, upstream down: call -> {:?}", through_axum().await?);
    }
    Ok(())
}
