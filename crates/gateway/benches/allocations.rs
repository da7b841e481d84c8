//! Allocations per call through the gateway, counted on the gateway's own
//! threads only: the MCP server and the client run on runtimes of their
//! own, whose threads the counter ignores. Real TCP on 127.0.0.1, a real
//! rmcp server (the testkit's), the gateway as `mcp-gateway` runs it.
//!
//! It guards the gateway's special cases (the call router before axum, its
//! own catch-panic, body limit and CORS wrapper, `Gate`): each saves
//! allocations on every call, and a change that undoes one shows here as a
//! count over its path's ceiling, which fails the run (CI runs it in smoke
//! mode, `-- --test`). BENCHMARKS.md records the counts.
//!
//! `cargo bench -p mcp-reconnect-gateway --bench allocations`

// A counting allocator is a `GlobalAlloc`, which is unsafe to implement;
// this file only forwards to the system allocator.
#![allow(unsafe_code)]
#![allow(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use bytes::Bytes;
use clap::Parser;
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_core::headers::{MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION};
use mcp_reconnect_gateway::{Cli, Gateway, GatewayConfig};
use mcp_reconnect_testkit::{McpServer, RawClient, ServerOptions, jsonrpc};
use serde_json::json;

struct Counting;

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn count() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments;
// counting touches only a const-initialized thread-local and an atomic, and
// never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One path measured, and the most allocations per call it may make. The
/// counts are the same from run to run (BENCHMARKS.md has them); each
/// ceiling sits just above its count, so a layer that boxes once more per
/// call goes over.
struct Path {
    name: &'static str,
    ceiling: f64,
}

const MCP_LEGACY: Path = Path {
    name: "POST /mcp tools/call, legacy session",
    ceiling: 53.5,
};
const MCP_STATELESS: Path = Path {
    name: "POST /mcp tools/call, 2026-07-28",
    ceiling: 48.5,
};
const REST: Path = Path {
    name: "POST /echo (REST)",
    ceiling: 105.5,
};

fn main() {
    let smoke = std::env::args().any(|arg| arg == "--test");
    let calls: u64 = if smoke { 50 } else { 2000 };

    let server_url = on_own_runtime(false, |url: mpsc::Sender<String>| async move {
        let server = McpServer::start(ServerOptions::default())
            .await
            .expect("the MCP server starts");
        url.send(server.url()).expect("the bench is waiting");
        std::future::pending::<()>().await;
    });
    let gateway_url = on_own_runtime(true, move |url: mpsc::Sender<String>| async move {
        let cli = Cli::try_parse_from([
            "mcp-gateway",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "streamablehttp",
            &server_url,
        ])
        .expect("arguments");
        let config = GatewayConfig::from_args(&cli.serve, |_| None).expect("a config");
        let gateway = Gateway::start(config).await.expect("the gateway starts");
        url.send(gateway.url()).expect("the bench is waiting");
        std::future::pending::<()>().await;
    });

    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    client.block_on(async move {
        let mut mcp = RawClient::new(format!("{gateway_url}/mcp"));
        assert_eq!(mcp.initialize().await.expect("initialize").status, StatusCode::OK);
        let legacy = || {
            let mut mcp = mcp.clone();
            async move {
                let id = mcp.next_id();
                let call = jsonrpc::tools_call(id, "echo", json!({"text": "x"}));
                let answer = mcp.post(&call).await.expect("a call");
                assert_eq!(answer.text().as_deref(), Some("x"), "{answer:?}");
            }
        };
        let http: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let stateless = || {
            let (http, url) = (http.clone(), format!("{gateway_url}/mcp"));
            async move {
                let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                    "name": "echo", "arguments": {"text": "x"},
                    "_meta": {
                        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                        "io.modelcontextprotocol/clientCapabilities": {},
                    },
                }});
                let mut request = jsonrpc::jsonrpc_request(&url, None, &call).expect("a request");
                let headers = request.headers_mut();
                headers.insert(MCP_PROTOCOL_VERSION, HeaderValue::from_static("2026-07-28"));
                headers.insert(MCP_METHOD, HeaderValue::from_static("tools/call"));
                headers.insert(MCP_NAME, HeaderValue::from_static("echo"));
                let answer = http.request(request).await.expect("an answer");
                let status = answer.status();
                let body = answer.into_body().collect().await.expect("a body").to_bytes();
                assert_eq!(status, StatusCode::OK, "{body:?}");
            }
        };
        let rest = || {
            let (http, url) = (http.clone(), format!("{gateway_url}/echo"));
            async move {
                let request = http::Request::post(url)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from_static(br#"{"text":"x"}"#)))
                    .expect("a request");
                let answer = http.request(request).await.expect("an answer");
                assert_eq!(answer.status(), StatusCode::OK);
                answer.into_body().collect().await.expect("a body");
            }
        };

        let mut over = Vec::new();
        for (path, per_call) in [
            (MCP_LEGACY, measure(calls, legacy).await),
            (MCP_STATELESS, measure(calls, stateless).await),
            (REST, measure(calls, rest).await),
        ] {
            println!(
                "{:<40} {per_call:>6.1} allocations per call (ceiling {})",
                path.name, path.ceiling
            );
            if per_call > path.ceiling {
                over.push(path.name);
            }
        }
        assert!(over.is_empty(), "over the ceiling: {over:?}");
    });
}

/// The gateway's allocations per call of `call`, after a warm-up that fills
/// the connection pools and caches. Calls run one at a time.
async fn measure<F, Fut>(calls: u64, call: F) -> f64
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..20 {
        call().await;
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..calls {
        call().await;
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / calls as f64
}

/// Runs `task` on a runtime of its own thread (one worker), whose
/// allocations are counted when `counted`; returns what it sends first.
fn on_own_runtime<F, Fut>(counted: bool, task: F) -> String
where
    F: FnOnce(mpsc::Sender<String>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .on_thread_start(move || COUNTED.set(counted))
            .build()
            .expect("a runtime");
        runtime.block_on(task(send));
    });
    receive.recv().expect("the runtime starts")
}
