//! Recovery timing: the upstream is killed and restarted under load.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_core::BoxError;
use mcp_reconnect_testkit::McpServer;
use tokio::time::Instant;

use crate::load::MakeRequest;

/// How long the upstream stays down in each round.
const DOWN_FOR: Duration = Duration::from_millis(1500);
/// The longest a round waits for the first success.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

pub struct Recovery {
    pub recoveries: Vec<Duration>,
    pub fail_fast: Vec<Duration>,
}

/// Kills and restarts the upstream `rounds` times; measures the time from
/// "accepting again" to the first successful call, and the latency of calls
/// while the circuit is open.
pub async fn measure(
    upstream: &mut McpServer,
    make: MakeRequest,
    rounds: usize,
) -> Result<Recovery, BoxError> {
    let client: Client<HttpConnector, _> = Client::builder(TokioExecutor::new()).build_http();
    let call = |client: Client<HttpConnector, _>, make: MakeRequest| async move {
        let started = Instant::now();
        let ok = match client.request(make()).await {
            Ok(response) => {
                let good = response.status().is_success();
                response.into_body().collect().await.is_ok() && good
            }
            Err(_) => false,
        };
        (ok, started.elapsed())
    };
    let mut recovery = Recovery {
        recoveries: Vec::new(),
        fail_fast: Vec::new(),
    };
    for _ in 0..rounds {
        upstream.stop().await;
        let down_until = Instant::now() + DOWN_FOR;
        while Instant::now() < down_until {
            let (ok, took) = call(client.clone(), make.clone()).await;
            if !ok {
                recovery.fail_fast.push(took);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        upstream.start_again().await?;
        let back = Instant::now();
        loop {
            let (ok, _) = call(client.clone(), make.clone()).await;
            if ok {
                recovery.recoveries.push(back.elapsed());
                break;
            }
            if back.elapsed() > GIVE_UP_AFTER {
                return Err("the gateway never recovered".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
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
        let recovered = median(&mut self.recoveries);
        let fail_fast = median(&mut self.fail_fast);
        println!(
            "\nrecovery after an upstream restart ({rounds} rounds, upstream down {} ms each):",
            DOWN_FOR.as_millis()
        );
        println!(
            "  first successful call after the upstream accepts again: median {:.1} ms (goal <= 1000 ms)",
            recovered.as_secs_f64() * 1e3
        );
        println!(
            "  failed calls while down: median latency {:.2} ms over {} calls (goal < 5 ms)",
            fail_fast.as_secs_f64() * 1e3,
            self.fail_fast.len()
        );
    }
}
