//! [`BodyLimit`]: the request body limit, as a [`Gate`](super::Gate).

use axum::body::Body;
use http::{Request, Response};

use super::Gate;

/// The request body limit, as a [`Gate`]: a declared `Content-Length` over
/// the limit is answered `413` at once; a body without one (chunked; an
/// empty one is left alone) is wrapped so that reading past the limit fails with
/// [`http_body_util::LengthLimitError`], which the readers behind turn into
/// their own `413`. A body within its declared length passes untouched:
/// hyper never yields more than the declared length. Why not tower-http's
/// `RequestBodyLimit`: it wraps every body and every answer, and each wrapper
/// is boxed again as `Body`; `benches/allocations.rs` fails if that comes back.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit {
    limit: usize,
}

impl BodyLimit {
    /// At most `limit` bytes of request body.
    pub fn new(limit: usize) -> Self {
        BodyLimit { limit }
    }
}

impl Gate for BodyLimit {
    fn check(&self, request: &mut Request<Body>) -> Option<Response<Body>> {
        let declared = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        match declared {
            Some(length) if length > self.limit as u64 => Some(crate::rest::detail(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                serde_json::json!({"message": "request body too large"}),
            )),
            Some(_) => None,
            // Nothing to read (a `GET` or `DELETE` without a body).
            None if hyper::body::Body::is_end_stream(request.body()) => None,
            None => {
                let body = std::mem::take(request.body_mut());
                *request.body_mut() = Body::new(http_body_util::Limited::new(body, self.limit));
                None
            }
        }
    }
}
