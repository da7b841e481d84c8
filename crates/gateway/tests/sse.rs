//! Legacy HTTP+SSE servers (protocol 2024-11-05) behind the gateway: the
//! official Python SDK's SSE server and server-everything's `sse` mode,
//! through `/mcp` (a legacy session and 2026-07-28) and REST; the stream
//! cut by the server (restarts, a kill in mid-call) and by a real nginx in
//! between (its read timeout, and its `502` while the server restarts).

mod common;

use std::time::Duration;

use common::{
    Era, Http, assert_mcp_echo, eventually, everything, gateway, legacy_session_listing, rmcp_client,
    stateless_echo,
};
use mcp_reconnect_testkit::RawClient;
use mcp_reconnect_testkit::external::{
    PythonServer, ReverseProxy, available, python_sdk_available, spawn_reading_stdout,
};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_sse_server_serves_both_eras_and_rest_and_keeps_sessions_across_its_restarts() {
    if !python_sdk_available() {
        return;
    }
    let mut server = PythonServer::start_sse().await.expect("the SSE server starts");
    let gateway = gateway(&["--server-type", "sse", "--", &server.url()], &[]).await;
    let (base, http) = (gateway.url(), Http::default());

    // A legacy session through /mcp.
    let mut client = legacy_session_listing(&base, "slow_increment").await;
    assert_mcp_echo(&mut client, "hi").await;
    let session = client.session().map(str::to_owned);
    assert!(
        stateless_echo(&http, &base, "stateless")
            .await
            .contains("stateless")
    );
    http.assert_echo(&format!("{base}/echo"), &[], "rest").await;
    let counted = http
        .post_json(&format!("{base}/increment"), &[], &json!({"key": "a"}))
        .await;
    assert_eq!((counted.status.as_u16(), counted.json()), (200, json!(1)));

    // The server restarts: its stream ends, its sessions are gone. The next
    // calls go to a new stream, in the client's same session.
    server.start_again().await.expect("the server starts again");
    assert_mcp_echo(&mut client, "after a restart").await;
    assert_eq!(client.session().map(str::to_owned), session, "the same session");
    assert!(
        stateless_echo(&http, &base, "stateless again")
            .await
            .contains("stateless again")
    );
    http.assert_echo(&format!("{base}/echo"), &[], "rest again").await;

    // Killed in mid-call: a read-only call is replayed on the next stream…
    let mut slow_client = client.clone();
    let slow = tokio::spawn(async move { slow_client.call_tool("slow", json!({"ms": 1500})).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.start_again().await.expect("the server starts again");
    let slow = slow.await.expect("the task").expect("an answer");
    assert_eq!(slow.text().as_deref(), Some("slept 1500 ms"), "{slow:?}");

    // …and a non-idempotent one that may have run is answered, never run again.
    let mut once_client = client.clone();
    let once = tokio::spawn(async move {
        once_client
            .call_tool("slow_increment", json!({"key": "once", "ms": 1500}))
            .await
    });
    let counts = &server;
    eventually("the call reached the server", || counts.increments("once") == 1).await;
    server.start_again().await.expect("the server starts again");
    let once = once.await.expect("the task").expect("an answer");
    let message = once.message().unwrap_or(Value::Null);
    assert_eq!(message["error"]["code"], -32051, "maybe executed: {once:?}");
    assert_mcp_echo(&mut client, "still here").await;
    assert_eq!(server.increments("once"), 1, "never run twice");
    assert_eq!(server.increments("a"), 1);
    assert_eq!(client.session().map(str::to_owned), session, "the same session");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_stream_a_proxy_cuts_or_fails_is_reopened_and_no_session_or_safe_call_is_lost() {
    if !python_sdk_available() || !available(&["nginx"]) {
        return;
    }
    common::log();
    let mut server = PythonServer::start_sse().await.expect("the SSE server starts");
    // nginx cuts a stream that is quiet for a second, as a proxy's read
    // timeout cuts a quiet legacy stream in production; and answers `502`
    // itself while the server restarts.
    let proxy = ReverseProxy::with_read_timeout(server.addr(), Duration::from_secs(1))
        .await
        .expect("nginx starts");
    let url = format!("{}/sse", proxy.url());
    let gateway = gateway(&["--server-type", "sse", "--", &url], &[]).await;
    let (base, http) = (gateway.url(), Http::default());
    let mut client = RawClient::new(format!("{base}/mcp"));
    assert_eq!(client.initialize().await.expect("initialize").status, 200);
    let session = client.session().map(str::to_owned);
    let counted = http
        .post_json(&format!("{base}/increment"), &[], &json!({"key": "cut"}))
        .await;
    assert_eq!((counted.status.as_u16(), counted.json()), (200, json!(1)));

    // Quiet past the proxy's timeout, three times: each time the stream is
    // cut, and the next call opens one new stream. The `/mcp` session and
    // REST's own session alternate on it: neither makes the other's unknown
    // in turn (one reconnect per cut, not one per call).
    let reconnects = || async {
        let metrics = Http::default().get(&format!("{base}/metrics"), &[]).await.json();
        metrics["connection"]["reconnects"]["succeeded"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = reconnects().await;
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(1600)).await;
        for call in 0..5 {
            assert_mcp_echo(&mut client, &format!("after cut {round}, call {call}")).await;
            http.assert_echo(
                &format!("{base}/echo"),
                &[],
                &format!("rest after cut {round}, call {call}"),
            )
            .await;
        }
    }
    let after_cuts = reconnects().await - before;
    println!("[sse] three cuts by the proxy: {after_cuts} reconnects");
    assert!(
        (3..=4).contains(&after_cuts),
        "one reconnect per cut: {after_cuts}"
    );

    // The server restarts behind the proxy, which stays up and answers 502
    // for the stream and the posts meanwhile; calls keep coming.
    let restart = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.kill().await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.start_again().await.expect("the server starts again");
        server
    });
    let (mut ok, mut failed) = (0, Vec::new());
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        let text = format!("call {ok}");
        match client.call_tool("echo", json!({"text": text})).await {
            Ok(answer) if answer.text().as_deref() == Some(text.as_str()) => ok += 1,
            other => failed.push(format!("{other:?}")),
        }
    }
    let server = restart.await.expect("the restart task");
    println!(
        "[sse] behind nginx across a restart: {ok} calls ok, {} failed",
        failed.len()
    );
    assert!(failed.is_empty(), "every safe call succeeds: {failed:?}");
    assert_mcp_echo(&mut client, "after the restart").await;
    assert_eq!(client.session().map(str::to_owned), session, "the same session");
    assert_eq!(server.increments("cut"), 1, "never run twice");
    let health = http.get(&format!("{base}/health"), &[]).await;
    assert_eq!(health.status, 200, "{:?}", health.json());
    gateway.shutdown().await;
    drop(proxy);
}

