//! The edge layers against plain services.

use std::convert::Infallible;

use axum::body::Body;
use http::{Request, Response, StatusCode};
use tower::{Layer, Service, ServiceExt, service_fn};

use super::*;

/// Refuses requests without an `x-pass` header, and removes it from those it lets pass.
#[derive(Clone)]
struct NeedsPass;

impl Gate for NeedsPass {
    fn check(&self, request: &mut Request<Body>) -> Option<Response<Body>> {
        match request.headers_mut().remove("x-pass") {
            Some(_) => None,
            None => {
                let mut answer = Response::new(Body::empty());
                *answer.status_mut() = StatusCode::FORBIDDEN;
                Some(answer)
            }
        }
    }
}

fn echo_has_pass() -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
    service_fn(|request: Request<Body>| async move {
        let seen = request.headers().contains_key("x-pass");
        Ok::<_, Infallible>(Response::new(Body::from(if seen { "leaked" } else { "clean" })))
    })
}

#[tokio::test]
async fn a_gate_answers_or_passes_the_changed_request() {
    let service = GateLayer::from(NeedsPass).layer(echo_has_pass());
    let refused = service
        .clone()
        .oneshot(Request::new(Body::empty()))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let request = Request::builder()
        .header("x-pass", "1")
        .body(Body::empty())
        .unwrap();
    let passed = service.oneshot(request).await.unwrap();
    assert_eq!(passed.status(), StatusCode::OK);
    let body = axum::body::to_bytes(passed.into_body(), 64).await.unwrap();
    assert_eq!(&body[..], b"clean", "the gate's change reached the inner service");
}

#[tokio::test]
async fn gates_compose_with_axum_routers() {
    let router = axum::Router::new()
        .route("/x", axum::routing::get(|| async { "inner" }))
        .layer(GateLayer::from(NeedsPass));
    let refused = router
        .clone()
        .oneshot(Request::get("/x").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let request = Request::get("/x")
        .header("x-pass", "1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(router.oneshot(request).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn the_body_limit_refuses_a_declared_length_and_bounds_an_undeclared_one() {
    let gate = BodyLimit::new(8);
    let mut declared = Request::builder()
        .header(http::header::CONTENT_LENGTH, "9")
        .body(Body::from("123456789"))
        .unwrap();
    let refused = gate.check(&mut declared).expect("over the limit");
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = axum::body::to_bytes(refused.into_body(), 256).await.unwrap();
    assert_eq!(&body[..], br#"{"detail":{"message":"request body too large"}}"#);

    let mut within = Request::builder()
        .header(http::header::CONTENT_LENGTH, "8")
        .body(Body::from("12345678"))
        .unwrap();
    assert!(gate.check(&mut within).is_none());
    let body = axum::body::to_bytes(within.into_body(), 64).await.unwrap();
    assert_eq!(&body[..], b"12345678");

    // No length declared (a chunked body): reading past the limit fails.
    let mut undeclared = Request::new(Body::from("123456789"));
    assert!(gate.check(&mut undeclared).is_none());
    let error = mcp_reconnect_core::body::collect_bytes(undeclared.into_body(), usize::MAX)
        .await
        .unwrap_err();
    assert!(mcp_reconnect_core::body::is_over_limit(&error));
    let mut empty = Request::new(Body::empty());
    assert!(gate.check(&mut empty).is_none());
    assert!(
        hyper::body::Body::is_end_stream(empty.body()),
        "nothing to bound: left as it is"
    );
    let mut small = Request::new(Body::from("1234"));
    assert!(gate.check(&mut small).is_none());
    let body = axum::body::to_bytes(small.into_body(), 64).await.unwrap();
    assert_eq!(&body[..], b"1234");
}

fn teapot() -> Response<Body> {
    let mut response = Response::new(Body::from("caught"));
    *response.status_mut() = StatusCode::IM_A_TEAPOT;
    response
}

#[tokio::test]
async fn a_panic_in_call_or_in_the_future_is_answered_and_the_service_goes_on() {
    let in_call = tower::service_fn(|request: Request<Body>| {
        assert!(request.uri().path() != "/call", "panic in call");
        async move {
            assert!(request.uri().path() != "/poll", "panic in poll");
            Ok::<_, Infallible>(Response::new(Body::from("fine")))
        }
    });
    let mut service = CatchPanicLayer::new(teapot).layer(in_call);
    for (path, status) in [
        ("/call", StatusCode::IM_A_TEAPOT),
        ("/poll", StatusCode::IM_A_TEAPOT),
        ("/fine", StatusCode::OK),
    ] {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        assert_eq!(response.status(), status, "{path}");
    }
}

async fn boom(request: Request<Body>) -> &'static str {
    assert_eq!(request.uri().path(), "/never", "a handler that panics");
    "unreachable"
}

#[tokio::test]
async fn the_panic_layer_composes_with_axum_routers() {
    let router = axum::Router::new()
        .route("/boom", axum::routing::get(boom))
        .layer(CatchPanicLayer::new(teapot));
    let request = Request::get("/boom").body(Body::empty()).unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
    let body = axum::body::to_bytes(response.into_body(), 64).await.unwrap();
    assert_eq!(body, "caught");
}
