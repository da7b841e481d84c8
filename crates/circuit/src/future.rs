use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Response;
use mcp_reconnect_core::{
    BoxError, Classification, ClassifiedError, Deadline, Failure, FailureClass, Reached, RequestFacts,
    classify_error, classify_status,
};
use pin_project_lite::pin_project;

use crate::service::Permit;
use crate::shared::Report;
use crate::state::{CircuitState, Outcome};
use crate::status::CircuitStatus;

pin_project! {
    /// The future of [`CircuitReconnect`](crate::CircuitReconnect): the upstream
    /// call, whose outcome it reports to the circuit when it ends. A call
    /// dropped before it ends gives its half-open permit back, and reports
    /// nothing — unless it is dropped at or after the call's [`Deadline`]
    /// (set by the retry layer): then it timed out, and the circuit counts a
    /// `Timeout`, so an upstream that takes connections and never answers
    /// does not look healthy.
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let KindProj::Upstream { reporter, generation, deadline, .. } = this.project().kind.project()
                && deadline.is_some_and(Deadline::has_passed)
                && let Some(reporter) = reporter.take()
            {
                let failure = Failure::new(FailureClass::Timeout, Reached::Unknown);
                reporter.report(Outcome::Failure(failure), *generation);
            }
        }
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Upstream {
            #[pin]
            future: F,
            reporter: Option<Arc<dyn Report>>,
            status: CircuitStatus,
            generation: u64,
            facts: RequestFacts,
            permit: Option<Permit>,
            deadline: Option<Deadline>,
        },
        Failed { error: Option<BoxError> },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn upstream(
        future: F,
        reporter: Arc<dyn Report>,
        status: CircuitStatus,
        generation: u64,
        facts: RequestFacts,
        permit: Option<Permit>,
        deadline: Option<Deadline>,
    ) -> Self {
        ResponseFuture {
            kind: Kind::Upstream {
                future,
                reporter: Some(reporter),
                status,
                generation,
                facts,
                permit,
                deadline,
            },
        }
    }

    pub(crate) fn failed(error: BoxError) -> Self {
        ResponseFuture {
            kind: Kind::Failed { error: Some(error) },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Failed { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| mcp_reconnect_core::polled_after_completion("circuit future")))),
            KindProj::Upstream {
                future,
                reporter,
                status,
                generation,
                facts,
                permit,
                deadline,
            } => {
                let result = ready!(future.poll(cx));
                // It ended: whenever it is dropped now, it did not time out.
                *deadline = None;
                let (classification, result) = match result {
                    Ok(response) => {
                        let classification = match response.extensions().get::<Classification>() {
                            Some(classification) => classification.clone(),
                            None => classify_status(response.status(), response.headers(), *facts),
                        };
                        (classification, Ok(response))
                    }
                    Err(error) => {
                        let error: BoxError = error.into();
                        let failure = classify_error(&*error);
                        let error = if error.is::<ClassifiedError>() {
                            error
                        } else {
                            ClassifiedError::new(failure.clone(), error).into()
                        };
                        (Classification::Failure(failure), Err(error))
                    }
                };
                let steady = status.state() == CircuitState::Healthy && status.error_count() == 0;
                if classification.is_success() && steady {
                    // The hot path: nothing changes, so no lock is taken.
                    status.record_outcome(&classification);
                } else if let Some(reporter) = reporter.take() {
                    let outcome = match classification {
                        Classification::Success => Outcome::Success,
                        Classification::Failure(failure) => Outcome::Failure(failure),
                    };
                    reporter.report(outcome, *generation);
                }
                drop(permit.take());
                Poll::Ready(result)
            }
        }
    }
}
