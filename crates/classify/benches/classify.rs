//! Overhead of `ClassifyLayer` over a bare `service_fn`, and of the JSON-RPC
//! peek on a small `tools/call` body.
//!
//! `cargo bench -p mcp-reconnect-classify`; CI runs it with `-- --test`.

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::Full;
use mcp_reconnect_classify::ClassifyLayer;
use mcp_reconnect_core::peek::peek;
use tower::{Layer, Service, ServiceExt, service_fn};

const TOOLS_CALL: &[u8] =
    br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
const RESULT: &[u8] = br#"{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"hello"}]}}"#;

fn upstream(
    content_type: &'static str,
) -> impl Service<Request<()>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send> + Clone {
    service_fn(move |_: Request<()>| async move {
        let mut response = Response::new(Full::new(Bytes::from_static(RESULT)));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        Ok::<_, Infallible>(response)
    })
}

fn bench_layer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("classify_layer");
    for content_type in ["text/event-stream", "application/json"] {
        let bare = upstream(content_type);
        group.bench_function(format!("bare_service_fn/{content_type}"), |b| {
            b.to_async(&runtime).iter(|| {
                let service = bare.clone();
                async move { black_box(service.oneshot(Request::new(())).await) }
            })
        });
        let layered = ClassifyLayer::new().layer(upstream(content_type));
        group.bench_function(format!("classify_layer/{content_type}"), |b| {
            b.to_async(&runtime).iter(|| {
                let service = layered.clone();
                async move { black_box(service.oneshot(Request::new(())).await) }
            })
        });
    }
    group.finish();
}

fn bench_peek(c: &mut Criterion) {
    c.bench_function("peek/tools_call", |b| {
        b.iter(|| black_box(peek(black_box(TOOLS_CALL))))
    });
    c.bench_function("peek/result", |b| b.iter(|| black_box(peek(black_box(RESULT)))));
}

criterion_group!(benches, bench_layer, bench_peek);
criterion_main!(benches);
