//! Outages in the topology that matters: client → gateway → reverse proxy
//! (real nginx, which stays up and answers `502` while the server is down) →
//! MCP server (the testkit's rmcp server, and the official Python SDK
//! server). Each scenario paces tool calls (20 a second per client, at most
//! 4 in flight; `echo`, `add`, the non-idempotent `increment` with a key of
//! its own per call, and a tool that answers `isError`) from clients of both
//! protocol eras at once — a legacy session through `/mcp`, REST, and
//! stateless 2026-07-28 calls — and, beside them in the same run, a legacy
//! client straight at the server's address with no gateway.
//!
//! Asserted for every gateway client: every safe call succeeds; `increment`
//! never runs twice and each one that failed got `-32051` ("may have run");
//! the session is never re-opened; the failures are bounded by the calls in
//! flight when the outage began. Printed: the failures of the direct client
//! in the same scenario, and the ratio.
//!
//! `cargo test -p mcp-reconnect --test outage -- --nocapture`

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_gateway::{Cli, Gateway, GatewayConfig};
use mcp_reconnect_testkit::external::{self, PythonServer, ReverseProxy};
use mcp_reconnect_testkit::jsonrpc::{self, McpResponse};
use mcp_reconnect_testkit::{Fault, McpServer, RawClient, Rule, ServerOptions, TestUpstream};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

/// The gateway's clients in every scenario: both protocol eras, both surfaces.
const KINDS: [Kind; 3] = [Kind::Session, Kind::Rest, Kind::Stateless];

/// Scenarios load the machine: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());
/// Calls a second per client, and at most this many in flight.
const PACE: Duration = Duration::from_millis(50);
const IN_FLIGHT: usize = 4;
/// The most `increment`s an outage may cost one client: those in flight when
/// it began, and those sent before the circuit saw it.
const OUTAGE_BOUND: u32 = 2 * IN_FLIGHT as u32;

/// How a client reaches the tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A legacy session through the gateway's `/mcp`.
    Session,
    /// mcpo's REST routes.
    Rest,
    /// 2026-07-28 stateless calls through `/mcp`.
    Stateless,
    /// A legacy session straight at the server (through the proxy), no gateway.
    Direct,
}

/// What one call came to.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Ok,
    /// `-32051`: it may have run and was not repeated (only `increment`).
    MaybeRun,
    Failed(String),
}

#[derive(Debug, Default)]
struct Tally {
    ok: u32,
    maybe_run: u32,
    failed: Vec<(String, String)>,
    /// Keys of the `increment` calls that succeeded, and of those that failed.
    incremented: Vec<String>,
    not_incremented: Vec<String>,
    reopened: u32,
}

impl Tally {
    fn total_failed(&self) -> u32 {
        self.maybe_run + self.failed.len() as u32
    }
}

/// Names of the server's tools.
#[derive(Clone, Copy)]
struct Tools {
    fail: &'static str,
}

const RMCP_TOOLS: Tools = Tools {
    fail: "fail_business",
};
const PYTHON_TOOLS: Tools = Tools { fail: "fail" };

struct Caller {
    kind: Kind,
    http: Client<HttpConnector, Full<Bytes>>,
    base: String,
    session: Mutex<RawClient>,
    reopened: AtomicU32,
    tools: Tools,
}

impl Caller {
    async fn new(kind: Kind, base: &str, tools: Tools) -> Arc<Caller> {
        let mcp = match kind {
            Kind::Direct => base.to_owned(),
            _ => format!("{base}/mcp"),
        };
        let mut session = RawClient::new(mcp);
        if matches!(kind, Kind::Session | Kind::Direct) {
            let answer = session.initialize().await.expect("initialize");
            assert_eq!(answer.status, StatusCode::OK, "{kind:?} initialize: {answer:?}");
        }
        Arc::new(Caller {
            kind,
            http: Client::builder(TokioExecutor::new()).build_http(),
            base: base.to_owned(),
            session: Mutex::new(session),
            reopened: AtomicU32::new(0),
            tools,
        })
    }

