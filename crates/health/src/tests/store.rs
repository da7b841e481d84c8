//! A watched session store: `ok`/`degraded` in `/health`, its counters in
//! `/metrics` (JSON and text), and never a `503` for a degraded store alone.

use super::*;
use crate::{Upstream, Verdict};
use mcp_reconnect_core::status::StoreCounts;

/// A store source the test sets.
#[derive(Clone, Default)]
struct FakeStore(Arc<Mutex<StoreCounts>>);

impl FakeStore {
    fn set(&self, degraded: bool, errors: u64, recoveries: u64) {
        let mut counts = self.0.lock().unwrap();
        counts.degraded = degraded;
        counts.errors = errors;
        counts.recoveries = recoveries;
        counts.written_back = 4;
        counts.local_sessions = 3;
    }
}

async fn watched_with_store(store: &FakeStore) -> (HealthLayer, Stack) {
    let script = Script::default();
    let (status, circuit) = circuit("server-a", &script);
    let source = store.clone();
    let layer = HealthLayer::new(Upstream::new(status).session_store(move || *source.0.lock().unwrap()));
    let service = layer.layer(circuit);
    assert_eq!(call(&service, "/mcp").await.unwrap(), 200);
    (layer, service)
}

#[tokio::test(start_paused = true)]
async fn a_degraded_store_degrades_the_verdict_but_keeps_200() {
    let store = FakeStore::default();
    let (layer, service) = watched_with_store(&store).await;
    let (code, json) = get_json(&service, "/health").await;
    assert_eq!((code.as_u16(), &json["status"]), (200, &Value::from("healthy")));
    assert_eq!(json["session_store"], serde_json::json!({"status": "ok"}));

    store.set(true, 2, 0);
    let (code, json) = get_json(&service, "/health").await;
    assert_eq!(code, 200, "the replica still serves the sessions it holds");
    assert_eq!(json["status"], "degraded");
    assert_eq!(
        json["current_status"]["status"], "healthy",
        "the circuit itself is fine"
    );
    assert_eq!(json["session_store"]["status"], "degraded");
    assert_eq!(layer.verdict(), Verdict::Degraded);

    store.set(false, 2, 1);
    let (_, json) = get_json(&service, "/health").await;
    assert_eq!(json["status"], "healthy");
    assert_eq!(layer.verdict(), Verdict::Healthy);
}

#[tokio::test(start_paused = true)]
async fn metrics_show_the_store_counters_in_json_and_text() {
    let store = FakeStore::default();
    store.set(true, 5, 1);
    let (_, service) = watched_with_store(&store).await;
    let (_, json) = get_json(&service, "/metrics").await;
    assert_eq!(
        json["connection"]["session_store"],
        serde_json::json!({
            "status": "degraded", "degraded": true, "errors": 5, "recoveries": 1,
            "written_back": 4, "local_sessions": 3
        })
    );
    assert_eq!(json["connection"]["health"], "degraded");

    #[cfg(feature = "prometheus")]
    for (accept, openmetrics) in [("text/plain", false), ("application/openmetrics-text", true)] {
        let request = Request::get("/metrics")
            .header(http::header::ACCEPT, accept)
            .body(Body::default())
            .unwrap();
        let (_, _, body) = fetch(&service, request).await;
        let text = std::str::from_utf8(&body).unwrap();
        let exposition =
            super::expo::parse(text, openmetrics).unwrap_or_else(|error| panic!("{error}\n{text}"));
        let up = ("upstream", "server-a");
        let value = |name: &str, labels: &[(&str, &str)]| exposition.value(name, labels);
        assert_eq!(value("mcp_reconnect_session_store_degraded", &[up]), Some(1.0));
        let events = "mcp_reconnect_session_store_events_total";
        assert_eq!(value(events, &[up, ("event", "errors")]), Some(5.0));
        assert_eq!(value(events, &[up, ("event", "recoveries")]), Some(1.0));
        assert_eq!(value(events, &[up, ("event", "written_back")]), Some(4.0));
        assert_eq!(
            value("mcp_reconnect_session_store_local_sessions", &[up]),
            Some(3.0)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_store_no_store_field_or_family_appears() {
    let (_, service) = stack("server-a", &Script::default());
    assert_eq!(call(&service, "/mcp").await.unwrap(), 200);
    let (_, health) = get_json(&service, "/health").await;
    assert!(health.get("session_store").is_none(), "{health}");
    let (_, metrics) = get_json(&service, "/metrics").await;
    assert!(metrics["connection"].get("session_store").is_none());
    #[cfg(feature = "prometheus")]
    {
        let request = Request::get("/metrics?format=prometheus")
            .body(Body::default())
            .unwrap();
        let (_, _, body) = fetch(&service, request).await;
        assert!(!std::str::from_utf8(&body).unwrap().contains("session_store"));
    }
}
