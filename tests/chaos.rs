//! The chaos suite: the whole gateway (in process) in front of the testkit's
//! real MCP server and fault proxy, every scenario bounded and asserted.
//! Clients are real: the testkit's raw MCP client speaking the legacy
//! session protocol through the gateway's `/mcp`. Each scenario prints its
//! success rate, recovery time and duplicate executions.
//!
//! `cargo test -p mcp-reconnect --test chaos -- --nocapture`

use std::collections::HashMap;
use std::time::Duration;

use clap::Parser;
use http::StatusCode;
use mcp_reconnect_gateway::{Cli, Gateway, GatewayConfig};
use mcp_reconnect_testkit::{Fault, McpResponse, RawClient, Rule, TestUpstream};
use serde_json::json;
use tokio::time::Instant;

/// The gateway's per-call deadline in these tests (`MCPO_CONNECTION_TIMEOUT`).
const CALL_DEADLINE_SECS: &str = "3";

async fn gateway_for(upstream: &TestUpstream) -> Gateway {
    let cli = Cli::try_parse_from([
        "mcp-gateway",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "streamablehttp",
        &upstream.url(),
    ])
    .expect("cli");
    let env: HashMap<&str, &str> = HashMap::from([("MCPO_CONNECTION_TIMEOUT", CALL_DEADLINE_SECS)]);
    let config =
        GatewayConfig::from_args(&cli.serve, |name| env.get(name).map(|v| v.to_string())).expect("config");
    let gateway = Gateway::start(config).await.expect("gateway starts");
    // What the gateway's warm-up does in the background, awaited: the retry
    // layer learns from `tools/list` which tools are safe to replay. A
    // scenario that began before the warm-up ended (a busy CI machine) would
    // see a reset `echo` refused as "may have run" instead of replayed.
    let catalog = gateway.clients()[0].tools(None).await;
    assert!(
        catalog.fetched.is_some(),
        "the gateway lists the upstream's tools: {:?}",
        catalog.error
    );
    gateway
}

async fn session_client(gateway: &Gateway) -> RawClient {
    let mut client = RawClient::new(format!("{}/mcp", gateway.url()));
    let answer = client.initialize().await.expect("initialize");
    assert_eq!(answer.status, StatusCode::OK, "initialize through the gateway");
    client
}

fn succeeded(answer: &McpResponse) -> bool {
    answer.status == StatusCode::OK && answer.result().is_some() && !answer.is_tool_error()
}

struct Tally {
    name: &'static str,
    ok: u32,
    failed: u32,
    /// The first failed answer (status and body), printed by `report` so a
    /// failure in CI says why, not only how many.
    first_failure: Option<String>,
}

impl Tally {
    fn new(name: &'static str) -> Self {
        Tally {
            name,
            ok: 0,
            failed: 0,
            first_failure: None,
        }
    }

    fn count(&mut self, ok: bool, answer: &McpResponse) {
        if ok {
            self.ok += 1;
        } else {
            self.failed += 1;
            self.first_failure.get_or_insert_with(|| {
                format!("{} {}", answer.status, String::from_utf8_lossy(&answer.body))
            });
        }
    }

