//! `mcp-bench faults`: the same faults against each gateway, all of them in
//! front of the same upstream during the same fault: `mcp-gateway` (its
//! `/mcp` on a legacy session, and its REST routes), Python mcpo (REST),
//! mcp-proxy (`/` on a legacy session), and a legacy client straight at the
//! upstream's address with no gateway. Each client paces tool calls (20 a
//! second, at most 4 in flight: `echo`, `add`, the non-idempotent
//! `increment` with a key of its own, `echo`) for [`RUN`]; the fault starts
//! [`FAULT_AT`] in. Prints one markdown table, for RELIABILITY.md.
//!
//! A client that meets `404` for its session opens a new one (once per lost
//! session), as a well-behaved MCP client does; that counts as a re-open.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_core::BoxError;
use mcp_reconnect_testkit::external::{self, PythonServer, ReverseProxy};
use mcp_reconnect_testkit::jsonrpc::{self, McpResponse};
use mcp_reconnect_testkit::{Counters, Fault, FaultProxy, McpServer, RawClient, Rule, ServerOptions};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use crate::peers::{self, MCP_PROXY_BACKEND};
use crate::process::{Proc, sibling};

/// How long each scenario's clients call.
const RUN: Duration = Duration::from_secs(12);
/// When the fault starts.
const FAULT_AT: Duration = Duration::from_millis(1500);
/// Calls a second per client (one every `PACE`), and at most this many in flight.
const PACE: Duration = Duration::from_millis(50);
const IN_FLIGHT: usize = 4;
/// A call not answered by then is given up on (counted as hung).
const CALL_DEADLINE: Duration = Duration::from_secs(10);
/// A target whose calls still fail this close to the end has not recovered.
const SETTLED: Duration = Duration::from_millis(1500);

/// Which peers to run beside `mcp-gateway`.
pub struct Peers {
    pub mcpo: bool,
    pub mcp_proxy: Option<PathBuf>,
}

/// What one call came to.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Ok,
    /// The gateway said it may have run and did not repeat it (`-32051`).
    MaybeRun,
    /// Why it failed (printed with `MCP_BENCH_VERBOSE=1`).
    Failed(String),
    /// No answer within [`CALL_DEADLINE`].
    Hung,
}

struct Call {
    tool: &'static str,
    key: Option<String>,
    outcome: Outcome,
    /// When its answer was read, from the scenario's start.
    done: Duration,
}

/// How a client reaches the tools.
enum Surface {
    /// A legacy MCP session at `url`; tools are named `prefix` + the tool.
    Session { url: String, prefix: String },
    /// mcpo's REST routes under `base`.
    Rest { base: String },
}

struct Caller {
    label: &'static str,
    surface: Surface,
    http: Client<HttpConnector, Full<Bytes>>,
    session: Mutex<Option<String>>,
    reopened: AtomicU32,
}

impl Caller {
    async fn new(label: &'static str, surface: Surface) -> Result<Arc<Caller>, BoxError> {
        let caller = Caller {
            label,
            surface,
            http: Client::builder(TokioExecutor::new()).build_http(),
            session: Mutex::new(None),
            reopened: AtomicU32::new(0),
        };
        if let Surface::Session { url, .. } = &caller.surface {
            *caller.session.lock().await = Some(open_session(url).await?);
        }
        Ok(Arc::new(caller))
    }

    fn plan(&self, n: u32) -> (&'static str, Value, Option<String>) {
        let key = format!("{}-{n}", self.label);
        match n % 4 {
            1 => ("add", json!({"a": n, "b": 1}), None),
            2 => ("increment", json!({"key": key}), Some(key)),
            _ => ("echo", json!({"text": key}), None),
        }
    }

    async fn call(&self, n: u32, started: Instant) -> Call {
        let (tool, arguments, key) = self.plan(n);
        let answer = async {
            match &self.surface {
                Surface::Rest { base } => self.rest(base, tool, &arguments).await,
                Surface::Session { url, prefix } => {
                    self.in_session(url, &format!("{prefix}{tool}"), n, arguments.clone())
                        .await
                }
            }
        };
        let outcome = tokio::time::timeout(CALL_DEADLINE, answer)
            .await
            .unwrap_or(Outcome::Hung);
        Call {
            tool,
            key,
            outcome,
            done: started.elapsed(),
        }
    }

