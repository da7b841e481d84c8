//! [`ResponseFuture`]: buffer the body once, peek it, then let tower's
//! `Retry` drive the tries, all under one deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use mcp_reconnect_core::body::{CollectBytes, collect_bytes};
use mcp_reconnect_core::headers::is_event_stream;
use mcp_reconnect_core::peek::peek_with_limit;
use mcp_reconnect_core::respond::{JsonRpcError, codes};
use mcp_reconnect_core::{Attempt, BoxError, ClassifiedError, Deadline, Failure, FailureClass, Reached};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower::retry::Retry;
use tower::retry::budget::Budget;
use tower_service::Service;

use crate::body::RetryBody;
use crate::error::DeadlineExceeded;
use crate::layer::Shared;
use crate::plan::Plan;
use crate::policy::RetryPolicy;
use crate::service::Forward;
use crate::stats::Event;

type Tries<S> = tower::retry::future::ResponseFuture<RetryPolicy, Forward<S>, Request<Full<Bytes>>>;

pin_project! {
    /// The future of [`ToolRetry`](crate::ToolRetry): reads the request body
    /// (bounded), then runs the tries, and ends with a `Timeout` error when the
    /// deadline passes first.
    pub struct ResponseFuture<S, ReqB, B>
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>, Error: Into<BoxError>>,
        ReqB: Body<Error: Into<BoxError>>,
    {
        #[pin]
        state: State<S, ReqB, B>,
        #[pin]
        deadline: Option<Sleep>,
        deadline_at: Instant,
        shared: Arc<Shared>,
        plan: Option<Plan>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqB, B>
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>, Error: Into<BoxError>>,
        ReqB: Body<Error: Into<BoxError>>,
    {
        Buffering {
            #[pin] collect: CollectBytes<ReqB>,
            head: Option<(http::request::Parts, S)>,
        },
        Readying {
            service: Option<S>,
            request: Option<Request<Full<Bytes>>>,
            policy: Option<RetryPolicy>,
        },
        Calling { #[pin] tries: Tries<S> },
    }
}

impl<S, ReqB, B> ResponseFuture<S, ReqB, B>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error: Into<BoxError>>,
    ReqB: Body<Error: Into<BoxError>>,
{
    pub(crate) fn new(request: Request<ReqB>, ready: S, shared: Arc<Shared>) -> Self {
        let (parts, body) = request.into_parts();
        let deadline_at = Instant::now() + shared.config.connection_timeout;
        ResponseFuture {
            state: State::Buffering {
                collect: collect_bytes(body, shared.config.max_body),
                head: Some((parts, ready)),
            },
            deadline: None,
            deadline_at,
            shared,
            plan: None,
        }
    }
}

impl<S, ReqB, B> Future for ResponseFuture<S, ReqB, B>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error: Into<BoxError>> + Clone,
    ReqB: Body<Error: Into<BoxError>>,
    B: Body<Data: Buf + From<Bytes>>,
{
    type Output = Result<Response<RetryBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Buffering { collect, head } => {
                    let collected = match collect.poll(cx) {
                        Poll::Ready(collected) => collected,
                        Poll::Pending => break,
                    };
                    let Some((parts, service)) = head.take() else {
                        mcp_reconnect_core::polled_after_completion("retry future");
                    };
                    let bytes = match collected {
                        Ok(bytes) => bytes,
                        // Ours, or an outer limit's under the body's own error type.
                        Err(error) if mcp_reconnect_core::body::is_over_limit(&error) => {
                            return Poll::Ready(Ok(too_large(this.shared.config.max_body)));
                        }
                        Err(error) => return Poll::Ready(Err(error)),
                    };
                    let (mut request, plan) = prepare(parts, bytes, this.shared);
                    // Below, a try dropped at this deadline is a timeout, not a caller gone.
                    if request.extensions().get::<Deadline>().is_none() {
                        request.extensions_mut().insert(Deadline::at(*this.deadline_at));
                    }
                    if plan.retries() {
                        this.shared.budget.deposit();
                    }
                    let policy = RetryPolicy::new(Arc::clone(this.shared), plan.clone(), *this.deadline_at);
                    *this.plan = Some(plan);
                    this.state.set(State::Readying {
                        service: Some(service),
                        request: Some(request),
                        policy: Some(policy),
                    });
                }
                StateProj::Readying {
                    service,
                    request,
                    policy,
                } => {
                    // The first try waits for the inner service here, under the deadline.
                    let Some(ready) = service.as_mut() else {
                        mcp_reconnect_core::polled_after_completion("retry future");
                    };
                    match ready.poll_ready(cx) {
                        Poll::Pending => break,
                        Poll::Ready(Err(error)) => return Poll::Ready(Err(error.into())),
                        Poll::Ready(Ok(())) => {}
                    }
                    let (Some(service), Some(request), Some(policy)) =
                        (service.take(), request.take(), policy.take())
                    else {
                        mcp_reconnect_core::polled_after_completion("retry future");
                    };
                    let tries = Retry::new(policy, Forward(service)).call(request);
                    this.state.set(State::Calling { tries });
                }
                StateProj::Calling { tries } => {
                    let result = match tries.poll(cx) {
                        Poll::Ready(result) => result,
                        Poll::Pending => break,
                    };
                    let response = result?;
                    return Poll::Ready(Ok(learn_tools(response, this.plan.as_ref(), this.shared)));
                }
            }
        }
        if this.deadline.is_none() {
            this.deadline
                .set(Some(tokio::time::sleep_until(*this.deadline_at)));
        }
        if let Some(deadline) = this.deadline.as_pin_mut() {
            ready!(deadline.poll(cx));
        }
        let sent = matches!(this.state.as_ref().get_ref(), State::Calling { .. });
        this.shared.stats.count(Event::DeadlineExceeded);
        let timeout = this.shared.config.connection_timeout;
        let label = this
            .plan
            .as_ref()
            .map(|plan| plan.label().to_string())
            .unwrap_or_default();
        tracing::warn!(
            timeout_ms = timeout.as_millis() as u64,
            "call {label} did not finish before its deadline"
        );
        let reached = if sent { Reached::Unknown } else { Reached::No };
        let failure = Failure::new(FailureClass::Timeout, reached);
        Poll::Ready(Err(
            ClassifiedError::new(failure, DeadlineExceeded { timeout }).into()
        ))
    }
}