    fn report(&self) -> f64 {
        let rate = 100.0 * f64::from(self.ok) / f64::from((self.ok + self.failed).max(1));
        println!(
            "[chaos] {}: {} ok, {} failed, success {rate:.1} %",
            self.name, self.ok, self.failed
        );
        if let Some(failure) = &self.first_failure {
            println!("[chaos]   first failure: {failure}");
        }
        rate
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_502_storm_loses_no_safe_call() {
    // The reconnect design's test (502s at 5 per minute), time-compressed: every 10th request.
    let upstream = TestUpstream::start().await.unwrap();
    let gateway = gateway_for(&upstream).await;
    let mut client = session_client(&gateway).await;
    upstream
        .proxy
        .push(Rule::tool("echo", Fault::status(StatusCode::BAD_GATEWAY)).every(10));
    let mut tally = Tally::new("502 on every 10th echo");
    for i in 0..100 {
        let answer = client
            .call_tool("echo", json!({"text": format!("call {i}")}))
            .await
            .unwrap();
        tally.count(succeeded(&answer), &answer);
    }
    assert_eq!(tally.report(), 100.0);
    assert!(upstream.proxy.log().len() >= 10, "faults were injected");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_unforwarded_gateway_errors_lose_no_call() {
    let upstream = TestUpstream::start().await.unwrap();
    let gateway = gateway_for(&upstream).await;
    let mut client = session_client(&gateway).await;
    for (status, nth) in [(502, 30), (503, 29), (504, 31)] {
        let status = StatusCode::from_u16(status).unwrap();
        upstream
            .proxy
            .push(Rule::tool("add", Fault::status(status)).every(nth));
    }
    let mut tally = Tally::new("~10 % of add answered 502/503/504 unforwarded");
    for i in 0..150 {
        let answer = client.call_tool("add", json!({"a": i, "b": 1})).await.unwrap();
        let ok = succeeded(&answer) && answer.text().as_deref() == Some(&(i + 1).to_string());
        tally.count(ok, &answer);
    }
    assert_eq!(tally.report(), 100.0);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increment_executed_then_502_is_never_run_twice_and_never_falsely_succeeds() {
    let upstream = TestUpstream::start().await.unwrap();
    let gateway = gateway_for(&upstream).await;
    let mut client = session_client(&gateway).await;
    upstream
        .proxy
        .push(Rule::tool("increment", Fault::ForwardThenStatus(StatusCode::BAD_GATEWAY)).every(4));
    let mut tally = Tally::new("increment forwarded then 502 on 25 %");
    let (mut duplicates, mut false_successes, mut maybe_executed) = (0, 0, 0);
    for i in 0..80 {
        let key = format!("key-{i}");
        let answer = client.call_tool("increment", json!({"key": key})).await.unwrap();
        let ok = succeeded(&answer);
        tally.count(ok, &answer);
        let runs = upstream.counters().increments(&key);
        duplicates += u32::from(runs > 1);
        false_successes += u32::from(ok && runs == 0);
        if !ok {
            let error = answer
                .message()
                .and_then(|m| m.get("error").cloned())
                .unwrap_or_default();
            assert_eq!(error["code"], -32051, "a clear 'may have run' error: {error}");
            maybe_executed += 1;
        }
    }
    tally.report();
    println!(
        "[chaos]   duplicates {duplicates}, false successes {false_successes}, 'may have run' answers {maybe_executed}"
    );
    assert_eq!(duplicates, 0);
    assert_eq!(false_successes, 0);
    assert_eq!(maybe_executed, 20);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_kill_and_restart_loses_no_session_and_no_safe_call() {
    let mut upstream = TestUpstream::start().await.unwrap();
    let gateway = gateway_for(&upstream).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(session_client(&gateway).await);
    }
    let sessions: Vec<_> = clients.iter().map(|c| c.session().map(str::to_string)).collect();
    let mut tally = Tally::new("echo across an upstream SIGKILL + restart");
    let mut recovered_after = None;
    for round in 0..30 {
        if round == 10 {
            upstream.server.stop().await;
            upstream.server.start_again().await.unwrap();
        }
        for client in &mut clients {
            let started = Instant::now();
            let answer = client
                .call_tool("echo", json!({"text": "still here"}))
                .await
                .unwrap();
            let ok = succeeded(&answer);
            tally.count(ok, &answer);
            if round == 10 && recovered_after.is_none() {
                recovered_after = Some(started.elapsed());
            }
        }
    }
    tally.report();
    println!("[chaos]   first call after the restart took {recovered_after:?}");
    let after: Vec<_> = clients.iter().map(|c| c.session().map(str::to_string)).collect();
    assert_eq!(sessions, after, "every client kept its session id");
    assert_eq!(tally.failed, 0);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_resets_lose_no_safe_call() {
    let upstream = TestUpstream::start().await.unwrap();
    let gateway = gateway_for(&upstream).await;
    let mut client = session_client(&gateway).await;
    upstream.proxy.push(Rule::tool("echo", Fault::Reset).every(5));
    let mut tally = Tally::new("reset on every 5th echo");
    for _ in 0..50 {
        let answer = client.call_tool("echo", json!({"text": "x"})).await.unwrap();
        tally.count(succeeded(&answer), &answer);
    }
    assert_eq!(tally.report(), 100.0);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_call_ends_at_the_deadline_and_others_go_on() {
    let upstream = TestUpstream::start().await.unwrap();
    let gateway = gateway_for(&upstream).await;
    let mut hung = session_client(&gateway).await;
    let mut other = session_client(&gateway).await;
    upstream.proxy.push(Rule::tool("slow", Fault::Hang).once());
    let hung_call = tokio::spawn(async move {
        let started = Instant::now();
        let answer = hung.call_tool("slow", json!({"ms": 1})).await.unwrap();
        (answer.status, started.elapsed())
    });
    let mut tally = Tally::new("echo next to a hung call");
    for _ in 0..20 {
        let answer = other.call_tool("echo", json!({"text": "x"})).await.unwrap();
        tally.count(succeeded(&answer), &answer);
    }
    assert_eq!(tally.report(), 100.0);
    let (status, took) = tokio::time::timeout(Duration::from_secs(30), hung_call)
        .await
        .unwrap()
        .unwrap();
    println!("[chaos]   the hung call ended with {status} after {took:?} (deadline {CALL_DEADLINE_SECS} s)");
    assert!(status.is_server_error(), "the hung call fails cleanly: {status}");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_for_a_window_then_everything_works() {
    let upstream = TestUpstream::start().await.unwrap();
    let gateway = gateway_for(&upstream).await;
    let mut client = session_client(&gateway).await;
    assert!(succeeded(
        &client.call_tool("echo", json!({"text": "before"})).await.unwrap()
    ));
    upstream.proxy.refuse_for(Duration::from_millis(800)).await;
    let started = Instant::now();
    // A call sent in the window waits for the reconnect (or fails cleanly).
    let mut during = Tally::new("echo sent while connections are refused (800 ms)");
    let mut after = Tally::new("echo sent after the window");
    let mut first_ok_after = None;
    while started.elapsed() < Duration::from_secs(3) {
        let sent_at = started.elapsed();
        let answer = client.call_tool("echo", json!({"text": "x"})).await.unwrap();
        let ok = succeeded(&answer);
        if sent_at < Duration::from_millis(800) {
            during.count(ok, &answer);
            assert!(
                ok || answer.status.is_server_error(),
                "a clean failure: {}",
                answer.status
            );
        } else {
            after.count(ok, &answer);
            if ok && first_ok_after.is_none() {
                first_ok_after = Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    during.report();
    after.report();
    println!("[chaos]   first success {first_ok_after:?} after the refusal began");
    assert!(after.ok > 0);
    assert!(upstream.proxy.is_accepting().await);
    gateway.shutdown().await;
}
