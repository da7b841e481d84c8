//! Classifying an upstream's HTTP answer.

use std::time::Duration;

use http::{HeaderMap, StatusCode};

use crate::class::{Classification, Failure, FailureClass, Reached};
use crate::headers::MCP_SESSION_ID;
use crate::peek::{MessageKind, peek_with_limit};
use crate::respond::codes;

/// The largest `Retry-After` we honour: an upstream asking for more is capped here,
/// so a lying header cannot park a client for hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The largest complete JSON body a classifier may read to refine a class: 64 KiB.
pub const DEFAULT_BODY_PEEK_LIMIT: usize = 64 * 1024;

/// What the response classifier needs to know about the request that was answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RequestFacts {
    carried_session: bool,
}

impl RequestFacts {
    /// Facts read from the request's headers.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        RequestFacts {
            carried_session: headers.contains_key(MCP_SESSION_ID),
        }
    }

    /// Facts read from a request.
    pub fn from_request<B>(request: &http::Request<B>) -> Self {
        Self::from_headers(request.headers())
    }

    /// Whether the request named an MCP session (`Mcp-Session-Id`).
    pub fn carried_session(&self) -> bool {
        self.carried_session
    }

    crate::setters! {
        /// The same facts, with or without a session.
        pub fn with_session(carried_session: bool);
    }
}

/// Classifies a response by its status and headers alone (never its body).
///
/// | status | class | reached the server? |
/// |---|---|---|
/// | 1xx, 2xx, 3xx | success | yes |
/// | 429, 503 | `Unavailable` (keeps `Retry-After`) | no |
/// | 502, 504 | `Gateway` | unknown |
/// | 408 | `Timeout` | no |
/// | 404 to a request with `Mcp-Session-Id` | `SessionLost` | no |
/// | other 4xx and 5xx | `Business` | yes |
///
/// A `404` whose JSON-RPC body says `-32601` (method not found), or a `400`
/// whose body speaks of the session, is only told apart with the body: see
/// [`refine_with_body`].
///
/// ```
/// use http::StatusCode;
/// use mcp_reconnect_core::{FailureClass, RequestFacts, classify_status};
///
/// let class = classify_status(StatusCode::BAD_GATEWAY, &Default::default(), RequestFacts::default());
/// assert_eq!(class.class(), Some(FailureClass::Gateway));
/// ```
pub fn classify_status(status: StatusCode, headers: &HeaderMap, facts: RequestFacts) -> Classification {
    let failure = match status.as_u16() {
        100..=399 => return Classification::Success,
        429 | 503 => Failure::new(FailureClass::Unavailable, Reached::No),
        502 | 504 => Failure::new(FailureClass::Gateway, Reached::Unknown),
        408 => Failure::new(FailureClass::Timeout, Reached::No),
        404 if facts.carried_session => Failure::new(FailureClass::SessionLost, Reached::No),
        _ => Failure::new(FailureClass::Business, Reached::Yes),
    };
    Classification::Failure(failure.with_retry_after(retry_after(headers)))
}

/// Classifies a response by its head: [`classify_status`] over `parts`.
pub fn classify_response(parts: &http::response::Parts, facts: RequestFacts) -> Classification {
    classify_status(parts.status, &parts.headers, facts)
}

/// Whether [`refine_with_body`] can change this classification, so a
/// classifier reads a body only when it matters: successes, session loss,
/// a `400` to a request that named a session, and a `429`/`503` to one that
/// named none.
pub fn body_can_refine(classification: &Classification, status: StatusCode, facts: RequestFacts) -> bool {
    match classification.class() {
        None | Some(FailureClass::SessionLost) => true,
        Some(FailureClass::Business) => status == StatusCode::BAD_REQUEST && facts.carried_session,
        Some(FailureClass::Unavailable) => !facts.carried_session && is_refusal_status(status),
        Some(_) => false,
    }
}

/// Whether a classifier should read this answer's body: it is JSON, of a
/// known length within `limit`, and [`body_can_refine`] says the body can
/// change the class. The one test `ClassifyLayer` and the connector's probe share.
pub fn body_worth_reading(
    classification: &Classification,
    status: StatusCode,
    headers: &HeaderMap,
    exact_len: Option<u64>,
    limit: usize,
    facts: RequestFacts,
) -> bool {
    crate::headers::is_json(headers)
        && exact_len.is_some_and(|len| len <= limit as u64)
        && body_can_refine(classification, status, facts)
}

/// `429` and `503`: the statuses a proxy answers for a server that is down,
/// and a live server for a request it will not take.
fn is_refusal_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
}

