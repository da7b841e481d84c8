//! stdio servers behind the gateway: the official Python SDK's server as a
//! child (`mcp-gateway -- python python_server.py --stdio`), through `/mcp`
//! (a legacy session and 2026-07-28) and REST, killed while idle and in
//! mid-call; and a child that dies at once.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    Era, Http, assert_mcp_echo, eventually, everything, gateway, legacy_session_listing, rmcp_client,
    rmcp_echo, stateless_echo,
};
use mcp_reconnect_gateway::Gateway;
use mcp_reconnect_testkit::RawClient;
use mcp_reconnect_testkit::external::{interop_home, python_sdk_available};
use serde_json::{Value, json};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../interop/python_server.py");

/// A gateway (`flags` first) in front of the Python SDK server over stdio,
/// which writes its calls to `marker`: a path that also marks its processes.
async fn python_stdio_gateway(flags: &[&str], marker: &str, env: &[(&str, &str)]) -> Gateway {
    let python = interop_home().join("bin/python").display().to_string();
    let mut args = flags.to_vec();
    args.extend(["--", python.as_str(), SCRIPT, "--stdio", "--calls", marker]);
    gateway(&args, env).await
}

/// The plain gateway in front of the Python SDK server over stdio, its calls
/// written to a temp file named after `name`: the file, its path as the
/// marker, and the gateway. `None` when the Python SDK is not set up.
async fn python_gateway_logging_to(name: &str) -> Option<(PathBuf, String, Gateway)> {
    if !python_sdk_available() {
        return None;
    }
    let calls = temp_file(name);
    let marker = calls.display().to_string();
    let gateway = python_stdio_gateway(&[], &marker, &[]).await;
    Some((calls, marker, gateway))
}

fn temp_file(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("mcp-gateway-stdio-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// The processes whose command line holds `marker` (a file path unique to
/// the test), each with whether it is a zombie.
fn processes_with(marker: &str) -> Vec<(u32, bool)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let zombie = state
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'));
            String::from_utf8_lossy(&cmdline)
                .contains(marker)
                .then_some((pid, zombie))
        })
        .collect()
}

/// The live processes with `marker`.
fn pids_with(marker: &str) -> Vec<u32> {
    processes_with(marker)
        .into_iter()
        .filter(|(_, zombie)| !zombie)
        .map(|(pid, _)| pid)
        .collect()
}

/// The zombies with `marker`: what must never be left.
fn zombies_with(marker: &str) -> usize {
    processes_with(marker)
        .into_iter()
        .filter(|(_, zombie)| *zombie)
        .count()
}

/// The one child running with `marker`, once only one is (a replaced child
/// may take a moment to exit after its `TERM`).
async fn only_child(marker: &str) -> u32 {
    eventually("one child", || pids_with(marker).len() == 1).await;
    pids_with(marker)[0]
}

fn kill(pid: u32) {
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill runs");
}

