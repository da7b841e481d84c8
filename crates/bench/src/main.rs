//! `mcp-bench`: measures `mcp-gateway` against the testkit upstream directly,
//! a bare hyper proxy (the ceiling for any proxy) and, with `--with-mcpo` and
//! `--with-mcp-proxy`, Python `mcpo` and the Rust peer mcp-proxy, side by side
//! in one run on one machine; then the recovery time after an upstream
//! restart and the fail-fast latency while open. `mcp-bench faults` runs the
//! same faults against each gateway.
//!
//! ```text
//! cargo build --release -p mcp-reconnect-gateway -p mcp-reconnect-bench
//! bash scripts/peers-setup.sh                 # mcpo and mcp-proxy, pinned
//! target/release/mcp-bench run --with-mcpo --with-mcp-proxy
//! target/release/mcp-bench faults --with-mcpo --with-mcp-proxy
//! ```
//!
//! Everything listens on 127.0.0.1 and stops by itself.

mod bare_proxy;
mod faults;
mod load;
mod peers;
mod process;
mod recovery;
mod report;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::{Parser, Subcommand};
use http_body_util::Full;
use mcp_reconnect_core::BoxError;
use mcp_reconnect_testkit::jsonrpc::{jsonrpc_request, tools_call};
use mcp_reconnect_testkit::{McpServer, ServerOptions};
use serde_json::json;

use crate::load::MakeRequest;
use crate::process::{Proc, UpstreamProc, free_addr};
use crate::report::Row;

