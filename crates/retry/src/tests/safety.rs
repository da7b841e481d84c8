//! Never run a non-idempotent tool twice; safe calls are retried; configuration wins over hints.

use super::*;

// === never run a non-idempotent tool twice ===

#[tokio::test(start_paused = true)]
async fn an_ambiguous_502_on_increment_runs_it_once_and_says_it_may_have_run() {
    let layer = ToolRetryLayer::new();
    let script = Script::new([Answer::Status(502)]);
    let response = send(&layer, &script, call("increment")).await;
    assert_eq!(script.calls(), 1);
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = json_of(&response);
    assert_eq!(body["id"], 7);
    assert_eq!(body["error"]["code"], codes::MAYBE_EXECUTED);
    assert_eq!(
        body["error"]["message"],
        "tool 'increment' may have run; not retried because it is not idempotent"
    );
    let data = &body["error"]["data"];
    assert_eq!(
        (data["class"].as_str(), data["reached"].as_str()),
        (Some("gateway"), Some("unknown"))
    );
    assert_eq!(
        (data["retried"].as_bool(), data["tool"].as_str()),
        (Some(false), Some("increment"))
    );
    assert_eq!(layer.stats().refused_unsafe, 1);
    assert_eq!(layer.stats().attempted, 0);
}

#[tokio::test(start_paused = true)]
async fn classify_layer_below_gives_the_same_answer_for_an_ambiguous_502() {
    let layer = ToolRetryLayer::new();
    let script = Script::new([Answer::Status(502)]);
    let service = layer.layer(ClassifyLayer::new().layer(upstream(Arc::clone(&script))));
    let response = service.oneshot(call("increment")).await.unwrap();
    assert_eq!(script.calls(), 1);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], codes::MAYBE_EXECUTED);
}

#[tokio::test(start_paused = true)]
async fn a_reset_error_on_increment_is_answered_not_retried() {
    let layer = ToolRetryLayer::new();
    let script = Script::new([Answer::Error(io::ErrorKind::ConnectionReset)]);
    let response = send(&layer, &script, call("increment")).await;
    assert_eq!(script.calls(), 1);
    let body = json_of(&response);
    assert_eq!(body["error"]["code"], codes::MAYBE_EXECUTED);
    assert_eq!(body["error"]["data"]["class"], "connection");
}

