//! `ClassifyLayer` with `hyper_util` directly: a tiny MCP proxy served by
//! hyper, whose upstream calls go through `ClassifyLayer` to the testkit's
//! MCP server. Each answer's class is logged; errors become JSON-RPC answers
//! (core's `RespondLayer`). Runs a few calls through it, then exits.
//!
//! ```text
//! cargo run --example classify_hyper
//! ```

use http::{Request, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use mcp_reconnect::ClassifyLayer;
use mcp_reconnect::core::BoxError;
use mcp_reconnect::core::respond::RespondLayer;
use mcp_reconnect_testkit::{Fault, RawClient, Rule, TestUpstream};
use serde_json::json;
use tower::{ServiceBuilder, service_fn};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let upstream = TestUpstream::start().await?;
    let upstream_uri: Uri = upstream.url().parse()?;

    // The upstream service: forwards every request to the MCP server.
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new()).build_http();
    let forward = service_fn(move |mut request: Request<Incoming>| {
        *request.uri_mut() = upstream_uri.clone();
        request.headers_mut().remove(http::header::HOST);
        client.request(request)
    });
    let stack = ServiceBuilder::new()
        .layer(RespondLayer::new())
        .map_response(|response: http::Response<_>| {
            if let Some(class) = response.extensions().get::<mcp_reconnect::core::Classification>() {
                println!("  proxy: upstream answered {} -> {class}", response.status());
            }
            response
        })
        .layer(ClassifyLayer::new())
        .service(forward);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let proxy_url = format!("http://{}/mcp", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(stack.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    println!("hyper proxy {proxy_url} -> MCP server {}", upstream.server.url());

    let mut client = RawClient::new(proxy_url);
    client.initialize().await?;
    println!(
        "client: echo -> {:?}",
        client.call_tool("echo", json!({"text": "hi"})).await?.text()
    );
    upstream
        .proxy
        .push(Rule::any(Fault::status(http::StatusCode::BAD_GATEWAY)).once());
    let answer = client.call_tool("echo", json!({"text": "again"})).await?;
    println!(
        "client: echo -> {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    upstream.proxy.refuse().await;
    let answer = client.call_tool("echo", json!({"text": "refused"})).await?;
    println!(
        "client: echo -> {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    Ok(())
}
