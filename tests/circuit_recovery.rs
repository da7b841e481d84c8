//! CircuitReconnectLayer against a real upstream that is killed and restarted
//! on the same port: calls fail fast while it is down and work again soon
//! after it is back. Real rmcp server, real hyper-util client, 127.0.0.1.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect::ClassifyLayer;
use mcp_reconnect::circuit::{CircuitOpen, CircuitReconnectLayer, CircuitState, Config};
use mcp_reconnect::core::{BoxError, Classification, cause_ref};
use mcp_reconnect_testkit::jsonrpc::{jsonrpc_request, tools_call};
use mcp_reconnect_testkit::{McpServer, ServerOptions};
use serde_json::json;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};

/// A connector that proves the port answers, then hands out the pooled client
/// behind `ClassifyLayer`.
fn connector(
    client: Client<HttpConnector, Full<Bytes>>,
) -> impl Service<
    SocketAddr,
    Response = mcp_reconnect::classify::Classify<Client<HttpConnector, Full<Bytes>>>,
    Error = BoxError,
    Future: Send,
> + Send
+ 'static {
    service_fn(move |addr: SocketAddr| {
        let client = client.clone();
        async move {
            tokio::net::TcpStream::connect(addr).await?;
            Ok::<_, BoxError>(ClassifyLayer::new().layer(client))
        }
    })
}

async fn echo<S>(service: &S, url: &str) -> Result<Classification, BoxError>
where
    S: Service<
            http::Request<Full<Bytes>>,
            Response = http::Response<mcp_reconnect::classify::ClassifyBody<hyper::body::Incoming>>,
            Error = BoxError,
        > + Clone,
{
    let request = jsonrpc_request(url, None, &tools_call(1, "echo", json!({"text": "hi"})))?;
    let response = service.clone().oneshot(request).await?;
    Ok(response
        .extensions()
        .get::<Classification>()
        .cloned()
        .unwrap_or(Classification::Success))
}

#[tokio::test]
async fn a_killed_and_restarted_upstream_is_found_again_within_seconds() {
    let options = ServerOptions::default()
        .with_sessions(false)
        .with_json_response(true);
    let mut server = McpServer::start(options).await.unwrap();
    let url = server.url();
    let client = Client::builder(TokioExecutor::new()).build_http();
    let layer =
        CircuitReconnectLayer::with_config(server.addr(), Config::default().max_attempts(3)).name("testkit");
    let status = layer.status();
    let service = layer.layer(connector(client));

    assert!(echo(&service, &url).await.unwrap().is_success());
    assert_eq!(status.state(), CircuitState::Healthy);

    server.stop().await;
    // Calls fail while it is down; soon they fail fast with CircuitOpen.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let error = echo(&service, &url).await.expect_err("the upstream is down");
        if cause_ref::<CircuitOpen>(&*error).is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the circuit never opened: {error}");
    }
    assert_eq!(status.state(), CircuitState::Open);

    server.start_again().await.unwrap();
    let back = Instant::now();
    loop {
        if matches!(echo(&service, &url).await, Ok(class) if class.is_success()) {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "the upstream was never found again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "first successful call {:?} after the upstream was back",
        back.elapsed()
    );
    let snapshot = status.snapshot();
    assert_eq!(snapshot.state, CircuitState::Healthy);
    assert!(snapshot.reconnects_failed >= 1);
    assert!(snapshot.fail_fast >= 1);
    assert_eq!(snapshot.recovery.count, 1);
}
