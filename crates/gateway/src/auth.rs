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
use crate::proof::ConnectionProof;
use crate::rest::detail;

/// Who may pass without the key.
#[derive(Clone, Debug)]
pub struct Auth {
    key: Option<ApiKey>,
    strict: bool,
    /// Exact paths open unless `--strict-auth` (docs, OpenAPI, metrics and
    /// each Swagger UI asset). Only exact paths: a prefix would also open
    /// whatever a `--path-prefix` or server name mounts below it.
    docs: Arc<BTreeSet<String>>,
}

/// The path that is always open, so probes work.
pub const HEALTH_PATH: &str = "/health";

impl Auth {
    /// Checks `key` (none: everything is open). Unless `strict`, the exact
    /// `docs` paths are open too.
    pub fn new(key: Option<ApiKey>, strict: bool, docs: BTreeSet<String>) -> Self {
        Auth {
            key,
            strict,
            docs: Arc::new(docs),
        }
    }

    fn is_open(&self, path: &str) -> bool {
        path == HEALTH_PATH || (!self.strict && self.docs.contains(path))
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
                if let Some(connection) = request.extensions().get::<Arc<ConnectionProof>>() {
                    connection.prove();
                }
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
        let docs = BTreeSet::from([
            "/docs".to_owned(),
            "/openapi.json".to_owned(),
            "/docs/swagger-ui.css".to_owned(),
        ]);
        let open = Auth::new(Some(ApiKey::new("k")), false, docs.clone());
        assert!(open.is_open("/health") && open.is_open("/docs") && open.is_open("/docs/swagger-ui.css"));
        assert!(!open.is_open("/mcp") && !open.is_open("/echo"));
        // Nothing below an open path is open: not a mount, not a tool.
        for closed in [
            "/docs/",
            "/docs/srv/mcp",
            "/docs/srv/increment",
            "/docs/swagger-ui.css/x",
            "/health/x",
        ] {
            assert!(!open.is_open(closed), "{closed}");
        }
        let strict = Auth::new(Some(ApiKey::new("k")), true, docs);
        assert!(strict.is_open("/health") && !strict.is_open("/docs") && !strict.is_open("/openapi.json"));
    }
}
