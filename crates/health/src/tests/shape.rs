//! `/health`: the reconnect design's shape and the status code in every circuit state.

use std::collections::BTreeSet;

use mcp_reconnect_circuit::CircuitState;

use super::*;
use crate::{Policy, Verdict};

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// Exactly the reconnect design's fields, with the reconnect design's JSON types.
fn assert_design_entry(json: &Value) {
    assert_eq!(
        keys(json),
        BTreeSet::from(["status", "connection_name", "current_status"])
    );
    assert!(json["status"].is_string() && json["connection_name"].is_string());
    let current = &json["current_status"];
    let fields = ["status", "error_count", "reconnect_attempts", "last_check"];
    assert_eq!(keys(current), BTreeSet::from(fields));
    assert!(current["status"].is_string());
    assert!(current["error_count"].is_u64() && current["reconnect_attempts"].is_u64());
    assert!(
        current["last_check"].is_f64(),
        "last_check is a number with a fraction: {current}"
    );
    assert!(
        current["last_check"].as_f64().unwrap() > 1.6e9,
        "Unix seconds: {current}"
    );
}

/// `(HTTP status, top-level status, current_status.status, error_count, reconnect_attempts)`.
async fn health(service: &Stack) -> (u16, String, String, u64, u64) {
    let (code, json) = get_json(service, "/health").await;
    assert_design_entry(&json);
    let current = &json["current_status"];
    (
        code.as_u16(),
        json["status"].as_str().unwrap().to_owned(),
        current["status"].as_str().unwrap().to_owned(),
        current["error_count"].as_u64().unwrap(),
        current["reconnect_attempts"].as_u64().unwrap(),
    )
}

/// A script whose every connect takes 1 s.
fn connecting_for_a_second() -> Script {
    Script {
        connect_delay: Duration::from_secs(1),
        ..Script::default()
    }
}

fn expect(
    code: u16,
    verdict: &str,
    state: &str,
    errors: u64,
    attempts: u64,
) -> (u16, String, String, u64, u64) {
    (code, verdict.to_owned(), state.to_owned(), errors, attempts)
}

#[tokio::test(start_paused = true)]
async fn the_design_shape_and_status_code_hold_in_every_state() {
    let script = Script::default();
    let (status, service) = stack("server-a", &script);
    // Before the first call nothing is known and connecting is lazy: 200.
    assert_eq!(health(&service).await, expect(200, "healthy", "healthy", 0, 0));
    let (_, json) = get_json(&service, "/health").await;
    assert_eq!(json["connection_name"], "server-a");

    assert_eq!(call(&service, "/mcp").await.unwrap(), 200);
    assert_eq!(health(&service).await, expect(200, "healthy", "healthy", 0, 1));

    script.answer(&[502]);
    assert_eq!(call(&service, "/mcp").await.unwrap(), 502);
    assert_eq!(health(&service).await, expect(200, "degraded", "degraded", 1, 1));

    // The third 502 starts a reconnect whose two connects are refused: open.
    script.fail_connects(io::ErrorKind::ConnectionRefused, 1000);
    script.answer(&[502, 502]);
    assert_eq!(call(&service, "/mcp").await.unwrap(), 502);
    assert_eq!(call(&service, "/mcp").await.unwrap(), 502);
    assert!(call(&service, "/mcp").await.is_err(), "fails fast once open");
    assert_eq!(status.state(), CircuitState::Open);
    let (code, verdict, state, _, attempts) = health(&service).await;
    assert_eq!(
        (code, verdict.as_str(), state.as_str(), attempts),
        (503, "unhealthy", "open", 3)
    );

    // The upstream is back: a probe half-opens the circuit (200, so traffic
    // comes and closes it), and a real call closes it.
    script.connect_failures.lock().unwrap().clear();
    while status.state() != CircuitState::HalfOpen {
        settle().await;
    }
    let (code, verdict, state, _, _) = health(&service).await;
    assert_eq!(
        (code, verdict.as_str(), state.as_str()),
        (200, "degraded", "half_open")
    );
    assert_eq!(call(&service, "/mcp").await.unwrap(), 200);
    let (code, verdict, state, errors, _) = health(&service).await;
    assert_eq!(
        (code, verdict.as_str(), state.as_str(), errors),
        (200, "healthy", "healthy", 0)
    );
}