/// Refines a classification with a complete JSON body of at most
/// [`DEFAULT_BODY_PEEK_LIMIT`] bytes.
///
/// - a `404` JSON-RPC `-32601` (method not found) is `Business`, not session loss;
/// - a `400` to a request with a session whose JSON-RPC error speaks of the
///   session (the TypeScript SDK's `-32000 "Bad Request: No valid session ID
///   provided"`) is `SessionLost`;
/// - a success whose body is a JSON-RPC error, an `isError` tool result, or
///   not JSON at all is `Business`;
/// - a `429`/`503` to a request without a session (an `initialize`, a
///   stateless call) whose body is a JSON-RPC error is `Business` (keeping
///   `Retry-After`): the MCP server itself refused this request, as the
///   Python SDK's `503 "Too many open sessions"` does. A proxy's `503` for a
///   server that is down carries no JSON-RPC, and stays `Unavailable`: a
///   refused new session must not open the circuit for established ones.
pub fn refine_with_body(
    classification: Classification,
    status: StatusCode,
    facts: RequestFacts,
    body: &[u8],
) -> Classification {
    let business = || Classification::Failure(Failure::new(FailureClass::Business, Reached::Yes));
    let Ok(peek) = peek_with_limit(body, DEFAULT_BODY_PEEK_LIMIT) else {
        // Only a success can turn into a failure here: an error status keeps its class.
        return if classification.is_success() && !body.is_empty() {
            business()
        } else {
            classification
        };
    };
    let messages = peek.messages();
    let error_codes = || {
        messages
            .iter()
            .filter_map(|m| m.error().map(|e| (e.code(), e.message())))
    };
    match classification.class() {
        Some(FailureClass::SessionLost) => {
            if error_codes().any(|(code, _)| code == Some(codes::METHOD_NOT_FOUND)) {
                return business();
            }
            classification
        }
        Some(FailureClass::Business) if status == StatusCode::BAD_REQUEST && facts.carried_session => {
            let speaks_of_session = error_codes()
                .any(|(_, message)| message.is_some_and(|m| contains_ignore_ascii_case(m, "session")));
            if speaks_of_session {
                Classification::Failure(Failure::new(FailureClass::SessionLost, Reached::No))
            } else {
                classification
            }
        }
        None => {
            let failed = messages
                .iter()
                .any(|m| m.kind() == MessageKind::Response && (m.error().is_some() || m.is_error_result()));
            if failed { business() } else { classification }
        }
        Some(FailureClass::Unavailable) if !facts.carried_session && is_refusal_status(status) => {
            let answered = messages
                .iter()
                .any(|m| m.kind() == MessageKind::Response && m.error().is_some());
            match classification {
                Classification::Failure(failure) if answered => Classification::Failure(
                    Failure::new(FailureClass::Business, Reached::Yes)
                        .with_retry_after(failure.retry_after()),
                ),
                other => other,
            }
        }
        Some(_) => classification,
    }
}