    /// Call number `n`: which tool, and with what.
    fn plan(&self, n: u32) -> (String, Value) {
        let key = format!("{:?}-{n}", self.kind);
        match (n % 4, self.kind) {
            (0, _) => ("echo".into(), json!({"text": key})),
            (1, _) => ("add".into(), json!({"a": n, "b": 1})),
            (2, _) => ("increment".into(), json!({"key": key})),
            // REST answers a tool error as an HTTP error: it is covered elsewhere.
            (_, Kind::Rest) => ("echo".into(), json!({"text": key})),
            _ => (self.tools.fail.into(), json!({})),
        }
    }

    async fn call(&self, n: u32) -> (String, Value, Outcome) {
        let (tool, arguments) = self.plan(n);
        let outcome = match self.kind {
            Kind::Rest => self.rest(&tool, &arguments).await,
            Kind::Stateless => self.stateless(n, &tool, &arguments).await,
            Kind::Session | Kind::Direct => self.in_session(n, &tool, &arguments).await,
        };
        (tool, arguments, outcome)
    }

    async fn in_session(&self, n: u32, tool: &str, arguments: &Value) -> Outcome {
        let body = jsonrpc::tools_call(u64::from(n) + 10, tool, arguments.clone());
        let sent = self.session.lock().await.session().map(str::to_owned);
        let url = self.session.lock().await.url().to_owned();
        let Ok(request) = jsonrpc::jsonrpc_request(&url, sent.as_deref(), &body) else {
            return Outcome::Failed("request".into());
        };
        let answer = match self.http.request(request).await {
            Ok(response) => match McpResponse::read(response).await {
                Ok(answer) => answer,
                Err(error) => return cut_off(&error),
            },
            Err(error) => return Outcome::Failed(format!("transport: {error}")),
        };
        if answer.status == StatusCode::NOT_FOUND {
            // The session is gone: a client must open a new one (once).
            let mut session = self.session.lock().await;
            if session.session().map(str::to_owned) == sent {
                self.reopened.fetch_add(1, Ordering::Relaxed);
                session.set_session(None);
                let _ = session.initialize().await;
            }
            return Outcome::Failed("404: the session was lost".into());
        }
        judge(&answer, tool == self.tools.fail)
    }

