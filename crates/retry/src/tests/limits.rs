//! Business failures, the retry cap, the deadline, the budget, decisions and config.

use super::*;
use crate::FromEnv;
use crate::policy::{Decision, GiveUp, decide};

// === business failures, caps, deadline, budget ===

#[tokio::test(start_paused = true)]
async fn business_failures_are_never_retried() {
    let is_error = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[],"isError":true}}"#;
    let rpc_error = r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"bad"}}"#;
    for answer in [
        Answer::Body(200, JSON, is_error),
        Answer::Body(400, JSON, rpc_error),
        Answer::Status(500),
        Answer::Status(403),
        Answer::Error(io::ErrorKind::PermissionDenied),
    ] {
        let layer = ToolRetryLayer::new().allow_tool("fail_business");
        let script = Script::new([answer.clone()]);
        let service = layer.layer(ClassifyLayer::new().layer(upstream(Arc::clone(&script))));
        let _ = service.oneshot(call("fail_business")).await;
        assert_eq!(script.calls(), 1, "{answer:?}");
        assert_eq!(layer.stats().attempted, 0);
    }
}

#[tokio::test(start_paused = true)]
async fn retries_stop_after_two() {
    let layer = ToolRetryLayer::new();
    let script = Script::new([
        Answer::Status(503),
        Answer::Status(503),
        Answer::Status(503),
        Answer::Status(503),
    ]);
    let response = send(&layer, &script, call("increment")).await;
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the last failure is handed on"
    );
    assert_eq!(script.attempts(), [Some(1), Some(2), Some(3)]);
    assert_eq!((layer.stats().attempted, layer.stats().gave_up), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn max_retries_zero_sends_once() {
    let layer = ToolRetryLayer::new().max_retries(0);
    let script = Script::new([Answer::Status(503)]);
    send(&layer, &script, call("increment")).await;
    assert_eq!(script.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_ends_the_whole_call_with_a_timeout() {
    let layer = ToolRetryLayer::new().connection_timeout(Duration::from_secs(5));
    let script = Script::new([Answer::Status(503), Answer::Hang]);
    let start = Instant::now();
    let error = layer
        .layer(upstream(Arc::clone(&script)))
        .oneshot(call("echo"))
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    let classified = error.downcast_ref::<ClassifiedError>().unwrap();
    assert_eq!(classified.failure().class(), FailureClass::Timeout);
    assert_eq!(classified.failure().reached(), Reached::Unknown);
    assert!(
        std::error::Error::source(classified)
            .unwrap()
            .is::<DeadlineExceeded>()
    );
    assert_eq!(script.calls(), 2);
    assert_eq!(layer.stats().deadline_exceeded, 1);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let layer = ToolRetryLayer::new();
    let script = Script::new([Answer::RetryAfter(503, 2)]);
    let response = send(&layer, &script, call("increment")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen[1].at - seen[0].at, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_fails_now() {
    let layer = ToolRetryLayer::new().connection_timeout(Duration::from_secs(10));
    let script = Script::new([Answer::RetryAfter(503, 60)]);
    let start = Instant::now();
    let response = send(&layer, &script, call("increment")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!((script.calls(), layer.stats().gave_up), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_fails_fast_with_the_last_failure() {
    let budget = RetryBudget::new(Duration::from_secs(1), 1, 0.0).unwrap();
    let layer = ToolRetryLayer::new().retry_budget(budget);
    // The floor allows one retry per second; the second call finds the budget empty.
    let first = Script::new([Answer::Status(503)]);
    assert_eq!(send(&layer, &first, call("echo")).await.status(), StatusCode::OK);
    let second = Script::new([Answer::Status(503)]);
    assert_eq!(
        send(&layer, &second, call("echo")).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!((first.calls(), second.calls()), (2, 1));
    assert_eq!(layer.stats().budget_exhausted, 1);
}

// === decisions without a runtime ===

#[test]
fn decisions_follow_class_reach_and_safety() {
    let gateway = Failure::new(FailureClass::Gateway, Reached::Unknown);
    let unavailable = Failure::new(FailureClass::Unavailable, Reached::No);
    let business = Failure::new(FailureClass::Business, Reached::Yes);
    let long = Duration::from_secs(30);
    let later = unavailable
        .clone()
        .with_retry_after(Some(Duration::from_secs(31)));
    // (failure, attempt, safe to repeat, budget left) and the decision, with
    // 2 retries at most and 30 s left.
    let cases = [
        (&business, 1, true, true, Decision::Accept),
        (&gateway, 1, false, true, Decision::RefuseUnsafe),
        (&gateway, 1, true, true, Decision::Retry(Duration::ZERO)),
        (&unavailable, 1, false, true, Decision::Retry(Duration::ZERO)),
        (&unavailable, 3, false, true, Decision::GiveUp(GiveUp::MaxRetries)),
        (&unavailable, 1, false, false, Decision::GiveUp(GiveUp::Budget)),
        (&later, 1, false, true, Decision::GiveUp(GiveUp::PastDeadline)),
    ];
    for (failure, attempt, safe, budget, decision) in cases {
        assert_eq!(
            decide(failure, attempt, 2, long, || safe, || budget),
            decision,
            "{failure:?}, attempt {attempt}"
        );
    }
}

#[test]
fn config_reads_the_environment_and_names_bad_variables() {
    let env = |name: &str| match name {
        "MCPO_TOOL_MAX_RETRIES" => Some("11".to_string()),
        _ => None,
    };
    let error = Config::from_lookup(env).unwrap_err();
    assert_eq!(error.name(), "MCPO_TOOL_MAX_RETRIES");
    let env = |name: &str| match name {
        "MCPO_CONNECTION_TIMEOUT" => Some("2.5".to_string()),
        "MCPO_TOOL_RETRY_DENY" => Some(" echo ,,add".to_string()),
        _ => None,
    };
    let config = Config::from_lookup(env).unwrap();
    assert_eq!(config.connection_timeout, Duration::from_millis(2500));
    assert_eq!(config.deny_tools.len(), 2);
    assert_eq!(config.max_retries, 2);
    assert!(RetryBudget::new(Duration::from_secs(61), 1, 0.1).is_err());
    assert!(RetryBudget::new(Duration::from_secs(10), 1, f32::NAN).is_err());
    assert!(RetryBudget::new(Duration::from_secs(10), 1, -0.5).is_err());
}

proptest::proptest! {
    #[test]
    fn any_body_is_forwarded_or_answered_without_panicking(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        runtime.block_on(async {
            let layer = ToolRetryLayer::new();
            let script = Script::new([Answer::Status(502), Answer::Status(503)]);
            let request = Request::post("/mcp").body(Full::new(Bytes::from(body))).unwrap();
            let result: Result<_, BoxError> = layer.layer(upstream(script)).oneshot(request).await;
            proptest::prop_assert!(result.is_ok());
            Ok(())
        })?;
    }
}