    async fn in_session(&self, url: &str, tool: &str, n: u32, arguments: Value) -> Outcome {
        let sent = self.session.lock().await.clone();
        let body = jsonrpc::tools_call(u64::from(n) + 10, tool, arguments);
        let request = match jsonrpc::jsonrpc_request(url, sent.as_deref(), &body) {
            Ok(request) => request,
            Err(error) => return Outcome::Failed(format!("request: {error}")),
        };
        let answer = match self.http.request(request).await {
            Ok(response) => match McpResponse::read(response).await {
                Ok(answer) => answer,
                Err(error) => return Outcome::Failed(format!("answer cut off: {error}")),
            },
            Err(error) => return Outcome::Failed(format!("transport: {error}")),
        };
        if answer.status == StatusCode::NOT_FOUND {
            let mut session = self.session.lock().await;
            if *session == sent {
                self.reopened.fetch_add(1, Ordering::Relaxed);
                *session = open_session(url).await.ok();
            }
            return Outcome::Failed("404: the session was lost".into());
        }
        match answer.message() {
            Some(message) if message["error"]["code"] == -32051 => Outcome::MaybeRun,
            Some(message)
                if answer.status == StatusCode::OK
                    && message.get("result").is_some()
                    && !answer.is_tool_error() =>
            {
                Outcome::Ok
            }
            _ => Outcome::Failed(format!(
                "{}: {:.200}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            )),
        }
    }

    async fn rest(&self, base: &str, tool: &str, arguments: &Value) -> Outcome {
        let request = match http::Request::post(format!("{base}/{tool}"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(arguments.to_string())))
        {
            Ok(request) => request,
            Err(error) => return Outcome::Failed(format!("request: {error}")),
        };
        let response = match self.http.request(request).await {
            Ok(response) => response,
            Err(error) => return Outcome::Failed(format!("transport: {error}")),
        };
        let status = response.status();
        let body = match response.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(error) => return Outcome::Failed(format!("answer cut off: {error}")),
        };
        let text = String::from_utf8_lossy(&body);
        if status == StatusCode::OK {
            Outcome::Ok
        } else if text.contains("may have run") {
            Outcome::MaybeRun
        } else {
            Outcome::Failed(format!("{status}: {text:.200}"))
        }
    }
}

/// A new legacy session at `url`: its id.
async fn open_session(url: &str) -> Result<String, BoxError> {
    let mut client = RawClient::new(url);
    let answer = client.initialize().await?;
    client
        .session()
        .map(str::to_owned)
        .ok_or_else(|| format!("initialize at {url} answered {} without a session", answer.status).into())
}

/// Paces calls of `caller` until `RUN` is over.
async fn drive(caller: Arc<Caller>, started: Instant) -> Vec<Call> {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut calls = Vec::new();
    let mut next = started;
    let mut n = 0;
    while started.elapsed() < RUN {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let caller = Arc::clone(&caller);
        calls.push(tokio::spawn(async move {
            let call = caller.call(n, started).await;
            drop(permit);
            call
        }));
        n += 1;
        next += PACE;
        tokio::time::sleep_until(next).await;
    }
    let mut done = Vec::new();
    for call in calls {
        if let Ok(call) = call.await {
            done.push(call);
        }
    }
    done
}

/// The fault of a scenario.
enum Faults {
    /// Each target has a fault proxy of its own in front of `backend`, so
    /// that rules counting requests ("every 4th") count each target's
    /// alone; `rules` go onto each at [`FAULT_AT`], for `lasts` (`None`:
    /// until the end).
    Rules {
        backend: std::net::SocketAddr,
        rules: fn() -> Vec<Rule>,
        lasts: Option<Duration>,
    },
    /// Every target calls `url`; the server stops for `down` (its port
    /// refuses, its connections and sessions are gone), then starts again.
    Stop {
        url: String,
        server: Restartable,
        down: Duration,
    },
}

/// A server that stops and starts again on its port.
enum Restartable {
    /// The testkit's rmcp server, in this process.
    Rmcp(Arc<Mutex<McpServer>>),
    /// The official Python SDK server, a child process killed with `SIGKILL`.
    Python(Arc<Mutex<PythonServer>>),
}

impl Restartable {
    async fn down_for(&self, down: Duration) -> Result<(), BoxError> {
        match self {
            Restartable::Rmcp(server) => {
                let mut server = server.lock().await;
                server.stop().await;
                tokio::time::sleep(down).await;
                server.start_again().await?;
            }
            Restartable::Python(server) => {
                let mut server = server.lock().await;
                server.kill().await;
                tokio::time::sleep(down).await;
                server.start_again().await?;
            }
        }
        Ok(())
    }
}

/// How often `increment` ran with a key, by the server's own count.
type Increments = Box<dyn Fn(&str) -> u64 + Send + Sync>;

fn rmcp_increments(counters: Arc<Counters>) -> Increments {
    Box::new(move |key| counters.increments(key))
}

/// An upstream ready for a scenario, and how to hurt it.
struct Setup {
    faults: Faults,
    increments: Increments,
    /// Kept alive for the run.
    _keep: Box<dyn std::any::Any + Send>,
}

impl Setup {
    /// The MCP endpoint the next target is given.
    async fn target_url(&self, proxies: &mut Vec<FaultProxy>) -> Result<String, BoxError> {
        match &self.faults {
            Faults::Rules { backend, .. } => {
                let proxy = FaultProxy::start(*backend).await?;
                let url = proxy.url();
                proxies.push(proxy);
                Ok(url)
            }
            Faults::Stop { url, .. } => Ok(url.clone()),
        }
    }

