//! The answers the health layer gives itself: routing by path and method,
//! then the document in the negotiated format. Synchronous, allocation-light,
//! and never waits on anything.

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, VARY};
use http::{HeaderValue, Method, Request, Response, StatusCode};

use crate::json;
use crate::layer::{Shared, overall, read};
use crate::negotiate::{Format, JSON_CONTENT_TYPE, Rejection};

/// The `Allow` header of a `405`.
const ALLOWED: &str = "GET, HEAD";
/// Health and metrics describe the moment: never cached.
const NO_STORE: &str = "no-store";
/// The `405` body.
const METHOD_NOT_ALLOWED: &str = r#"{"error":"method not allowed","allow":["GET","HEAD"]}"#;
/// The `406` body: what can be asked for.
const NOT_ACCEPTABLE: &str = r#"{"error":"not acceptable","formats":["application/json","text/plain; version=0.0.4","application/openmetrics-text; version=1.0.0"]}"#;
/// The `400` body for an unknown `?format=`.
const UNKNOWN_FORMAT: &str = r#"{"error":"unknown format","formats":["json","prometheus","openmetrics"]}"#;

/// The answer for `request` if it is one of ours, `None` to pass it on.
pub(crate) fn answer<B>(shared: &Shared, request: &Request<B>) -> Option<Response<Bytes>> {
    let path = request.uri().path();
    let is_health = path == &*shared.health_path;
    if !is_health && path != &*shared.metrics_path {
        return None;
    }
    let head = request.method() == Method::HEAD;
    if !head && request.method() != Method::GET {
        let body = Bytes::from_static(METHOD_NOT_ALLOWED.as_bytes());
        let mut response = respond(StatusCode::METHOD_NOT_ALLOWED, JSON_CONTENT_TYPE, body);
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(ALLOWED));
        return Some(response);
    }
    let mut response = if is_health {
        health(shared)
    } else {
        metrics(shared, request)
    };
    tracing::trace!(path, method = %request.method(), status = response.status().as_u16(), "answered");
    if head {
        // Same status and headers (with the length the `GET` body would have), no body.
        *response.body_mut() = Bytes::new();
    }
    Some(response)
}

fn health(shared: &Shared) -> Response<Bytes> {
    let readings = read(&shared.upstreams);
    let overall = overall(&readings, shared.policy);
    let body = json::health(&readings, overall, shared.watched_since);
    respond(overall.status_code(), JSON_CONTENT_TYPE, Bytes::from(body))
}

fn metrics<B>(shared: &Shared, request: &Request<B>) -> Response<Bytes> {
    let format = match Format::negotiate(request.uri().query(), request.headers()) {
        Ok(format) => format,
        Err(Rejection::UnknownFormat) => {
            return respond(
                StatusCode::BAD_REQUEST,
                JSON_CONTENT_TYPE,
                Bytes::from_static(UNKNOWN_FORMAT.as_bytes()),
            );
        }
        Err(Rejection::NotAcceptable) => {
            let body = Bytes::from_static(NOT_ACCEPTABLE.as_bytes());
            return respond(StatusCode::NOT_ACCEPTABLE, JSON_CONTENT_TYPE, body);
        }
    };
    let body = match format {
        Format::Json => {
            let readings = read(&shared.upstreams);
            let overall = overall(&readings, shared.policy);
            Bytes::from(json::metrics(&readings, overall, shared.watched_since))
        }
        #[cfg(feature = "prometheus")]
        _ => match crate::prometheus::render(format, &shared.upstreams) {
            Ok(text) => Bytes::from(text),
            Err(error) => {
                tracing::warn!(%error, "encoding the metrics failed");
                return respond(StatusCode::INTERNAL_SERVER_ERROR, JSON_CONTENT_TYPE, Bytes::new());
            }
        },
    };
    let mut response = respond(StatusCode::OK, format.content_type(), body);
    response
        .headers_mut()
        .insert(VARY, HeaderValue::from_static("accept"));
    response
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    *response.body_mut() = body;
    response
}
