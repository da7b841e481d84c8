//! What a scrape costs: `/metrics` as JSON, Prometheus text and OpenMetrics,
//! and `/health`, over 10 upstreams whose circuits have counted some traffic;
//! and what the layer adds to a request it passes on.
//!
//! `cargo bench -p mcp-reconnect-health`; CI runs it with `-- --test`.

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use mcp_reconnect_circuit::CircuitReconnectLayer;
use mcp_reconnect_health::{HealthLayer, RetryCounts, Upstream};
use tower::{Layer, Service, ServiceExt, service_fn};

/// Upstreams watched by one layer in the scrape benchmarks.
const UPSTREAMS: usize = 10;
/// Calls sent through each circuit before measuring, so the counters are not zero.
const WARM_CALLS: usize = 20;

fn upstream()
-> impl Service<Request<()>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send> + Clone {
    service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    })
}

/// The single-threaded runtime every benchmark here runs on.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// A layer over `UPSTREAMS` circuits that have each served `WARM_CALLS` calls.
fn watched(runtime: &tokio::runtime::Runtime) -> HealthLayer {
    let mut upstreams = Vec::new();
    for i in 0..UPSTREAMS {
        let circuit =
            CircuitReconnectLayer::new(i).name(format!("https://user:pass@server-{i}.example/mcp?token=t"));
        let status = circuit.status();
        let connector = service_fn(|_: usize| async { Ok::<_, Infallible>(upstream()) });
        let service = circuit.layer(connector);
        runtime.block_on(async {
            for _ in 0..WARM_CALLS {
                let response = service.clone().oneshot(Request::new(())).await;
                black_box(response.is_ok());
            }
        });
        upstreams.push(Upstream::new(status).retries(RetryCounts::default));
    }
    let mut upstreams = upstreams.into_iter();
    let first = upstreams.next().expect("at least one upstream");
    upstreams.fold(HealthLayer::new(first), HealthLayer::upstream)
}

fn bench_scrape(c: &mut Criterion) {
    let runtime = runtime();
    let service = watched(&runtime).layer(upstream());
    let mut group = c.benchmark_group("scrape_10_upstreams");
    let cases = [
        ("health", "/health", "*/*"),
        ("metrics_json", "/metrics", "application/json"),
        ("metrics_prometheus", "/metrics", "text/plain"),
        ("metrics_openmetrics", "/metrics", "application/openmetrics-text"),
    ];
    for (name, path, accept) in cases {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                let service = service.clone();
                async move {
                    let request = Request::get(path)
                        .header(http::header::ACCEPT, accept)
                        .body(())
                        .expect("request");
                    let response = service.oneshot(request).await.expect("answer");
                    black_box(
                        response
                            .into_body()
                            .collect()
                            .await
                            .expect("body")
                            .to_bytes()
                            .len(),
                    )
                }
            })
        });
    }
    group.finish();
}

fn bench_pass_through(c: &mut Criterion) {
    let runtime = runtime();
    let layered = watched(&runtime).layer(upstream());
    let bare = upstream();
    let mut group = c.benchmark_group("pass_through");
    bench_post(&mut group, "bare_service_fn", &runtime, &bare);
    bench_post(&mut group, "health_layer", &runtime, &layered);
    group.finish();
}

/// Benchmarks one `POST /mcp` through a clone of `service`, as `name` in `group`.
fn bench_post<S>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    runtime: &tokio::runtime::Runtime,
    service: &S,
) where
    S: Service<Request<()>> + Clone,
{
    group.bench_function(name, |b| {
        b.to_async(runtime).iter(|| {
            let service = service.clone();
            async move {
                black_box(
                    service
                        .oneshot(Request::post("/mcp").body(()).expect("request"))
                        .await,
                )
            }
        })
    });
}

criterion_group!(benches, bench_scrape, bench_pass_through);
criterion_main!(benches);
