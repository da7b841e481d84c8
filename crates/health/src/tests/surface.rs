//! The service surface: methods, `HEAD`, paths, pass-through untouched, and
//! answering while the stack below is not ready.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{ALLOW, CONTENT_LENGTH};
use http::{HeaderValue, Method};

use super::*;

/// Echoes what it got: method, URI, a header and the body, with its own header and extension.
fn echo()
-> impl tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send> + Clone {
    service_fn(|request: Request<Body>| async move {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        let seen = format!(
            "{} {} {:?} {}",
            parts.method,
            parts.uri,
            parts.headers.get("x-probe"),
            body.len()
        );
        let mut response = Response::new(Body::from(seen));
        *response.status_mut() = StatusCode::IM_A_TEAPOT;
        response
            .headers_mut()
            .insert("x-upstream", HeaderValue::from_static("yes"));
        response.extensions_mut().insert(42u32);
        Ok(response)
    })
}

fn layer() -> HealthLayer {
    let (status, _) = circuit("server-a", &Script::default());
    HealthLayer::new(status)
}

#[tokio::test]
async fn other_requests_pass_through_untouched() {
    let service = layer().layer(echo());
    for uri in [
        "/mcp",
        "/",
        "/health/",
        "/healthz",
        "/metrics/x",
        "/other?format=prometheus",
    ] {
        let request = Request::post(uri)
            .header("x-probe", "1")
            .body(Body::from("abc"))
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::IM_A_TEAPOT, "{uri}");
        assert_eq!(response.headers()["x-upstream"], "yes");
        assert_eq!(response.extensions().get::<u32>(), Some(&42));
        assert!(!response.body().is_local());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("POST {uri} Some(\"1\") 3"));
    }
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let service = layer().layer(echo());
    for uri in ["/health", "/metrics", "/metrics?format=openmetrics"] {
        let (get_status, get_headers, get_body) = get(&service, uri).await;
        let request = Request::head(uri).body(Body::default()).unwrap();
        let (status, headers, body) = fetch(&service, request).await;
        assert_eq!(status, get_status);
        assert_eq!(headers["content-type"], get_headers["content-type"]);
        assert_eq!(
            headers[CONTENT_LENGTH],
            get_body.len().to_string(),
            "the length a GET would have"
        );
        assert!(body.is_empty() && !get_body.is_empty(), "{uri}");
    }
}

#[tokio::test]
async fn other_methods_on_our_paths_get_405_with_allow() {
    let service = layer().layer(echo());
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        for uri in ["/health", "/metrics"] {
            let request = Request::builder()
                .method(method.clone())
                .uri(uri)
                .body(Body::default())
                .unwrap();
            let (status, headers, _) = fetch(&service, request).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
            assert_eq!(headers[ALLOW], "GET, HEAD");
        }
    }
}

#[tokio::test]
async fn paths_are_configurable() {
    let service = layer()
        .health_path("/healthz")
        .metrics_path("stats")
        .layer(echo());
    assert_eq!(get(&service, "/healthz").await.0, StatusCode::OK);
    assert!(get(&service, "/stats").await.2.starts_with(b"{\"status\""));
    assert_eq!(
        get(&service, "/health").await.0,
        StatusCode::IM_A_TEAPOT,
        "the default path passes now"
    );
    assert_eq!(get(&service, "/metrics").await.0, StatusCode::IM_A_TEAPOT);
}

/// A service that is never ready, like a circuit waiting for a reconnect.
#[derive(Clone)]
struct NeverReady;

impl tower::Service<Request<Body>> for NeverReady {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Pending
    }

    fn call(&mut self, _: Request<Body>) -> Self::Future {
        unreachable!("never ready, never called")
    }
}

#[tokio::test]
async fn health_answers_while_the_stack_below_is_not_ready() {
    let service = layer().layer(NeverReady);
    assert_eq!(get(&service, "/health").await.0, StatusCode::OK);
    assert_eq!(get(&service, "/metrics").await.0, StatusCode::OK);
    let mut passed = tokio_test_spawn(
        service
            .clone()
            .oneshot(Request::post("/mcp").body(Body::default()).unwrap()),
    );
    assert!(
        passed
            .as_mut()
            .poll(&mut Context::from_waker(std::task::Waker::noop()))
            .is_pending()
    );
}

fn tokio_test_spawn<F: Future>(future: F) -> Pin<Box<F>> {
    Box::pin(future)
}