#[tokio::test(start_paused = true)]
async fn the_first_connect_is_503_until_it_succeeds() {
    let script = connecting_for_a_second();
    let (status, service) = stack("server-a", &script);
    let first = tokio::spawn({
        let service = service.clone();
        async move { call(&service, "/mcp").await.unwrap() }
    });
    settle().await;
    assert_eq!(status.state(), CircuitState::Reconnecting);
    assert_eq!(
        health(&service).await,
        expect(503, "unhealthy", "reconnecting", 0, 0)
    );
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(health(&service).await, expect(200, "healthy", "healthy", 0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_reconnect_of_a_known_upstream_stays_200() {
    let script = connecting_for_a_second();
    let (status, service) = stack("server-a", &script);
    assert_eq!(call(&service, "/mcp").await.unwrap(), 200);
    script.answer(&[1]);
    assert!(
        call(&service, "/mcp").await.is_err(),
        "the reset reaches the caller"
    );
    settle().await;
    assert_eq!(status.state(), CircuitState::Reconnecting);
    let (code, verdict, state, _, _) = health(&service).await;
    assert_eq!(
        (code, verdict.as_str(), state.as_str()),
        (200, "degraded", "reconnecting")
    );
}

#[tokio::test(start_paused = true)]
async fn several_upstreams_keep_the_design_fields_for_the_first_and_list_all() {
    let (script_a, script_b) = (Script::default(), Script::default());
    let (status_a, circuit_a) = circuit("server-a", &script_a);
    let (status_b, circuit_b) = circuit("https://u:p@server-b/mcp?k=v", &script_b);
    script_b.fail_connects(io::ErrorKind::ConnectionRefused, 1000);
    let request = Request::post("/mcp").body(Body::default()).unwrap();
    assert!(circuit_b.clone().oneshot(request).await.is_err());
    assert_eq!(status_b.state(), CircuitState::Open);

    let layer = HealthLayer::new(status_a.clone()).upstream(status_b.clone());
    let service = layer.clone().layer(circuit_a.clone());
    assert_eq!(call(&service, "/mcp").await.unwrap(), 200);
    let (code, json) = get_json(&service, "/health").await;
    assert_eq!(code, 200, "one upstream still serves: {json}");
    assert_eq!(
        keys(&json),
        BTreeSet::from(["status", "connection_name", "current_status", "upstreams"])
    );
    assert_eq!(json["status"], "degraded");
    assert_eq!(json["connection_name"], "server-a");
    assert_eq!(json["current_status"]["status"], "healthy");
    let upstreams = json["upstreams"].as_array().unwrap();
    assert_eq!(upstreams.len(), 2);
    upstreams.iter().for_each(assert_design_entry);
    assert_eq!(upstreams[0]["status"], "healthy");
    assert_eq!(upstreams[1]["status"], "unhealthy");
    assert_eq!(upstreams[1]["connection_name"], "https://server-b/mcp");
    assert_eq!(upstreams[1]["current_status"]["status"], "open");
    assert_eq!(layer.verdict(), Verdict::Degraded);

    let strict = layer.policy(Policy::AllServing);
    assert_eq!(strict.verdict(), Verdict::Unhealthy);
    let (code, json) = get_json(&strict.layer(circuit_a), "/health").await;
    assert_eq!((code.as_u16(), json["status"].as_str()), (503, Some("unhealthy")));

    // Every upstream down: 503 under the default policy too.
    let both_down = HealthLayer::new(status_b.clone()).upstream(status_b);
    assert_eq!(both_down.verdict(), Verdict::Unhealthy);
}

#[test]
fn the_overall_verdict_follows_the_policy() {
    use Verdict::{Degraded as D, Healthy as H, Unhealthy as U};
    let cases: [(&[Verdict], Verdict, Verdict); 6] = [
        (&[], H, H),
        (&[H, H], H, H),
        (&[H, D], D, D),
        (&[H, U], D, U),
        (&[U, U], U, U),
        (&[D, U], D, U),
    ];
    for (verdicts, any, all) in cases {
        assert_eq!(
            Verdict::overall(verdicts.iter().copied(), Policy::AnyServing),
            any,
            "{verdicts:?}"
        );
        assert_eq!(
            Verdict::overall(verdicts.iter().copied(), Policy::AllServing),
            all,
            "{verdicts:?}"
        );
    }
    assert_eq!(Verdict::Unhealthy.status_code(), 503);
    assert_eq!(Verdict::Degraded.status_code(), 200);
}