fn runs(calls: &Path, key: &str) -> usize {
    std::fs::read_to_string(calls)
        .unwrap_or_default()
        .lines()
        .filter(|line| *line == key)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_stdio_server_keeps_sessions_across_kills_and_never_runs_a_tool_twice() {
    let Some((calls, marker, gateway)) = python_gateway_logging_to("calls").await else {
        return;
    };
    let (base, http) = (gateway.url(), Http::default());

    // A legacy session through /mcp.
    let mut client = legacy_session_listing(&base, "slow_increment").await;
    assert_mcp_echo(&mut client, "hi").await;

    // 2026-07-28: no session, the protocol in `_meta`.
    let answer = stateless_echo(&http, &base, "stateless").await;
    assert!(answer.contains("stateless"), "{answer}");

    // REST.
    http.assert_echo(&format!("{base}/echo"), &[], "rest").await;
    let counted = http
        .post_json(&format!("{base}/increment"), &[], &json!({"key": "a"}))
        .await;
    assert_eq!((counted.status.as_u16(), counted.json()), (200, json!(1)));

    // The `/mcp` session and REST's own alternate on one child: neither
    // makes the other's unknown (no respawn per call).
    let first = only_child(&marker).await;
    for call in 0..5 {
        let text = format!("alternating {call}");
        let echo = client
            .call_tool("echo", json!({"text": text}))
            .await
            .expect("a call");
        assert_eq!(echo.text(), Some(text.clone()));
        let rest = http
            .post_json(&format!("{base}/echo"), &[], &json!({"text": text}))
            .await;
        assert_eq!(rest.json(), json!(text));
    }
    assert_eq!(pids_with(&marker), vec![first], "the same child served them all");

    // SIGKILL while idle: the next calls go to a new child, in the same session.
    kill(first);
    eventually("the killed child is gone", || {
        !pids_with(&marker).contains(&first)
    })
    .await;
    assert_mcp_echo(&mut client, "after").await;
    http.assert_echo(&format!("{base}/echo"), &[], "rest again").await;
    let second = only_child(&marker).await;
    assert_ne!(first, second, "respawned");

    // SIGKILL in mid-call: a read-only call is replayed on the next child…
    let mut slow_client = client.clone();
    let slow = tokio::spawn(async move { slow_client.call_tool("slow", json!({"ms": 2000})).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    kill(second);
    let slow = slow.await.expect("the task").expect("an answer");
    assert_eq!(slow.text().as_deref(), Some("slept 2000 ms"), "{slow:?}");

    // …and a non-idempotent one that may have run is answered, never run again.
    let third = only_child(&marker).await;
    let mut once_client = client.clone();
    let once = tokio::spawn(async move {
        once_client
            .call_tool("slow_increment", json!({"key": "once", "ms": 2000}))
            .await
    });
    let path = calls.clone();
    eventually("the call reached the child", move || runs(&path, "once") == 1).await;
    kill(third);
    let once = once.await.expect("the task").expect("an answer");
    let message = once.message().unwrap_or(Value::Null);
    assert_eq!(message["error"]["code"], -32051, "maybe executed: {once:?}");
    assert_mcp_echo(&mut client, "still here").await;
    assert_eq!(runs(&calls, "once"), 1, "never run twice");
    assert_eq!(runs(&calls, "a"), 1);

    gateway.shutdown().await;
    eventually("the child is stopped with the gateway", || {
        pids_with(&marker).is_empty()
    })
    .await;
    assert_eq!(zombies_with(&marker), 0, "no zombies");
    let _ = std::fs::remove_file(&calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_dies_at_once_is_respawned_at_a_bounded_rate_and_health_says_why() {
    let spawns = temp_file("spawns");
    let script = format!("echo x >> {}; exit 1", spawns.display());
    let gateway = gateway(
        &["--", "sh", "-c", &script],
        &[("MCPO_RECONNECT_MAX_ATTEMPTS", "2"), ("MCPO_RECONNECT_WAIT", "0")],
    )
    .await;
    let (base, http) = (gateway.url(), Http::default());
    let started = tokio::time::Instant::now();
    let mut answers = Vec::new();
    while started.elapsed() < Duration::from_secs(6) {
        let answer = http
            .post_json(&format!("{base}/echo"), &[], &json!({"text": "x"}))
            .await;
        answers.push((answer.status.as_u16(), answer.headers.contains_key("retry-after")));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let count = std::fs::read_to_string(&spawns)
        .unwrap_or_default()
        .lines()
        .count();
    println!(
        "[stdio] crash loop: {count} starts in 6 s, {} calls answered",
        answers.len()
    );
    assert!(count >= 2, "it was started: {count}");
    assert!(count <= 16, "respawns are bounded: {count} in 6 s");
    assert!(answers.iter().all(|(status, _)| *status >= 500), "{answers:?}");
    assert!(
        answers.contains(&(503, true)),
        "503 with Retry-After while open: {answers:?}"
    );
    let health = http.get(&format!("{base}/health"), &[]).await;
    let health = health.json();
    let warnings = health.to_string();
    assert!(
        warnings.contains("did not start") && warnings.contains("exit status: 1"),
        "{health}"
    );
    gateway.shutdown().await;
    let _ = std::fs::remove_file(&spawns);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_clients_of_both_eras_list_and_call_a_stdio_server() {
    let Some((calls, marker, gateway)) = python_gateway_logging_to("eras").await else {
        return;
    };
    let url = format!("{}/mcp", gateway.url());
    for era in [Era::Legacy, Era::Stateless] {
        let client = rmcp_client(&url, era).await;
        let tools = client.list_all_tools().await.expect("tools/list");
        assert!(tools.iter().any(|tool| tool.name == "echo"), "{era:?}: {tools:?}");
        rmcp_echo(&client, &format!("{era:?} before")).await;
        let pid = only_child(&marker).await;
        kill(pid);
        eventually("the killed child is gone", || !pids_with(&marker).contains(&pid)).await;
        rmcp_echo(&client, &format!("{era:?} after a kill")).await;
        client.cancel().await.expect("the client ends");
    }
    gateway.shutdown().await;
    let _ = std::fs::remove_file(&calls);
}

/// Reads a `GET /mcp` stream until an event holds `needle` (bounded).
async fn stream_until(url: &str, session: &str, needle: &str) -> String {
    use http_body_util::BodyExt;

    let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let request = http::Request::get(url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .body(http_body_util::Empty::new())
        .expect("a request");
    let answer = client.request(request).await.expect("the stream opens");
    assert_eq!(answer.status(), 200);
    let mut body = answer.into_body();
    let mut seen = String::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("a frame").into_data() {
                seen.push_str(&String::from_utf8_lossy(&data));
                if seen.contains(needle) {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .unwrap_or_else(|_| panic!("no {needle} on the stream: {seen}"));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_over_stdio_gets_its_own_env_and_its_notifications_reach_get_streams() {
    let Some((node, index)) = everything() else {
        return;
    };
    let marker = temp_file("everything").display().to_string();
    let gateway = gateway(
        &[
            "--env",
            "GATEWAY_TEST_VAR=given",
            "--",
            &node,
            &index,
            "stdio",
            &marker,
        ],
        &[],
    )
    .await;
    let (base, http) = (gateway.url(), Http::default());
    let mut client = RawClient::new(format!("{base}/mcp"));
    assert_eq!(client.initialize().await.expect("initialize").status, 200);
    let session = client.session().expect("a session").to_owned();

    let echo = client
        .call_tool("echo", json!({"message": "hi"}))
        .await
        .expect("a call");
    assert_eq!(echo.text().as_deref(), Some("Echo: hi"));
    let rest = http
        .post_json(&format!("{base}/echo"), &[], &json!({"message": "rest"}))
        .await;
    assert_eq!((rest.status.as_u16(), rest.json()), (200, json!("Echo: rest")));

    // Only the safe variables and its own: never the gateway's environment.
    let env = client.call_tool("get-env", json!({})).await.expect("a call");
    let env = env.text().unwrap_or_default();
    assert!(env.contains("GATEWAY_TEST_VAR") && env.contains("PATH"), "{env}");
    assert!(
        !env.contains("CARGO_MANIFEST_DIR"),
        "the gateway's own environment leaked: {env}"
    );

    // The gateway declares no client capabilities to a child it shares, so
    // the server offers no tool that would ask a client for sampling.
    let listed = client
        .post(&mcp_reconnect_testkit::jsonrpc::tools_list(70))
        .await
        .expect("tools/list");
    let listed = listed.result().expect("a result").to_string();
    assert!(
        listed.contains("get-env") && !listed.contains("trigger-sampling-request"),
        "{listed}"
    );

    // The server's notifications reach the session's GET stream.
    let url = format!("{base}/mcp");
    let stream = tokio::spawn(async move { stream_until(&url, &session, "notifications/message").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let toggled = client
        .call_tool("toggle-simulated-logging", json!({}))
        .await
        .expect("a call");
    assert!(!toggled.is_tool_error(), "{toggled:?}");
    let seen = stream.await.expect("the task");
    assert!(seen.contains("notifications/message"), "{seen}");

    // Killed: respawned, and the session goes on.
    let pid = only_child(&marker).await;
    kill(pid);
    eventually("the killed child is gone", || !pids_with(&marker).contains(&pid)).await;
    let echo = client
        .call_tool("echo", json!({"message": "again"}))
        .await
        .expect("a call");
    assert_eq!(echo.text().as_deref(), Some("Echo: again"));
    gateway.shutdown().await;
    eventually("the child is stopped with the gateway", || {
        pids_with(&marker).is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_the_child_never_answers_ends_at_its_deadline() {
    if !python_sdk_available() {
        return;
    }
    let marker = temp_file("hang").display().to_string();
    let gateway = python_stdio_gateway(
        &["--tool-timeout", "2"],
        &marker,
        &[("MCPO_CONNECTION_TIMEOUT", "2")],
    )
    .await;
    let (base, http) = (gateway.url(), Http::default());
    let started = tokio::time::Instant::now();
    let hung = http
        .post_json(&format!("{base}/slow"), &[], &json!({"ms": 600_000}))
        .await;
    assert_eq!(hung.status, 504, "{hung:?}");
    assert!(hung.headers.contains_key("retry-after"));
    let mut client = RawClient::new(format!("{base}/mcp"));
    assert_eq!(client.initialize().await.expect("initialize").status, 200);
    let hung = client
        .call_tool("slow", json!({"ms": 600_000}))
        .await
        .expect("an answer");
    let error = hung.message().unwrap_or(Value::Null);
    assert!(
        error["error"]["code"].as_i64().is_some_and(|code| code <= -32050),
        "{hung:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "both ended at their deadlines"
    );
    // Timed-out calls are failures the circuit counts: a hung child is
    // replaced, and a call may meet the respawn before it is served.
    let mut echo = None;
    for _ in 0..10 {
        let answer = client
            .call_tool("echo", json!({"text": "still serving"}))
            .await
            .expect("a call");
        if answer.text().as_deref() == Some("still serving") {
            echo = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let echo = echo.expect("served again within 10 tries");
    assert_eq!(echo.text().as_deref(), Some("still serving"), "{echo:?}");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_testkits_rmcp_stdio_server_serves_both_eras_and_rest_across_a_kill() {
    let marker = temp_file("rmcp").display().to_string();
    let gateway = gateway(
        &[
            "--",
            env!("CARGO_BIN_EXE_mcp-gateway"),
            "test-server",
            "--tag",
            &marker,
        ],
        &[],
    )
    .await;
    let (base, http) = (gateway.url(), Http::default());
    let url = format!("{base}/mcp");
    let legacy = rmcp_client(&url, Era::Legacy).await;
    let stateless = rmcp_client(&url, Era::Stateless).await;
    rmcp_echo(&legacy, "legacy").await;
    rmcp_echo(&stateless, "stateless").await;
    let added = http
        .post_json(&format!("{base}/add"), &[], &json!({"a": 2, "b": 3}))
        .await;
    assert_eq!((added.status.as_u16(), added.json()), (200, json!(5)));

    let pid = only_child(&marker).await;
    kill(pid);
    eventually("the killed child is gone", || !pids_with(&marker).contains(&pid)).await;
    rmcp_echo(&legacy, "legacy after a kill").await;
    rmcp_echo(&stateless, "stateless after a kill").await;
    let respawned = pids_with(&marker);
    assert!(
        respawned.len() == 1 && respawned[0] != pid,
        "respawned: {respawned:?} after {pid}"
    );
    let added = http
        .post_json(&format!("{base}/add"), &[], &json!({"a": 1, "b": 1}))
        .await;
    assert_eq!((added.status.as_u16(), added.json()), (200, json!(2)));
    legacy.cancel().await.expect("the client ends");
    stateless.cancel().await.expect("the client ends");
    gateway.shutdown().await;
    eventually("the child is stopped with the gateway", || {
        pids_with(&marker).is_empty()
    })
    .await;
    assert_eq!(zombies_with(&marker), 0, "no zombies");
}
