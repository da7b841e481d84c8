//! Request body limit and load shedding.

mod common;

use std::time::Duration;

use common::{Http, gateway};
use http::Method;
use mcp_reconnect_testkit::TestUpstream;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused_with_413() {
    let upstream = TestUpstream::start().await.unwrap();
    let gateway = gateway(
        &["--max-body-bytes", "1024", "streamablehttp", &upstream.url()],
        &[],
    )
    .await;
    let http = Http::default();
    let big = json!({"text": "x".repeat(4096)});
    let rest = http
        .post_json(&format!("{}/echo", gateway.url()), &[], &big)
        .await;
    assert_eq!(rest.status, 413, "{rest:?}");
    let mcp = http
        .send(
            Method::POST,
            &format!("{}/mcp", gateway.url()),
            &[("content-type", "application/json")],
            big.to_string(),
        )
        .await;
    assert_eq!(mcp.status, 413, "{mcp:?}");
    assert_eq!(upstream.counters().total_calls(), 0, "nothing reached the server");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_the_bound_are_shed_with_503_not_queued() {
    let upstream = TestUpstream::start().await.unwrap();
    let gateway = gateway(
        &["--max-concurrent-calls", "1", "streamablehttp", &upstream.url()],
        &[],
    )
    .await;
    let base = gateway.url();
    let http = Http::default();
    let counters = upstream.counters();
    let slow = common::slow_call_in_flight(&http, &base, &counters, 1000).await;
    assert_eq!(counters.calls("slow"), 1, "the slow call holds the only permit");
    let shed = http
        .post_json(&format!("{base}/echo"), &[], &json!({"text": "x"}))
        .await;
    assert_eq!(shed.status, 503, "{shed:?}");
    assert_eq!(shed.headers["retry-after"], "1");
    let mcp = http
        .send(
            Method::POST,
            &format!("{base}/mcp"),
            &[("content-type", "application/json")],
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        )
        .await;
    assert_eq!(mcp.status, 503);
    assert_eq!(
        mcp.json()["error"]["code"],
        mcp_reconnect_core::respond::codes::UPSTREAM_UNAVAILABLE
    );
    assert_eq!(slow.await.unwrap().status, 200);
    let after = http
        .post_json(&format!("{base}/echo"), &[], &json!({"text": "x"}))
        .await;
    assert_eq!(after.status, 200, "the permit came back");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = TestUpstream::start().await.unwrap();
    let gateway = gateway(
        &["--header-read-timeout", "0.2", "streamablehttp", &upstream.url()],
        &[],
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(gateway.local_addr())
        .await
        .unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    // The gateway closes the connection (perhaps after a 408); the bound only stops a broken test.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was closed by the gateway");
    let text = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_body_that_breaks_off_is_a_400_not_a_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = TestUpstream::start().await.unwrap();
    let gateway = gateway(&["streamablehttp", &upstream.url()], &[]).await;
    let mut stream = tokio::net::TcpStream::connect(gateway.local_addr())
        .await
        .unwrap();
    // A chunk size that is not hexadecimal: hyper fails the body mid-read.
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Transfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\nzz\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the gateway answered and closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("could not be read"), "{text}");
    assert_eq!(upstream.counters().total_calls(), 0, "nothing reached the server");
    gateway.shutdown().await;
}
