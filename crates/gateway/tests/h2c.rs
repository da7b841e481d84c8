//! HTTP/2 with prior knowledge (h2c) toward clients: `/mcp` (a legacy
//! session, its `GET` stream) and REST behave as on HTTP/1.1.

mod common;

use bytes::Bytes;
use common::gateway;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_testkit::TestUpstream;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_clients_call_mcp_and_rest_and_open_a_stream() {
    let upstream = TestUpstream::start().await.expect("the upstream starts");
    let gateway = gateway(&["streamablehttp", &upstream.url()], &[]).await;
    let base = gateway.url();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let post = |path: &str, session: Option<&str>, body: Value| {
        let mut request = Request::post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("a request");
        let client = client.clone();
        async move {
            let answer = client.request(request).await.expect("an h2c answer");
            let (parts, body) = answer.into_parts();
            (parts, body.collect().await.expect("a body").to_bytes())
        }
    };
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "h2c", "version": "1"}}});
    let (parts, _) = post("/mcp", None, initialize).await;
    assert_eq!((parts.status, parts.version), (StatusCode::OK, Version::HTTP_2));
    let session = parts.headers["mcp-session-id"]
        .to_str()
        .expect("an id")
        .to_owned();
    let (parts, _) = post(
        "/mcp",
        Some(&session),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(parts.status, StatusCode::ACCEPTED);
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "over h2"}}});
    let (parts, body) = post("/mcp", Some(&session), call).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("over h2"), "{body:?}");
    let (parts, body) = post("/echo", None, json!({"text": "rest over h2"})).await;
    assert_eq!(
        (parts.status, body),
        (StatusCode::OK, Bytes::from_static(b"\"rest over h2\""))
    );

    // The server's stream opens as an SSE stream.
    let request = Request::get(format!("{base}/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session.as_str())
        .body(Full::new(Bytes::new()))
        .expect("a request");
    let stream = client.request(request).await.expect("an h2c answer");
    assert_eq!(
        (stream.status(), stream.version()),
        (StatusCode::OK, Version::HTTP_2)
    );
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    drop(stream);
    gateway.shutdown().await;
}
