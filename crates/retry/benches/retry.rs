//! Happy-path overhead of `ToolRetryLayer` (buffer + peek + forward) on a
//! small `tools/call`, against a bare `service_fn`.
//!
//! `cargo bench -p mcp-reconnect-retry`; CI runs it with `-- --test`.

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::Full;
use mcp_reconnect_retry::ToolRetryLayer;
use tower::{Layer, Service, ServiceExt, service_fn};

const TOOLS_CALL: &[u8] =
    br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
const RESULT: &[u8] = br#"{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"hello"}]}}"#;

fn upstream()
-> impl Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send> + Clone
{
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
        .body(Full::new(Bytes::from_static(TOOLS_CALL)))
        .expect("request")
}

fn bench_layer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("tool_retry_layer");
    let bare = upstream();
    group.bench_function("bare_service_fn/tools_call", |b| {
        b.to_async(&runtime).iter(|| {
            let service = bare.clone();
            async move { black_box(service.oneshot(request()).await) }
        })
    });
    let layered = ToolRetryLayer::new().layer(upstream());
    group.bench_function("tool_retry_layer/tools_call", |b| {
        b.to_async(&runtime).iter(|| {
            let service = layered.clone();
            async move { black_box(service.oneshot(request()).await) }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_layer);
criterion_main!(benches);
