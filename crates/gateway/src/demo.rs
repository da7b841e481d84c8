//! `mcp-gateway demo`: no upstream needed. It starts the testkit's real MCP
//! server behind its fault proxy on 127.0.0.1, the gateway in front, and two
//! clients that call tools without pause (REST, and MCP on a legacy session
//! through `/mcp`); a script kills and restarts the upstream and injects
//! `502`/`503` bursts and resets. One live line a second, a summary at the end.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use mcp_reconnect_core::BoxError;
use mcp_reconnect_core::config::env_lookup;
use mcp_reconnect_testkit::TestUpstream;
use tokio::time::{Instant, MissedTickBehavior};

use crate::cli::{Cli, DemoArgs};
use crate::config::GatewayConfig;
use crate::server::Gateway;

mod client;
mod report;
mod script;

pub use client::{CALL_PAUSE, Tally};
pub use script::{SCRIPT, Step, timeline};

/// The demo's log level unless told otherwise (its own lines are the show).
pub const DEFAULT_LOG_LEVEL: &str = "error";
/// How often the live line is printed.
pub const REPORT_EVERY: Duration = Duration::from_secs(1);
/// How long the clients get to finish their last call at the end.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the demo for `args.duration`.
pub async fn run(args: DemoArgs) -> Result<(), BoxError> {
    let mut upstream = TestUpstream::start().await?;
    let port = args.port.to_string();
    let mut argv = vec!["mcp-gateway", "--host", "127.0.0.1", "--port", &port];
    if let Some(key) = &args.api_key {
        argv.extend(["--api-key", key]);
    }
    let upstream_url = upstream.url();
    argv.extend(["streamablehttp", &upstream_url]);
    let cli = Cli::try_parse_from(argv)?;
    let gateway = Gateway::start(GatewayConfig::from_args(&cli.serve, env_lookup)?).await?;
    let base = gateway.url();
    let (status, retry) = match gateway.clients().first() {
        Some(client) => (client.upstream().status.clone(), client.upstream().retry.clone()),
        None => return Err("the demo gateway has no upstream".into()),
    };
    banner(&base, &upstream_url, args.api_key.as_deref(), args.duration);

    let tally = Arc::new(Tally::default());
    let running = Arc::new(AtomicBool::new(true));
    let session = Arc::new(Mutex::new(None));
    let clients = [
        tokio::spawn(client::rest(
            base.clone(),
            args.api_key.clone(),
            Arc::clone(&tally),
            Arc::clone(&running),
        )),
        tokio::spawn(client::mcp(
            format!("{base}/mcp"),
            args.api_key.clone(),
            Arc::clone(&tally),
            Arc::clone(&running),
            session,
        )),
    ];

    let started = Instant::now();
    let mut steps = script::timeline(args.duration).into_iter().peekable();
    let mut restarts = 0u64;
    let mut ticks = tokio::time::interval_at(started + REPORT_EVERY, REPORT_EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let reading = |restarts| report::Reading {
        elapsed: started.elapsed(),
        tally: &tally,
        circuit: status.snapshot(),
        retries: retry.stats(),
        restarts,
    };
    loop {
        let next_step = steps.peek().map(|(at, _)| started + *at);
        tokio::select! {
            _ = ticks.tick() => {
                println!("{}", report::live_line(&reading(restarts)));
                if started.elapsed() >= args.duration {
                    break;
                }
            }
            () = sleep_until(next_step) => {
                if let Some((_, step)) = steps.next() {
                    println!("{:>4}s ⚡ {}", started.elapsed().as_secs(), step.describe());
                    step.apply(&mut upstream).await?;
                    if matches!(step, Step::Kill | Step::Restart) {
                        restarts += 1;
                    }
                }
            }
        }
    }
    running.store(false, Relaxed);
    for task in clients {
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, task).await;
    }
    let counters = upstream.counters();
    let keys = tally.keys();
    let duplicates: u64 = keys
        .iter()
        .map(|key| counters.increments(key).saturating_sub(1))
        .sum();
    println!("{}", report::summary(&reading(restarts), keys.len(), duplicates));
    gateway.shutdown().await;
    Ok(())
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn banner(base: &str, upstream: &str, key: Option<&str>, duration: Duration) {
    let auth = key
        .map(|key| format!(" -H 'Authorization: Bearer {key}'"))
        .unwrap_or_default();
    println!(
        "mcp-gateway demo: {}s of traffic through a flaky upstream, all on 127.0.0.1",
        duration.as_secs()
    );
    println!("  upstream  {upstream}   (testkit MCP server behind a fault-injecting proxy)");
    println!("  gateway   {base}/mcp   REST {base}/<tool>   docs {base}/docs");
    println!("  try       curl {base}/health    curl {base}/metrics");
    println!(
        "            curl{auth} -H 'Content-Type: application/json' -d '{{\"text\":\"hi\"}}' {base}/echo"
    );
    println!();
}
