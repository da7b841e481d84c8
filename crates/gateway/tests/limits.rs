//! Request body limit and load shedding.

mod common;

use std::time::Duration;

use common::{Http, raw, upstream_and_gateway};
use http::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused_with_413() {
    let (upstream, gateway) = upstream_and_gateway(&["--max-body-bytes", "1024"], &[]).await;
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
    let (upstream, gateway) = upstream_and_gateway(&["--max-concurrent-calls", "1"], &[]).await;
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
    let (_upstream, gateway) = upstream_and_gateway(&["--header-read-timeout", "0.2"], &[]).await;
    // The gateway closes the connection (perhaps after a 408).
    let answer = raw(
        gateway.local_addr(),
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    )
    .await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_body_that_breaks_off_is_a_400_not_a_413() {
    let (upstream, gateway) = upstream_and_gateway(&[], &[]).await;
    // A chunk size that is not hexadecimal: hyper fails the body mid-read.
    let text = raw(
        gateway.local_addr(),
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\nzz\r\n",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("could not be read"), "{text}");
    assert_eq!(upstream.counters().total_calls(), 0, "nothing reached the server");
    gateway.shutdown().await;
}

/// Sends one whole request on a kept-alive connection and reads its answer
/// (headers and a `Content-Length` body): the status line.
async fn exchange(stream: &mut tokio::net::TcpStream, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut chunk))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return head.lines().next().unwrap_or_default().to_owned();
            }
        }
    }
}

/// With every connection slot taken by clients that have each finished a
/// request (so none is dropped to make room), `/health` still gets through
/// (its reserve), and other requests on the reserve get a clear `503`; when
/// the slots free up, calls work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_gateway_still_answers_health() {
    let (_upstream, gateway) =
        upstream_and_gateway(&["--max-connections", "16", "--header-read-timeout", "60"], &[]).await;
    let addr = gateway.url().trim_start_matches("http://").to_owned();
    // 15 general slots (16 less one for `/health`), each held by an idle client.
    let mut silent = Vec::new();
    for _ in 0..15 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        // Healthy or not yet: a whole request, answered.
        let status = exchange(&mut stream, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await;
        assert!(status.starts_with("HTTP/1.1 "), "{status}");
        silent.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let health = common::Http::default()
        .get(&format!("{}/health", gateway.url()), &[])
        .await;
    assert!(health.status.is_success(), "{health:?}");
    // Each call on a client of its own, so on a new connection.
    let echo = || async {
        let url = format!("{}/echo", gateway.url());
        common::Http::default()
            .post_json(&url, &[], &serde_json::json!({"text": "x"}))
            .await
    };
    let refused = echo().await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.headers["retry-after"], "1");
    drop(silent);
    let mut ok = false;
    for _ in 0..100 {
        if echo().await.status == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ok, "calls work again once the slots are free");
    gateway.shutdown().await;
}

/// Clients without the key, or without a whole request, are dropped (the
/// oldest first) to make room for one that comes when every slot is taken;
/// a connection that showed the key is never dropped for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unproven_connections_make_room_and_ones_with_the_key_stay() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_upstream, gateway) = upstream_and_gateway(
        &[
            "--api-key",
            "k",
            "--max-connections",
            "16",
            "--header-read-timeout",
            "60",
        ],
        &[],
    )
    .await;
    let addr = gateway.local_addr();
    let with_key = |body: &str| {
        format!(
            "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer k\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let mut proven = tokio::net::TcpStream::connect(addr).await.unwrap();
    let status = exchange(&mut proven, &with_key(r#"{"text":"a"}"#)).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    // One that was refused, and 13 that never finish their headers: 15 in all.
    let mut refused = tokio::net::TcpStream::connect(addr).await.unwrap();
    let status = exchange(
        &mut refused,
        "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    let mut silent = Vec::new();
    for _ in 0..13 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"POST /echo HTTP/1.1\r\n").await.unwrap();
        silent.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Five newcomers with the key are served, each in a slot made for it.
    for n in 0..5 {
        let mut newcomer = tokio::net::TcpStream::connect(addr).await.unwrap();
        let status = exchange(&mut newcomer, &with_key(&format!(r#"{{"text":"{n}"}}"#))).await;
        assert!(status.starts_with("HTTP/1.1 200"), "newcomer {n}: {status}");
        silent.push(newcomer);
    }
    // The refused connection was the oldest unproven one: it went first.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), refused.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the refused connection was dropped"
    );
    // The one with the key is still served on its own connection.
    let status = exchange(&mut proven, &with_key(r#"{"text":"b"}"#)).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    drop(silent);
    gateway.shutdown().await;
}
