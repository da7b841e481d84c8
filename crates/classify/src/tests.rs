use std::io;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use mcp_reconnect_core::headers::MCP_SESSION_ID;
use mcp_reconnect_core::{BoxError, Classification, ClassifiedError, FailureClass, Reached};
use tower::{ServiceExt, service_fn};
use tower_http::classify::{ClassifiedResponse, ClassifyResponse, MakeClassifier};

use super::*;

fn json(status: u16, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

async fn classify(request: Request<()>, response: Response<Full<Bytes>>) -> (Classification, Bytes) {
    let service = ClassifyLayer::new().layer(service_fn(move |_: Request<()>| {
        let response = response.clone();
        async move { Ok::<_, io::Error>(response) }
    }));
    let response = service.oneshot(request).await.unwrap();
    let class = response.extensions().get::<Classification>().cloned().unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (class, body)
}

fn with_session() -> Request<()> {
    Request::builder().header(MCP_SESSION_ID, "s-1").body(()).unwrap()
}

use tower_layer::Layer;

#[tokio::test]
async fn a_404_for_a_session_is_session_lost_and_the_body_is_passed_on() {
    let (class, body) = classify(with_session(), json(404, "{}")).await;
    assert_eq!(class.class(), Some(FailureClass::SessionLost));
    assert_eq!(body, "{}");
}

#[tokio::test]
async fn a_404_method_not_found_is_business_even_with_a_session() {
    let answer = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#;
    let (class, body) = classify(with_session(), json(404, answer)).await;
    assert_eq!(class.class(), Some(FailureClass::Business));
    assert_eq!(body, answer);
}

#[tokio::test]
async fn a_200_with_an_is_error_result_is_business() {
    let answer = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}}"#;
    let (class, _) = classify(Request::new(()), json(200, answer)).await;
    assert_eq!(class.class(), Some(FailureClass::Business));
}

#[tokio::test]
async fn with_peeking_off_only_the_status_decides() {
    let answer = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#;
    let service =
        ClassifyLayer::new()
            .body_peek_limit(0)
            .layer(service_fn(move |_: Request<()>| async move {
                Ok::<_, io::Error>(json(404, answer))
            }));
    let response = service.oneshot(with_session()).await.unwrap();
    let class = response.extensions().get::<Classification>().unwrap();
    assert_eq!(class.class(), Some(FailureClass::SessionLost));
}

/// A body of unknown length that never ends, like an SSE stream.
struct NeverEnds;

impl http_body::Body for NeverEnds {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn a_streaming_body_is_never_buffered() {
    // Classification must not wait for a body that has no known length.
    let service = ClassifyLayer::new().layer(service_fn(|_: Request<()>| async {
        let response = Response::builder()
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(NeverEnds)
            .unwrap();
        Ok::<_, io::Error>(response)
    }));
    let response = service.oneshot(Request::new(())).await.unwrap();
    assert!(
        response
            .extensions()
            .get::<Classification>()
            .unwrap()
            .is_success()
    );
}

#[tokio::test]
async fn errors_are_classified_and_keep_their_source() {
    let service = ClassifyLayer::new().layer(service_fn(|_: Request<()>| async {
        Err::<Response<Full<Bytes>>, _>(io::Error::from(io::ErrorKind::ConnectionRefused))
    }));
    let error = service.oneshot(Request::new(())).await.unwrap_err();
    let classified = error.downcast_ref::<ClassifiedError>().unwrap();
    assert_eq!(classified.failure().class(), FailureClass::Unavailable);
    assert_eq!(classified.failure().reached(), Reached::No);
    let source = std::error::Error::source(classified).unwrap();
    assert!(source.downcast_ref::<io::Error>().is_some());
}

#[test]
fn the_tower_http_classifier_agrees() {
    let classifier = MakeMcpClassifier.make_classifier(&with_session());
    let response = Response::builder().status(404).body(()).unwrap();
    match classifier.classify_response(&response) {
        ClassifiedResponse::Ready(Err(failure)) => assert_eq!(failure.class(), FailureClass::SessionLost),
        _ => panic!("a 404 with a session must be a failure"),
    }
    let boxed: BoxError = Box::new(io::Error::from(io::ErrorKind::ConnectionReset));
    let failure = McpClassifier::default().classify_error(&boxed);
    assert_eq!(failure.class(), FailureClass::Connection);
    let failure = McpClassifier::default().classify_error(&"some string error");
    assert!(!failure.is_recoverable());
}
