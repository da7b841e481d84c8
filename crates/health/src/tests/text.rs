//! `/metrics` as Prometheus text and OpenMetrics, parsed strictly; content
//! negotiation.

use http::header::ACCEPT;

use super::expo::{self, Exposition};
use super::exposition::exercised;
use super::*;
use crate::{Format, Rejection};

async fn scrape(service: &Stack, accept: &str, openmetrics: bool) -> Exposition {
    let request = Request::get("/metrics")
        .header(ACCEPT, accept)
        .body(Body::default())
        .unwrap();
    let (code, headers, body) = fetch(service, request).await;
    assert_eq!(code, 200);
    let expected = if openmetrics {
        crate::OPENMETRICS_CONTENT_TYPE
    } else {
        crate::PROMETHEUS_CONTENT_TYPE
    };
    assert_eq!(headers["content-type"], expected);
    let text = std::str::from_utf8(&body).unwrap();
    expo::parse(text, openmetrics).unwrap_or_else(|error| panic!("{error}\n{text}"))
}

#[tokio::test(start_paused = true)]
async fn both_text_expositions_parse_strictly_and_match_the_snapshot() {
    let (status, service) = exercised("server-a").await;
    let snapshot = status.snapshot();
    let prometheus = scrape(&service, "text/plain", false).await;
    let openmetrics = scrape(&service, "application/openmetrics-text", true).await;
    for (exposition, om) in [(&prometheus, false), (&openmetrics, true)] {
        let up = ("upstream", "server-a");
        let value = |name: &str, labels: &[(&str, &str)]| exposition.value(name, labels).unwrap_or(-1.0);
        let success = value("mcp_reconnect_requests_total", &[up, ("class", "success")]);
        assert_eq!(success, snapshot.requests[0].1 as f64);
        let states: Vec<f64> = mcp_reconnect_circuit::CircuitState::ALL
            .iter()
            .map(|s| value("mcp_reconnect_circuit_state", &[up, ("state", s.as_str())]))
            .collect();
        assert_eq!(states, [1.0, 0.0, 0.0, 0.0, 0.0], "one-hot, healthy");
        let samples = [
            ("mcp_reconnect_requests_total", Some(("class", "gateway")), 1.0),
            (
                "mcp_reconnect_reconnects_total",
                Some(("outcome", "succeeded")),
                2.0,
            ),
            ("mcp_reconnect_reconnects_total", Some(("outcome", "failed")), 0.0),
            (
                "mcp_reconnect_transitions_total",
                Some(("reason", "connection_lost")),
                1.0,
            ),
            ("mcp_reconnect_fail_fast_total", None, 0.0),
            (
                "mcp_reconnect_retries_total",
                Some(("outcome", "budget_exhausted")),
                1.0,
            ),
            ("mcp_reconnect_recovery_seconds_count", None, 1.0),
            ("mcp_reconnect_reconnect_duration_seconds_count", None, 2.0),
        ];
        for (name, label, expected) in samples {
            let labels: Vec<(&str, &str)> = std::iter::once(up).chain(label).collect();
            assert_eq!(value(name, &labels), expected, "{name} {label:?}");
        }
        assert!(value("mcp_reconnect_last_check_timestamp_seconds", &[up]) > 1.6e9);
        let counter = if om {
            "mcp_reconnect_requests"
        } else {
            "mcp_reconnect_requests_total"
        };
        assert_eq!(
            exposition.family(counter).map(|f| f.kind.as_str()),
            Some("counter")
        );
        let histogram = exposition.family("mcp_reconnect_recovery_seconds").unwrap();
        assert_eq!(histogram.kind, "histogram");
        assert_eq!(histogram.unit.as_deref(), om.then_some("seconds"));
    }
}

#[tokio::test(start_paused = true)]
async fn label_values_are_escaped() {
    let (_, odd) = exercised("we\"ird\\name\nline").await;
    for (accept, om) in [("text/plain", false), ("application/openmetrics-text", true)] {
        let exposition = scrape(&odd, accept, om).await;
        let names: Vec<&str> = exposition.label_values().collect();
        assert!(names.contains(&"we\"ird\\name\nline"), "{names:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn format_follows_the_query_then_accept_and_refuses_what_it_cannot_give() {
    let (_, service) = exercised("server-a").await;
    let cases = [
        ("/metrics", None, 200, "application/json"),
        (
            "/metrics",
            Some("application/openmetrics-text;version=1.0.0;q=0.6,text/plain;q=0.3,*/*;q=0.2"),
            200,
            crate::OPENMETRICS_CONTENT_TYPE,
        ),
        (
            "/metrics?format=prometheus",
            Some("application/json"),
            200,
            crate::PROMETHEUS_CONTENT_TYPE,
        ),
        (
            "/metrics?x=1&format=openmetrics",
            None,
            200,
            crate::OPENMETRICS_CONTENT_TYPE,
        ),
        (
            "/metrics?format=json",
            Some("text/plain"),
            200,
            "application/json",
        ),
        ("/metrics?format=xml", None, 400, "application/json"),
        ("/metrics", Some("image/png"), 406, "application/json"),
    ];
    for (uri, accept, code, content_type) in cases {
        let mut request = Request::get(uri);
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        let (status, headers, body) = fetch(&service, request.body(Body::default()).unwrap()).await;
        assert_eq!(
            (status.as_u16(), headers["content-type"].to_str().unwrap()),
            (code, content_type),
            "{uri} {accept:?}"
        );
        assert_eq!(headers["content-length"], body.len().to_string());
        if content_type == crate::OPENMETRICS_CONTENT_TYPE {
            assert!(body.ends_with(b"# EOF\n"));
        }
    }
}

#[test]
fn accept_headers_pick_the_best_offered_format() {
    use Format::{Json, OpenMetrics, Prometheus};
    let prometheus3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
        application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
        text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let cases: [(&str, Result<Format, Rejection>); 14] = [
        ("*/*", Ok(Json)),
        ("application/json", Ok(Json)),
        ("text/plain", Ok(Prometheus)),
        ("TEXT/Plain; version=0.0.4", Ok(Prometheus)),
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Ok(OpenMetrics),
        ),
        (prometheus3, Ok(OpenMetrics)),
        ("text/plain, */*", Ok(Prometheus)),
        ("text/*", Ok(Prometheus)),
        ("application/*", Ok(Json)),
        (browser, Ok(Json)),
        ("application/json;q=0, text/plain;q=0.1", Ok(Prometheus)),
        ("application/json;q=0", Err(Rejection::NotAcceptable)),
        ("*/*;q=0", Err(Rejection::NotAcceptable)),
        ("nonsense, application/json;q=2", Ok(Json)),
    ];
    for (accept, expected) in cases {
        let mut headers = http::HeaderMap::new();
        headers.insert(ACCEPT, accept.parse().unwrap());
        assert_eq!(Format::negotiate(None, &headers), expected, "{accept}");
    }
    let none = http::HeaderMap::new();
    assert_eq!(Format::negotiate(None, &none), Ok(Json));
    assert_eq!(Format::negotiate(Some("format=TEXT"), &none), Ok(Prometheus));
    assert_eq!(
        Format::negotiate(Some("format="), &none),
        Err(Rejection::UnknownFormat)
    );
    assert_eq!(Format::negotiate(Some("formats=xml"), &none), Ok(Json));
}
