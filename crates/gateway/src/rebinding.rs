//! `Host` and `Origin` validation on every listener, as the MCP transport
//! spec asks ("servers MUST validate the Origin header on all incoming
//! connections"): a web page whose name was re-pointed at the gateway (DNS
//! rebinding), or any page a browser shows, cannot drive its tools.
//!
//! - `Host`: with an allow-list (`--allowed-hosts`; by default the loopback
//!   names on a loopback bind, any host elsewhere), a request to another
//!   name is refused.
//! - `Origin` (sent by browsers): allowed when `--cors-allow-origins` lists
//!   it (`*` allows any), when it is a loopback page (`http://localhost:3000`:
//!   no rebinding makes one), or when it is the gateway's own origin: the
//!   request's `Host`, where that is an IP address or an allowed host name
//!   (a rebinding page's origin is its own name, never the gateway's address).
//! - `/health` and `/metrics` stay open, for probes and scrapers that name
//!   the gateway however they reach it.
//!
//! A refused request gets `403` with a JSON-RPC error on `/mcp`, mcpo's
//! `{"detail": …}` elsewhere. CORS answers browsers with the same rule
//! ([`OriginGuard::allows_origin`]), so the two never disagree.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Body;
use http::{HeaderValue, Request, Response, StatusCode};
use mcp_reconnect_core::respond::{JsonRpcError, codes};
use serde_json::json;

use crate::config::{AllowedHosts, Cors};
use crate::edge::Gate;
use crate::rest::detail;

/// What the gateway accepts in `Host` and `Origin`.
#[derive(Clone, Debug)]
pub struct OriginGuard {
    hosts: Arc<AllowedHosts>,
    origins: Arc<Cors>,
}

impl OriginGuard {
    /// A guard for the gateway's `hosts` and `--cors-allow-origins`.
    pub fn new(hosts: AllowedHosts, origins: Cors) -> Self {
        OriginGuard {
            hosts: Arc::new(hosts),
            origins: Arc::new(origins),
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        match &*self.hosts {
            AllowedHosts::Any => true,
            AllowedHosts::List(names) => {
                let name = strip_port(host);
                names.iter().any(|allowed| allowed.eq_ignore_ascii_case(name))
            }
        }
    }

    /// Whether a request to `host` may come from a page at `origin`.
    pub fn allows_origin(&self, origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
        match &*self.origins {
            Cors::Any => return true,
            Cors::List(listed) if listed.contains(origin) => return true,
            Cors::List(_) => {}
        }
        let Some(authority) = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, rest)| rest)
        else {
            // `null` (sandboxed iframes, `data:` pages: any web page can make one) passes only when listed.
            return false;
        };
        let authority = authority.trim_end_matches('/');
        let name = strip_port(authority);
        if is_loopback_name(name) {
            return true;
        }
        let own = host
            .and_then(|host| host.to_str().ok())
            .is_some_and(|host| host.eq_ignore_ascii_case(authority));
        let named = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok()
            || matches!(&*self.hosts, AllowedHosts::List(_)) && self.host_allowed(authority);
        own && named
    }

    fn allows(&self, host: Option<&HeaderValue>, origin: Option<&HeaderValue>) -> bool {
        let host_ok = host.is_none_or(|h| h.to_str().is_ok_and(|h| self.host_allowed(h)));
        host_ok && origin.is_none_or(|origin| self.allows_origin(origin, host))
    }
}

impl Gate for OriginGuard {
    /// `403` for a `Host` or `Origin` that is not allowed.
    fn check(&self, request: &mut Request<Body>) -> Option<Response<Body>> {
        let path = request.uri().path();
        if path == crate::auth::HEALTH_PATH || path == "/metrics" {
            return None;
        }
        let headers = request.headers();
        if self.allows(headers.get(http::header::HOST), headers.get(http::header::ORIGIN)) {
            return None;
        }
        let message = "Forbidden: Host or Origin not allowed";
        if path.ends_with("/mcp") {
            let error = JsonRpcError::new(codes::INVALID_REQUEST, message).with_status(StatusCode::FORBIDDEN);
            return Some(error.into_response().map(Body::from));
        }
        Some(detail(StatusCode::FORBIDDEN, json!(message)))
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

/// `localhost` or a loopback address.
pub fn is_loopback_name(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &'static str) -> HeaderValue {
        HeaderValue::from_static(s)
    }

    fn loopback(origins: Cors) -> OriginGuard {
        OriginGuard::new(AllowedHosts::for_bind("127.0.0.1"), origins)
    }

    #[test]
    fn a_loopback_gateway_takes_loopback_names_and_pages_only() {
        let guard = loopback(Cors::List(Vec::new()));
        assert!(guard.allows(Some(&value("127.0.0.1:8000")), None));
        assert!(guard.allows(Some(&value("localhost")), Some(&value("http://localhost:3000"))));
        assert!(guard.allows(Some(&value("[::1]:8000")), Some(&value("http://[::1]:3000"))));
        assert!(
            !guard.allows(Some(&value("[::1]:8000")), Some(&value("null"))),
            "null is no origin of ours"
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
    fn a_public_gateway_takes_any_host_but_only_its_own_or_listed_origins() {
        let guard = OriginGuard::new(AllowedHosts::for_bind("0.0.0.0"), Cors::List(Vec::new()));
        assert!(
            guard.allows(Some(&value("gateway.internal:8000")), None),
            "any host, no browser"
        );
        // DNS rebinding: the page's origin is its own name, and so is the Host.
        let evil = value("evil.example.com");
        assert!(!guard.allows(Some(&evil), Some(&value("http://evil.example.com"))));
        // The gateway's own pages (Swagger UI) reached by address.
        assert!(guard.allows(
            Some(&value("10.1.2.3:8000")),
            Some(&value("http://10.1.2.3:8000"))
        ));
        assert!(!guard.allows(
            Some(&value("10.1.2.3:8000")),
            Some(&value("http://10.1.2.3:9999"))
        ));
        // Listed host names are the gateway's own too.
        let named = OriginGuard::new(
            AllowedHosts::List(vec!["gw.example".to_owned()]),
            Cors::List(Vec::new()),
        );
        assert!(named.allows(
            Some(&value("gw.example:8000")),
            Some(&value("https://gw.example:8000"))
        ));
        assert!(!named.allows(Some(&value("other.example")), None));
        // Listed origins, and `*`.
        let listed = OriginGuard::new(
            AllowedHosts::Any,
            Cors::List(vec![value("https://webui.example.com")]),
        );
        assert!(listed.allows(Some(&evil), Some(&value("https://webui.example.com"))));
        assert!(!listed.allows(Some(&evil), Some(&value("https://other.example.com"))));
        let any = OriginGuard::new(AllowedHosts::Any, Cors::Any);
        assert!(
            any.allows(Some(&evil), Some(&value("http://evil.example.com"))),
            "`*` was asked for"
        );
        let null = loopback(Cors::List(vec![value("null")]));
        assert!(
            null.allows(Some(&value("localhost:8000")), Some(&value("null"))),
            "listed: allowed"
        );
    }
}
