//! The URI, header and answer rules of `UpstreamService`, without a network.

use super::*;

fn bound(url: &str) -> Bound {
    let target = UpstreamTarget::new(url).unwrap();
    Bound {
        uri: target.url().clone(),
        host: HeaderValue::from_static("h"),
        headers: HeaderMap::new(),
        forward_credentials: false,
        display: target.display(),
    }
}

#[test]
fn the_client_query_is_appended_to_the_endpoint_query() {
    let plain = bound("http://127.0.0.1:1/mcp");
    assert_eq!(plain.uri_for(None).to_string(), "http://127.0.0.1:1/mcp");
    assert_eq!(
        plain.uri_for(Some("a=1")).to_string(),
        "http://127.0.0.1:1/mcp?a=1"
    );
    let own = bound("http://127.0.0.1:1/mcp?k=v");
    assert_eq!(own.uri_for(Some("")).to_string(), "http://127.0.0.1:1/mcp?k=v");
    assert_eq!(
        own.uri_for(Some("a=1")).to_string(),
        "http://127.0.0.1:1/mcp?k=v&a=1"
    );
}

#[test]
fn an_upstreams_retry_after_is_capped_at_300_s() {
    for (sent, kept) in [
        ("99999999", "300"),
        ("301", "300"),
        ("300", "300"),
        ("7", "7"),
        ("soon", "soon"),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static(sent));
        cap_retry_after(&mut headers);
        assert_eq!(headers[header::RETRY_AFTER], kept, "{sent}");
    }
    let mut none = HeaderMap::new();
    cap_retry_after(&mut none);
    assert!(none.is_empty());
}

#[test]
fn only_the_headers_mcp_needs_are_relayed() {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("content-type", "text/event-stream"),
        ("mcp-session-id", "s"),
        ("cache-control", "no-cache"),
        ("ratelimit-remaining", "3"),
        ("x-ratelimit-reset", "9"),
        ("www-authenticate", "Bearer"),
        ("set-cookie", "internal=1"),
        ("server", "internal/1.2"),
        ("x-internal-debug", "10.0.0.7"),
        ("access-control-allow-origin", "*"),
        ("strict-transport-security", "max-age=1"),
        ("alt-svc", "h3=\":443\""),
        ("connection", "x-private"),
        ("x-private", "1"),
        ("proxy-authenticate", "Basic"),
    ] {
        headers.append(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    headers.append("mcp-session-id", HeaderValue::from_static("s2"));
    keep_relayed(&mut headers);
    let kept: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
    assert_eq!(
        kept,
        [
            "content-type",
            "mcp-session-id",
            "cache-control",
            "ratelimit-remaining",
            "x-ratelimit-reset",
            "www-authenticate"
        ]
    );
    assert_eq!(headers.get_all("mcp-session-id").iter().count(), 2);
    let mut plain = HeaderMap::new();
    plain.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    keep_relayed(&mut plain);
    assert_eq!(plain.len(), 1);
}

#[test]
fn hop_by_hop_and_connection_named_headers_go() {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONNECTION,
        HeaderValue::from_static("keep-alive, x-private"),
    );
    headers.insert("x-private", HeaderValue::from_static("1"));
    headers.insert(KEEP_ALIVE, HeaderValue::from_static("timeout=5"));
    headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
    headers.insert("mcp-session-id", HeaderValue::from_static("s"));
    strip_hop_by_hop(&mut headers);
    assert_eq!(headers.len(), 1);
    assert!(headers.contains_key("mcp-session-id"));
}
