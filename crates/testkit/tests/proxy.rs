//! Each fault of the proxy does what it promises, over real TCP on 127.0.0.1.

mod common;

use std::time::Duration;

use common::{class_of, key, text, within};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_core::{BoxError, FailureClass, headers};
use mcp_reconnect_testkit::{Fault, Match, McpResponse, RawClient, Rule, TestUpstream};

/// A test upstream whose proxy applies `rule`, and a client that completed
/// the handshake through it (the rule goes in after the handshake).
async fn started_with(rule: Rule) -> (TestUpstream, RawClient) {
    let (upstream, client) = started().await;
    upstream.proxy.push(rule);
    (upstream, client)
}

/// A test upstream and a client that completed the handshake through the proxy.
async fn started() -> (TestUpstream, RawClient) {
    let upstream = within(TestUpstream::start()).await.expect("start");
    let mut client = RawClient::new(upstream.url());
    let init = within(client.initialize()).await.expect("initialize");
    assert_eq!(init.status, StatusCode::OK);
    (upstream, client)
}

/// `echo` of `word` through a clone of `client`: the same session, a new connection.
async fn echo_anew(client: &RawClient, word: &str) -> Result<McpResponse, BoxError> {
    client.clone().call_tool("echo", text(word)).await
}

#[tokio::test]
async fn pass_forwards_and_streams_sse_answers() {
    let (upstream, mut client) = started().await;
    let echo = within(client.call_tool("echo", text("through"))).await.unwrap();
    assert!(headers::is_event_stream(&echo.headers));
    assert_eq!(echo.text().as_deref(), Some("through"));
    assert_eq!(upstream.proxy.forwarded(), 3, "initialize, initialized, echo");
    assert_eq!(upstream.proxy.requests(), 3);
    assert!(upstream.proxy.log().is_empty());
}

#[tokio::test]
async fn status_is_answered_without_reaching_the_server() {
    let (upstream, mut client) = started().await;
    let fault = Fault::status_retry_after(StatusCode::SERVICE_UNAVAILABLE, Duration::from_millis(1500));
    upstream.proxy.push(Rule::tool("increment", fault.clone()).once());
    let forwarded = upstream.proxy.forwarded();

    let answer = within(client.call_tool("increment", key("k"))).await.unwrap();
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers[http::header::RETRY_AFTER], "2");
    assert_eq!(upstream.proxy.forwarded(), forwarded);
    assert_eq!(upstream.counters().calls("increment"), 0);

    let again = within(client.call_tool("increment", key("k"))).await.unwrap();
    assert_eq!(again.text().as_deref(), Some("1"), "the rule fired once");
    let log = upstream.proxy.log();
    assert_eq!(log.len(), 1);
    let entry = &log[0];
    assert_eq!(entry.seq, 3, "after initialize and initialized");
    assert_eq!(entry.fault, fault);
    assert_eq!(entry.method.as_deref(), Some("tools/call"));
    assert_eq!(entry.tool.as_deref(), Some("increment"));
}

#[tokio::test]
async fn forward_then_status_runs_the_tool_and_fails_the_client() {
    let (upstream, mut client) =
        started_with(Rule::tool("increment", Fault::ForwardThenStatus(StatusCode::BAD_GATEWAY)).once()).await;
    let answer = within(client.call_tool("increment", key("k"))).await.unwrap();
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert_eq!(upstream.counters().increments("k"), 1, "the server executed");
    assert_eq!(upstream.proxy.forwarded(), 3);
}

#[tokio::test]
async fn reset_fails_the_connection_without_forwarding() {
    let (upstream, mut client) = started_with(Rule::tool("increment", Fault::Reset).once()).await;
    let error = within(client.call_tool("increment", key("k"))).await.unwrap_err();
    assert_eq!(class_of(&error), FailureClass::Connection, "{error:?}");
    assert_eq!(upstream.counters().calls("increment"), 0);
    assert_eq!(upstream.proxy.forwarded(), 2);

    let answer = within(client.call_tool("increment", key("k"))).await.unwrap();
    assert_eq!(answer.text().as_deref(), Some("1"), "a new connection works");
}

#[tokio::test]
async fn forward_then_reset_runs_the_tool_and_fails_the_connection() {
    let (upstream, mut client) = started_with(Rule::tool("increment", Fault::ForwardThenReset).once()).await;
    let error = within(client.call_tool("increment", key("k"))).await.unwrap_err();
    assert_eq!(class_of(&error), FailureClass::Connection, "{error:?}");
    assert_eq!(upstream.counters().increments("k"), 1, "the server executed");
}

