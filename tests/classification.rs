//! The reconnect design's classification table, proven with real faults: a real hyper-util
//! client behind `ClassifyLayer`, the testkit's rmcp MCP server, and its fault
//! proxy, all on 127.0.0.1.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect::ClassifyLayer;
use mcp_reconnect::core::{BoxError, Classification, ClassifiedError, Failure, FailureClass, Reached};
use mcp_reconnect_testkit::jsonrpc::{jsonrpc_request, tools_call};
use mcp_reconnect_testkit::{Fault, RawClient, Rule, ServerOptions, TestUpstream};
use serde_json::{Value, json};
use tower::{Service, ServiceBuilder, ServiceExt};

/// What a client sees: a response's class, or an error's.
async fn classify(url: &str, session: Option<&str>, body: Value) -> Classification {
    classify_with_timeout(url, session, body, Duration::from_secs(30)).await
}

async fn classify_with_timeout(
    url: &str,
    session: Option<&str>,
    body: Value,
    timeout: Duration,
) -> Classification {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut service = ServiceBuilder::new()
        .layer(ClassifyLayer::new())
        .timeout(timeout)
        .service(client);
    let request = jsonrpc_request(url, session, &body).expect("request");
    let service = service.ready().await.expect("ready");
    match service.call(request).await {
        Ok(response) => response
            .extensions()
            .get::<Classification>()
            .expect("classified")
            .clone(),
        Err(error) => Classification::Failure(classified(&error)),
    }
}

fn classified(error: &BoxError) -> Failure {
    error
        .downcast_ref::<ClassifiedError>()
        .expect("ClassifyLayer returns a ClassifiedError")
        .failure()
        .clone()
}

fn failure(classification: Classification) -> Failure {
    match classification {
        Classification::Failure(failure) => failure,
        Classification::Success => panic!("expected a failure, got a success"),
    }
}

fn echo() -> Value {
    tools_call(1, "echo", json!({"text": "hi"}))
}

fn assert_class(classification: &Classification, class: FailureClass, reached: Reached) {
    let failure = classification.failure().expect("a failure");
    assert_eq!(
        (failure.class(), failure.reached()),
        (class, reached),
        "{failure}"
    );
    assert_eq!(failure.is_recoverable(), class != FailureClass::Business);
}

/// A stateless JSON server, so that answers are small complete JSON bodies.
async fn json_upstream() -> TestUpstream {
    let options = ServerOptions::default()
        .with_sessions(false)
        .with_json_response(true);
    TestUpstream::start_with(options).await.expect("upstream")
}

#[tokio::test]
async fn gateway_statuses_from_the_proxy_are_recoverable() {
    let upstream = TestUpstream::start().await.unwrap();
    for (status, class, reached) in [
        (StatusCode::BAD_GATEWAY, FailureClass::Gateway, Reached::Unknown),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            FailureClass::Unavailable,
            Reached::No,
        ),
        (
            StatusCode::GATEWAY_TIMEOUT,
            FailureClass::Gateway,
            Reached::Unknown,
        ),
        (
            StatusCode::TOO_MANY_REQUESTS,
            FailureClass::Unavailable,
            Reached::No,
        ),
    ] {
        upstream.proxy.push(Rule::any(Fault::status(status)).once());
        assert_class(&classify(&upstream.url(), None, echo()).await, class, reached);
    }
    assert_eq!(
        upstream.counters().total_calls(),
        0,
        "the proxy answered without forwarding"
    );
}

#[tokio::test]
async fn retry_after_is_kept() {
    let upstream = TestUpstream::start().await.unwrap();
    let fault = Fault::status_retry_after(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(3));
    upstream.proxy.push(Rule::any(fault).once());
    let failure = failure(classify(&upstream.url(), None, echo()).await);
    assert_eq!(failure.retry_after(), Some(Duration::from_secs(3)));
}

#[tokio::test]
async fn a_refused_connection_never_reached_the_server() {
    let upstream = TestUpstream::start().await.unwrap();
    upstream.proxy.refuse().await;
    let failure = classify(&upstream.url(), None, echo()).await;
    assert_class(&failure, FailureClass::Unavailable, Reached::No);
}

#[tokio::test]
async fn a_reset_is_a_connection_failure_of_unknown_reach() {
    let upstream = TestUpstream::start().await.unwrap();
    upstream.proxy.push(Rule::any(Fault::Reset).once());
    let failure = classify(&upstream.url(), None, echo()).await;
    assert_class(&failure, FailureClass::Connection, Reached::Unknown);
    upstream.proxy.push(Rule::any(Fault::ForwardThenReset).once());
    let failure = classify(&upstream.url(), None, echo()).await;
    assert_class(&failure, FailureClass::Connection, Reached::Unknown);
}

#[tokio::test]
async fn a_hung_upstream_is_a_timeout() {
    let upstream = TestUpstream::start().await.unwrap();
    upstream.proxy.push(Rule::any(Fault::Hang).once());
    let failure = classify_with_timeout(&upstream.url(), None, echo(), Duration::from_millis(300)).await;
    assert_class(&failure, FailureClass::Timeout, Reached::Unknown);
}

#[tokio::test]
async fn permission_denied_is_business() {
    let upstream = TestUpstream::start().await.unwrap();
    for status in [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN] {
        upstream.proxy.push(Rule::any(Fault::status(status)).once());
        let failure = classify(&upstream.url(), None, echo()).await;
        assert_class(&failure, FailureClass::Business, Reached::Yes);
    }
}

#[tokio::test]
async fn invalid_json_jsonrpc_errors_and_is_error_results_are_business() {
    let upstream = json_upstream().await;
    let url = upstream.url();
    // The server's own answer to a body that is not JSON.
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut service = ServiceBuilder::new().layer(ClassifyLayer::new()).service(client);
    let mut request = jsonrpc_request(&url, None, &json!({})).unwrap();
    *request.body_mut() = Full::new(Bytes::from_static(b"{not json"));
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    let class = response.extensions().get::<Classification>().unwrap();
    assert_eq!(class.class(), Some(FailureClass::Business), "{class}");

    let unknown_method = json!({"jsonrpc": "2.0", "id": 5, "method": "no/such_method", "params": {}});
    let failure = classify(&url, None, unknown_method).await;
    assert_class(&failure, FailureClass::Business, Reached::Yes);

    let failure = classify(&url, None, tools_call(6, "fail_business", json!({}))).await;
    assert_class(&failure, FailureClass::Business, Reached::Yes);

    // And a plain success stays a success.
    assert!(classify(&url, None, echo()).await.is_success());
}

#[tokio::test]
async fn a_restarted_server_has_lost_the_session() {
    let mut upstream = TestUpstream::start().await.unwrap();
    let mut client = RawClient::new(upstream.url());
    client.initialize().await.unwrap();
    let session = client.session().expect("a session").to_string();
    assert!(
        classify(&upstream.url(), Some(&session), echo())
            .await
            .is_success()
    );

    upstream.server.restart().await.unwrap();
    let failure = classify(&upstream.url(), Some(&session), echo()).await;
    assert_class(&failure, FailureClass::SessionLost, Reached::No);
}
