//! The built `mcp-gateway` binary: both command-line forms start and serve,
//! bad flags and environment values exit with code 2 before anything starts,
//! `SIGTERM` lets an in-flight call finish, and the key never reaches the logs.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::Http;
use mcp_reconnect_testkit::TestUpstream;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

const BINARY: &str = env!("CARGO_BIN_EXE_mcp-gateway");
/// A key that appears nowhere else, so finding it in the logs is a leak.
const KEY: &str = "k3y-XYZZY-4711";
/// Log lines read while waiting for the listening line.
const MAX_START_LINES: usize = 200;

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("MCPO_LOG_LEVEL")
        .env_remove("MCPO_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Starts the binary on 127.0.0.1 (any port) with `args` and reads its log
/// until it says where it listens; the task then keeps reading (so the pipe
/// never fills) and returns every line.
async fn start(args: &[&str]) -> (Child, String, JoinHandle<Vec<String>>) {
    let mut argv = vec!["--host", "127.0.0.1", "--port", "0"];
    argv.extend_from_slice(args);
    let mut child = command(&argv).spawn().expect("the binary runs");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    for _ in 0..MAX_START_LINES {
        let Some(line) = lines.next_line().await.expect("read the log") else {
            break;
        };
        let addr = line
            .split("addr=")
            .nth(1)
            .map(|rest| rest.split_whitespace().next().unwrap_or_default().to_owned());
        seen.push(line);
        if let Some(addr) = addr {
            let log = tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    seen.push(line);
                }
                seen
            });
            return (child, format!("http://{addr}"), log);
        }
    }
    panic!("the gateway never said where it listens: {seen:#?}");
}

async fn exit_code(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut command = command(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().await.expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn terminate(child: &Child) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_design_form_serves_and_sigterm_finishes_an_in_flight_call() {
    let upstream = TestUpstream::start().await.unwrap();
    let url = upstream.url();
    let args = ["--api-key", KEY, "--log-level", "DEBUG", "streamablehttp", &url];
    let (mut child, base, log) = start(&args).await;
    let http = Http::default();
    let auth = format!("Bearer {KEY}");
    http.assert_echo(&format!("{base}/echo"), &[("authorization", &auth)], "design")
        .await;
    let health = http.get(&format!("{base}/health"), &[]).await;
    assert_eq!(health.json()["status"], "healthy");
    assert_eq!(health.json()["connection_name"], format!("StreamableHTTP-{url}"));

    // A slow call is in flight when SIGTERM comes: it still gets its answer.
    let slow = {
        let http = http.clone();
        let (base, auth) = (base.clone(), auth.clone());
        tokio::spawn(async move {
            http.post_json(
                &format!("{base}/slow"),
                &[("authorization", &auth)],
                &json!({"ms": 1500}),
            )
            .await
        })
    };
    let counters = upstream.counters();
    for _ in 0..1000 {
        if counters.calls("slow") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(counters.calls("slow"), 1, "the slow call reached the server");
    terminate(&child);
    let slow = slow.await.unwrap();
    assert_eq!((slow.status.as_u16(), slow.json()), (200, json!("slept 1500 ms")));
    let status = child.wait().await.unwrap();
    assert!(status.success(), "{status:?}");
    let log = log.await.unwrap();
    assert!(log.iter().any(|line| line.contains("shutting down")), "{log:#?}");
    assert!(
        !log.iter().any(|line| line.contains(KEY)),
        "the key is in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcpo_form_serves() {
    let upstream = TestUpstream::start().await.unwrap();
    let url = upstream.url();
    let args = ["--server-type", "streamable-http", "--", &url];
    let (mut child, base, _) = start(&args).await;
    let http = Http::default();
    let add = http
        .post_json(&format!("{base}/add"), &[], &json!({"a": 1, "b": 2}))
        .await;
    assert_eq!((add.status.as_u16(), add.json()), (200, json!(3)));
    terminate(&child);
    assert!(child.wait().await.unwrap().success());
}

/// Arguments, environment, and what the error message must name.
type BadCase<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_and_values_exit_2_before_starting() {
    let url = "http://127.0.0.1:9/mcp";
    let cases: [BadCase<'_>; 9] = [
        (&["--port", "abc", "streamablehttp", url], &[], "--port"),
        (
            &["--max-concurrent-calls", "0", "streamablehttp", url],
            &[],
            "--max-concurrent-calls",
        ),
        (
            &["--shutdown-timeout", "0", "streamablehttp", url],
            &[],
            "--shutdown-timeout",
        ),
        (
            &["streamablehttp", url],
            &[("MCPO_RECONNECT_MAX_ATTEMPTS", "abc")],
            "MCPO_RECONNECT_MAX_ATTEMPTS",
        ),
        (
            &["streamablehttp", url],
            &[("MCPO_CONNECTION_TIMEOUT", "0")],
            "MCPO_CONNECTION_TIMEOUT",
        ),
        (
            &["streamablehttp", url],
            &[("MCPO_TOOL_MAX_RETRIES", "99")],
            "MCPO_TOOL_MAX_RETRIES",
        ),
        (&["--log-level", "loud", "streamablehttp", url], &[], "loud"),
        (&["--server-type", "ws", "--", url], &[], "unknown"),
        (&["--server-type", "stdio", "--", url], &[], "looks like a URL"),
    ];
    for (args, env, named) in cases {
        let (code, stderr) = exit_code(args, env).await;
        assert_eq!(code, 2, "{args:?} {env:?}: {stderr}");
        assert!(
            stderr.contains(named),
            "{args:?}: the message names {named}: {stderr}"
        );
    }
    let (code, stderr) = exit_code(&[], &[]).await;
    assert_eq!(code, 2, "no server: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_entry_that_cannot_be_served_is_named() {
    let path = std::env::temp_dir().join(format!("mcp-gateway-bad-{}.json", std::process::id()));
    let config = json!({"mcpServers": {
        "good": {"type": "streamable-http", "url": "http://127.0.0.1:9/mcp"},
        "with-oauth": {"type": "sse", "url": "http://127.0.0.1:9/sse", "oauth": {}},
    }});
    std::fs::write(&path, config.to_string()).unwrap();
    let (code, stderr) = exit_code(&["--config", path.to_str().unwrap()], &[]).await;
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("with-oauth") && stderr.contains("OAuth"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_its_script_and_reports_no_duplicate_execution() {
    let output = command(&["demo", "--duration", "4"])
        .output()
        .await
        .expect("the demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("curl http://127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("upstream killed"), "{stdout}");
    assert!(stdout.contains("── summary"), "{stdout}");
    assert!(stdout.contains("duplicate executions: 0"), "{stdout}");
}