#[tokio::test]
async fn hang_never_answers() {
    let (upstream, mut client) = started_with(Rule::method("tools/call", Fault::Hang)).await;
    let gave_up = tokio::time::timeout(Duration::from_millis(300), client.call_tool("echo", text("x"))).await;
    assert!(gave_up.is_err(), "answered: {gave_up:?}");
    assert_eq!(upstream.counters().total_calls(), 0);
    upstream.proxy.clear();
    let answer = within(echo_anew(&client, "x")).await.unwrap();
    assert_eq!(answer.text().as_deref(), Some("x"));
}

#[tokio::test]
async fn delay_forwards_after_waiting() {
    let (upstream, mut client) = started_with(Rule::any(Fault::Delay(Duration::from_millis(50)))).await;
    let answer = within(client.call_tool("add", serde_json::json!({"a": 1, "b": 2})))
        .await
        .unwrap();
    assert_eq!(answer.text().as_deref(), Some("3"));
    assert_eq!(upstream.counters().calls("add"), 1);
}

#[tokio::test]
async fn refuse_closes_the_port_until_accept() {
    let (upstream, client) = started().await;
    within(upstream.proxy.refuse()).await;
    assert!(!upstream.proxy.is_accepting().await);
    // A client without pooled connections: its connect is refused.
    let mut fresh = RawClient::new(upstream.url());
    fresh.set_session(client.session().map(str::to_owned));
    let error = within(fresh.call_tool("echo", text("x"))).await.unwrap_err();
    assert_eq!(class_of(&error), FailureClass::Unavailable, "{error:?}");

    within(upstream.proxy.accept()).await.unwrap();
    let answer = within(fresh.call_tool("echo", text("back"))).await.unwrap();
    assert_eq!(answer.text().as_deref(), Some("back"), "same session, same port");
}

#[tokio::test]
async fn refuse_for_accepts_again_by_itself() {
    let (upstream, client) = started().await;
    within(upstream.proxy.refuse_for(Duration::from_millis(100))).await;
    let answer = within(async {
        loop {
            if let Ok(answer) = echo_anew(&client, "later").await {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(answer.text().as_deref(), Some("later"));
}

#[tokio::test]
async fn every_nth_rule_injects_deterministically() {
    let (upstream, mut client) =
        started_with(Rule::tool("echo", Fault::status(StatusCode::GATEWAY_TIMEOUT)).every(5)).await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(within(client.call_tool("echo", text("x"))).await.unwrap().status);
    }
    let failed: Vec<usize> = (0..10)
        .filter(|&i| statuses[i] == StatusCode::GATEWAY_TIMEOUT)
        .collect();
    assert_eq!(failed, [4, 9]);
    assert_eq!(upstream.counters().calls("echo"), 8);
    assert_eq!(upstream.proxy.rules()[0].fired(), 2);
    let seqs: Vec<u64> = upstream.proxy.log().iter().map(|fault| fault.seq).collect();
    assert_eq!(seqs, [7, 12]);
}

#[tokio::test]
async fn unreachable_upstream_is_a_bad_gateway() {
    let (mut upstream, mut client) = started().await;
    within(upstream.server.stop()).await;
    let answer = within(client.call_tool("echo", text("x"))).await.unwrap();
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert!(upstream.proxy.log().is_empty(), "not an injected fault");

    within(upstream.server.start_again()).await.unwrap();
    let lost = within(client.call_tool("echo", text("x"))).await.unwrap();
    assert_eq!(
        lost.status,
        StatusCode::NOT_FOUND,
        "the restarted server forgot the session"
    );
}

#[tokio::test]
async fn get_streams_and_delete_pass_through_with_the_session() {
    let (upstream, client) = started().await;
    let session = client.session().unwrap().to_owned();
    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let request = |method: Method| {
        http::Request::builder()
            .method(method)
            .uri(upstream.url())
            .header(http::header::ACCEPT, "text/event-stream")
            .header(headers::MCP_SESSION_ID, &session)
            .header(headers::MCP_PROTOCOL_VERSION, "2025-06-18")
            .body(Empty::new())
            .unwrap()
    };
    // The GET stream never ends: its headers arriving proves it is not buffered.
    let stream = within(http.request(request(Method::GET))).await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(headers::is_event_stream(stream.headers()));
    drop(stream);

    let deleted = within(http.request(request(Method::DELETE))).await.unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    within(deleted.into_body().collect()).await.unwrap();
    let gone = within(echo_anew(&client, "x")).await.unwrap();
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    let get_fault = Fault::status(StatusCode::SERVICE_UNAVAILABLE);
    upstream
        .proxy
        .push(Rule::new(Match::HttpMethod(Method::GET), get_fault.clone()));
    let refused = within(http.request(request(Method::GET))).await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let log = upstream.proxy.log();
    assert_eq!((log.len(), &log[0].fault, &log[0].method), (1, &get_fault, &None));
}
