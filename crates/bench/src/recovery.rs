//! Recovery timing: the upstream is killed and restarted under load.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_core::BoxError;
use tokio::time::Instant;

use crate::load::{self, MakeRequest};
use crate::process::UpstreamProc;

/// The longest a round waits for the first success, or for a circuit to open.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);
/// Calls timed per round while the circuit is open.
const OPEN_CALLS: usize = 10;

pub struct Recovery {
    pub recoveries: Vec<Duration>,
    pub fail_fast: Vec<Duration>,
    /// Calls sent while the upstream was down: how long after it accepted
    /// again each was answered, and whether it succeeded.
    pub held: Vec<(bool, Duration)>,
}

/// How long the no-retry gateway's unsent calls wait for the upstream
/// (`MCPO_RECONNECT_WAIT`): the fail-fast calls are timed once the outage is
/// older than this.
pub const NO_RETRY_WAIT: Duration = Duration::from_secs(1);

/// The two gateways in front of the same upstream: one as configured, one
/// with retries off (`MCPO_TOOL_MAX_RETRIES=0`) and a short wait
/// ([`NO_RETRY_WAIT`]), whose calls show the circuit's own fail-fast.
pub struct Gateways {
    pub default: MakeRequest,
    pub no_retry: MakeRequest,
    pub no_retry_health: String,
}

async fn call(client: &Client<HttpConnector, Full<Bytes>>, make: &MakeRequest) -> (bool, Duration) {
    let started = Instant::now();
    let ok = load::answered(client, make()).await;
    (ok, started.elapsed())
}

/// Polls `/health` until it answers `503` (the circuit is open).
async fn wait_open(client: &Client<HttpConnector, Full<Bytes>>, health: &str) -> Result<(), BoxError> {
    let started = Instant::now();
    loop {
        let request = http::Request::get(health).body(Full::new(Bytes::new()))?;
        if let Ok(response) = client.request(request).await
            && response.status() == http::StatusCode::SERVICE_UNAVAILABLE
        {
            return Ok(());
        }
        if started.elapsed() > GIVE_UP_AFTER {
            return Err(format!("{health} never reported an open circuit").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Kills the upstream `rounds` times. While it is down: a call through the
/// default gateway is sent and held (it waits for the upstream), and, once
/// the outage is older than the no-retry gateway's wait, calls through that
/// one are timed failing fast. Then the upstream starts again: the held
/// call's answer, and the first new successful call, are timed from then.
pub async fn measure(
    upstream: &mut UpstreamProc,
    gateways: &Gateways,
    rounds: usize,
) -> Result<Recovery, BoxError> {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut recovery = Recovery {
        recoveries: Vec::new(),
        fail_fast: Vec::new(),
        held: Vec::new(),
    };
    for _ in 0..rounds {
        upstream.stop().await?;
        let down = Instant::now();
        // A call that meets the outage is held by the default gateway.
        let held = {
            let (client, make) = (client.clone(), gateways.default.clone());
            tokio::spawn(async move {
                let ok = call(&client, &make).await.0;
                (ok, Instant::now())
            })
        };
        // Calls drive the circuit: it needs a failure to notice the outage.
        let _ = call(&client, &gateways.no_retry).await;
        wait_open(&client, &gateways.no_retry_health).await?;
        tokio::time::sleep_until(down + NO_RETRY_WAIT + Duration::from_millis(100)).await;
        for _ in 0..OPEN_CALLS {
            let (ok, took) = call(&client, &gateways.no_retry).await;
            if !ok {
                recovery.fail_fast.push(took);
            }
        }
        upstream.start_again().await?;
        let back = Instant::now();
        loop {
            let (ok, _) = call(&client, &gateways.default).await;
            if ok {
                recovery.recoveries.push(back.elapsed());
                break;
            }
            if back.elapsed() > GIVE_UP_AFTER {
                return Err("the gateway never recovered".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (ok, answered) = tokio::time::timeout(GIVE_UP_AFTER, held).await??;
        recovery.held.push((ok, answered.saturating_duration_since(back)));
        // Let the no-retry gateway close its circuit too before the next round.
        for _ in 0..200 {
            if call(&client, &gateways.no_retry).await.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(recovery)
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

impl Recovery {
    pub fn print(mut self) {
        let rounds = self.recoveries.len();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let recovered = median(&mut self.recoveries);
        let fail_fast = median(&mut self.fail_fast);
        let held_ok = self.held.iter().filter(|(ok, _)| *ok).count();
        let mut held: Vec<Duration> = self.held.iter().map(|&(_, after)| after).collect();
        let held_after = median(&mut held);
        println!("\nrecovery after an upstream restart ({rounds} rounds):");
        println!(
            "  first successful call after the upstream accepts again: median {:.1} ms (goal <= 1000 ms)",
            ms(recovered)
        );
        println!(
            "  fail-fast once the outage outlasted the wait (retries off): median {:.2} ms over {} calls (goal < 5 ms)",
            ms(fail_fast),
            self.fail_fast.len()
        );
        println!(
            "  a call sent while the upstream was down: {held_ok} of {} succeeded, answered a median {:.1} ms after the upstream accepted again",
            self.held.len(),
            ms(held_after)
        );
    }
}