    async fn stateless(&self, n: u32, tool: &str, arguments: &Value) -> Outcome {
        let mut body = jsonrpc::tools_call(u64::from(n) + 10, tool, arguments.clone());
        // A 2026-07-28 request carries its era in every request.
        body["params"]["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        });
        let Ok(mut request) = jsonrpc::jsonrpc_request(&format!("{}/mcp", self.base), None, &body) else {
            return Outcome::Failed("request".into());
        };
        let headers = request.headers_mut();
        headers.insert("mcp-protocol-version", HeaderValue::from_static("2026-07-28"));
        headers.insert("mcp-method", HeaderValue::from_static("tools/call"));
        if let Ok(name) = HeaderValue::from_str(tool) {
            headers.insert("mcp-name", name);
        }
        match self.http.request(request).await {
            Ok(response) => match McpResponse::read(response).await {
                Ok(answer) => judge(&answer, tool == self.tools.fail),
                Err(error) => cut_off(&error),
            },
            Err(error) => Outcome::Failed(format!("transport: {error}")),
        }
    }

    async fn rest(&self, tool: &str, arguments: &Value) -> Outcome {
        let request = http::Request::post(format!("{}/{tool}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(arguments.to_string())))
            .expect("request");
        let response = match self.http.request(request).await {
            Ok(response) => response,
            Err(error) => return Outcome::Failed(format!("transport: {error}")),
        };
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body).into_owned();
        if status == StatusCode::OK {
            Outcome::Ok
        } else if text.contains("may have run") {
            Outcome::MaybeRun
        } else {
            Outcome::Failed(format!("{status}: {text:.300}"))
        }
    }
}

/// An answer whose head came and whose stream then broke: the server died
/// while the call was in flight, after it began answering. The gateway has
/// passed the stream on and cannot take the head back, so the client sees
/// the break; the call may have run, as for `-32051`.
fn cut_off(error: &dyn std::fmt::Display) -> Outcome {
    println!("[outage]   an answer was cut off after its head: {error}");
    Outcome::MaybeRun
}

/// Whether a tool call answer is the success it should be (`is_error_tool`:
/// the tool's own `isError` is its success).
fn judge(answer: &McpResponse, is_error_tool: bool) -> Outcome {
    let Some(message) = answer.message() else {
        return Outcome::Failed(format!(
            "{}: {:.300}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ));
    };
    if let Some(error) = message.get("error") {
        if error["code"] == -32051 {
            return Outcome::MaybeRun;
        }
        return Outcome::Failed(format!("{}: {error}", answer.status));
    }
    if answer.status == StatusCode::OK && answer.is_tool_error() == is_error_tool {
        Outcome::Ok
    } else {
        Outcome::Failed(format!("{}: {message}", answer.status))
    }
}

/// Paces calls of `caller` until `until`: one every [`PACE`], at most [`IN_FLIGHT`] at once.
async fn drive(caller: Arc<Caller>, until: Instant) -> Tally {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut calls = Vec::new();
    let mut n = 0;
    let mut next = Instant::now();
    while Instant::now() < until {
        let permit = Arc::clone(&slots).acquire_owned().await.expect("open");
        let caller = Arc::clone(&caller);
        calls.push(tokio::spawn(async move {
            let result = caller.call(n).await;
            drop(permit);
            result
        }));
        n += 1;
        next += PACE;
        tokio::time::sleep_until(next).await;
    }
    let mut tally = Tally::default();
    for call in calls {
        let (tool, arguments, outcome) = tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .expect("every call ends")
            .expect("no panic");
        let key = arguments["key"].as_str().map(str::to_owned);
        match (&outcome, key) {
            (Outcome::Ok, Some(key)) => tally.incremented.push(key),
            (_, Some(key)) => tally.not_incremented.push(key),
            _ => {}
        }
        match outcome {
            Outcome::Ok => tally.ok += 1,
            Outcome::MaybeRun => tally.maybe_run += 1,
            Outcome::Failed(why) => tally.failed.push((tool, why)),
        }
    }
    tally.reopened = caller.reopened.load(Ordering::Relaxed);
    tally
}

fn gateway_config(upstream: &str, env: &[(&str, &str)]) -> GatewayConfig {
    let cli = Cli::try_parse_from([
        "mcp-gateway",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "streamablehttp",
        upstream,
    ])
    .expect("cli");
    let env: HashMap<&str, &str> = env.iter().copied().collect();
    GatewayConfig::from_args(&cli.serve, |name| env.get(name).map(|v| v.to_string())).expect("config")
}

async fn gateway(upstream: &str) -> Gateway {
    let gateway = Gateway::start(gateway_config(upstream, &[]))
        .await
        .expect("the gateway starts");
    // The retry layer learns which tools are safe from the warm-up's tool list.
    let catalog = gateway.clients()[0].tools(None).await;
    assert!(
        catalog.fetched.is_some(),
        "the tools are listed: {:?}",
        catalog.error
    );
    gateway
}

/// The outage itself, run while the clients call.
type Outage = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Runs `kinds` through `gateway` (and a direct client at `direct`) for
/// `seconds`, with `outage` starting after 1.5 s; checks and prints.
async fn scenario(
    name: &str,
    gateway: &Gateway,
    direct: &str,
    tools: Tools,
    outage: Outage,
    increments: impl Fn(&str) -> usize,
    max_maybe_run: u32,
) {
    let seconds = 9;
    let kinds = &KINDS;
    let mut callers = Vec::new();
    for &kind in kinds {
        callers.push(Caller::new(kind, &gateway.url(), tools).await);
    }
    let direct = Caller::new(Kind::Direct, direct, tools).await;
    let sessions_before: Vec<Option<String>> = {
        let mut ids = Vec::new();
        for caller in &callers {
            ids.push(caller.session.lock().await.session().map(str::to_owned));
        }
        ids
    };
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut runs = Vec::new();
    for caller in callers.iter().chain(std::iter::once(&direct)) {
        runs.push(tokio::spawn(drive(Arc::clone(caller), until)));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    outage.await;
    let mut tallies = Vec::new();
    for run in runs {
        tallies.push(run.await.expect("no panic"));
    }
    let direct_tally = tallies.pop().expect("the direct client");
    let status = gateway.clients()[0].upstream().status.snapshot();
    // What waited is on /metrics: nothing still waits, no wait ran out.
    let metrics = get_json(&format!("{}/metrics", gateway.url())).await;
    let held = &metrics["connection"]["held"];
    assert_eq!(
        (held["now"].as_u64(), held["expired"].as_u64()),
        (Some(0), Some(0)),
        "{name}: {held}"
    );
    assert_eq!(held["total"].as_u64(), Some(status.held_total), "{name}: {held}");
    println!("[outage] {name}");
    let mut through = 0;
    for ((kind, tally), session_before) in kinds.iter().zip(&tallies).zip(&sessions_before) {
        println!(
            "[outage]   {kind:?}: {} ok, {} may-have-run (-32051), {} failed, {} session re-opens",
            tally.ok,
            tally.maybe_run,
            tally.failed.len(),
            tally.reopened
        );
        through += tally.total_failed();
        assert!(
            tally.failed.is_empty(),
            "{name}, {kind:?}: {:#?}",
            &tally.failed[..tally.failed.len().min(5)]
        );
        assert_eq!(tally.reopened, 0, "{name}, {kind:?}: the session was kept");
        // The calls in flight when the outage began, and those sent before the circuit saw it.
        assert!(
            tally.maybe_run <= max_maybe_run,
            "{name}, {kind:?}: {} may have run",
            tally.maybe_run
        );
        for key in &tally.incremented {
            assert_eq!(increments(key), 1, "{name}: increment {key} ran once");
        }
        for key in &tally.not_incremented {
            assert!(increments(key) <= 1, "{name}: increment {key} never ran twice");
        }
        let session_after = callers.iter().find(|caller| caller.kind == *kind).map(|caller| {
            caller
                .session
                .try_lock()
                .ok()
                .and_then(|s| s.session().map(str::to_owned))
        });
        assert_eq!(
            session_after.flatten(),
            *session_before,
            "{name}, {kind:?}: the same session id"
        );
    }
    let direct_failed = direct_tally.total_failed();
    let per_client = f64::from(through) / kinds.len() as f64;
    println!(
        "[outage]   no gateway (same scenario): {} ok, {direct_failed} failed, {} session re-opens",
        direct_tally.ok, direct_tally.reopened
    );
    let fewer = if direct_failed == 0 {
        0.0
    } else {
        100.0 * (1.0 - per_client / f64::from(direct_failed))
    };
    println!(
        "[outage]   failed calls per gateway client {per_client:.1} vs {direct_failed} direct: {fewer:.0} % fewer; circuit: {} held, {} released, {} expired, {} shed, {} probes",
        status.held_total,
        status.held_released,
        status.held_expired,
        status.held_shed,
        status.reconnect_attempts
    );
}

async fn get_json(url: &str) -> Value {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = http::Request::get(url).body(Full::default()).expect("request");
    let response = client.request(request).await.expect("an answer");
    let body = response.into_body().collect().await.expect("a body").to_bytes();
    serde_json::from_slice(&body).expect("JSON")
}

/// The rmcp server stopped (its port refuses, its sessions are gone) and
/// started again on the same port after `down`.
fn stopped_for(server: &Arc<Mutex<McpServer>>, down: Duration) -> Outage {
    let server = Arc::clone(server);
    Box::pin(async move {
        let mut server = server.lock().await;
        server.stop().await;
        tokio::time::sleep(down).await;
        server.start_again().await.expect("the server starts again");
    })
}

fn nginx_available() -> bool {
    external::available(&["nginx"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_in_front_of_a_killed_and_restarted_rmcp_server() {
    if !nginx_available() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let server = Arc::new(Mutex::new(
        McpServer::start(ServerOptions::default()).await.unwrap(),
    ));
    let addr = server.lock().await.addr();
    let counters = server.lock().await.counters();
    let proxy = ReverseProxy::start(addr).await.unwrap();
    let gateway = gateway(&proxy.mcp_url()).await;
    let outage = stopped_for(&server, Duration::from_secs(3));
    scenario(
        "nginx → rmcp server, SIGKILL-like stop + restart after 3 s",
        &gateway,
        &proxy.mcp_url(),
        RMCP_TOOLS,
        outage,
        |key| counters.increments(key) as usize,
        OUTAGE_BOUND,
    )
    .await;
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_in_front_of_the_python_sdk_server_killed_and_restarted() {
    if !nginx_available() || !external::python_sdk_available() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let server = Arc::new(Mutex::new(PythonServer::start(10_000).await.unwrap()));
    let addr = server.lock().await.addr();
    let proxy = ReverseProxy::start(addr).await.unwrap();
    let gateway = gateway(&proxy.mcp_url()).await;
    let restart = Arc::clone(&server);
    let outage: Outage = Box::pin(async move {
        let mut server = restart.lock().await;
        server.kill().await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        server.start_again().await.unwrap();
    });
    let counted = Arc::clone(&server);
    scenario(
        "nginx → Python SDK server, SIGKILL + restart after 3 s",
        &gateway,
        &proxy.mcp_url(),
        PYTHON_TOOLS,
        outage,
        move |key| {
            counted
                .try_lock()
                .map(|server| server.increments(key))
                .unwrap_or(0)
        },
        OUTAGE_BOUND,
    )
    .await;
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_port_refuses_for_5_s_with_no_proxy() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = Arc::new(Mutex::new(
        McpServer::start(ServerOptions::default()).await.unwrap(),
    ));
    let url = server.lock().await.url();
    let counters = server.lock().await.counters();
    let gateway = gateway(&url).await;
    let outage = stopped_for(&server, Duration::from_secs(5));
    scenario(
        "no proxy: the server's port refuses for 5 s",
        &gateway,
        &url,
        RMCP_TOOLS,
        outage,
        |key| counters.increments(key) as usize,
        OUTAGE_BOUND,
    )
    .await;
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_answers_502_for_3_s_while_the_server_is_alive() {
    let _one = ONE_AT_A_TIME.lock().await;
    let upstream = Arc::new(TestUpstream::start().await.unwrap());
    let gateway = gateway(&upstream.url()).await;
    let counters = upstream.counters();
    let faults = Arc::clone(&upstream);
    let outage: Outage = Box::pin(async move {
        faults
            .proxy
            .push(Rule::any(Fault::status(StatusCode::BAD_GATEWAY)));
        tokio::time::sleep(Duration::from_secs(3)).await;
        faults.proxy.clear();
    });
    scenario(
        "the proxy answers 502 itself for 3 s, the server alive",
        &gateway,
        &upstream.url(),
        RMCP_TOOLS,
        outage,
        |key| counters.increments(key) as usize,
        OUTAGE_BOUND,
    )
    .await;
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_of_requests_reset() {
    let _one = ONE_AT_A_TIME.lock().await;
    let upstream = Arc::new(TestUpstream::start().await.unwrap());
    let gateway = gateway(&upstream.url()).await;
    let counters = upstream.counters();
    upstream
        .proxy
        .push(Rule::method("tools/call", Fault::Reset).every(10));
    let outage: Outage = Box::pin(async {});
    scenario(
        "10 % of tool calls reset before they reach the server",
        &gateway,
        &upstream.url(),
        RMCP_TOOLS,
        outage,
        |key| counters.increments(key) as usize,
        u32::MAX,
    )
    .await;
    gateway.shutdown().await;
}

/// The official Python SDK client (`interop/python_client.py --paced`) on
/// one legacy session, through the gateway and (beside it, same run)
/// straight at nginx, while the Python SDK server behind nginx is killed and
/// started again 3 s later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_client_through_nginx_and_a_killed_python_server() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::process::Command;

    if !nginx_available() || !external::python_sdk_available() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let mut server = PythonServer::start(10_000).await.unwrap();
    let proxy = ReverseProxy::start(server.addr()).await.unwrap();
    let gateway = gateway(&proxy.mcp_url()).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/python_client.py");
    let python = external::interop_home().join("bin/python");
    let client = |url: String, keys: &str| {
        let mut command = Command::new(&python);
        command
            .arg(script)
            .arg(url)
            .args(["--mode", "legacy", "--paced", "9", "--key-prefix", keys])
            .args(["--tool", "echo", "--args", r#"{"text": "x"}"#])
            .args(["--tool", "add", "--args", r#"{"a": 2, "b": 3}"#])
            .args(["--tool", "increment", "--args", r#"{"key": "first"}"#])
            .env("PYTHONUNBUFFERED", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        command.spawn().expect("the Python SDK client starts")
    };
    let mut through = client(format!("{}/mcp", gateway.url()), "through");
    let mut direct = client(proxy.mcp_url(), "direct");
    let mut through_out = BufReader::new(through.stdout.take().unwrap()).lines();
    let mut direct_out = BufReader::new(direct.stdout.take().unwrap()).lines();
    for lines in [&mut through_out, &mut direct_out] {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                .await
                .expect("the client starts its paced calls")
                .unwrap()
                .expect("PACED");
            if line == "PACED" {
                break;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.start_again().await.unwrap();
    let summary = |mut lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>| async move {
        let mut last = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            last = line;
        }
        serde_json::from_str::<Value>(&last).unwrap_or_else(|_| panic!("a JSON summary: {last}"))
    };
    let through = tokio::time::timeout(Duration::from_secs(120), summary(through_out))
        .await
        .unwrap();
    let direct = tokio::time::timeout(Duration::from_secs(120), summary(direct_out))
        .await
        .unwrap();
    let (paced, alone) = (&through["paced"], &direct["paced"]);
    let failed = paced["failed"].as_array().map_or(0, Vec::len);
    let maybe_run = paced["maybe_run"].as_u64().unwrap_or(0);
    let direct_failed =
        alone["failed"].as_array().map_or(0, Vec::len) as u64 + alone["maybe_run"].as_u64().unwrap_or(0);
    println!(
        "[outage] Python SDK client, nginx → Python SDK server killed for 3 s: through the gateway {} ok, {maybe_run} may-have-run, {failed} failed, sessions {}; direct {} ok, {direct_failed} failed, sessions {}",
        paced["ok"], paced["sessions"], alone["ok"], alone["sessions"]
    );
    assert_eq!(failed, 0, "{:#}", paced["failed"]);
    assert!(maybe_run <= u64::from(OUTAGE_BOUND), "{maybe_run} may have run");
    assert_eq!(
        paced["sessions"].as_array().map(Vec::len),
        Some(1),
        "one session throughout: {}",
        paced["sessions"]
    );
    for key in paced["keys_ok"].as_array().into_iter().flatten() {
        assert_eq!(server.increments(key.as_str().unwrap()), 1, "{key} ran once");
    }
    for key in paced["keys_failed"].as_array().into_iter().flatten() {
        assert!(
            server.increments(key.as_str().unwrap()) <= 1,
            "{key} never ran twice"
        );
    }
    gateway.shutdown().await;
}
