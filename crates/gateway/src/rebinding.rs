//! DNS-rebinding protection for a gateway listening on loopback: the MCP
//! spec asks local servers to validate `Host` and `Origin`, so that a web
//! page whose name was re-pointed at 127.0.0.1 cannot drive local tools.
//!
//! Only active when the gateway binds a loopback address: a gateway on a
//! public interface is reached by name and guarded by its API key and CORS.
//! `/health` and `/metrics` stay open, for probes and scrapers that name
//! the gateway however they reach it.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Body;
use http::{HeaderValue, Request, Response, StatusCode};
use serde_json::json;

use crate::config::Cors;
use crate::edge::Gate;
use crate::rest::detail;

/// What a loopback gateway accepts besides loopback names.
#[derive(Clone, Debug, Default)]
pub struct LoopbackGuard {
    /// Origins listed with `--cors-allow-origins` (never `*`).
    allowed_origins: Arc<[HeaderValue]>,
}

impl LoopbackGuard {
    /// A guard when `host` (the listen address) is loopback, else `None`.
    pub fn for_listen_host(host: &str, cors: &Cors) -> Option<LoopbackGuard> {
        if !is_loopback_name(host) {
            return None;
        }
        let allowed_origins = match cors {
            Cors::Any => Arc::from([]),
            Cors::List(origins) => Arc::from(origins.as_slice()),
        };
        Some(LoopbackGuard { allowed_origins })
    }

    fn allows(&self, host: Option<&HeaderValue>, origin: Option<&HeaderValue>) -> bool {
        let host_ok = host.is_none_or(|h| h.to_str().is_ok_and(|h| is_loopback_name(strip_port(h))));
        // `null` (sandboxed iframes, `data:` URLs: any web page can make
        // one) passes only when `--cors-allow-origins` lists it.
        let origin_ok = origin.is_none_or(|o| {
            self.allowed_origins.contains(o)
                || o.to_str().is_ok_and(|o| {
                    o.split_once("://")
                        .is_some_and(|(_, rest)| is_loopback_name(strip_port(rest)))
                })
        });
        host_ok && origin_ok
    }
}

impl Gate for LoopbackGuard {
    /// `403` for a foreign `Host` or `Origin`.
    fn check(&self, request: &mut Request<Body>) -> Option<Response<Body>> {
        let path = request.uri().path();
        let headers = request.headers();
        if path == crate::auth::HEALTH_PATH
            || path == "/metrics"
            || self.allows(headers.get(http::header::HOST), headers.get(http::header::ORIGIN))
        {
            None
        } else {
            Some(detail(
                StatusCode::FORBIDDEN,
                json!("Forbidden: Host or Origin not allowed on a loopback gateway"),
            ))
        }
    }
}

/// `host:port`, `[v6]:port`, `host` → the host part.
fn strip_port(authority: &str) -> &str {
    let authority = authority.trim_end_matches('/');
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(host, _)| host);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

fn is_loopback_name(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &'static str) -> HeaderValue {
        HeaderValue::from_static(s)
    }

    #[test]
    fn loopback_names_pass_and_foreign_ones_do_not() {
        let guard = LoopbackGuard::for_listen_host("127.0.0.1", &Cors::Any).unwrap();
        assert!(guard.allows(Some(&value("127.0.0.1:8000")), None));
        assert!(guard.allows(Some(&value("localhost")), Some(&value("http://localhost:3000"))));
        assert!(guard.allows(Some(&value("[::1]:8000")), Some(&value("http://[::1]:3000"))));
        assert!(
            !guard.allows(Some(&value("[::1]:8000")), Some(&value("null"))),
            "null is not an origin of ours"
        );
        assert!(guard.allows(None, None));
        assert!(!guard.allows(Some(&value("evil.example.com")), None));
        assert!(!guard.allows(
            Some(&value("127.0.0.1:8000")),
            Some(&value("http://evil.example.com"))
        ));
        assert!(!guard.allows(Some(&value("127.0.0.1.evil.example.com:80")), None));
    }

    #[test]
    fn listed_origins_pass_and_public_listeners_are_not_guarded() {
        let cors = Cors::List(vec![value("https://webui.example.com")]);
        let guard = LoopbackGuard::for_listen_host("localhost", &cors).unwrap();
        assert!(guard.allows(
            Some(&value("localhost:8000")),
            Some(&value("https://webui.example.com"))
        ));
        let null = LoopbackGuard::for_listen_host("localhost", &Cors::List(vec![value("null")])).unwrap();
        assert!(
            null.allows(Some(&value("localhost:8000")), Some(&value("null"))),
            "listed: allowed"
        );
        assert!(LoopbackGuard::for_listen_host("0.0.0.0", &Cors::Any).is_none());
        assert!(LoopbackGuard::for_listen_host("10.1.2.3", &Cors::Any).is_none());
    }
}
