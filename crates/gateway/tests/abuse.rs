//! What one caller with the key can do to everyone else, against the
//! official Python SDK server (`interop/python_server.py`, a session limit of
//! its own): opening sessions until the upstream is full must not take REST,
//! `/health` or established sessions down, and sessions the gateway forgets
//! are ended upstream so the limit is never reached through it.

mod common;

use std::time::Duration;

use common::{Http, assert_mcp_echo, gateway, upstream_and_gateway};
use http::StatusCode;
use mcp_reconnect_circuit::CircuitState;
use mcp_reconnect_gateway::Gateway;
use mcp_reconnect_testkit::RawClient;
use mcp_reconnect_testkit::external::{PythonServer, python_sdk_available};
use serde_json::json;

async fn warmed(gateway: &Gateway) {
    let catalog = gateway.clients()[0].tools(None).await;
    assert!(
        catalog.fetched.is_some(),
        "the gateway lists the tools: {:?}",
        catalog.error
    );
}

fn state(gateway: &Gateway) -> CircuitState {
    gateway.clients()[0].upstream().status.state()
}

async fn rest_echo(gateway: &Gateway, text: &str) -> (StatusCode, serde_json::Value) {
    let answer = Http::default()
        .post_json(&format!("{}/echo", gateway.url()), &[], &json!({"text": text}))
        .await;
    let body = serde_json::from_slice(&answer.body).unwrap_or_default();
    (answer.status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_upstream_refuses_new_sessions_and_takes_nothing_else_down() {
    if !python_sdk_available() {
        return;
    }
    const CAP: usize = 6;
    let server = PythonServer::start(CAP)
        .await
        .expect("the Python SDK server starts");
    let gateway = gateway(&["streamablehttp", &server.url()], &[]).await;
    warmed(&gateway).await;
    let mcp = format!("{}/mcp", gateway.url());
    let mut established = RawClient::new(&mcp);
    assert_eq!(established.initialize().await.unwrap().status, StatusCode::OK);

    let (mut opened, mut refused) = (0, 0);
    for _ in 0..20 {
        let mut client = RawClient::new(&mcp);
        let answer = client.initialize().await.expect("an answer");
        match answer.status {
            StatusCode::OK => opened += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                let error = answer.message().expect("the server's JSON-RPC error");
                assert!(
                    error["error"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("Too many"),
                    "{error}"
                );
                refused += 1;
            }
            other => panic!("unexpected {other}: {answer:?}"),
        }
    }
    println!("[abuse] upstream limit {CAP}: {opened} opened, {refused} refused by the server");
    assert_eq!(
        opened,
        CAP - 2,
        "the gateway's own session and one client's took two"
    );
    assert!(
        matches!(state(&gateway), CircuitState::Healthy | CircuitState::Degraded),
        "{:?}",
        state(&gateway)
    );

    // Everyone else goes on: REST, /health, the established session.
    assert_eq!(rest_echo(&gateway, "rest").await, (StatusCode::OK, json!("rest")));
    let health = Http::default()
        .get(&format!("{}/health", gateway.url()), &[])
        .await;
    assert_eq!(health.status, StatusCode::OK, "{health:?}");
    assert_mcp_echo(&mut established, "still").await;
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_the_gateway_forgets_end_upstream_so_the_limit_is_never_reached() {
    if !python_sdk_available() {
        return;
    }
    const CAP: usize = 8;
    const SESSIONS: usize = 40;
    let server = PythonServer::start(CAP)
        .await
        .expect("the Python SDK server starts");
    let gateway = gateway(&["streamablehttp", &server.url()], &[("MCPO_SESSION_MAX", "4")]).await;
    warmed(&gateway).await;
    let mcp = format!("{}/mcp", gateway.url());
    let mut waits = 0;
    let mut last = None;
    for _ in 0..SESSIONS {
        let mut client = RawClient::new(&mcp);
        // The upstream DELETEs of evicted sessions run in the background: a
        // new session may have to wait for one (bounded).
        let mut status = StatusCode::SERVICE_UNAVAILABLE;
        for _ in 0..100 {
            status = client.initialize().await.expect("an answer").status;
            if status != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            waits += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(status, StatusCode::OK, "a new session opens");
        last = Some(client);
    }
    println!("[abuse] {SESSIONS} sessions through a gateway keeping 4, upstream limit {CAP}: {waits} waits");
    // The gateway's own session was never the one evicted: REST needs no new one.
    let before = gateway.clients()[0].upstream().status.snapshot();
    assert_eq!(rest_echo(&gateway, "own").await, (StatusCode::OK, json!("own")));
    let mut newest = last.expect("sessions");
    assert_mcp_echo(&mut newest, "newest").await;
    // Room is left upstream: a client straight at the server gets a session.
    let mut direct = RawClient::new(server.url());
    assert_eq!(direct.initialize().await.unwrap().status, StatusCode::OK);
    let after = gateway.clients()[0].upstream().status.snapshot();
    assert_eq!(before.reconnects_succeeded, after.reconnects_succeeded);
    gateway.shutdown().await;
}

/// A loopback peer that takes connections and never answers.
async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let holding = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (format!("http://{addr}/mcp"), holding)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_never_answers_does_not_look_healthy() {
    let (url, _hole) = black_hole().await;
    let env = [
        ("MCPO_CONNECTION_TIMEOUT", "1"),
        ("MCPO_RECONNECT_MAX_ATTEMPTS", "2"),
    ];
    let gateway = gateway(&["streamablehttp", &url], &env).await;
    let http = Http::default();
    // Callers do not queue behind the gateway's pending handshake, each for a deadline of its own.
    let started = tokio::time::Instant::now();
    let calls: Vec<_> = (0..4)
        .map(|n| {
            let (http, url) = (http.clone(), format!("{}/echo", gateway.url()));
            tokio::spawn(async move {
                http.post_json(&url, &[], &json!({"text": n.to_string()}))
                    .await
                    .status
            })
        })
        .collect();
    for call in calls {
        let status = call.await.unwrap();
        assert!(status.is_server_error(), "{status}");
    }
    let took = started.elapsed();
    println!("[abuse] 4 REST calls to a black hole answered within {took:?} (deadline 1 s)");
    assert!(took < Duration::from_secs(20), "{took:?}");
    let mut health = StatusCode::OK;
    for _ in 0..200 {
        health = http.get(&format!("{}/health", gateway.url()), &[]).await.status;
        if health != StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        health,
        StatusCode::SERVICE_UNAVAILABLE,
        "a black hole is not healthy"
    );
    let snapshot = gateway.clients()[0].upstream().status.snapshot();
    assert!(
        snapshot.reconnect_attempts >= 1 && snapshot.reconnects_succeeded == 0,
        "{snapshot:?}"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_hangs_until_its_deadline_counts_as_a_timeout() {
    use mcp_reconnect_core::FailureClass;
    use mcp_reconnect_testkit::{Fault, Rule};

    let (upstream, gateway) = upstream_and_gateway(&[], &[("MCPO_CONNECTION_TIMEOUT", "1")]).await;
    warmed(&gateway).await;
    upstream.proxy.push(Rule::tool("slow", Fault::Hang).once());
    let mut client = RawClient::new(format!("{}/mcp", gateway.url()));
    assert_eq!(client.initialize().await.unwrap().status, StatusCode::OK);
    let hung = client.call_tool("slow", json!({"ms": 1})).await.unwrap();
    assert_eq!(hung.status, StatusCode::GATEWAY_TIMEOUT, "{hung:?}");
    let snapshot = gateway.clients()[0].upstream().status.snapshot();
    let timeouts = snapshot
        .requests
        .iter()
        .find(|(class, _)| *class == Some(FailureClass::Timeout))
        .map_or(0, |(_, n)| *n);
    assert_eq!(
        timeouts, 1,
        "the circuit saw the timeout: {:?}",
        snapshot.requests
    );
    let metrics = Http::default()
        .get(&format!("{}/metrics", gateway.url()), &[])
        .await
        .json();
    assert_eq!(
        metrics["connection"]["requests"]["timeout"], 1,
        "{}",
        metrics["connection"]["requests"]
    );
    // The server answers its probe: one hung call does not take the upstream down.
    assert_mcp_echo(&mut client, "next").await;
    gateway.shutdown().await;
}

/// A malicious MCP server: it answers the handshake and `ping`, and lists
/// `pages` pages of `per_page` tools, each with a schema of about `schema`
/// bytes, forever pointing at the next page.
async fn huge_catalog(pages: usize, per_page: usize, schema: usize) -> (String, tokio::task::JoinHandle<()>) {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper_util::rt::TokioIo;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let filler = "x".repeat(schema);
    let serving = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let filler = filler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
                    let filler = filler.clone();
                    async move {
                        let message = common::request_message(request).await;
                        let id = message["id"].clone();
                        let result = match message["method"].as_str() {
                            Some("initialize") => {
                                json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                                "serverInfo": {"name": "huge", "version": "0"}})
                            }
                            Some("tools/list") => {
                                let page: usize = message["params"]["cursor"]
                                    .as_str()
                                    .and_then(|c| c.parse().ok())
                                    .unwrap_or(0);
                                let tools: Vec<_> = (0..per_page)
                                    .map(|n| json!({"name": format!("t{page}_{n}"), "description": "d",
                                        "inputSchema": {"type": "object", "properties": {"a": {"type": "string", "description": filler}}}}))
                                    .collect();
                                let next = (page + 1 < pages).then(|| (page + 1).to_string());
                                json!({"tools": tools, "nextCursor": next})
                            }
                            _ if id.is_null() => {
                                return Ok::<_, std::convert::Infallible>(
                                    http::Response::builder()
                                        .status(202)
                                        .body(Full::new(Bytes::new()))
                                        .expect("test setup"),
                                );
                            }
                            _ => json!({}),
                        };
                        let answer = json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string();
                        Ok(http::Response::builder()
                            .header("content-type", "application/json")
                            .header("mcp-session-id", "huge-session")
                            .body(Full::new(Bytes::from(answer)))
                            .expect("test setup"))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}/mcp"), serving)
}

fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_catalog_is_cut_at_its_budget_and_openapi_is_built_once() {
    // 8 pages of 1000 tools with 4 KiB schemas: about 33 MB of tool lists.
    let (url, _server) = huge_catalog(8, 1000, 4096).await;
    let before = rss_mib();
    let gateway = gateway(&["streamablehttp", &url], &[]).await;
    let catalog = gateway.clients()[0].tools(None).await;
    assert!(catalog.fetched.is_some(), "{:?}", catalog.error);
    let truncated = catalog.truncated.clone().expect("cut short");
    assert!(truncated.contains("bytes"), "{truncated}");
    assert!(
        !catalog.tools.is_empty() && catalog.tools.len() < 8000,
        "{} tools kept",
        catalog.tools.len()
    );
    let http = Http::default();
    let first = http.get(&format!("{}/openapi.json", gateway.url()), &[]).await;
    assert_eq!(first.status, StatusCode::OK);
    let mut documents = Vec::new();
    for _ in 0..4 {
        let again = http.get(&format!("{}/openapi.json", gateway.url()), &[]).await;
        documents.push(again.body.len());
        assert_eq!(again.body, first.body, "served from the cache");
    }
    let grown = rss_mib().saturating_sub(before);
    println!(
        "[abuse] huge catalog: {} tools kept ({truncated}); /openapi.json {} KiB, 5 GETs; RSS +{grown} MiB",
        catalog.tools.len(),
        first.body.len() / 1024
    );
    assert!(grown < 1024, "RSS grew {grown} MiB");
    let health = http.get(&format!("{}/health", gateway.url()), &[]).await;
    assert_eq!(health.status, StatusCode::OK, "the tools that fit are served");
    let said: serde_json::Value = serde_json::from_slice(&health.body).expect("health JSON");
    let warning = said["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.contains("tool list cut short"), "{said}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn one_tools_list_page_over_the_answer_limit_serves_no_tools_and_says_why() {
    // One page of 5000 tools with 4 KiB schemas: about 20 MB, over the
    // 16 MiB an answer may hold. The fetch ends without an out-of-memory
    // and without failing every call: the catalog is empty and says why.
    let (url, _server) = huge_catalog(1, 5000, 4096).await;
    let gateway = gateway(&["streamablehttp", &url], &[]).await;
    let catalog = gateway.clients()[0].tools(None).await;
    assert!(catalog.fetched.is_some(), "{:?}", catalog.error);
    let truncated = catalog.truncated.clone().expect("cut short");
    assert!(truncated.contains("page is over"), "{truncated}");
    let http = Http::default();
    let openapi = format!("{}/openapi.json", gateway.url());
    let (first, second) = tokio::join!(http.get(&openapi, &[]), http.get(&openapi, &[]));
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body, second.body, "one build serves both");
    let health = http.get(&format!("{}/health", gateway.url()), &[]).await;
    let said: serde_json::Value = serde_json::from_slice(&health.body).expect("health JSON");
    let warning = said["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("page is over") && warning.contains("0 tools served"),
        "{said}"
    );
    gateway.shutdown().await;
}
