//! Overhead of `CircuitReconnect` on the healthy path over a bare
//! `service_fn`, with 1 and 64 concurrent tasks (it should stay flat: the
//! healthy path takes no lock).
//!
//! `cargo bench -p mcp-reconnect-circuit`; CI runs it with `-- --test`.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use mcp_reconnect_circuit::{CircuitReconnectLayer, CircuitState};
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceExt, service_fn};

type Upstream = BoxCloneSyncService<Request<()>, Response<()>, Infallible>;

fn upstream() -> Upstream {
    BoxCloneSyncService::new(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }))
}

/// Sends `per_task` calls from each of `tasks` tasks; returns the time per call.
async fn run<S>(service: S, tasks: u64, per_task: u64) -> Duration
where
    S: Service<Request<()>, Response = Response<()>> + Clone + Send + 'static,
    S::Error: std::fmt::Debug,
    S::Future: Send,
{
    let started = tokio::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let mut service = service.clone();
        set.spawn(async move {
            for _ in 0..per_task {
                let response = service.ready().await.expect("ready").call(Request::new(())).await;
                black_box(response.expect("response"));
            }
        });
    }
    while set.join_next().await.is_some() {}
    started.elapsed()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("circuit_healthy_path");
    for tasks in [1u64, 64] {
        group.bench_function(format!("bare_service_fn/{tasks}_tasks"), |b| {
            b.to_async(&runtime)
                .iter_custom(|iters| run(upstream(), tasks, iters.div_ceil(tasks)))
        });
        let connector = service_fn(|_: u16| async { Ok::<_, Infallible>(upstream()) });
        let circuit = runtime.block_on(async {
            let mut circuit = CircuitReconnectLayer::new(1u16).layer(connector);
            circuit.ready().await.expect("connected");
            assert_eq!(circuit.status().state(), CircuitState::Healthy);
            circuit
        });
        group.bench_function(format!("circuit_reconnect/{tasks}_tasks"), |b| {
            b.to_async(&runtime)
                .iter_custom(|iters| run(circuit.clone(), tasks, iters.div_ceil(tasks)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