    /// Injects the fault; returns once it is over (at once for a fault
    /// that lasts the whole run). Returns whether it ends before the run.
    async fn inject(&self, proxies: &[FaultProxy]) -> Result<bool, BoxError> {
        match &self.faults {
            Faults::Rules { rules, lasts, .. } => {
                for proxy in proxies {
                    rules().into_iter().for_each(|rule| proxy.push(rule));
                }
                let Some(lasts) = lasts else {
                    return Ok(false);
                };
                tokio::time::sleep(*lasts).await;
                proxies.iter().for_each(FaultProxy::clear);
            }
            Faults::Stop { server, down, .. } => server.down_for(*down).await?,
        }
        Ok(true)
    }
}

/// One line of the table.
struct Line {
    target: &'static str,
    safe_ok: usize,
    safe: usize,
    increments: usize,
    twice: usize,
    maybe_run: usize,
    hung: usize,
    reopened: u32,
    /// When failures stopped, after the fault ended (`None`: they did not).
    recovered: Option<Duration>,
    /// Whether any call failed at all.
    any_failed: bool,
    /// Whether the fault ended before the run did.
    fault_ends: bool,
    /// A few distinct reasons of failures.
    reasons: Vec<String>,
}

impl Line {
    fn of(
        caller: &Caller,
        calls: &[Call],
        increments: &dyn Fn(&str) -> u64,
        fault_end: Option<Duration>,
    ) -> Line {
        let safe: Vec<&Call> = calls.iter().filter(|c| c.tool != "increment").collect();
        let last_failure = calls
            .iter()
            .filter(|c| c.outcome != Outcome::Ok)
            .map(|c| c.done)
            .max();
        let recovered = match last_failure {
            Some(at) if at + SETTLED > RUN => None,
            Some(at) => Some(at.saturating_sub(fault_end.unwrap_or_default())),
            None => Some(Duration::ZERO),
        };
        let mut reasons: Vec<String> = Vec::new();
        for call in calls {
            if let Outcome::Failed(why) = &call.outcome
                && reasons.len() < 3
                && !reasons.contains(why)
            {
                reasons.push(why.clone());
            }
        }
        Line {
            target: caller.label,
            safe_ok: safe.iter().filter(|c| c.outcome == Outcome::Ok).count(),
            safe: safe.len(),
            increments: calls.iter().filter(|c| c.key.is_some()).count(),
            twice: calls
                .iter()
                .filter_map(|c| c.key.as_deref())
                .filter(|key| increments(key) > 1)
                .count(),
            maybe_run: calls.iter().filter(|c| c.outcome == Outcome::MaybeRun).count(),
            hung: calls.iter().filter(|c| c.outcome == Outcome::Hung).count(),
            reopened: caller.reopened.load(Ordering::Relaxed),
            recovered,
            any_failed: last_failure.is_some(),
            fault_ends: fault_end.is_some(),
            reasons,
        }
    }

