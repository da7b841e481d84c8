//! The call routes, `<mount>/mcp` and `POST <mount>/<tool>`, served before the axum router.

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use mcp_reconnect_core::respond::{JsonRpcError, codes};
use tokio::sync::OwnedSemaphorePermit;
use tower::{Service, ServiceExt};

use crate::edge::Gate;
use crate::rebinding::LoopbackGuard;

use crate::client::McpClient;
use crate::rest::{self, RestState};
use crate::stack::{McpService, Overloaded};

/// Serves the two call routes of each upstream itself, `<mount>/mcp` and
/// `POST <mount>/<tool>`, and hands every other request to the router. The
/// calls are nearly all the traffic, and through axum each paid for path
/// matching, the method router's clones, the path parameters' map and a
/// boxed handler future (BENCHMARKS.md "Profile").
///
/// A tool route is taken here only when the router would route it to the
/// same handler: one plain segment (nothing to percent-decode) that is not
/// one of the router's fixed paths. Anything else takes the router's way.
#[derive(Clone)]
pub(super) struct CallsFirst {
    pub(super) endpoints: Arc<[Endpoint]>,
    /// The router's fixed paths, which a tool route does not shadow.
    pub(super) fixed: Arc<HashSet<String>>,
    /// The DNS-rebinding guard on a loopback listener (the router has it on its routes).
    pub(super) guard: Option<LoopbackGuard>,
    /// How long a `GET <mount>/mcp` stream may go without a frame (`--stream-idle-timeout`).
    pub(super) stream_idle: Duration,
    pub(super) router: Router,
}

/// One upstream's mount and what its call routes need.
pub(super) struct Endpoint {
    /// `""` for a single upstream, `/<name>` for each of a config file's.
    pub(super) mount: String,
    pub(super) client: Arc<McpClient>,
    pub(super) rest: RestState,
}

/// A request [`CallsFirst`] serves itself.
pub(super) enum Call {
    Mcp(Arc<McpClient>),
    Tool(RestState, String),
}

impl CallsFirst {
    fn route(&self, request: &Request) -> Option<Call> {
        let path = request.uri().path();
        self.endpoints.iter().find_map(|endpoint| {
            let rest = path.strip_prefix(endpoint.mount.as_str())?.strip_prefix('/')?;
            if rest == "mcp" {
                return Some(Call::Mcp(Arc::clone(&endpoint.client)));
            }
            let plain = !rest.is_empty() && !rest.contains(['/', '%']);
            (request.method() == Method::POST && plain && !self.fixed.contains(path))
                .then(|| Call::Tool(endpoint.rest.clone(), rest.to_owned()))
        })
    }
}

impl Service<Request> for CallsFirst {
    type Response = Response;
    type Error = Infallible;
    type Future = CallsFirstFuture<<Router as Service<Request>>::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let Some(call) = self.route(&request) else {
            return CallsFirstFuture::Routed {
                future: self.router.call(request),
            };
        };
        if let Some(refused) = self.guard.as_ref().and_then(|guard| guard.check(&mut request)) {
            return CallsFirstFuture::Answered {
                response: Some(refused),
            };
        }
        match call {
            Call::Mcp(client) => mcp(&client, request, self.stream_idle),
            Call::Tool(state, tool) => CallsFirstFuture::Tool {
                future: Box::pin(async move { Ok(rest::call_tool(State(state), Path(tool), request).await) }),
            },
        }
    }
}

pub(super) type BoxedCall = std::pin::Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

pin_project_lite::pin_project! {
    /// The future of [`CallsFirst`].
    #[project = CallsFirstProj]
    pub(super) enum CallsFirstFuture<F> {
        Mcp { #[pin] future: McpCall },
        Tool { future: BoxedCall },
        Answered { response: Option<Response> },
        Routed { #[pin] future: F },
    }
}

impl<F> Future for CallsFirstFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.project() {
            CallsFirstProj::Mcp { future } => future.poll(cx),
            CallsFirstProj::Tool { future } => future.as_mut().poll(cx),
            CallsFirstProj::Answered { response } => std::task::Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| mcp_reconnect_core::polled_after_completion("CallsFirst future")))),
            CallsFirstProj::Routed { future } => future.poll(cx),
        }
    }
}

/// `<mount>/mcp`: the upstream's stack, with calls shed when too many are in
/// flight. A `POST` is a call and holds a permit as long as its answer's
/// body (an SSE stream included); `GET` (the server's stream) and `DELETE`
/// hold none, and a `GET` stream ends after `stream_idle` without a frame.
pub(super) fn mcp<F>(client: &McpClient, request: Request, stream_idle: Duration) -> CallsFirstFuture<F> {
    let upstream = client.upstream();
    tracing::Span::current().record("upstream", upstream.spec.display.as_str());
    let permit = if request.method() == Method::POST {
        match upstream.admit() {
            Ok(permit) => Some(permit),
            Err(Overloaded) => {
                let error = JsonRpcError::new(codes::UPSTREAM_UNAVAILABLE, Overloaded::MESSAGE)
                    .with_status(StatusCode::SERVICE_UNAVAILABLE)
                    .with_retry_after(Some(Overloaded::RETRY_AFTER));
                return CallsFirstFuture::Answered {
                    response: Some(error.into_response().map(Body::from)),
                };
            }
        }
    } else {
        None
    };
    let stream_idle = (request.method() == Method::GET).then_some(stream_idle);
    CallsFirstFuture::Mcp {
        future: McpCall {
            call: upstream.service.clone().oneshot(request),
            permit,
            stream_idle,
        },
    }
}

pin_project_lite::pin_project! {
    /// One `<mount>/mcp` request through the upstream's stack (a named
    /// future: it is most of the traffic, and a boxed `async fn` cost an
    /// allocation and a move of its state per call).
    pub(super) struct McpCall {
        #[pin]
        call: tower::util::Oneshot<McpService, Request>,
        permit: Option<OwnedSemaphorePermit>,
        stream_idle: Option<Duration>,
    }
}

impl Future for McpCall {
    type Output = Result<Response, Infallible>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let response = match std::task::ready!(this.call.poll(cx)) {
            Ok(response) => response,
            Err(never) => match never {},
        };
        std::task::Poll::Ready(Ok(match (this.permit.take(), *this.stream_idle) {
            (Some(permit), _) => response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _held = &permit;
                    frame
                }))
            }),
            (None, Some(idle)) => {
                response.map(|body| Body::new(tower_http::timeout::TimeoutBody::new(idle, body)))
            }
            (None, None) => response,
        }))
    }
}
