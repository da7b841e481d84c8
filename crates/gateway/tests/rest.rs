//! mcpo's REST surface over real TCP: status codes and bodies.

mod common;

use common::{FAST_ENV, Http, upstream_and_gateway};
use http::StatusCode;
use mcp_reconnect_testkit::{Fault, Rule};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_calls_answer_as_mcpo_does() {
    let (upstream, gateway) = upstream_and_gateway(&[], &FAST_ENV).await;
    let base = gateway.url();
    let http = Http::default();

    http.assert_echo(&format!("{base}/echo"), &[], "hello").await;

    let add = http
        .post_json(&format!("{base}/add"), &[], &json!({"a": 2, "b": 3.5}))
        .await;
    assert_eq!(
        (add.status.as_u16(), add.json()),
        (200, json!(5.5)),
        "a JSON text item is parsed"
    );

    let missing = http.post_json(&format!("{base}/echo"), &[], &json!({})).await;
    assert_eq!(missing.status, 422);
    assert_eq!(missing.json()["detail"][0]["type"], "missing");
    assert_eq!(missing.json()["detail"][0]["loc"], json!(["body", "text"]));

    let wrong_type = http
        .post_json(&format!("{base}/add"), &[], &json!({"a": "two", "b": 1}))
        .await;
    assert_eq!(wrong_type.status, 422);
    assert_eq!(wrong_type.json()["detail"][0]["loc"], json!(["body", "a"]));

    let unknown = http
        .post_json(&format!("{base}/no_such_tool"), &[], &json!({}))
        .await;
    assert_eq!(
        (unknown.status.as_u16(), unknown.json()),
        (404, json!({"detail": "Not Found"}))
    );

    let business = http
        .post_json(&format!("{base}/fail_business"), &[], &json!({}))
        .await;
    assert_eq!(business.status, 500);
    assert_eq!(
        business.json()["detail"]["message"],
        mcp_reconnect_testkit::tools::BUSINESS_ERROR_TEXT
    );

    let increment = http
        .post_json(&format!("{base}/increment"), &[], &json!({"key": "rest"}))
        .await;
    assert_eq!((increment.status.as_u16(), increment.json()), (200, json!(1)));
    assert_eq!(upstream.counters().increments("rest"), 1);
    gateway.shutdown().await;
}

/// A `POST` to one segment is a tool call, as in mcpo: a percent-encoded
/// name is decoded, and the router's own paths (all `GET`s) do not shadow a
/// tool of the same name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_routes_and_the_fixed_routes_beside_them() {
    let (upstream, gateway) = upstream_and_gateway(&[], &FAST_ENV).await;
    let base = gateway.url();
    let http = Http::default();
    let text = json!({"text": "hi"});

    let encoded = http.post_json(&format!("{base}/ech%6F"), &[], &text).await;
    assert_eq!((encoded.status.as_u16(), encoded.json()), (200, json!("hi")));
    assert_eq!(upstream.counters().calls("echo"), 1);

    // One segment: a call of a tool by that name (this server has none);
    // the pages themselves still answer their `GET`s.
    for path in ["/openapi.json", "/docs", "/health", "/metrics"] {
        let answer = http.post_json(&format!("{base}{path}"), &[], &text).await;
        assert_eq!(
            (answer.status.as_u16(), answer.json()),
            (404, json!({"detail": "Not Found"})),
            "POST {path}"
        );
        let page = http.get(&format!("{base}{path}"), &[]).await.status.as_u16();
        assert!(![404, 405].contains(&page), "GET {path}: {page}");
    }
    let asset = http
        .post_json(&format!("{base}/docs/swagger-ui.css"), &[], &text)
        .await;
    assert_eq!(asset.status.as_u16(), 405, "a page's own path, another method");
    // Not tool routes at all: a nested path, an empty name, another method.
    for (method, path) in [
        (http::Method::POST, "/echo/more"),
        (http::Method::POST, "/"),
        (http::Method::GET, "/echo"),
        (http::Method::PUT, "/echo"),
    ] {
        let answer = http
            .send(method.clone(), &format!("{base}{path}"), &[], text.to_string())
            .await;
        assert!(
            matches!(answer.status.as_u16(), 404 | 405),
            "{method} {path}: {answer:?}"
        );
    }
    assert_eq!(
        upstream.counters().calls("echo"),
        1,
        "no other request ran the tool"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_answers_503_with_retry_after() {
    let (mut upstream, gateway) = upstream_and_gateway(&[], &FAST_ENV).await;
    let base = gateway.url();
    let http = Http::default();
    let first = http
        .post_json(&format!("{base}/echo"), &[], &json!({"text": "up"}))
        .await;
    assert_eq!(first.status, 200, "{first:?}");

    upstream.proxy.refuse().await;
    upstream.server.stop().await;
    let down = http
        .post_json(&format!("{base}/echo"), &[], &json!({"text": "down"}))
        .await;
    assert!([502, 503, 504].contains(&down.status.as_u16()), "{down:?}");
    assert!(down.headers.contains_key("retry-after"), "{down:?}");
    assert!(down.json()["detail"]["message"].is_string());
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_502_burst_is_retried_for_a_read_only_tool_but_never_runs_increment_twice() {
    let (upstream, gateway) = upstream_and_gateway(&[], &[]).await;
    let base = gateway.url();
    let http = Http::default();
    // The tool list (and so `echo`'s readOnlyHint) is learned before the faults.
    assert_eq!(http.get(&format!("{base}/openapi.json"), &[]).await.status, 200);

    upstream
        .proxy
        .push(Rule::tool("echo", Fault::status(StatusCode::BAD_GATEWAY)).times(2));
    http.assert_echo(&format!("{base}/echo"), &[], "again").await;

    upstream
        .proxy
        .push(Rule::tool("increment", Fault::ForwardThenStatus(StatusCode::BAD_GATEWAY)).once());
    let increment = http
        .post_json(&format!("{base}/increment"), &[], &json!({"key": "once"}))
        .await;
    assert_eq!(increment.status, 502, "{increment:?}");
    assert!(increment.headers.contains_key("retry-after"));
    assert_eq!(increment.json()["detail"]["data"]["reached"], "unknown");
    assert_eq!(
        upstream.counters().increments("once"),
        1,
        "it ran once and was not repeated"
    );
    gateway.shutdown().await;
}