/// Peeks the buffered body once and builds the request the tries send.
fn prepare(parts: http::request::Parts, bytes: Bytes, shared: &Shared) -> (Request<Full<Bytes>>, Plan) {
    let mut parts = parts;
    let outer_attempt = parts.extensions.get::<Attempt>().is_some();
    let peek = peek_with_limit(&bytes, shared.config.max_body).ok().map(Arc::new);
    let plan = Plan::new(peek.clone(), &parts.headers, outer_attempt);
    if let Some(peek) = peek {
        parts.extensions.insert(peek);
    }
    if !outer_attempt {
        parts.extensions.insert(Attempt::FIRST);
    }
    (Request::from_parts(parts, Full::new(bytes)), plan)
}

/// Tees a successful `tools/list` answer into the tool map.
fn learn_tools<B>(
    response: Response<RetryBody<B>>,
    plan: Option<&Plan>,
    shared: &Shared,
) -> Response<RetryBody<B>> {
    let Some(ids) = plan
        .filter(|_| response.status().is_success())
        .and_then(Plan::tools_list_ids)
    else {
        return response;
    };
    let event_stream = is_event_stream(response.headers());
    let (limit, safety) = (shared.config.tools_list_capture, shared.safety.clone());
    response.map(|body| crate::body::tee(body, limit, event_stream, ids, safety))
}

/// `413` with a JSON-RPC error: the body was over the limit and nothing was forwarded.
fn too_large<B>(limit: usize) -> Response<RetryBody<B>> {
    JsonRpcError::new(
        codes::REQUEST_TOO_LARGE,
        format!("request body is over the {limit} byte limit"),
    )
    .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    .into_response()
    .map(RetryBody::local)
}
