//! A config file with several servers: each under `/<name>/`, and a dead one
//! never affects a live one.

mod common;

use common::{FAST_ENV, Http, gateway};
use mcp_reconnect_testkit::{RawClient, TestUpstream};
use serde_json::json;

/// A port on 127.0.0.1 where nothing listens (bound, then closed).
async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}/mcp")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_dead_server_never_affects_the_live_one() {
    let upstream = TestUpstream::start().await.unwrap();
    let path = std::env::temp_dir().join(format!("mcp-gateway-servers-{}.json", std::process::id()));
    let config = json!({"mcpServers": {
        "dead": {"type": "streamable-http", "url": dead_url().await},
        "live": {"type": "streamablehttp", "url": upstream.url(), "disabledTools": ["increment"]},
    }});
    std::fs::write(&path, config.to_string()).unwrap();
    let gateway = gateway(
        &["--config", path.to_str().unwrap(), "--path-prefix", "/api"],
        &FAST_ENV,
    )
    .await;
    let _ = std::fs::remove_file(&path);
    let base = gateway.url();
    let http = Http::default();

    let dead = http
        .post_json(&format!("{base}/api/dead/echo"), &[], &json!({"text": "x"}))
        .await;
    assert!([502, 503, 504].contains(&dead.status.as_u16()), "{dead:?}");
    assert!(dead.headers.contains_key("retry-after"));

    http.assert_echo(&format!("{base}/api/live/echo"), &[], "alive")
        .await;
    let disabled = http
        .post_json(&format!("{base}/api/live/increment"), &[], &json!({"key": "k"}))
        .await;
    assert_eq!(disabled.status, 404, "disabledTools are not served");

    let mut client = RawClient::new(format!("{base}/api/live/mcp"));
    client.initialize().await.unwrap();
    let answer = client.call_tool("echo", json!({"text": "mcp"})).await.unwrap();
    assert_eq!(answer.text().as_deref(), Some("mcp"));

    let live_doc = http
        .get(&format!("{base}/api/live/openapi.json"), &[])
        .await
        .json();
    assert!(live_doc["paths"]["/echo"]["post"].is_object());
    assert!(live_doc["paths"]["/increment"].is_null());
    assert_eq!(live_doc["servers"][0]["url"], "/api/live");
    let combined = http.get(&format!("{base}/openapi.json"), &[]).await.json();
    assert!(combined["paths"]["/api/live/echo"]["post"].is_object());
    assert_eq!(
        combined["paths"]["/api/live/echo"]["post"]["tags"],
        json!(["live"])
    );
    assert!(
        http.get(&format!("{base}/api/live/docs"), &[])
            .await
            .status
            .is_success()
    );

    // /health lists both; with one serving, the gateway as a whole is up.
    let health = http.get(&format!("{base}/health"), &[]).await;
    assert_eq!(health.status, 200, "{health:?}");
    let health = health.json();
    let names = common::upstream_names(&health);
    assert_eq!(names, ["dead", "live"]);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_mixes_all_three_types_and_a_broken_server_stops_none() {
    if !mcp_reconnect_testkit::external::python_sdk_available() {
        return;
    }
    let remote = TestUpstream::start().await.unwrap();
    let legacy = mcp_reconnect_testkit::external::PythonServer::start_sse()
        .await
        .expect("the SSE server starts");
    let path = std::env::temp_dir().join(format!("mcp-gateway-mixed-{}.json", std::process::id()));
    let config = json!({"mcpServers": {
        "remote": {"type": "streamable-http", "url": remote.url()},
        "legacy": {"type": "sse", "url": legacy.url()},
        "local": {"command": env!("CARGO_BIN_EXE_mcp-gateway"), "args": ["test-server", "--tag", "local"]},
        "missing": {"command": "/nonexistent/mcp-server"},
        "gone": {"url": dead_url().await.replace("/mcp", "/sse")},
    }});
    std::fs::write(&path, config.to_string()).unwrap();
    let gateway = gateway(&["--config", path.to_str().unwrap()], &FAST_ENV).await;
    let _ = std::fs::remove_file(&path);
    let (base, http) = (gateway.url(), Http::default());
    for name in ["remote", "legacy", "local"] {
        http.assert_echo(&format!("{base}/{name}/echo"), &[], name).await;
        let mut client = RawClient::new(format!("{base}/{name}/mcp"));
        client.initialize().await.unwrap();
        let answer = client.call_tool("echo", json!({"text": "mcp"})).await.unwrap();
        assert_eq!(answer.text().as_deref(), Some("mcp"), "{name}");
    }
    for name in ["missing", "gone"] {
        let answer = http
            .post_json(&format!("{base}/{name}/echo"), &[], &json!({"text": "x"}))
            .await;
        assert!(answer.status.is_server_error(), "{name}: {answer:?}");
    }
    let combined = http.get(&format!("{base}/openapi.json"), &[]).await.json();
    for name in ["remote", "legacy", "local"] {
        assert!(
            combined["paths"][format!("/{name}/echo")]["post"].is_object(),
            "{name}"
        );
    }
    let health = http.get(&format!("{base}/health"), &[]).await.json();
    let names = common::upstream_names(&health);
    assert_eq!(names.len(), 5, "{health}");
    let warnings = health.to_string();
    assert!(
        warnings.contains("/nonexistent/mcp-server"),
        "why it did not start: {health}"
    );
    gateway.shutdown().await;
}
