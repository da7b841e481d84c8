//! `Authorization: Bearer <key>`, as mcpo checks it: a missing key is `401`
//! with `WWW-Authenticate: Bearer`, a wrong one `403`. The comparison takes
//! the same time whatever the bytes; the key is never logged, and a checked
//! `Authorization` header is removed so it never travels upstream.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::config::ApiKey;
use crate::edge::Gate;
use crate::rest::detail;

/// Who may pass without the key.
#[derive(Clone, Debug)]
pub struct Auth {
    key: Option<ApiKey>,
    strict: bool,
    /// Exact paths open unless `--strict-auth` (docs, OpenAPI, metrics).
    docs: Arc<BTreeSet<String>>,
    /// A prefix open unless `--strict-auth` (Swagger UI assets).
    docs_prefix: Arc<str>,
}

/// The path that is always open, so probes work.
pub const HEALTH_PATH: &str = "/health";

impl Auth {
    /// Checks `key` (none: everything is open). Unless `strict`, the `docs`
    /// paths and everything under `docs_prefix` are open too.
    pub fn new(key: Option<ApiKey>, strict: bool, docs: BTreeSet<String>, docs_prefix: &str) -> Self {
        Auth {
            key,
            strict,
            docs: Arc::new(docs),
            docs_prefix: Arc::from(format!("{}/", docs_prefix.trim_end_matches('/'))),
        }
    }

    fn is_open(&self, path: &str) -> bool {
        path == HEALTH_PATH
            || (!self.strict && (self.docs.contains(path) || path.starts_with(&*self.docs_prefix)))
    }
}

impl Gate for Auth {
    /// Lets a request pass (without its checked `Authorization` header), or
    /// answers `401` (no key) / `403` (a wrong one).
    fn check(&self, request: &mut Request<Body>) -> Option<Response<Body>> {
        let key = self.key.as_ref()?;
        if self.is_open(request.uri().path()) {
            return None;
        }
        match bearer(request.headers()) {
            None => {
                let mut response = detail(StatusCode::UNAUTHORIZED, json!("Not authenticated"));
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                Some(response)
            }
            Some(token) if bool::from(token.ct_eq(key.as_bytes())) => {
                request.headers_mut().remove(AUTHORIZATION);
                None
            }
            Some(_) => {
                tracing::debug!("request with a wrong API key refused");
                Some(detail(StatusCode::FORBIDDEN, json!("Invalid API key")))
            }
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme in any case).
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    let scheme = b"bearer ";
    if value.len() <= scheme.len() || !value[..scheme.len()].eq_ignore_ascii_case(scheme) {
        return None;
    }
    let token = value[scheme.len()..].trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_tokens_in_any_case() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bEaReR  secret "));
        assert_eq!(bearer(&headers), Some(&b"secret"[..]));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic c2VjcmV0"));
        assert_eq!(bearer(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn health_is_always_open_docs_only_without_strict() {
        let docs = BTreeSet::from(["/docs".to_owned(), "/openapi.json".to_owned()]);
        let open = Auth::new(Some(ApiKey::new("k")), false, docs.clone(), "/docs");
        assert!(open.is_open("/health") && open.is_open("/docs") && open.is_open("/docs/swagger-ui.css"));
        assert!(!open.is_open("/mcp") && !open.is_open("/echo"));
        let strict = Auth::new(Some(ApiKey::new("k")), true, docs, "/docs");
        assert!(strict.is_open("/health") && !strict.is_open("/docs") && !strict.is_open("/openapi.json"));
    }
}
