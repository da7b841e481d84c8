//! Graceful shutdown in-process: an in-flight call finishes, new connections are refused.

mod common;

use std::time::Duration;

use common::{Http, gateway};
use mcp_reconnect_testkit::TestUpstream;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_an_in_flight_slow_call_then_refuses_connections() {
    let upstream = TestUpstream::start().await.unwrap();
    let gateway = gateway(&["streamablehttp", &upstream.url()], &[]).await;
    let base = gateway.url();
    let addr = gateway.local_addr();
    let http = Http::default();
    let slow = {
        let (http, base) = (http.clone(), base.clone());
        tokio::spawn(async move {
            http.post_json(&format!("{base}/slow"), &[], &json!({"ms": 800}))
                .await
        })
    };
    let counters = upstream.counters();
    for _ in 0..1000 {
        if counters.calls("slow") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(counters.calls("slow"), 1, "the slow call reached the server");
    gateway.shutdown().await;
    let slow = slow.await.unwrap();
    assert_eq!((slow.status.as_u16(), slow.json()), (200, json!("slept 800 ms")));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections after shutdown"
    );
}
