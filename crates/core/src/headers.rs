//! The MCP Streamable HTTP header names, and what the layers read from them.

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

/// What a Streamable HTTP client must accept: `application/json, text/event-stream`.
pub const ACCEPT_MCP: HeaderValue = HeaderValue::from_static("application/json, text/event-stream");

/// `Mcp-Session-Id`: the session of the legacy (2025-03-26 … 2025-11-25) protocol.
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// `MCP-Protocol-Version`: the negotiated protocol version, sent on every request.
pub const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Mcp-Method`: the JSON-RPC method, sent as a header by 2026-07-28 clients.
pub const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// `Mcp-Name`: the tool, prompt or resource name, sent as a header by 2026-07-28 clients.
pub const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
/// `Last-Event-ID`: resumes an SSE stream.
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// The JSON-RPC method a 2026-07-28 client named in the `Mcp-Method` header.
///
/// Such clients let a proxy learn the method and tool without reading the body.
pub fn header_method(headers: &HeaderMap) -> Option<&str> {
    headers.get(MCP_METHOD)?.to_str().ok()
}

/// The name (tool, prompt, resource) a 2026-07-28 client put in the `Mcp-Name` header.
pub fn header_name(headers: &HeaderMap) -> Option<&str> {
    headers.get(MCP_NAME)?.to_str().ok()
}

/// Whether the headers declare a JSON body (`application/json` or `application/*+json`).
pub fn is_json(headers: &HeaderMap) -> bool {
    content_type_essence(headers).is_some_and(|essence| {
        essence.eq_ignore_ascii_case("application/json")
            || (essence.len() > "application/+json".len()
                && essence[.."application/".len()].eq_ignore_ascii_case("application/")
                && essence[essence.len() - "+json".len()..].eq_ignore_ascii_case("+json"))
    })
}

/// Whether the headers declare a server-sent event stream.
pub fn is_event_stream(headers: &HeaderMap) -> bool {
    content_type_essence(headers).is_some_and(|essence| essence.eq_ignore_ascii_case("text/event-stream"))
}

/// The media type without parameters: `application/json; charset=utf-8` → `application/json`.
fn content_type_essence(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or(value).trim();
    // Guard the byte slicing in `is_json` against multi-byte characters.
    essence.is_ascii().then_some(essence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_content_type(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn json_media_types_are_recognised_with_parameters_and_suffixes() {
        assert!(is_json(&with_content_type("application/json")));
        assert!(is_json(&with_content_type("Application/JSON; charset=utf-8")));
        assert!(is_json(&with_content_type("application/problem+json")));
        assert!(!is_json(&with_content_type("application/+json")));
        assert!(!is_json(&with_content_type("text/event-stream")));
        assert!(!is_json(&HeaderMap::new()));
        assert!(is_event_stream(&with_content_type("text/event-stream")));
    }

    #[test]
    fn method_and_name_headers_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(MCP_METHOD, HeaderValue::from_static("tools/call"));
        headers.insert(MCP_NAME, HeaderValue::from_static("echo"));
        assert_eq!(header_method(&headers), Some("tools/call"));
        assert_eq!(header_name(&headers), Some("echo"));
    }
}