    fn print(&self, scenario: &str) {
        let recovered = match (self.any_failed, self.fault_ends, self.recovered) {
            (false, _, _) => "no failure".to_string(),
            (true, false, _) => "— (lasts the run)".to_string(),
            (true, true, Some(after)) => format!("yes, {:.1} s after the fault", after.as_secs_f64()),
            (true, true, None) => "**no**".to_string(),
        };
        println!(
            "| {scenario} | {} | {}/{} ({:.0} %) | {} of {} | {} | {} | {} | {recovered} |",
            self.target,
            self.safe_ok,
            self.safe,
            100.0 * self.safe_ok as f64 / self.safe.max(1) as f64,
            self.twice,
            self.increments,
            self.maybe_run,
            self.hung,
            self.reopened,
        );
        if std::env::var_os("MCP_BENCH_VERBOSE").is_some() {
            for reason in &self.reasons {
                eprintln!("  {}: {reason}", self.target);
            }
        }
    }
}

type SetupFuture = Pin<Box<dyn Future<Output = Result<Setup, BoxError>> + Send>>;

/// A scenario: its name, whether it needs nginx, and its upstream.
type Scenario = (&'static str, bool, fn() -> SetupFuture);

const SCENARIOS: &[Scenario] = &[
    ("the proxy answers `502` for 3 s, server alive", false, proxy_502),
    (
        "nginx → rmcp server stopped (sessions lost), restarted 3 s later",
        true,
        nginx_restart,
    ),
    (
        "nginx → Python SDK server `SIGKILL`ed, restarted 3 s later",
        true,
        nginx_python_kill,
    ),
    ("no proxy: the server's port refuses for 5 s", false, refused),
    ("10 % of tool calls reset before the server", false, resets),
    (
        "every 4th `increment` runs, then the proxy answers `502`",
        false,
        forward_then_502,
    ),
];

/// Runs every scenario against `mcp-gateway` and `peers`; prints the table.
pub async fn run(peers: &Peers) -> Result<(), BoxError> {
    // Before the first scenario: a missing binary says so at once.
    sibling("mcp-gateway")?;
    let nginx = external::available(&["nginx"]);
    if !nginx {
        println!(
            "(nginx not found: the scenarios behind nginx are skipped; bash scripts/scale-setup.sh installs it)"
        );
    }
    println!(
        "\n| fault | target | safe calls ok | `increment` ran twice | answered \"may have run\" | hung (no answer in {} s) | session re-opens | recovers |",
        CALL_DEADLINE.as_secs()
    );
    println!("|---|---|---|---|---|---|---|---|");
    for &(name, needs_nginx, setup) in SCENARIOS {
        if needs_nginx && !nginx {
            continue;
        }
        scenario(name, setup().await?, peers).await?;
    }
    Ok(())
}

async fn scenario(name: &str, setup: Setup, peers: &Peers) -> Result<(), BoxError> {
    let mut proxies = Vec::new();
    let mut running: Vec<Proc> = Vec::new();
    let mut callers = Vec::new();

    let upstream = setup.target_url(&mut proxies).await?;
    let gateway = peers::start_gateway(&upstream, &[]).await?;
    let gateway_addr = gateway.addr;
    running.push(gateway);
    let base = format!("http://{gateway_addr}");
    let url = format!("{base}/mcp");
    let prefix = String::new();
    callers.push(Caller::new("mcp-gateway `/mcp`", Surface::Session { url, prefix }).await?);
    callers.push(Caller::new("mcp-gateway REST", Surface::Rest { base }).await?);
    if peers.mcpo {
        let mcpo = peers::start_mcpo(&setup.target_url(&mut proxies).await?).await?;
        let base = format!("http://{}", mcpo.addr);
        running.push(mcpo);
        callers.push(Caller::new("mcpo 0.0.20 REST", Surface::Rest { base }).await?);
    }
    if let Some(binary) = &peers.mcp_proxy {
        let proxy = peers::start_mcp_proxy(binary, &setup.target_url(&mut proxies).await?).await?;
        let url = format!("http://{}/", proxy.addr);
        running.push(proxy);
        let prefix = format!("{MCP_PROXY_BACKEND}/");
        callers.push(Caller::new("mcp-proxy 0.6.0 `/`", Surface::Session { url, prefix }).await?);
    }
    let url = setup.target_url(&mut proxies).await?;
    let prefix = String::new();
    callers.push(Caller::new("no gateway", Surface::Session { url, prefix }).await?);

    let started = Instant::now();
    let runs: Vec<_> = callers
        .iter()
        .map(|caller| tokio::spawn(drive(Arc::clone(caller), started)))
        .collect();
    tokio::time::sleep(FAULT_AT).await;
    let fault_end = setup.inject(&proxies).await?.then(|| started.elapsed());
    for (caller, run) in callers.iter().zip(runs) {
        let calls = run.await?;
        Line::of(caller, &calls, &setup.increments, fault_end).print(name);
    }
    Ok(())
}

/// The rmcp server behind a fault proxy per target, `rules` on each from
/// the fault's start, for `lasts` (`None`: to the end).
fn with_rules(rules: fn() -> Vec<Rule>, lasts: Option<Duration>) -> SetupFuture {
    Box::pin(async move {
        let server = McpServer::start(ServerOptions::default()).await?;
        Ok(Setup {
            faults: Faults::Rules {
                backend: server.addr(),
                rules,
                lasts,
            },
            increments: rmcp_increments(server.counters()),
            _keep: Box::new(server),
        })
    })
}

fn proxy_502() -> SetupFuture {
    let rules = || vec![Rule::any(Fault::status(StatusCode::BAD_GATEWAY))];
    with_rules(rules, Some(Duration::from_secs(3)))
}

fn nginx_restart() -> SetupFuture {
    Box::pin(async {
        let server = McpServer::start(ServerOptions::default()).await?;
        let increments = rmcp_increments(server.counters());
        let proxy = ReverseProxy::start(server.addr()).await?;
        Ok(Setup {
            faults: Faults::Stop {
                url: proxy.mcp_url(),
                server: Restartable::Rmcp(Arc::new(Mutex::new(server))),
                down: Duration::from_secs(3),
            },
            increments,
            _keep: Box::new(proxy),
        })
    })
}

fn nginx_python_kill() -> SetupFuture {
    Box::pin(async {
        if !external::python_sdk_available() {
            return Err("the Python SDK server needs bash scripts/interop-setup.sh".into());
        }
        let server = Arc::new(Mutex::new(PythonServer::start(10_000).await?));
        let proxy = ReverseProxy::start(server.lock().await.addr()).await?;
        let counted = Arc::clone(&server);
        let increments: Increments = Box::new(move |key| {
            counted
                .try_lock()
                .map_or(0, |server| server.increments(key) as u64)
        });
        Ok(Setup {
            faults: Faults::Stop {
                url: proxy.mcp_url(),
                server: Restartable::Python(server),
                down: Duration::from_secs(3),
            },
            increments,
            _keep: Box::new(proxy),
        })
    })
}

fn refused() -> SetupFuture {
    Box::pin(async {
        let server = McpServer::start(ServerOptions::default()).await?;
        let (url, increments) = (server.url(), rmcp_increments(server.counters()));
        Ok(Setup {
            faults: Faults::Stop {
                url,
                server: Restartable::Rmcp(Arc::new(Mutex::new(server))),
                down: Duration::from_secs(5),
            },
            increments,
            _keep: Box::new(()),
        })
    })
}

fn resets() -> SetupFuture {
    with_rules(|| vec![Rule::method("tools/call", Fault::Reset).every(10)], None)
}

fn forward_then_502() -> SetupFuture {
    let rules = || vec![Rule::tool("increment", Fault::ForwardThenStatus(StatusCode::BAD_GATEWAY)).every(4)];
    with_rules(rules, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(outcome: Outcome, done_ms: u64) -> Call {
        Call {
            tool: "echo",
            key: None,
            outcome,
            done: Duration::from_millis(done_ms),
        }
    }

    async fn caller() -> Arc<Caller> {
        Caller::new("t", Surface::Rest { base: String::new() })
            .await
            .expect("a REST caller needs no peer")
    }

    #[tokio::test]
    async fn recovery_is_the_last_failure_after_the_fault_and_none_near_the_end() {
        let caller = caller().await;
        let counters = |_: &str| 0;
        let end = Some(Duration::from_secs(4));
        let failed = |ms| call(Outcome::Failed("x".into()), ms);

        let line = Line::of(&caller, &[call(Outcome::Ok, 100)], &counters, end);
        assert!(!line.any_failed);
        let line = Line::of(
            &caller,
            &[failed(5_000), call(Outcome::Ok, 6_000)],
            &counters,
            end,
        );
        assert_eq!(line.recovered, Some(Duration::from_secs(1)));
        // A failure during the fault counts as recovered at the fault's end.
        let line = Line::of(&caller, &[failed(3_000)], &counters, end);
        assert_eq!(line.recovered, Some(Duration::ZERO));
        // Still failing in the run's last stretch: not recovered.
        let late = (RUN - SETTLED / 2).as_millis() as u64;
        let line = Line::of(&caller, &[failed(late)], &counters, end);
        assert_eq!(line.recovered, None);
        let line = Line::of(&caller, &[call(Outcome::Hung, late)], &counters, end);
        assert_eq!((line.recovered, line.hung), (None, 1));
    }
}
