//! An upstream restart during REST and `/mcp` traffic: no safe call is lost,
//! and the non-idempotent `increment` never runs twice.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Http, gateway};
use mcp_reconnect_testkit::{RawClient, TestUpstream};
use serde_json::json;

/// Calls each REST client makes.
const CALLS: usize = 60;
/// REST clients calling at once.
const CLIENTS: usize = 2;
/// Restarts during the traffic.
const RESTARTS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_and_mcp_traffic_through_upstream_restarts_loses_no_safe_call() {
    common::log();
    let mut upstream = TestUpstream::start().await.unwrap();
    // Straight to the server: a restart refuses connections, then forgets the sessions.
    let gateway = gateway(&["streamablehttp", &upstream.server.url()], &[]).await;
    let base = gateway.url();
    let http = Http::default();
    let warm = http
        .post_json(&format!("{base}/echo"), &[], &json!({"text": "warm"}))
        .await;
    assert_eq!(warm.status, 200);

    let running = Arc::new(AtomicBool::new(true));
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (http, base, running) = (http.clone(), base.clone(), Arc::clone(&running));
        clients.push(tokio::spawn(async move {
            let mut echo_failures = Vec::new();
            let mut increments = Vec::new();
            let mut calls = 0;
            while calls < CALLS || running.load(Ordering::Relaxed) {
                calls += 1;
                let text = format!("c{client}-{calls}");
                let echo = http
                    .post_json(&format!("{base}/echo"), &[], &json!({"text": text}))
                    .await;
                if echo.status != 200 || echo.json() != json!(text) {
                    echo_failures.push(format!(
                        "{}: {}",
                        echo.status,
                        String::from_utf8_lossy(&echo.body)
                    ));
                }
                if calls % 4 == 0 {
                    let key = format!("k{client}-{calls}");
                    let answer = http
                        .post_json(&format!("{base}/increment"), &[], &json!({"key": key}))
                        .await;
                    increments.push((key, answer.status.as_u16()));
                }
            }
            (echo_failures, increments)
        }));
    }
    // An MCP client on a legacy session through /mcp, at the same time.
    let mcp = {
        let (url, running) = (format!("{base}/mcp"), Arc::clone(&running));
        tokio::spawn(async move {
            let mut client = RawClient::new(url);
            let init = client.initialize().await.expect("initialize");
            assert_eq!(init.status, 200);
            let session = client.session().map(str::to_owned);
            let (mut failures, mut cut) = (Vec::new(), 0);
            let mut calls = 0;
            while calls < CALLS || running.load(Ordering::Relaxed) {
                calls += 1;
                let text = format!("mcp-{calls}");
                match client.call_tool("echo", json!({"text": text})).await {
                    Ok(answer) if answer.text().as_deref() == Some(text.as_str()) => {}
                    Ok(answer) => failures.push(format!(
                        "{}: {}",
                        answer.status,
                        String::from_utf8_lossy(&answer.body)
                    )),
                    // The server died after it began its answer: a proxy cannot
                    // replay a stream it has passed on; the client sees it cut.
                    Err(error) if error.downcast_ref::<hyper::Error>().is_some() => cut += 1,
                    Err(error) => failures.push(error.to_string()),
                }
            }
            (failures, cut, session == client.session().map(str::to_owned))
        })
    };
    for _ in 0..RESTARTS {
        tokio::time::sleep(Duration::from_millis(150)).await;
        upstream.server.stop().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        upstream.server.start_again().await.unwrap();
    }
    running.store(false, Ordering::Relaxed);

    let (mcp_failures, cut, same_session) = mcp.await.unwrap();
    assert!(mcp_failures.is_empty(), "MCP calls failed: {mcp_failures:#?}");
    assert!(
        cut <= RESTARTS,
        "at most one answer per restart is cut mid-stream: {cut}"
    );
    assert!(same_session, "the MCP client kept its session");
    let counters = upstream.counters();
    for client in clients {
        let (echo_failures, increments) = client.await.unwrap();
        assert!(
            echo_failures.is_empty(),
            "read-only calls failed: {echo_failures:#?}"
        );
        for (key, status) in increments {
            let runs = counters.increments(&key);
            assert!(runs <= 1, "increment {key} ran {runs} times");
            if status == 200 {
                assert_eq!(runs, 1, "{key} answered 200 so it ran");
            }
        }
    }
    gateway.shutdown().await;
}

/// The gateway's own handshake meets an outage: `notifications/initialized`
/// answered `502` by the proxy (twice), and the session layer's
/// re-initialize after a restart. Neither fails a REST call of a safe tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_own_handshake_is_retried_and_never_fails_a_rest_call() {
    use http::StatusCode;
    use mcp_reconnect_testkit::{Fault, Rule};

    let mut upstream = TestUpstream::start().await.unwrap();
    upstream.proxy.push(
        Rule::method(
            "notifications/initialized",
            Fault::status(StatusCode::BAD_GATEWAY),
        )
        .times(2),
    );
    let gateway = gateway(&["streamablehttp", &upstream.url()], &[]).await;
    let http = Http::default();
    http.assert_echo(&format!("{}/echo", gateway.url()), &[], "first")
        .await;
    assert_eq!(
        upstream.proxy.rules()[0].fired(),
        2,
        "both 502s met the handshake"
    );

    // The server restarts and forgets the gateway's session: the next REST
    // call re-initializes it under the same id and succeeds.
    upstream.server.restart().await.unwrap();
    http.assert_echo(&format!("{}/echo", gateway.url()), &[], "after")
        .await;
    gateway.shutdown().await;
}
