//! The table, the ratios, and memory sampling.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mcp_reconnect_core::BoxError;
use tokio::task::JoinHandle;

use crate::load::{self, LoadResult, MakeRequest};
use crate::process::{Proc, rss_mib};

/// One target at one concurrency level, over every interleaved round.
pub struct Row<'a> {
    pub target: &'a str,
    pub concurrency: usize,
    /// Each round's result, in order.
    pub rounds: Vec<LoadResult>,
    pub rss_idle: Option<f64>,
    /// The peak over the rounds.
    pub rss_loaded: Option<f64>,
    /// The proxy process's CPU time (user + system) over the rounds.
    pub cpu: Option<Duration>,
}

impl<'a> Row<'a> {
    pub fn new(target: &'a str, concurrency: usize, rss_idle: Option<f64>) -> Self {
        Row {
            target,
            concurrency,
            rounds: Vec::new(),
            rss_idle,
            rss_loaded: None,
            cpu: None,
        }
    }

    pub fn add_round(&mut self, result: LoadResult, rss: Option<f64>, cpu: Option<Duration>) {
        self.rounds.push(result);
        self.rss_loaded = match (self.rss_loaded, rss) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.cpu = match (self.cpu, cpu) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }

    /// Requests per second over all rounds.
    pub fn rps(&self) -> f64 {
        let ok: u64 = self.rounds.iter().map(|r| r.ok).sum();
        let elapsed: f64 = self.rounds.iter().map(|r| r.elapsed.as_secs_f64()).sum();
        ok as f64 / elapsed.max(1e-9)
    }

    fn failed(&self) -> u64 {
        self.rounds.iter().map(|r| r.failed).sum()
    }

    /// The median over the rounds of a per-round latency.
    fn median_of(&self, pick: impl Fn(&LoadResult) -> Duration) -> Duration {
        let mut values: Vec<Duration> = self.rounds.iter().map(pick).collect();
        values.sort();
        values.get(values.len() / 2).copied().unwrap_or_default()
    }

    pub fn p50(&self) -> Duration {
        self.median_of(|r| r.p50)
    }

    fn p99(&self) -> Duration {
        self.median_of(|r| r.p99)
    }

    /// The proxy's CPU time per answered request, in µs (10 ms resolution
    /// over the whole run: enough for runs of a few seconds).
    fn cpu_us_per_request(&self) -> Option<f64> {
        let requests = self.rounds.iter().map(|r| r.ok + r.failed).sum::<u64>().max(1) as f64;
        Some(self.cpu?.as_secs_f64() * 1e6 / requests)
    }
}

/// `a / b` round by round: the median, the lowest and the highest.
fn ratio_by_round(a: &Row<'_>, b: &Row<'_>) -> (f64, f64, f64) {
    let mut ratios: Vec<f64> = a
        .rounds
        .iter()
        .zip(&b.rounds)
        .map(|(a, b)| a.rps() / b.rps().max(1e-9))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios.get(ratios.len() / 2).copied().unwrap_or(0.0);
    (
        median,
        ratios.first().copied().unwrap_or(0.0),
        ratios.last().copied().unwrap_or(0.0),
    )
}

pub fn print_table(rows: &[Row<'_>]) {
    println!(
        "\n{:<20} {:>5} {:>10} {:>9} {:>9} {:>7} {:>10} {:>10} {:>11}",
        "target", "conc", "req/s", "p50 ms", "p99 ms", "failed", "RSS idle", "RSS load", "CPU µs/req"
    );
    for row in rows {
        let mib = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} MiB"));
        println!(
            "{:<20} {:>5} {:>10.0} {:>9.3} {:>9.3} {:>7} {:>10} {:>10} {:>11}",
            row.target,
            row.concurrency,
            row.rps(),
            row.p50().as_secs_f64() * 1e3,
            row.p99().as_secs_f64() * 1e3,
            row.failed(),
            mib(row.rss_idle),
            mib(row.rss_loaded),
            row.cpu_us_per_request()
                .map_or("-".to_string(), |us| format!("{us:.0}")),
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
        let added = gateway.p50().as_secs_f64() - bare.p50().as_secs_f64();
        let (ratio, low, high) = ratio_by_round(gateway, bare);
        print!(
            "concurrency {c:>3}: gateway/bare-proxy throughput {ratio:.2}x (rounds {low:.2}-{high:.2}; goal >= 0.9), added p50 {:.3} ms (goal < 0.2)",
            added * 1e3
        );
        if let (Some(rest), Some(mcpo)) = (find("mcp-gateway REST", c), find("python mcpo REST", c)) {
            let (ratio, low, high) = ratio_by_round(rest, mcpo);
            print!(", gateway REST/mcpo {ratio:.1}x (rounds {low:.1}-{high:.1}; goal >= 10)");
        }
        for peer in ["mcp-proxy /", "mcp-proxy / session"] {
            if let Some(row) = find(peer, c) {
                let (ratio, low, high) = ratio_by_round(gateway, row);
                print!(", gateway /mcp ÷ {peer} {ratio:.2}x (rounds {low:.2}-{high:.2}; goal >= 1)");
            }
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
