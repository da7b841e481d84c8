//! What is forwarded once, batches, readiness, and any body.

use super::*;

// === what is forwarded once ===

#[tokio::test(start_paused = true)]
async fn an_oversized_body_is_answered_413_and_never_forwarded() {
    let layer = ToolRetryLayer::new().max_body(16);
    let script = Script::new([]);
    let response = send(&layer, &script, call("echo")).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json_of(&response)["error"]["code"], codes::REQUEST_TOO_LARGE);
    assert_eq!(script.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_body_over_an_outer_limit_is_answered_413_too() {
    // tower-http's `RequestBodyLimitLayer` under axum: the limit error arrives
    // as the source of the body's own error type.
    #[derive(Debug)]
    struct Wrapped(BoxError);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "body error: {}", self.0)
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&*self.0)
        }
    }
    let layer = ToolRetryLayer::new();
    let script = Script::new([]);
    let (parts, body) = call("echo").into_parts();
    let body = http_body_util::Limited::new(body, 16).map_err(Wrapped);
    let response = layer
        .layer(upstream(Arc::clone(&script)))
        .oneshot(Request::from_parts(parts, body))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(script.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_outer_attempt_means_one_try_and_an_untouched_answer() {
    let layer = ToolRetryLayer::new();
    for answer in [Answer::Status(503), Answer::Status(502)] {
        let script = Script::new([answer]);
        let mut request = call("increment");
        request.extensions_mut().insert(Attempt::new(2));
        let response = send(&layer, &script, request).await;
        assert_eq!(response.body().as_ref(), b"upstream says no");
        assert_eq!(script.attempts(), [Some(2)]);
    }
}

#[tokio::test(start_paused = true)]
async fn notifications_and_non_json_rpc_bodies_are_forwarded_once() {
    let layer = ToolRetryLayer::new();
    let notification = post(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
    let garbage = Request::post("/mcp")
        .body(Full::new(Bytes::from_static(b"{not json")))
        .unwrap();
    let empty = Request::get("/mcp").body(Full::new(Bytes::new())).unwrap();
    for request in [notification, garbage, empty] {
        let script = Script::new([Answer::Status(503)]);
        let response = send(&layer, &script, request).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.body().as_ref(), b"upstream says no");
        assert_eq!(script.calls(), 1);
    }
    assert_eq!(layer.stats().attempted, 0);
}

#[tokio::test(start_paused = true)]
async fn each_try_carries_its_attempt_and_the_peek() {
    let layer = ToolRetryLayer::new();
    let script = Script::new([Answer::Status(503)]);
    send(&layer, &script, call("echo")).await;
    let seen = script.seen.lock().unwrap().clone();
    assert!(seen.iter().all(|s| s.peeked));
    assert_eq!(script.attempts(), [Some(1), Some(2)]);
}

#[tokio::test(start_paused = true)]
async fn a_batch_is_retried_only_when_every_member_is_safe() {
    let layer = ToolRetryLayer::new();
    let safe =
        json!([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]);
    let script = Script::new([Answer::Status(502)]);
    assert_eq!(send(&layer, &script, post(&safe)).await.status(), StatusCode::OK);
    assert_eq!(script.calls(), 2);

    let mixed = json!([{"jsonrpc":"2.0","id":1,"method":"ping"},
        {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"increment"}}]);
    let script = Script::new([Answer::Status(502)]);
    let body = json_of(&send(&layer, &script, post(&mixed)).await);
    assert_eq!(body["error"]["code"], codes::MAYBE_EXECUTED);
    assert!(body["id"].is_null());
    assert_eq!(script.calls(), 1);

    let script = Script::new([Answer::Status(503)]);
    assert_eq!(send(&layer, &script, post(&mixed)).await.status(), StatusCode::OK);
    assert_eq!(script.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_streaming_200_is_a_success_and_never_replayed() {
    let layer = ToolRetryLayer::new();
    let script = Script::new([Answer::Body(200, SSE, "data: {}\n\n")]);
    let response = send(&layer, &script, call("increment")).await;
    assert_eq!(response.body().as_ref(), b"data: {}\n\n");
    assert_eq!(script.calls(), 1);
}

// === readiness: a retry waits for the reconnect below ===

#[tokio::test(start_paused = true)]
async fn a_retry_waits_for_the_inner_service_to_be_ready_again() {
    let (mock, mut handle) = tower_test::mock::pair::<Request<Full<Bytes>>, Response<Full<Bytes>>>();
    let mut service = ToolRetryLayer::new().layer(mock);
    handle.allow(1);
    let mut future = tokio_test::task::spawn(async move {
        ServiceExt::<Request<Full<Bytes>>>::ready(&mut service).await?;
        service.call(call("increment")).await
    });
    tokio_test::assert_pending!(future.poll());
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response(Response::builder().status(503).body(Full::default()).unwrap());
    // The reconnect is under way: the inner service is not ready.
    tokio_test::assert_pending!(future.poll());
    tokio_test::assert_pending!(future.poll());
    handle.allow(1);
    tokio_test::assert_pending!(future.poll());
    let (request, reply) = handle.next_request().await.unwrap();
    assert_eq!(Attempt::of(&request), Some(Attempt::new(2)));
    reply.send_response(Response::new(Full::new(Bytes::from_static(OK_RESULT.as_bytes()))));
    let response = future.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn the_first_try_waits_for_the_inner_service_under_the_deadline() {
    let (mock, mut handle) = tower_test::mock::pair::<Request<Full<Bytes>>, Response<Full<Bytes>>>();
    let mut service = ToolRetryLayer::new().layer(mock);
    handle.allow(0);
    // The layer takes the request at once; its future waits for the inner service.
    let mut ready = tokio_test::task::spawn(ServiceExt::<Request<Full<Bytes>>>::ready(&mut service));
    tokio_test::assert_ready_ok!(ready.poll());
    drop(ready);
    let mut waiting = tokio_test::task::spawn(service.call(call("increment")));
    tokio_test::assert_pending!(waiting.poll());
    handle.allow(1);
    tokio_test::assert_pending!(waiting.poll());
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response(Response::new(Full::new(Bytes::from_static(OK_RESULT.as_bytes()))));
    assert_eq!(waiting.await.unwrap().status(), StatusCode::OK);

    // An inner service that never gets ready: the call ends at its deadline,
    // never sent (so even `increment` could safely be sent again).
    handle.allow(0);
    let error = service.call(call("increment")).await.unwrap_err();
    let failure = mcp_reconnect_core::classify_error(&*error);
    assert_eq!(
        (failure.class(), failure.reached()),
        (
            mcp_reconnect_core::FailureClass::Timeout,
            mcp_reconnect_core::Reached::No
        )
    );
}
