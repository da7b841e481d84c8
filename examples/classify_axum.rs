//! `ClassifyLayer` in an axum app: an MCP proxy route whose upstream calls go
//! through `ClassifyLayer`, with tower-http's `TraceLayer` logging our classes
//! (through `MakeMcpClassifier`) and core's `RespondLayer` answering errors as
//! JSON-RPC. Sends a few calls through it (one with an injected 502), then exits.
//!
//! ```text
//! RUST_LOG=info cargo run --example classify_axum
//! ```

use axum::Router;
use axum::body::Body;
use http::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect::ClassifyLayer;
use mcp_reconnect::classify::MakeMcpClassifier;
use mcp_reconnect::core::BoxError;
use mcp_reconnect::core::respond::RespondLayer;
use mcp_reconnect_testkit::{Fault, RawClient, Rule, TestUpstream};
use serde_json::json;
use tower::{ServiceBuilder, service_fn};
use tower_http::trace::TraceLayer;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let upstream = TestUpstream::start().await?;
    let upstream_uri: Uri = upstream.url().parse()?;

    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    let forward = service_fn(move |mut request: Request<Body>| {
        *request.uri_mut() = upstream_uri.clone();
        request.headers_mut().remove(http::header::HOST);
        client.request(request)
    });
    let mcp = ServiceBuilder::new()
        .layer(RespondLayer::new())
        .layer(TraceLayer::new(MakeMcpClassifier))
        .layer(ClassifyLayer::new())
        .service(forward);
    let app = Router::new().route_service("/mcp", mcp);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("axum MCP proxy {url} -> MCP server {}", upstream.server.url());

    let mut client = RawClient::new(url);
    client.initialize().await?;
    let answer = client.call_tool("echo", json!({"text": "hi"})).await?;
    println!("echo -> {} {:?}", answer.status, answer.text());
    upstream
        .proxy
        .push(Rule::any(Fault::status(http::StatusCode::BAD_GATEWAY)).once());
    let answer = client.call_tool("echo", json!({"text": "again"})).await?;
    println!(
        "echo with an injected 502 -> {} (TraceLayer logged the gateway class above)",
        answer.status
    );
    Ok(())
}
