//! Graceful shutdown in-process: an in-flight call finishes, new connections are refused.

mod common;

use common::{Http, upstream_and_gateway};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_an_in_flight_slow_call_then_refuses_connections() {
    let (upstream, gateway) = upstream_and_gateway(&[], &[]).await;
    let base = gateway.url();
    let addr = gateway.local_addr();
    let http = Http::default();
    let counters = upstream.counters();
    let slow = common::slow_call_in_flight(&http, &base, &counters, 800).await;
    assert_eq!(counters.calls("slow"), 1, "the slow call reached the server");
    gateway.shutdown().await;
    let slow = slow.await.unwrap();
    assert_eq!((slow.status.as_u16(), slow.json()), (200, json!("slept 800 ms")));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections after shutdown"
    );
}
