use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Response;
use mcp_reconnect_core::{
    BoxError, Classification, ClassifiedError, RequestFacts, classify_error, classify_status,
};
use pin_project_lite::pin_project;

use crate::service::Permit;
use crate::shared::Report;
use crate::state::{CircuitState, Outcome};
use crate::status::CircuitStatus;

pin_project! {
    /// The future of [`CircuitReconnect`](crate::CircuitReconnect): the upstream
    /// call, whose outcome it reports to the circuit when it ends (a call
    /// dropped before it ends reports nothing and gives its half-open permit back).
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
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
    ) -> Self {
        ResponseFuture {
            kind: Kind::Upstream {
                future,
                reporter: Some(reporter),
                status,
                generation,
                facts,
                permit,
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
                .unwrap_or_else(|| "circuit future polled after completion".into()))),
            KindProj::Upstream {
                future,
                reporter,
                status,
                generation,
                facts,
                permit,
            } => {
                let result = ready!(future.poll(cx));
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
