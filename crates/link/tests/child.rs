//! Real children on this machine: the official Python SDK's server over
//! stdio, and shell commands that crash, hang or flood stdout.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_reconnect_core::headers::MCP_SESSION_ID;
use mcp_reconnect_core::{FailureClass, Reached, classify_error};
use mcp_reconnect_link::{LinkService, StdioConfig, StdioConnector, StdioTarget};
use mcp_reconnect_testkit::external::{interop_home, python_sdk_available};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The Python SDK's server over stdio, started, and its session id.
async fn started() -> (LinkService, String) {
    let service = StdioConnector::default()
        .oneshot(python_server())
        .await
        .expect("the child starts");
    let session = service.session_id().to_owned();
    (service, session)
}

fn python_server() -> StdioTarget {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../interop/python_server.py");
    StdioTarget::new(interop_home().join("bin/python").display().to_string())
        .args([script, "--stdio"])
        .name("python-stdio")
}

async fn post(service: &LinkService, session: Option<&str>, message: Value) -> (StatusCode, Value) {
    let mut request = Request::post("/mcp").header("content-type", "application/json");
    if let Some(session) = session {
        request = request.header(MCP_SESSION_ID, session);
    }
    let request = request
        .body(Full::new(Bytes::from(message.to_string())))
        .expect("a request");
    let answer = service.clone().oneshot(request).await.expect("an answer");
    let status = answer.status();
    let body = answer.into_body().collect().await.expect("a body").to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
}

