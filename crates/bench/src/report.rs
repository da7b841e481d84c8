//! The table, the ratios, memory sampling, and the optional mcpo baseline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mcp_reconnect_core::BoxError;
use tokio::task::JoinHandle;

use crate::load::{self, LoadResult, MakeRequest};
use crate::process::{Proc, free_addr, rss_mib};

/// Pinned versions that work together: mcpo 0.0.20 needs an mcp 1.x and fastapi < 0.130.
const MCPO_PINS: &[&str] = &["mcpo==0.0.20", "mcp<2", "fastapi<0.130"];

pub struct Row<'a> {
    pub target: &'a str,
    pub concurrency: usize,
    pub result: LoadResult,
    pub rss_idle: Option<f64>,
    pub rss_loaded: Option<f64>,
}

pub fn print_table(rows: &[Row<'_>]) {
    println!(
        "\n{:<20} {:>5} {:>10} {:>9} {:>9} {:>7} {:>10} {:>10}",
        "target", "conc", "req/s", "p50 ms", "p99 ms", "failed", "RSS idle", "RSS load"
    );
    for row in rows {
        let mib = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} MiB"));
        println!(
            "{:<20} {:>5} {:>10.0} {:>9.3} {:>9.3} {:>7} {:>10} {:>10}",
            row.target,
            row.concurrency,
            row.result.rps(),
            row.result.p50.as_secs_f64() * 1e3,
            row.result.p99.as_secs_f64() * 1e3,
            row.result.failed,
            mib(row.rss_idle),
            mib(row.rss_loaded),
        );
    }
}

pub fn print_ratios(rows: &[Row<'_>], levels: &[usize]) {
    let find = |target: &str, c: usize| rows.iter().find(|r| r.target == target && r.concurrency == c);
    println!();
    for &c in levels {
        let (Some(gateway), Some(bare)) = (find("mcp-gateway /mcp", c), find("bare hyper proxy", c)) else {
            continue;
        };
        let added = gateway.result.p50.as_secs_f64() - bare.result.p50.as_secs_f64();
        print!(
            "concurrency {c:>3}: gateway/bare-proxy throughput {:.2}x (goal >= 0.9), added p50 {:.3} ms (goal < 0.2)",
            gateway.result.rps() / bare.result.rps().max(1e-9),
            added * 1e3
        );
        if let (Some(rest), Some(mcpo)) = (find("mcp-gateway REST", c), find("python mcpo REST", c)) {
            print!(
                ", gateway REST/mcpo {:.1}x (goal >= 10)",
                rest.result.rps() / mcpo.result.rps().max(1e-9)
            );
        }
        println!();
    }
}

/// Polls a process's RSS while a load runs; keeps the peak.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Option<f64>>,
}

impl RssSampler {
    pub fn start(proc: &Proc) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let pid = proc.child.id();
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut peak: Option<f64> = None;
            while !flag.load(Ordering::Relaxed) {
                let rss = pid.and_then(rss_mib);
                peak = match (peak, rss) {
                    (Some(p), Some(r)) => Some(p.max(r)),
                    (p, r) => p.or(r),
                };
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        });
        RssSampler { stop, task }
    }

    pub fn stop(self) -> Option<f64> {
        self.stop.store(true, Ordering::Relaxed);
        futures_block(self.task)
    }
}

fn futures_block(task: JoinHandle<Option<f64>>) -> Option<f64> {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(task))
        .ok()
        .flatten()
}

/// Waits until a request made by `make` succeeds (the gateway has found its tools).
pub async fn wait_ready(make: MakeRequest) -> Result<(), BoxError> {
    for _ in 0..300 {
        if load::run(make.clone(), 1, Duration::from_millis(1)).await.ok > 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the target never answered its first call".into())
}

/// Installs mcpo in a private venv (once) and starts it in front of `upstream`.
pub async fn start_mcpo(upstream: &str) -> Result<Proc, BoxError> {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let venv = std::path::PathBuf::from(home).join(".cache/mcp-reconnect/mcpo-venv");
    let python = venv.join("bin/python");
    if !venv.join("bin/mcpo").exists() {
        let status = tokio::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .await?;
        if !status.success() {
            return Err("python3 -m venv failed".into());
        }
        let status = tokio::process::Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(MCPO_PINS)
            .status()
            .await?;
        if !status.success() {
            return Err("pip install mcpo failed".into());
        }
    }
    let addr = free_addr()?;
    let args: Vec<String> = [
        "--host",
        "127.0.0.1",
        "--port",
        &addr.port().to_string(),
        "--server-type",
        "streamable-http",
        "--",
        upstream,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let proc = Proc::spawn("python mcpo", &venv.join("bin/mcpo"), &args, addr).await?;
    wait_ready(crate::rest_call(format!("http://{addr}/echo"))).await?;
    Ok(proc)
}
