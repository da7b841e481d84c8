//! `/metrics` as JSON, and what never shows in any document (credentials,
//! header values).

use http::header::AUTHORIZATION;

use super::*;
use crate::Upstream;
use mcp_reconnect_core::status::RetryCounts;

fn retries() -> RetryCounts {
    let mut counts = RetryCounts::default();
    counts.attempted = 7;
    counts.succeeded = 5;
    counts.refused_unsafe = 2;
    counts.budget_exhausted = 1;
    counts.gave_up = 1;
    counts
}

/// A stack whose circuit went healthy → degraded → reconnect → healthy, with retry counters.
pub(super) async fn exercised(name: &str) -> (CircuitStatus, Stack) {
    let script = Script::default();
    let (status, circuit) = circuit(name, &script);
    let upstream = Upstream::new(status.clone()).retries(retries);
    let service = HealthLayer::new(upstream).layer(circuit);
    assert_eq!(call(&service, "/mcp").await.unwrap(), 200);
    script.answer(&[502, 1]);
    assert_eq!(call(&service, "/mcp").await.unwrap(), 502);
    assert!(call(&service, "/mcp").await.is_err());
    assert_eq!(call(&service, "/mcp").await.unwrap(), 200, "after the reconnect");
    (status, service)
}

#[tokio::test(start_paused = true)]
async fn metrics_json_has_the_design_connection_and_every_counter() {
    let (status, service) = exercised("server-a").await;
    let snapshot = status.snapshot();
    let (code, json) = get_json(&service, "/metrics").await;
    assert_eq!(code, 200);
    let connection = &json["connection"];
    assert_eq!(connection["reconnect_attempts"], snapshot.reconnect_attempts);
    assert_eq!(
        connection["reconnect_attempts"], 2,
        "the first connect and one reconnect"
    );
    assert_eq!(json["upstreams"][0], *connection);
    assert_eq!(json["status"], "healthy");
    assert_eq!(connection["name"], "server-a");
    assert_eq!(
        (connection["health"].as_str(), connection["status"].as_str()),
        (Some("healthy"), Some("healthy"))
    );
    assert_eq!(connection["last_failure"], "connection");
    assert_eq!(connection["requests"]["success"], 2);
    assert_eq!(connection["requests"]["gateway"], 1);
    assert_eq!(connection["requests"]["connection"], 1);
    assert_eq!(connection["transitions"]["started"], 1);
    assert_eq!(connection["transitions"]["connection_lost"], 1);
    let reconnects = &connection["reconnects"];
    assert_eq!(
        *reconnects,
        serde_json::json!({"attempted": 2, "succeeded": 2, "failed": 0, "episodes_failed": 0})
    );
    assert_eq!(connection["retries"]["attempted"], 7);
    assert_eq!(connection["retries"]["refused_unsafe"], 2);
    assert_eq!(connection["recovery_seconds"]["count"], 1);
    let buckets = connection["reconnect_duration_seconds"]["buckets"]
        .as_array()
        .unwrap();
    assert_eq!(buckets.len(), mcp_reconnect_core::metrics::DURATION_BUCKETS.len());
    assert!(buckets.iter().all(|b| b["le"].is_f64() && b["count"].is_u64()));
}

#[tokio::test(start_paused = true)]
async fn no_document_shows_credentials_or_header_values() {
    let (_, service) = exercised("https://user:pass@host/mcp?token=abc#frag").await;
    let mut uris = vec!["/health", "/metrics"];
    if cfg!(feature = "prometheus") {
        uris.extend(["/metrics?format=prometheus", "/metrics?format=openmetrics"]);
    }
    for uri in uris {
        let request = Request::get(uri)
            .header(AUTHORIZATION, "Bearer sekrit-header")
            .body(Body::default())
            .unwrap();
        let (status, _, body) = fetch(&service, request).await;
        let text = std::str::from_utf8(&body).unwrap();
        assert_eq!(status, 200, "{uri}");
        assert!(text.contains("https://host/mcp"), "{uri}: {text}");
        for secret in ["user:", "pass@", "token", "abc", "frag", "sekrit"] {
            assert!(!text.contains(secret), "{uri} shows {secret:?}: {text}");
        }
    }
}

#[cfg(not(feature = "prometheus"))]
#[tokio::test(start_paused = true)]
async fn without_the_prometheus_feature_text_formats_are_not_acceptable() {
    let (_, service) = exercised("server-a").await;
    for (uri, accept) in [("/metrics?format=prometheus", "*/*"), ("/metrics", "text/plain")] {
        let request = Request::get(uri)
            .header(http::header::ACCEPT, accept)
            .body(Body::default())
            .unwrap();
        assert_eq!(fetch(&service, request).await.0, StatusCode::NOT_ACCEPTABLE);
    }
    assert_eq!(
        get(&service, "/metrics?format=xml").await.0,
        StatusCode::BAD_REQUEST
    );
}