fn text(answer: &Value) -> &str {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; a reaped child has none.
    std::fs::metadata(format!("/proc/{pid}")).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_calls_share_one_child_under_their_own_ids() {
    if !python_sdk_available() {
        return;
    }
    let service = StdioConnector::default()
        .oneshot(python_server())
        .await
        .expect("the child starts");
    let initialize = json!({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let (status, answer) = post(&service, None, initialize).await;
    assert_eq!(status, 200);
    assert_eq!(answer["id"], "init");
    assert_eq!(
        answer["result"]["protocolVersion"], "2025-03-26",
        "the client's version"
    );
    assert_eq!(answer["result"]["serverInfo"]["name"], "python-sdk-server");
    let session = service.session_id().to_owned();

    let (status, tools) = post(
        &service,
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}),
    )
    .await;
    assert_eq!((status, &tools["id"]), (StatusCode::OK, &json!(7)));
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    assert!(
        names.contains(&"echo") && names.contains(&"increment"),
        "{names:?}"
    );

    // Clients reuse ids; each gets its own answer back.
    let calls = (0..20).map(|n| {
        let (service, session) = (service.clone(), session.clone());
        tokio::spawn(async move {
            post(
                &service,
                Some(&session),
                call(1, "echo", json!({"text": format!("m{n}")})),
            )
            .await
        })
    });
    for (n, call) in calls.enumerate() {
        let (status, answer) = call.await.expect("the task");
        assert_eq!(
            (status, answer["id"].clone(), text(&answer)),
            (StatusCode::OK, json!(1), format!("m{n}").as_str())
        );
    }

    // A session of another child: 404, so a session layer re-initializes.
    let (status, _) = post(&service, Some("stdio-0-0"), call(2, "echo", json!({"text": "x"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_child_fails_calls_by_reach_and_a_released_one_is_stopped_and_reaped() {
    if !python_sdk_available() {
        return;
    }
    let (service, session) = started().await;
    let pid = service.pid().expect("a pid");
    let (_, answer) = post(&service, Some(&session), call(1, "echo", json!({"text": "up"}))).await;
    assert_eq!(text(&answer), "up");

    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill runs");
    for _ in 0..100 {
        if service.ended().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        service
            .ended()
            .is_some_and(|why| why.contains("SIGKILL") || why.contains("signal")),
        "{:?}",
        service.ended()
    );
    let request = Request::post("/mcp")
        .header(MCP_SESSION_ID, session.as_str())
        .body(Full::new(Bytes::from(
            call(2, "echo", json!({"text": "x"})).to_string(),
        )))
        .expect("a request");
    let error = service
        .clone()
        .oneshot(request)
        .await
        .expect_err("the child is gone");
    let failure = classify_error(error.as_ref());
    assert_eq!(
        (failure.class(), failure.reached()),
        (FailureClass::Connection, Reached::No)
    );
    assert!(failure.proves_connection_dead());
    assert!(!alive(pid), "the killed child was reaped");

    // A live child whose last handle goes is stopped (TERM) and reaped.
    let service = StdioConnector::default()
        .oneshot(python_server())
        .await
        .expect("the child starts");
    let pid = service.pid().expect("a pid");
    assert!(alive(pid));
    drop(service);
    for _ in 0..200 {
        if !alive(pid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive(pid), "the released child was stopped and reaped");
}

async fn connect_error(target: StdioTarget, config: StdioConfig) -> String {
    let error = StdioConnector::new(config)
        .oneshot(target)
        .await
        .expect_err("no service");
    let failure = classify_error(error.as_ref());
    assert_eq!(
        failure.reached(),
        Reached::No,
        "a failed connect never reached a call"
    );
    mcp_reconnect_core::error::chain(error.as_ref())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_that_cannot_serve_are_failed_connects_with_the_reason() {
    let missing = connect_error(
        StdioTarget::new("/nonexistent/mcp-server"),
        StdioConfig::default(),
    )
    .await;
    assert!(
        missing.contains("could not start `/nonexistent/mcp-server`"),
        "{missing}"
    );

    let crashes = connect_error(
        StdioTarget::new("sh").args(["-c", "exit 3"]),
        StdioConfig::default(),
    )
    .await;
    assert!(crashes.contains("exit status: 3"), "{crashes}");

    let hangs = StdioTarget::new("sleep").arg("60");
    let hung = connect_error(
        hangs,
        StdioConfig::default().handshake_timeout(Duration::from_millis(500)),
    )
    .await;
    assert!(hung.contains("no answer within"), "{hung}");

    // 100 MB on one line, never held whole: the child is stopped at the limit.
    let flood = StdioTarget::new("python3").args(["-c", "import sys; sys.stdout.write('x' * 100_000_000)"]);
    let flooded = connect_error(flood, StdioConfig::default()).await;
    assert!(flooded.contains("a line over 16777216 bytes"), "{flooded}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_given_up_on_leave_nothing_behind() {
    if !python_sdk_available() {
        return;
    }
    let (service, session) = started().await;
    // Calls the child sits on, each given up on after 20 ms.
    for n in 0..200 {
        let call = post(&service, Some(&session), call(n, "slow", json!({"ms": 600_000})));
        assert!(
            tokio::time::timeout(Duration::from_millis(20), call)
                .await
                .is_err()
        );
    }
    // The child still answers, and the answers of the given-up calls, when
    // they come, have no one to go to.
    let (_, answer) = post(&service, Some(&session), call(1, "echo", json!({"text": "fine"}))).await;
    assert_eq!(text(&answer), "fine");
    assert_eq!(
        service.calls_waiting(),
        0,
        "no entry is left for a call given up on"
    );
}

/// A child that answers `initialize`, never answers a call, and logs every
/// line it reads to the file named by its argument.
const LOGGING_CHILD: &str = r#"
import json, sys
log = open(sys.argv[1], "a", buffering=1)
for line in sys.stdin:
    log.write(line)
    message = json.loads(line)
    if message.get("method") == "initialize":
        result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                  "serverInfo": {"name": "logger", "version": "0"}}
        print(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}), flush=True)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_given_up_on_is_cancelled_at_the_server_under_the_gateways_id() {
    let dir = std::env::temp_dir().join(format!("mcp-link-cancel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let log = dir.join("lines");
    let _ = std::fs::remove_file(&log);
    let target = StdioTarget::new("python3").args(["-c", LOGGING_CHILD, &log.display().to_string()]);
    let service = StdioConnector::default()
        .oneshot(target)
        .await
        .expect("the child starts");
    let session = service.session_id().to_owned();
    // The client's id is 7; the child sees the gateway's own.
    let given_up = post(&service, Some(&session), call(7, "slow", json!({"ms": 1})));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), given_up)
            .await
            .is_err()
    );
    let lines = || -> Vec<Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    };
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = lines();
        if seen.iter().any(|m| m["method"] == "notifications/cancelled") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = seen
        .iter()
        .find(|m| m["method"] == "tools/call")
        .expect("the call reached the child");
    let cancel = seen
        .iter()
        .find(|m| m["method"] == "notifications/cancelled")
        .unwrap_or_else(|| panic!("a cancel reached the child: {seen:#?}"));
    assert_eq!(
        cancel["params"]["requestId"], sent["id"],
        "under the gateway's id"
    );
    assert_ne!(sent["id"], 7, "not the client's");
    // The handshake's initialize is never cancelled, and a call answered is not either.
    assert_eq!(
        seen.iter()
            .filter(|m| m["method"] == "notifications/cancelled")
            .count(),
        1
    );
    assert_eq!(service.calls_waiting(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
