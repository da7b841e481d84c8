//! Our classes as tower-http's classifier, so `TraceLayer` logs them.

use std::any::Any;
use std::fmt;

use http::{Request, Response};
use tower_http::classify::{ClassifiedResponse, ClassifyResponse, MakeClassifier, NeverClassifyEos};

use mcp_reconnect_core::{
    BoxError, Classification, ClassifiedError, Failure, RequestFacts, classify_error, classify_status,
};

/// Makes an [`McpClassifier`] per request, remembering whether it named a session.
///
/// ```
/// use tower_http::trace::TraceLayer;
/// use mcp_reconnect_classify::MakeMcpClassifier;
///
/// let trace = TraceLayer::new(MakeMcpClassifier);
/// # let _ = trace;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct MakeMcpClassifier;

impl MakeClassifier for MakeMcpClassifier {
    type Classifier = McpClassifier;
    type FailureClass = Failure;
    type ClassifyEos = NeverClassifyEos<Failure>;

    fn make_classifier<B>(&self, request: &Request<B>) -> McpClassifier {
        McpClassifier {
            facts: RequestFacts::from_request(request),
        }
    }
}

/// tower-http's view of our classes: reads the [`Classification`] that
/// `ClassifyLayer` attached, or classifies the status itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct McpClassifier {
    facts: RequestFacts,
}

impl ClassifyResponse for McpClassifier {
    type FailureClass = Failure;
    type ClassifyEos = NeverClassifyEos<Failure>;

    fn classify_response<B>(self, response: &Response<B>) -> ClassifiedResponse<Failure, Self::ClassifyEos> {
        let classification = match response.extensions().get::<Classification>() {
            Some(classification) => classification.clone(),
            None => classify_status(response.status(), response.headers(), self.facts),
        };
        match classification {
            Classification::Success => ClassifiedResponse::Ready(Ok(())),
            Classification::Failure(failure) => ClassifiedResponse::Ready(Err(failure)),
        }
    }

    fn classify_error<E: fmt::Display + 'static>(self, error: &E) -> Failure {
        // tower-http hands us only `Display`: reach the `source()` chain by
        // downcasting to the error types services return.
        let any = error as &dyn Any;
        if let Some(boxed) = any.downcast_ref::<BoxError>() {
            classify_error(&**boxed)
        } else if let Some(classified) = any.downcast_ref::<ClassifiedError>() {
            classified.failure().clone()
        } else if let Some(io) = any.downcast_ref::<std::io::Error>() {
            classify_error(io)
        } else {
            classify_error(&Unrecognised)
        }
    }
}

/// Stands for an error whose type we cannot see: classified as not recoverable.
#[derive(Debug)]
struct Unrecognised;

impl fmt::Display for Unrecognised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unrecognised error")
    }
}

impl std::error::Error for Unrecognised {}
