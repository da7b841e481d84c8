//! The tower [`Policy`]: whether a failed try is sent again, after how long,
//! and what the client hears when it is not.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use mcp_reconnect_core::respond::{JsonRpcError, codes};
use mcp_reconnect_core::{
    Attempt, BoxError, Classification, Failure, Reached, RequestFacts, classify_error, classify_status,
};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower::retry::Policy;
use tower::retry::budget::Budget;

use crate::body::RetryBody;
use crate::layer::Shared;
use crate::plan::{Label, Plan};
use crate::stats::Event;

/// What to do after a failed try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Not a failure retrying can help (or a business answer): hand it on.
    Accept,
    /// Send it again after this wait.
    Retry(Duration),
    /// It may have run and is not safe to repeat.
    RefuseUnsafe,
    /// It could be retried, but not now.
    GiveUp(GiveUp),
}

/// Why a retryable failure is handed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// Every allowed retry was used.
    MaxRetries,
    /// `Retry-After` asks for a wait that reaches past the deadline.
    PastDeadline,
    /// The retry budget is empty.
    Budget,
}

/// Decides about the failure of try number `attempt` (1-based); `repeatable`
/// and `withdraw` are asked only when the answer depends on them.
pub(crate) fn decide(
    failure: &Failure,
    attempt: u32,
    max_retries: u32,
    remaining: Duration,
    repeatable: impl FnOnce() -> bool,
    withdraw: impl FnOnce() -> bool,
) -> Decision {
    if !failure.is_recoverable() || failure.reached() == Reached::Yes {
        return Decision::Accept;
    }
    if failure.reached() == Reached::Unknown && !repeatable() {
        return Decision::RefuseUnsafe;
    }
    if attempt > max_retries {
        return Decision::GiveUp(GiveUp::MaxRetries);
    }
    let wait = failure.retry_after().unwrap_or(Duration::ZERO);
    if wait >= remaining {
        return Decision::GiveUp(GiveUp::PastDeadline);
    }
    if !withdraw() {
        return Decision::GiveUp(GiveUp::Budget);
    }
    Decision::Retry(wait)
}

/// The per-request retry policy handed to `tower::retry::Retry`.
#[derive(Clone, Debug)]
pub(crate) struct RetryPolicy {
    shared: Arc<Shared>,
    plan: Plan,
    deadline: Instant,
}

impl RetryPolicy {
    pub(crate) fn new(shared: Arc<Shared>, plan: Plan, deadline: Instant) -> Self {
        RetryPolicy {
            shared,
            plan,
            deadline,
        }
    }
}

impl<B> Policy<Request<Full<Bytes>>, Response<RetryBody<B>>, BoxError> for RetryPolicy {
    type Future = Wait;

    fn retry(
        &mut self,
        request: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<RetryBody<B>>, BoxError>,
    ) -> Option<Wait> {
        let attempt = Attempt::of(request).unwrap_or(Attempt::FIRST);
        let label = self.plan.label();
        let failure = match result {
            Ok(response) => match response.extensions().get::<Classification>() {
                Some(classification) => classification.failure().cloned(),
                None => {
                    let facts = RequestFacts::from_request(request);
                    classify_status(response.status(), response.headers(), facts)
                        .failure()
                        .cloned()
                }
            },
            Err(error) => Some(classify_error(&**error)),
        };
        let Some(failure) = failure else {
            if attempt.is_retry() {
                self.shared.stats.count(Event::SucceededAfterRetry);
                tracing::info!(attempt = attempt.number(), "{label} succeeded after reconnect");
            }
            return None;
        };
        let config = &self.shared.config;
        let max_retries = config.retries();
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let decision = decide(
            &failure,
            attempt.number(),
            max_retries,
            remaining,
            || self.plan.repeatable(config, &self.shared.safety),
            || self.shared.budget.withdraw(),
        );
        let (class, reached) = (failure.class().as_str(), failure.reached().as_str());
        let tries = max_retries.saturating_add(1);
        match decision {
            Decision::Accept => None,
            Decision::Retry(wait) => {
                let next = attempt.next();
                request.extensions_mut().insert(next);
                self.shared.stats.count(Event::Retry);
                tracing::info!(
                    class,
                    reached,
                    wait_ms = wait.as_millis() as u64,
                    "retrying {label} after reconnect (attempt {}/{tries})",
                    next.number()
                );
                Some(Wait::after(wait))
            }
            Decision::RefuseUnsafe => {
                self.shared.stats.count(Event::RefusedUnsafe);
                tracing::warn!(
                    class,
                    reached,
                    "{label} may have run; not retried because it is not idempotent"
                );
                *result = Ok(maybe_executed(&self.plan, &failure, attempt));
                None
            }
            Decision::GiveUp(why) => {
                let event = match why {
                    GiveUp::Budget => Event::BudgetExhausted,
                    GiveUp::MaxRetries | GiveUp::PastDeadline => Event::GaveUp,
                };
                self.shared.stats.count(event);
                let why = match why {
                    GiveUp::MaxRetries => "no retries left",
                    GiveUp::PastDeadline => "Retry-After reaches past the deadline",
                    GiveUp::Budget => "retry budget exhausted",
                };
                tracing::warn!(
                    class,
                    reached,
                    attempts = attempt.number(),
                    "{label} failed: {why}"
                );
                None
            }
        }
    }

    fn clone_request(&mut self, request: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        if !self.plan.retries() {
            return None;
        }
        let mut clone = Request::new(request.body().clone());
        *clone.method_mut() = request.method().clone();
        *clone.uri_mut() = request.uri().clone();
        *clone.version_mut() = request.version();
        *clone.headers_mut() = request.headers().clone();
        *clone.extensions_mut() = request.extensions().clone();
        Some(clone)
    }
}

/// The clear answer to an ambiguous failure of a call that is not safe to
/// repeat: a JSON-RPC `MAYBE_EXECUTED` error with the request's id.
pub(crate) fn maybe_executed<B>(plan: &Plan, failure: &Failure, attempt: Attempt) -> Response<RetryBody<B>> {
    let message = match plan.label() {
        Label::Tool(tool) => format!("tool '{tool}' may have run; not retried because it is not idempotent"),
        Label::Method(method) => {
            format!("request '{method}' may have run; not retried because it is not idempotent")
        }
        Label::Batch(_) | Label::Unknown => {
            "batch may have run; not retried because not every call in it is idempotent".to_owned()
        }
    };
    let data = serde_json::json!({
        "class": failure.class().as_str(),
        "reached": failure.reached().as_str(),
        "retried": false,
        "attempts": attempt.number(),
        "tool": plan.tool(),
    });
    let mut response = JsonRpcError::for_failure(codes::MAYBE_EXECUTED, message, failure)
        .with_id(plan.id())
        .with_data(data)
        .into_response();
    response
        .extensions_mut()
        .insert(Classification::Failure(failure.clone()));
    response.map(RetryBody::local)
}

pin_project! {
    /// The wait before a retry: none, or the upstream's `Retry-After`.
    #[derive(Debug)]
    pub(crate) struct Wait {
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl Wait {
    fn after(wait: Duration) -> Self {
        let sleep = (!wait.is_zero()).then(|| tokio::time::sleep(wait));
        Wait { sleep }
    }
}

impl Future for Wait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project().sleep.as_pin_mut() {
            Some(sleep) => sleep.poll(cx),
            None => Poll::Ready(()),
        }
    }
}