/// `Retry-After` as delta-seconds, capped at [`MAX_RETRY_AFTER`]. (The HTTP-date
/// form is ignored: the circuit's own backoff applies then.)
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn session() -> RequestFacts {
        RequestFacts::default().with_session(true)
    }

    fn class_of(status: u16, facts: RequestFacts) -> Option<FailureClass> {
        let status = StatusCode::from_u16(status).unwrap();
        classify_status(status, &HeaderMap::new(), facts).class()
    }

    #[test]
    fn statuses_map_to_the_design_table() {
        let none = RequestFacts::default();
        assert_eq!(class_of(200, none), None);
        assert_eq!(class_of(202, none), None);
        assert_eq!(class_of(502, none), Some(FailureClass::Gateway));
        assert_eq!(class_of(504, none), Some(FailureClass::Gateway));
        assert_eq!(class_of(503, none), Some(FailureClass::Unavailable));
        assert_eq!(class_of(429, none), Some(FailureClass::Unavailable));
        assert_eq!(class_of(404, none), Some(FailureClass::Business));
        assert_eq!(class_of(404, session()), Some(FailureClass::SessionLost));
        assert_eq!(class_of(401, session()), Some(FailureClass::Business));
        assert_eq!(class_of(403, none), Some(FailureClass::Business));
        assert_eq!(class_of(500, none), Some(FailureClass::Business));
    }

    #[test]
    fn reach_follows_the_class() {
        let head = HeaderMap::new();
        let reached = |s: u16| {
            classify_status(StatusCode::from_u16(s).unwrap(), &head, session())
                .failure()
                .map(Failure::reached)
        };
        assert_eq!(reached(503), Some(Reached::No));
        assert_eq!(reached(502), Some(Reached::Unknown));
        assert_eq!(reached(404), Some(Reached::No));
        assert_eq!(reached(400), Some(Reached::Yes));
    }

    #[test]
    fn retry_after_is_kept_and_capped() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("7"));
        let class = classify_status(StatusCode::SERVICE_UNAVAILABLE, &headers, RequestFacts::default());
        assert_eq!(
            class.failure().unwrap().retry_after(),
            Some(Duration::from_secs(7))
        );
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("99999999999"));
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert(
            http::header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn a_404_method_not_found_is_business_not_session_loss() {
        let lost = classify_status(StatusCode::NOT_FOUND, &HeaderMap::new(), session());
        let body = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#;
        let refined = refine_with_body(lost.clone(), StatusCode::NOT_FOUND, session(), body);
        assert_eq!(refined.class(), Some(FailureClass::Business));
        let other = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"Session not found"}}"#;
        let refined = refine_with_body(lost, StatusCode::NOT_FOUND, session(), other);
        assert_eq!(refined.class(), Some(FailureClass::SessionLost));
    }

    #[test]
    fn a_400_about_the_session_is_session_loss() {
        let bad = classify_status(StatusCode::BAD_REQUEST, &HeaderMap::new(), session());
        let body = br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: No valid session ID provided"}}"#;
        let refined = refine_with_body(bad.clone(), StatusCode::BAD_REQUEST, session(), body);
        assert_eq!(refined.class(), Some(FailureClass::SessionLost));
        // Without a session on the request it is the client's own mistake.
        let none = RequestFacts::default();
        let refined = refine_with_body(bad.clone(), StatusCode::BAD_REQUEST, none, body);
        assert_eq!(refined.class(), Some(FailureClass::Business));
        let unrelated = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Invalid params"}}"#;
        let refined = refine_with_body(bad, StatusCode::BAD_REQUEST, session(), unrelated);
        assert_eq!(refined.class(), Some(FailureClass::Business));
    }

    #[test]
    fn successes_carrying_errors_are_business() {
        let ok = Classification::Success;
        let rpc_error = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad"}}"#;
        let is_error = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}}"#;
        let fine = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":false}}"#;
        let refine = |body: &[u8]| refine_with_body(ok.clone(), StatusCode::OK, session(), body).class();
        assert_eq!(refine(rpc_error), Some(FailureClass::Business));
        assert_eq!(refine(is_error), Some(FailureClass::Business));
        assert_eq!(refine(b"{not json"), Some(FailureClass::Business));
        assert_eq!(refine(fine), None);
        assert_eq!(refine(b""), None);
    }

    #[test]
    fn a_servers_own_refusal_of_a_new_session_is_business_a_proxys_is_not() {
        let none = RequestFacts::default();
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("3"));
        let refused = classify_status(StatusCode::SERVICE_UNAVAILABLE, &headers, none);
        assert!(body_can_refine(&refused, StatusCode::SERVICE_UNAVAILABLE, none));
        // The Python SDK's answer at its session limit.
        let full = br#"{"jsonrpc":"2.0","id":"server-error","error":{"code":-32603,"message":"Too many open sessions"}}"#;
        let refined = refine_with_body(refused.clone(), StatusCode::SERVICE_UNAVAILABLE, none, full);
        assert_eq!(refined.class(), Some(FailureClass::Business));
        assert_eq!(
            refined.failure().unwrap().retry_after(),
            Some(Duration::from_secs(3))
        );
        // A proxy's page, or JSON that is no JSON-RPC error: still an outage.
        for body in [
            &b"<html>503 Service Temporarily Unavailable</html>"[..],
            br#"{"message":"no endpoints"}"#,
            b"",
        ] {
            let refined = refine_with_body(refused.clone(), StatusCode::SERVICE_UNAVAILABLE, none, body);
            assert_eq!(refined.class(), Some(FailureClass::Unavailable));
        }
        // In an established session a 503 is the upstream's state, never read.
        let in_session = classify_status(StatusCode::SERVICE_UNAVAILABLE, &headers, session());
        assert!(!body_can_refine(
            &in_session,
            StatusCode::SERVICE_UNAVAILABLE,
            session()
        ));
    }

    proptest::proptest! {
        #[test]
        fn classifiers_never_panic_on_arbitrary_answers(
            status in 100u16..1000,
            headers in proptest::collection::vec(("[a-zA-Z-]{1,20}", proptest::collection::vec(0x20u8..0x7f, 0..40)), 0..8),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            session in proptest::prelude::any::<bool>(),
        ) {
            let Ok(status) = StatusCode::from_u16(status) else { return Ok(()) };
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) = (
                    http::header::HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_bytes(&value),
                ) {
                    map.append(name, value);
                }
            }
            let facts = RequestFacts::default().with_session(session);
            let class = classify_status(status, &map, facts);
            if body_can_refine(&class, status, facts) {
                let _ = refine_with_body(class, status, facts, &body);
            }
            let _ = retry_after(&map);
        }
    }
}