#[tokio::test(start_paused = true)]
async fn a_503_never_reached_the_server_so_increment_is_retried_once() {
    let layer = ToolRetryLayer::new();
    let script = Script::new([Answer::Status(503)]);
    let response = send(&layer, &script, call("increment")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(script.attempts(), [Some(1), Some(2)]);
    let stats = layer.stats();
    assert_eq!((stats.attempted, stats.succeeded), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn refused_connections_are_retried_for_any_tool() {
    let layer = ToolRetryLayer::new();
    let script = Script::new([Answer::Error(io::ErrorKind::ConnectionRefused)]);
    let response = send(&layer, &script, call("increment")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(script.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_503_then_a_502_on_increment_stops_at_the_ambiguous_try() {
    let layer = ToolRetryLayer::new();
    let script = Script::new([Answer::Status(503), Answer::Status(502)]);
    let response = send(&layer, &script, call("increment")).await;
    assert_eq!(script.calls(), 2);
    let body = json_of(&response);
    assert_eq!(body["error"]["code"], codes::MAYBE_EXECUTED);
    assert_eq!(body["error"]["data"]["attempts"], 2);
}

// === safe calls are retried ===

#[tokio::test(start_paused = true)]
async fn echo_learned_read_only_from_a_json_tools_list_is_retried_after_a_502() {
    let layer = learned(JSON, TOOLS_LIST).await;
    let safety = layer.tool_safety();
    assert!(safety.hints("echo").unwrap().read_only);
    assert!(safety.hints("setter").unwrap().idempotent);
    assert!(!safety.hints("increment").unwrap().is_repeatable());
    for tool in ["echo", "setter"] {
        let script = Script::new([Answer::Status(502)]);
        let response = send(&layer, &script, call(tool)).await;
        assert_eq!(response.status(), StatusCode::OK, "{tool}");
        assert_eq!(script.calls(), 2, "{tool}");
    }
}

#[tokio::test(start_paused = true)]
async fn echo_learned_read_only_from_an_sse_tools_list_is_retried_after_a_502() {
    let layer = learned(SSE, TOOLS_LIST_SSE).await;
    assert!(layer.tool_safety().hints("echo").unwrap().read_only);
    let script = Script::new([Answer::Status(502), Answer::Status(504)]);
    let response = send(&layer, &script, call("echo")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(script.attempts(), [Some(1), Some(2), Some(3)]);
}

#[tokio::test(start_paused = true)]
async fn a_tools_list_answer_over_the_capture_limit_teaches_nothing() {
    let layer = ToolRetryLayer::new().tools_list_capture(64);
    let script = Script::new([Answer::Body(200, JSON, TOOLS_LIST)]);
    let response = send(
        &layer,
        &script,
        post(&json!({"jsonrpc":"2.0","id":1,"method":"tools/list"})),
    )
    .await;
    assert_eq!(response.body(), TOOLS_LIST.as_bytes());
    assert!(layer.tool_safety().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_answer_to_another_id_teaches_nothing() {
    let layer = ToolRetryLayer::new();
    let script = Script::new([Answer::Body(200, JSON, TOOLS_LIST)]);
    send(
        &layer,
        &script,
        post(&json!({"jsonrpc":"2.0","id":2,"method":"tools/list"})),
    )
    .await;
    assert!(layer.tool_safety().is_empty());
}

#[tokio::test(start_paused = true)]
async fn safe_methods_are_retried_after_a_502() {
    let layer = ToolRetryLayer::new();
    let script = Script::new([Answer::Status(502)]);
    let response = send(
        &layer,
        &script,
        post(&json!({"jsonrpc":"2.0","id":1,"method":"ping"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(script.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_unsafe_method_says_which_request_may_have_run() {
    let layer = ToolRetryLayer::new();
    let script = Script::new([Answer::Status(504)]);
    let request =
        post(&json!({"jsonrpc":"2.0","id":"a","method":"resources/subscribe","params":{"uri":"x"}}));
    let body = json_of(&send(&layer, &script, request).await);
    assert_eq!(body["id"], "a");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("request 'resources/subscribe'")
    );
    assert!(body["error"]["data"]["tool"].is_null());
}

// === configuration wins over hints ===

#[tokio::test(start_paused = true)]
async fn the_allow_list_makes_increment_repeatable_and_the_deny_list_wins() {
    let layer = ToolRetryLayer::new().allow_tool("increment");
    let script = Script::new([Answer::Status(502)]);
    assert_eq!(
        send(&layer, &script, call("increment")).await.status(),
        StatusCode::OK
    );
    assert_eq!(script.calls(), 2);

    let layer = learned(JSON, TOOLS_LIST)
        .await
        .deny_tool("echo")
        .allow_tool("echo");
    let script = Script::new([Answer::Status(502)]);
    let body = json_of(&send(&layer, &script, call("echo")).await);
    assert_eq!(body["error"]["code"], codes::MAYBE_EXECUTED);
    assert_eq!(script.calls(), 1);
    // A denied tool that provably never reached the server is still retried.
    let script = Script::new([Answer::Status(503)]);
    assert_eq!(send(&layer, &script, call("echo")).await.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn headers_naming_another_tool_make_the_call_unsafe() {
    let layer = learned(JSON, TOOLS_LIST).await;
    let script = Script::new([Answer::Status(502)]);
    let mut request = call("echo");
    request
        .headers_mut()
        .insert(MCP_METHOD, "tools/call".parse().unwrap());
    request
        .headers_mut()
        .insert(MCP_NAME, "increment".parse().unwrap());
    let body = json_of(&send(&layer, &script, request).await);
    assert_eq!(body["error"]["code"], codes::MAYBE_EXECUTED);
    let mut request = call("echo");
    request.headers_mut().insert(MCP_NAME, "echo".parse().unwrap());
    let script = Script::new([Answer::Status(502)]);
    assert_eq!(send(&layer, &script, request).await.status(), StatusCode::OK);
}
