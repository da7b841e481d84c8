//! `--api-key` and `--strict-auth`.

mod common;

use common::{Http, gateway};
use http::Method;
use mcp_reconnect_testkit::TestUpstream;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_guards_calls_but_not_probes_or_docs() {
    let upstream = TestUpstream::start().await.unwrap();
    let gateway = gateway(&["--api-key", "s3cret", "streamablehttp", &upstream.url()], &[]).await;
    let base = gateway.url();
    let http = Http::default();
    let call = json!({"text": "x"});

    let missing = http.post_json(&format!("{base}/echo"), &[], &call).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.headers["www-authenticate"], "Bearer");
    let wrong = http
        .post_json(
            &format!("{base}/echo"),
            &[("authorization", "Bearer nope")],
            &call,
        )
        .await;
    assert_eq!(wrong.status, 403);
    let longer = http
        .post_json(
            &format!("{base}/echo"),
            &[("authorization", "Bearer s3cret0")],
            &call,
        )
        .await;
    assert_eq!(longer.status, 403);
    let right = http
        .post_json(
            &format!("{base}/echo"),
            &[("authorization", "Bearer s3cret")],
            &call,
        )
        .await;
    assert_eq!((right.status.as_u16(), right.json()), (200, json!("x")));
    let mcp = http.send(Method::POST, &format!("{base}/mcp"), &[], "{}").await;
    assert_eq!(mcp.status, 401);

    for open in [
        "/health",
        "/metrics",
        "/docs",
        "/openapi.json",
        "/docs/swagger-ui.css",
    ] {
        let answer = http.get(&format!("{base}{open}"), &[]).await;
        assert!(answer.status.is_success(), "{open}: {answer:?}");
    }
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_auth_also_guards_docs_openapi_and_metrics() {
    let upstream = TestUpstream::start().await.unwrap();
    let gateway = gateway(
        &[
            "--api-key",
            "s3cret",
            "--strict-auth",
            "streamablehttp",
            &upstream.url(),
        ],
        &[],
    )
    .await;
    let base = gateway.url();
    let http = Http::default();
    for guarded in ["/metrics", "/docs", "/openapi.json", "/docs/swagger-ui.css"] {
        let answer = http.get(&format!("{base}{guarded}"), &[]).await;
        assert_eq!(answer.status, 401, "{guarded}");
        let answer = http
            .get(&format!("{base}{guarded}"), &[("authorization", "Bearer s3cret")])
            .await;
        assert!(answer.status.is_success(), "{guarded}: {answer:?}");
    }
    // Open to probes whatever the upstream's state (200 healthy, 503 not connected yet).
    assert_ne!(http.get(&format!("{base}/health"), &[]).await.status, 401);
    gateway.shutdown().await;
}
