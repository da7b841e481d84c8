//! A closed-loop load driver: `concurrency` tasks, each sending its next
//! request as soon as the last answer is read, for a fixed time.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;

/// Latencies kept per task at most (bounds memory on long runs).
const MAX_SAMPLES_PER_TASK: usize = 200_000;

/// Makes the request each task sends.
pub type MakeRequest = std::sync::Arc<dyn Fn() -> Request<Full<Bytes>> + Send + Sync>;

/// The outcome of one load run.
#[derive(Clone, Debug, Default)]
pub struct LoadResult {
    pub ok: u64,
    pub failed: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sends `request`: whether it was answered `2xx` with a body read whole.
pub async fn answered(client: &Client<HttpConnector, Full<Bytes>>, request: Request<Full<Bytes>>) -> bool {
    match client.request(request).await {
        Ok(response) => {
            let success = response.status().is_success();
            response.into_body().collect().await.is_ok() && success
        }
        Err(_) => false,
    }
}

/// Runs the loop; a call [`answered`] counts as ok.
pub async fn run(make: MakeRequest, concurrency: usize, duration: Duration) -> LoadResult {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency)
        .build_http();
    let started = Instant::now();
    let until = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let make = make.clone();
        tasks.spawn(async move {
            let (mut ok, mut failed, mut samples) = (0u64, 0u64, Vec::new());
            while Instant::now() < until {
                let sent = Instant::now();
                if answered(&client, make()).await {
                    ok += 1;
                    if samples.len() < MAX_SAMPLES_PER_TASK {
                        samples.push(sent.elapsed());
                    }
                } else {
                    failed += 1;
                }
            }
            (ok, failed, samples)
        });
    }
    let mut result = LoadResult::default();
    let mut all = Vec::new();
    while let Some(Ok((ok, failed, samples))) = tasks.join_next().await {
        result.ok += ok;
        result.failed += failed;
        all.extend(samples);
    }
    result.elapsed = started.elapsed();
    all.sort_unstable();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
    };
    result.p50 = at(0.50).unwrap_or_default();
    result.p99 = at(0.99).unwrap_or_default();
    result
}