#[derive(Parser)]
#[command(name = "mcp-bench", about = "Load and recovery measurements of mcp-gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs every measurement and prints the table.
    Run {
        /// Seconds per target and concurrency level, over all rounds.
        #[arg(long, default_value_t = 12.0)]
        seconds: f64,
        /// Concurrency levels, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
        concurrency: Vec<usize>,
        /// Interleaved rounds per concurrency level: the targets take turns,
        /// `seconds / rounds` each per round, so machine noise hits them alike.
        /// Ratios are the median over the rounds: on a shared 2-core machine
        /// single rounds of a few seconds spread by ±15 %.
        #[arg(long, default_value_t = 6)]
        rounds: usize,
        /// Recovery rounds (upstream killed and restarted under load).
        #[arg(long, default_value_t = 5)]
        recovery_rounds: usize,
        #[command(flatten)]
        peers: PeerArgs,
    },
    /// Runs the same faults against mcp-gateway and the peers (and with no
    /// gateway); prints a markdown table. Needs nginx for the restart behind
    /// a proxy (`bash scripts/scale-setup.sh`).
    Faults {
        #[command(flatten)]
        peers: PeerArgs,
    },
    /// Serves the testkit upstream (stateless, JSON answers) until killed:
    /// `run` starts it so, and it serves one target for profiling by hand.
    Upstream {
        /// A loopback address; an ephemeral port on 127.0.0.1 if not given.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Drives one target closed-loop and prints its line, for profiling it
    /// by hand (`perf record -p`, `strace -c -p`) while it runs.
    Load {
        /// `http://host:port/mcp` for a JSON-RPC `tools/call echo`, or a REST
        /// tool route such as `http://host:port/echo`.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// The bare hyper proxy, in its own process.
    BareProxy {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        upstream: SocketAddr,
    },
}

/// The gateways compared with `mcp-gateway`.
#[derive(clap::Args)]
struct PeerArgs {
    /// Also measure Python mcpo 0.0.20 (installs it in a private venv).
    #[arg(long)]
    with_mcpo: bool,
    /// Also measure mcp-proxy 0.6.0 (`bash scripts/peers-setup.sh` installs it).
    #[arg(long)]
    with_mcp_proxy: bool,
    /// The mcp-proxy binary; the one `scripts/peers-setup.sh` installs if not given.
    #[arg(long)]
    mcp_proxy: Option<PathBuf>,
}

impl PeerArgs {
    fn peers(self) -> faults::Peers {
        faults::Peers {
            mcpo: self.with_mcpo,
            mcp_proxy: self
                .with_mcp_proxy
                .then(|| self.mcp_proxy.unwrap_or_else(peers::default_mcp_proxy)),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    match Cli::parse().command {
        Command::BareProxy { listen, upstream } => bare_proxy::run(listen, upstream).await,
        Command::Upstream { listen } => serve_upstream(listen).await,
        Command::Load {
            url,
            seconds,
            concurrency,
        } => {
            let make = if url.ends_with("/mcp") {
                mcp_call(url)
            } else {
                rest_call(url)
            };
            let result = load::run(make, concurrency, Duration::from_secs_f64(seconds)).await;
            println!(
                "c={concurrency}: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, {} failed",
                result.rps(),
                result.p50.as_secs_f64() * 1e3,
                result.p99.as_secs_f64() * 1e3,
                result.failed
            );
            Ok(())
        }
        Command::Run {
            seconds,
            concurrency,
            rounds,
            recovery_rounds,
            peers,
        } => {
            run(
                Duration::from_secs_f64(seconds),
                &concurrency,
                rounds,
                recovery_rounds,
                &peers.peers(),
            )
            .await
        }
        Command::Faults { peers } => faults::run(&peers.peers()).await,
    }
}

fn mcp_call(url: String) -> MakeRequest {
    mcp_call_of(url, "echo")
}

/// A sessionless `tools/call` of `tool` (an `echo`) at the MCP endpoint `url`.
pub(crate) fn mcp_call_of(url: String, tool: &str) -> MakeRequest {
    let body = tools_call(1, tool, json!({"text": "hello"}));
    Arc::new(move || jsonrpc_request(&url, None, &body).unwrap_or_default())
}

/// Like [`mcp_call_of`], on one legacy session opened now.
async fn mcp_session_call(url: String, tool: &str) -> Result<MakeRequest, BoxError> {
    let mut client = mcp_reconnect_testkit::RawClient::new(url.clone());
    let answer = client.initialize().await?;
    let session = client
        .session()
        .map(str::to_owned)
        .ok_or_else(|| format!("initialize at {url} answered {} without a session", answer.status))?;
    let body = tools_call(1, tool, json!({"text": "hello"}));
    Ok(Arc::new(move || {
        jsonrpc_request(&url, Some(&session), &body).unwrap_or_default()
    }))
}

pub(crate) fn rest_call(url: String) -> MakeRequest {
    Arc::new(move || {
        http::Request::post(&url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from_static(br#"{"text":"hello"}"#)))
            .unwrap_or_default()
    })
}

/// The upstream every measurement uses: rmcp's server, stateless, JSON answers.
fn upstream_options() -> ServerOptions {
    ServerOptions::default()
        .with_sessions(false)
        .with_json_response(true)
}

async fn serve_upstream(listen: Option<SocketAddr>) -> Result<(), BoxError> {
    let upstream = match listen {
        Some(addr) => McpServer::start_on(addr, upstream_options()).await?,
        None => McpServer::start(upstream_options()).await?,
    };
    println!("upstream listening on {}", upstream.url());
    std::future::pending::<()>().await;
    Ok(())
}

async fn run(
    seconds: Duration,
    levels: &[usize],
    rounds: usize,
    recovery_rounds: usize,
    peers: &faults::Peers,
) -> Result<(), BoxError> {
    let mut upstream = UpstreamProc::start().await?;
    let upstream_url = upstream.url();

    let bare_addr = free_addr()?;
    let args = [
        "bare-proxy",
        "--listen",
        &bare_addr.to_string(),
        "--upstream",
        &upstream.addr().to_string(),
    ];
    let bare = Proc::spawn("bare proxy", &std::env::current_exe()?, &owned(&args), bare_addr).await?;

    let gateway = peers::start_gateway(&upstream_url, &[]).await?;
    let gateway_addr = gateway.addr;

    let mcpo = if peers.mcpo {
        Some(peers::start_mcpo(&upstream_url).await?)
    } else {
        None
    };
    // Two mcp-proxy processes, one per row, so that each row's memory is its own.
    let mcp_proxies = match &peers.mcp_proxy {
        Some(binary) => Some((
            peers::start_mcp_proxy(binary, &upstream_url).await?,
            peers::start_mcp_proxy(binary, &upstream_url).await?,
        )),
        None => None,
    };

    let mut targets: Vec<(&str, Option<&Proc>, MakeRequest)> = vec![
        ("upstream direct", None, mcp_call(upstream_url.clone())),
        (
            "bare hyper proxy",
            Some(&bare),
            mcp_call(format!("http://{bare_addr}/mcp")),
        ),
        (
            "mcp-gateway /mcp",
            Some(&gateway),
            mcp_call(format!("http://{gateway_addr}/mcp")),
        ),
        (
            "mcp-gateway REST",
            Some(&gateway),
            rest_call(format!("http://{gateway_addr}/echo")),
        ),
    ];
    if let Some(mcpo) = &mcpo {
        targets.push((
            "python mcpo REST",
            Some(mcpo),
            rest_call(format!("http://{}/echo", mcpo.addr)),
        ));
    }
    if let Some((sessionless, in_session)) = &mcp_proxies {
        // mcp-proxy terminates MCP itself: a sessionless call gets a session
        // of its own, so the legacy clients' way (one session) is measured too.
        let tool = format!("{}/echo", peers::MCP_PROXY_BACKEND);
        let url = format!("http://{}/", sessionless.addr);
        targets.push(("mcp-proxy /", Some(sessionless), mcp_call_of(url, &tool)));
        let url = format!("http://{}/", in_session.addr);
        let session = mcp_session_call(url, &tool).await?;
        targets.push(("mcp-proxy / session", Some(in_session), session));
    }

    // Rounds interleave the targets (A B C, B C A, …) so that a noisy
    // neighbour slows every target alike; ratios are taken round by round.
    let slice = seconds.div_f64(rounds.max(1) as f64);
    let mut rows: Vec<Row<'_>> = Vec::new();
    for &concurrency in levels {
        for (name, proc, make) in &targets {
            // Warm the pools up before the first round.
            load::run(make.clone(), concurrency, Duration::from_millis(300)).await;
            rows.push(Row::new(name, concurrency, proc.and_then(Proc::rss_mib)));
        }
        for round in 0..rounds.max(1) {
            // Each round starts one target later, so no target always runs
            // right after the same other one.
            let turns = targets
                .iter()
                .cycle()
                .skip(round % targets.len())
                .take(targets.len());
            for (name, proc, make) in turns {
                let sampler = proc.map(report::RssSampler::start);
                let cpu_before = proc.and_then(Proc::cpu_time);
                let result = load::run(make.clone(), concurrency, slice).await;
                let cpu = proc
                    .and_then(Proc::cpu_time)
                    .zip(cpu_before)
                    .map(|(after, before)| after.saturating_sub(before));
                let loaded = sampler.and_then(report::RssSampler::stop);
                let row = rows
                    .iter_mut()
                    .find(|row| row.target == *name && row.concurrency == concurrency)
                    .expect("a row per target and level");
                row.add_round(result, loaded, cpu);
            }
        }
    }
    report::print_table(&rows);
    report::print_ratios(&rows, levels);

    // A second gateway with retries off shows the circuit's own fail-fast.
    let wait = recovery::NO_RETRY_WAIT.as_secs().to_string();
    let env = [
        ("MCPO_TOOL_MAX_RETRIES", "0"),
        ("MCPO_RECONNECT_WAIT", wait.as_str()),
    ];
    let no_retry = peers::start_gateway(&upstream_url, &env).await?;
    let no_retry_addr = no_retry.addr;
    let gateways = recovery::Gateways {
        default: mcp_call(format!("http://{gateway_addr}/mcp")),
        no_retry: mcp_call(format!("http://{no_retry_addr}/mcp")),
        no_retry_health: format!("http://{no_retry_addr}/health"),
    };
    let recovery = recovery::measure(&mut upstream, &gateways, recovery_rounds).await?;
    recovery.print();
    Ok(())
}

pub(crate) fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}
