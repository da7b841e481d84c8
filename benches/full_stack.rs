//! The whole recommended stack in process — RespondLayer → ToolRetryLayer →
//! SessionLayer → CircuitReconnectLayer → ClassifyLayer → upstream — against
//! a bare `service_fn` upstream, with 1 and 64 concurrent tasks. The
//! difference is the stack's overhead per small `tools/call` (goal ≤ 3 µs).
//!
//! `cargo bench -p mcp-reconnect --bench full_stack`; CI runs it with `-- --test`.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use mcp_reconnect::ClassifyLayer;
use mcp_reconnect::circuit::CircuitReconnectLayer;
use mcp_reconnect::core::respond::RespondLayer;
use mcp_reconnect::retry::ToolRetryLayer;
use mcp_reconnect::upstream::SessionLayer;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

const CALL: &[u8] =
    br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
const RESULT: &[u8] = br#"{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"hello"}]}}"#;

fn upstream()
-> impl Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    service_fn(|_: Request<Full<Bytes>>| async {
        let mut response = Response::new(Full::new(Bytes::from_static(RESULT)));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        Ok::<_, Infallible>(response)
    })
}

fn request() -> Request<Full<Bytes>> {
    Request::post("http://127.0.0.1/mcp")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(CALL)))
        .expect("request")
}

/// Sends `per_task` calls (reading each answer whole) from each of `tasks` tasks.
async fn run<S, B>(service: S, tasks: u64, per_task: u64) -> Duration
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: std::fmt::Debug,
    S::Future: Send,
    B: http_body::Body + Send + 'static,
    B::Error: std::fmt::Debug,
    B::Data: Send,
{
    let started = tokio::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let mut service = service.clone();
        set.spawn(async move {
            for _ in 0..per_task {
                let response = service
                    .ready()
                    .await
                    .expect("ready")
                    .call(request())
                    .await
                    .expect("response");
                black_box(response.into_body().collect().await.expect("body"));
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
    let connector =
        service_fn(|_: u16| async { Ok::<_, Infallible>(ClassifyLayer::new().layer(upstream())) });
    let stack = ServiceBuilder::new()
        .layer(RespondLayer::new())
        .layer(ToolRetryLayer::new())
        .layer(SessionLayer::new())
        .layer(CircuitReconnectLayer::new(1u16))
        .service(connector);
    let mut group = c.benchmark_group("full_stack");
    for tasks in [1u64, 64] {
        group.bench_function(format!("bare_service_fn/{tasks}_tasks"), |b| {
            b.to_async(&runtime)
                .iter_custom(|iters| run(upstream(), tasks, iters.div_ceil(tasks)))
        });
        group.bench_function(format!("full_stack/{tasks}_tasks"), |b| {
            b.to_async(&runtime)
                .iter_custom(|iters| run(stack.clone(), tasks, iters.div_ceil(tasks)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
