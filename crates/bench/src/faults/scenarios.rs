//! The faults, and the upstream each scenario hurts.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use mcp_reconnect_core::BoxError;
use mcp_reconnect_testkit::external::{self, PythonServer, ReverseProxy};
use mcp_reconnect_testkit::{Counters, Fault, FaultProxy, McpServer, Rule, ServerOptions};
use tokio::sync::Mutex;

/// The fault of a scenario.
enum Faults {
    /// Each target has a fault proxy of its own in front of `backend`, so
    /// that rules counting requests ("every 4th") count each target's
    /// alone; `rules` go onto each at [`FAULT_AT`], for `lasts` (`None`:
    /// until the end).
    Rules {
        backend: SocketAddr,
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
pub(super) type Increments = Box<dyn Fn(&str) -> u64 + Send + Sync>;

fn rmcp_increments(counters: Arc<Counters>) -> Increments {
    Box::new(move |key| counters.increments(key))
}

/// An upstream ready for a scenario, and how to hurt it.
pub(super) struct Setup {
    faults: Faults,
    pub(super) increments: Increments,
    /// Kept alive for the run.
    _keep: Box<dyn std::any::Any + Send>,
}

impl Setup {
    /// The MCP endpoint the next target is given.
    pub(super) async fn target_url(&self, proxies: &mut Vec<FaultProxy>) -> Result<String, BoxError> {
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
    pub(super) async fn inject(&self, proxies: &[FaultProxy]) -> Result<bool, BoxError> {
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

pub(super) type SetupFuture = Pin<Box<dyn Future<Output = Result<Setup, BoxError>> + Send>>;

/// A scenario: its name, whether it needs nginx, and its upstream.
pub(super) type Scenario = (&'static str, bool, fn() -> SetupFuture);

pub(super) const SCENARIOS: &[Scenario] = &[
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
