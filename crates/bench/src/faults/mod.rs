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

mod client;
mod scenarios;
mod table;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mcp_reconnect_core::BoxError;
use mcp_reconnect_testkit::external;
use tokio::time::Instant;

use crate::peers::{self, MCP_PROXY_BACKEND};
use crate::process::{Proc, sibling};
use client::{Caller, Surface, drive};
use scenarios::{SCENARIOS, Setup};
use table::Line;

/// How long each scenario's clients call.
pub(crate) const RUN: Duration = Duration::from_secs(12);
/// When the fault starts.
const FAULT_AT: Duration = Duration::from_millis(1500);
/// Calls a second per client (one every `PACE`), and at most this many in flight.
pub(crate) const PACE: Duration = Duration::from_millis(50);
pub(crate) const IN_FLIGHT: usize = 4;
/// A call not answered by then is given up on (counted as hung).
pub(crate) const CALL_DEADLINE: Duration = Duration::from_secs(10);
/// A target whose calls still fail this close to the end has not recovered.
pub(crate) const SETTLED: Duration = Duration::from_millis(1500);

/// Which peers to run beside `mcp-gateway`.
pub struct Peers {
    pub mcpo: bool,
    pub mcp_proxy: Option<PathBuf>,
}

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
    table::header();
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