/// server-everything in its legacy `sse` mode, on a free 127.0.0.1 port.
async fn everything_sse() -> Option<(tokio::process::Child, String)> {
    let (node, _) = everything()?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../interop/everything_server.mjs");
    let mut command = tokio::process::Command::new(node);
    command.args([script, "sse"]).env("PORT", "0");
    let (child, mut lines) = spawn_reading_stdout(&mut command).expect("server-everything starts");
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("a line") {
            if let Some(url) = line.strip_prefix("url: ") {
                return url.to_owned();
            }
        }
        panic!("server-everything exited at start");
    })
    .await
    .expect("server-everything listens");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some((child, url))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_over_sse_serves_rmcp_clients_of_both_eras_and_rest() {
    use rmcp::model::CallToolRequestParams;

    let Some((mut server, url)) = everything_sse().await else {
        return;
    };
    let gateway = gateway(&["--server-type", "sse", "--", &url], &[]).await;
    let mcp = format!("{}/mcp", gateway.url());
    for era in [Era::Legacy, Era::Stateless] {
        let client = rmcp_client(&mcp, era).await;
        let tools = client.list_all_tools().await.expect("tools/list");
        assert!(tools.iter().any(|tool| tool.name == "echo"), "{era:?}: {tools:?}");
        let arguments = json!({"message": format!("{era:?}")})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let call = client.call_tool(CallToolRequestParams::new("echo").with_arguments(arguments));
        let result = tokio::time::timeout(Duration::from_secs(30), call)
            .await
            .expect("the call ends in time")
            .expect("a call");
        let text = result.content[0].as_text().map(|content| content.text.clone());
        assert_eq!(text, Some(format!("Echo: {era:?}")));
        client.cancel().await.expect("the client ends");
    }
    let rest = Http::default()
        .post_json(
            &format!("{}/echo", gateway.url()),
            &[],
            &json!({"message": "rest"}),
        )
        .await;
    assert_eq!((rest.status.as_u16(), rest.json()), (200, json!("Echo: rest")));
    gateway.shutdown().await;
    let _ = server.kill().await;
}
