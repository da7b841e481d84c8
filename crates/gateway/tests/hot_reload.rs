//! `--hot-reload` under load: the config file is rewritten to add, remove
//! and change servers while calls run. No call of the unchanged server fails
//! and its session is kept; `/health` and `/openapi.json` show the new set; a
//! broken file changes nothing and `/health` says why.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Http, gateway, slow_call_in_flight};
use mcp_reconnect_testkit::{RawClient, TestUpstream};
use serde_json::{Value, json};

/// The upstreams `/health` lists, sorted (a config file's order is not kept).
fn names(health: &Value) -> Vec<String> {
    let mut names = common::upstream_names(health);
    names.sort();
    names
}

async fn eventually_health(http: &Http, base: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let health = http.get(&format!("{base}/health"), &[]).await.json();
        if done(&health) {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = http.get(&format!("{base}/health"), &[]).await.json();
    panic!("{what}: not within 30 s: {health}");
}

/// Writes a config of `servers` (Streamable HTTP, by name) whole: a new
/// file renamed over the old, as editors do.
fn write(path: &std::path::Path, servers: &[(&str, &TestUpstream)]) {
    let servers: serde_json::Map<String, Value> = servers
        .iter()
        .map(|(name, upstream)| {
            (
                name.to_string(),
                json!({"type": "streamable-http", "url": upstream.url()}),
            )
        })
        .collect();
    let next = path.with_extension("next");
    std::fs::write(&next, json!({ "mcpServers": servers }).to_string()).expect("write");
    std::fs::rename(&next, path).expect("rename");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_config_applies_without_touching_unchanged_servers() {
    let (keep, drop_me, old, new, added) = (
        TestUpstream::start().await.expect("an upstream"),
        TestUpstream::start().await.expect("an upstream"),
        TestUpstream::start().await.expect("an upstream"),
        TestUpstream::start().await.expect("an upstream"),
        TestUpstream::start().await.expect("an upstream"),
    );
    let dir = std::env::temp_dir().join(format!("mcp-gateway-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a dir");
    let path = dir.join("servers.json");
    write(&path, &[("keep", &keep), ("drop", &drop_me), ("change", &old)]);
    let gateway = gateway(&["--config", path.to_str().expect("a path"), "--hot-reload"], &[]).await;
    let (base, http) = (gateway.url(), Http::default());
    let mut client = RawClient::new(format!("{base}/keep/mcp"));
    assert_eq!(client.initialize().await.expect("initialize").status, 200);
    let session = client.session().map(str::to_owned);
    let echoed = client
        .call_tool("echo", json!({"text": "before"}))
        .await
        .expect("a call");
    assert_eq!(echoed.text().as_deref(), Some("before"));

    // Calls of the unchanged server run all along, on its /mcp session and on REST.
    let running = Arc::new(AtomicBool::new(true));
    let (ok, failed) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(std::sync::Mutex::new(Vec::new())),
    );
    let load = {
        let (running, ok, failed, base) = (
            Arc::clone(&running),
            Arc::clone(&ok),
            Arc::clone(&failed),
            base.clone(),
        );
        let mut client = client.clone();
        tokio::spawn(async move {
            let http = Http::default();
            let mut n = 0;
            while running.load(Ordering::Relaxed) {
                n += 1;
                let text = format!("call {n}");
                let mcp = client.call_tool("echo", json!({"text": text})).await;
                let rest = http
                    .post_json(&format!("{base}/keep/echo"), &[], &json!({"text": text}))
                    .await;
                match mcp {
                    Ok(answer) if answer.text().as_deref() == Some(text.as_str()) => {}
                    other => failed.lock().expect("the lock").push(format!("/mcp: {other:?}")),
                }
                if rest.status == 200 && rest.json() == json!(text) {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.lock().expect("the lock").push(format!("REST: {rest:?}"));
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let kept_before = gateway
        .clients()
        .into_iter()
        .find(|client| client.upstream().spec.name == "keep")
        .expect("keep is served");
    // A call in flight on the server about to be removed: it drains.
    let draining = slow_call_in_flight(&http, &format!("{base}/drop"), &drop_me.counters(), 1500).await;

    // Add one, remove one, change one.
    write(&path, &[("keep", &keep), ("change", &new), ("added", &added)]);
    // The added and replaced servers connect in the background (warm-up):
    // wait for the new set, and for it to be connected.
    let health = eventually_health(&http, &base, "the new set in /health", |health| {
        names(health) == ["added", "change", "keep"] && health["status"] == "healthy"
    })
    .await;
    assert_eq!(health["status"], "healthy", "{health}");
    http.assert_echo(&format!("{base}/added/echo"), &[], "new").await;
    let gone = http
        .post_json(&format!("{base}/drop/echo"), &[], &json!({"text": "x"}))
        .await;
    assert_eq!(gone.status, 404, "a removed server is no longer served");
    let before = new.counters().calls("echo");
    let changed = http
        .post_json(&format!("{base}/change/echo"), &[], &json!({"text": "c"}))
        .await;
    assert_eq!(changed.status, 200);
    assert_eq!(
        new.counters().calls("echo"),
        before + 1,
        "a changed server is the new one"
    );
    let document = http.get(&format!("{base}/openapi.json"), &[]).await.json();
    assert!(document["paths"]["/added/echo"]["post"].is_object());
    assert!(document["paths"]["/drop/echo"].is_null());
    let drained = draining.await.expect("the call");
    assert_eq!(
        (drained.status.as_u16(), drained.json()),
        (200, json!("slept 1500 ms")),
        "in-flight calls of a removed server finish"
    );

    // A broken file: nothing changes, and /health says why.
    std::fs::write(&path, "{ not json").expect("write");
    let health = eventually_health(&http, &base, "the refusal in /health", |health| {
        health.to_string().contains("not applied")
    })
    .await;
    assert_eq!(names(&health), ["added", "change", "keep"], "{health}");
    let still = http
        .post_json(&format!("{base}/added/echo"), &[], &json!({"text": "still"}))
        .await;
    assert_eq!(still.status, 200);

    running.store(false, Ordering::Relaxed);
    load.await.expect("the load task");
    let failed = failed.lock().expect("the lock").clone();
    println!(
        "[reload] {} calls of the unchanged server during the reloads, {} failed",
        ok.load(Ordering::Relaxed),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "no call of an unchanged server fails: {failed:?}"
    );
    assert!(ok.load(Ordering::Relaxed) > 0);
    let echoed = client
        .call_tool("echo", json!({"text": "after"}))
        .await
        .expect("a call");
    assert_eq!(echoed.text().as_deref(), Some("after"));
    assert_eq!(client.session().map(str::to_owned), session, "the same session");
    let kept_after = gateway
        .clients()
        .into_iter()
        .find(|client| client.upstream().spec.name == "keep")
        .expect("keep is served");
    assert!(
        Arc::ptr_eq(&kept_before, &kept_after),
        "the unchanged server kept its stack, circuit and sessions"
    );
    gateway.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hot_reload_needs_a_config_file() {
    use clap::Parser;
    let cli = mcp_reconnect_gateway::Cli::try_parse_from([
        "mcp-gateway",
        "--hot-reload",
        "streamablehttp",
        "http://a/mcp",
    ])
    .expect("arguments parse");
    let error = mcp_reconnect_gateway::GatewayConfig::from_args(&cli.serve, |_| None)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("--config"), "{error}");
}
