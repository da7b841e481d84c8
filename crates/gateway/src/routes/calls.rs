//! The call routes, `<mount>/mcp` and `POST <mount>/<tool>`: the one place
//! that routes calls. The axum router behind serves every other path.
//!
//! The rule, under each mount: `mcp` is the MCP endpoint (any method), and a
//! `POST` to any other single path segment is a tool call, as in mcpo, where
//! every tool is a `POST` route. The router's own paths (`/health`,
//! `/docs`, …) are `GET`s, so the two never claim the same request; a tool
//! named `docs` is reachable by `POST /docs`.
//!
//! Why not axum routes: the calls are nearly all the traffic, and through
//! axum each paid for path matching, the method router's clones, the path
//! parameters' map and a boxed handler future. The allocation bench
//! (`benches/allocations.rs`) counts what a call costs here.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::Method;
use tower::{Service, ServiceExt};

use crate::client::McpClient;
use crate::rest::{self, RestState};
use crate::stack::McpService;

/// Serves each upstream's call routes and hands every other request to the router.
#[derive(Clone)]
pub(super) struct Calls {
    pub(super) endpoints: Arc<[Endpoint]>,
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

/// A request [`Calls`] serves itself.
enum Call {
    Mcp(Arc<McpClient>),
    Tool(RestState, String),
}

impl Calls {
    fn route(&self, request: &Request) -> Option<Call> {
        let path = request.uri().path();
        self.endpoints.iter().find_map(|endpoint| {
            let rest = path.strip_prefix(endpoint.mount.as_str())?.strip_prefix('/')?;
            if rest == "mcp" {
                return Some(Call::Mcp(Arc::clone(&endpoint.client)));
            }
            if request.method() != Method::POST || rest.is_empty() || rest.contains('/') {
                return None;
            }
            let tool = percent_encoding::percent_decode_str(rest).decode_utf8().ok()?;
            Some(Call::Tool(endpoint.rest.clone(), tool.into_owned()))
        })
    }
}

impl Service<Request> for Calls {
    type Response = Response;
    type Error = Infallible;
    type Future = CallsFuture<<Router as Service<Request>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.route(&request) {
            None => CallsFuture::Routed {
                future: self.router.call(request),
            },
            Some(Call::Mcp(client)) => CallsFuture::Mcp {
                future: mcp(&client, request, self.stream_idle),
            },
            Some(Call::Tool(state, tool)) => CallsFuture::Tool {
                future: Box::pin(async move { Ok(rest::call_tool(state, tool, request).await) }),
            },
        }
    }
}

type BoxedCall = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

pin_project_lite::pin_project! {
    /// The future of [`Calls`].
    #[project = CallsProj]
    pub(super) enum CallsFuture<F> {
        Mcp { #[pin] future: McpCall },
        Tool { future: BoxedCall },
        Routed { #[pin] future: F },
    }
}

impl<F> Future for CallsFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CallsProj::Mcp { future } => future.poll(cx),
            CallsProj::Tool { future } => future.as_mut().poll(cx),
            CallsProj::Routed { future } => future.poll(cx),
        }
    }
}

/// `<mount>/mcp`: the upstream's stack (which sheds calls over the bound);
/// a `GET` stream ends after `stream_idle` without a frame.
fn mcp(client: &McpClient, request: Request, stream_idle: Duration) -> McpCall {
    let upstream = client.upstream();
    tracing::Span::current().record("upstream", upstream.spec.display.as_str());
    let stream_idle = (request.method() == Method::GET).then_some(stream_idle);
    McpCall {
        call: upstream.service.clone().oneshot(request),
        stream_idle,
    }
}

pin_project_lite::pin_project! {
    /// One `<mount>/mcp` request through the upstream's stack (a named
    /// future: a boxed one costs an allocation and a move of its state per call).
    pub(super) struct McpCall {
        #[pin]
        call: tower::util::Oneshot<McpService, Request>,
        stream_idle: Option<Duration>,
    }
}

impl Future for McpCall {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.call.poll(cx))?;
        Poll::Ready(Ok(match *this.stream_idle {
            Some(idle) => response.map(|body| Body::new(tower_http::timeout::TimeoutBody::new(idle, body))),
            None => response,
        }))
    }
}
