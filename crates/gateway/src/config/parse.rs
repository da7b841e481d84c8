//! Checking the command line's values: the server given on it, headers,
//! CORS origins, paths.

use std::path::Path;

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use mcp_reconnect_core::redact_url;

use super::{ConfigError, Cors, STREAMABLE_HTTP_TYPES, ServerSpec, parse_servers_file};

/// The reconnect design's `streamablehttp URL`, or mcpo's `--server-type T -- URL`.
pub(super) fn command_line_server(
    server_type: Option<&str>,
    target: &[String],
    headers: HeaderMap,
) -> Result<ServerSpec, ConfigError> {
    let stdio = |command: &str| {
        ConfigError::new(format!(
            "`{command}`: stdio servers (a command) are not supported; mcp-gateway serves remote Streamable HTTP servers: give `streamablehttp URL`"
        ))
    };
    let (kind, url) = match target {
        [] => {
            return Err(ConfigError::new(
                "no server: give `streamablehttp URL`, `-- URL` or --config FILE",
            ));
        }
        [url] if url.contains("://") => (server_type.unwrap_or(STREAMABLE_HTTP_TYPES[0]), url),
        [kind, url] if is_type_word(kind) => (kind.as_str(), url),
        [command, ..] => return Err(stdio(command)),
    };
    check_type("the command line", kind)?;
    let mut server = ServerSpec::new("mcp", "", parse_url("the server URL", url)?);
    server.headers = headers;
    Ok(server)
}

pub(super) fn read_servers_file(
    path: &Path,
    prefix: &str,
    headers: &HeaderMap,
) -> Result<Vec<ServerSpec>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| ConfigError::new(format!("--config {}: cannot read it: {error}", path.display())))?;
    parse_servers_file(&text, prefix, headers)
        .map_err(|error| ConfigError::new(format!("--config {}: {error}", path.display())))
}

/// Accepts a Streamable HTTP type; names what is refused otherwise.
pub(crate) fn check_type(place: &str, kind: &str) -> Result<(), ConfigError> {
    let normalized = kind.to_ascii_lowercase();
    if STREAMABLE_HTTP_TYPES.contains(&normalized.as_str()) {
        return Ok(());
    }
    let why = match normalized.as_str() {
        "sse" => "the legacy SSE transport is not supported (use the server's Streamable HTTP endpoint)",
        "stdio" => {
            "stdio servers (a command) are not supported; mcp-gateway serves remote Streamable HTTP servers"
        }
        _ => "unknown server type (expected streamable-http)",
    };
    Err(ConfigError::new(format!("{place}: server type `{kind}`: {why}")))
}

/// A server type as the reconnect design's positional form gives it (`streamablehttp URL`).
fn is_type_word(text: &str) -> bool {
    let word = text.to_ascii_lowercase();
    STREAMABLE_HTTP_TYPES.contains(&word.as_str()) || matches!(word.as_str(), "sse" | "stdio")
}

/// An `http` or `https` URL with a host.
pub(crate) fn parse_url(what: &str, text: &str) -> Result<Uri, ConfigError> {
    let shown = redact_url(text);
    let uri: Uri = text
        .parse()
        .map_err(|_| ConfigError::new(format!("{what} `{shown}` is not a valid URL")))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(uri),
        _ => Err(ConfigError::new(format!(
            "{what} `{shown}`: expected an http:// or https:// URL with a host"
        ))),
    }
}

/// `--header` values: JSON objects (mcpo's form) or `Name: value`.
pub(crate) fn parse_headers(values: &[String]) -> Result<HeaderMap, ConfigError> {
    let mut headers = HeaderMap::new();
    for value in values {
        let trimmed = value.trim();
        if trimmed.starts_with('{') {
            let object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(trimmed).map_err(|_| {
                    ConfigError::new("--header: expected a JSON object of strings or `Name: value`")
                })?;
            for (name, value) in object {
                let Some(value) = value.as_str() else {
                    return Err(ConfigError::new(format!(
                        "--header: the value of `{name}` is not a string"
                    )));
                };
                insert_header(&mut headers, "--header", &name, value)?;
            }
        } else if let Some((name, value)) = trimmed.split_once(':') {
            insert_header(&mut headers, "--header", name.trim(), value.trim())?;
        } else {
            return Err(ConfigError::new(
                "--header: expected a JSON object of strings or `Name: value`",
            ));
        }
    }
    Ok(headers)
}

/// Adds one header; the error names the header, never its value.
pub(crate) fn insert_header(
    headers: &mut HeaderMap,
    place: &str,
    name: &str,
    value: &str,
) -> Result<(), ConfigError> {
    let header = HeaderName::try_from(name)
        .map_err(|_| ConfigError::new(format!("{place}: `{name}` is not a valid header name")))?;
    let value = HeaderValue::try_from(value).map_err(|_| {
        ConfigError::new(format!(
            "{place}: the value of `{name}` is not a valid header value"
        ))
    })?;
    headers.insert(header, value);
    Ok(())
}

pub(super) fn parse_cors(origins: &[String]) -> Result<Cors, ConfigError> {
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() || origins.contains(&"*") {
        return Ok(Cors::Any);
    }
    origins
        .into_iter()
        .map(|origin| {
            HeaderValue::try_from(origin).map_err(|_| {
                ConfigError::new(format!("--cors-allow-origins: `{origin}` is not a valid origin"))
            })
        })
        .collect::<Result<_, _>>()
        .map(Cors::List)
}

/// `""` or `/x/y` (leading slash, no trailing one).
pub(super) fn root_path(value: &str) -> Result<String, ConfigError> {
    let trimmed = value.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let path = if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    };
    if path.chars().any(|c| c.is_whitespace() || c == '?' || c == '#') {
        return Err(ConfigError::new(format!(
            "--root-path `{value}` is not a URL path"
        )));
    }
    Ok(path)
}

/// mcpo's `--path-prefix`: starts and ends with `/` (default `/`).
pub(super) fn path_prefix(value: Option<&str>) -> Result<String, ConfigError> {
    let value = value.unwrap_or("/").trim();
    let root = root_path(value)
        .map_err(|_| ConfigError::new(format!("--path-prefix `{value}` is not a URL path")))?;
    // The gateway's own top-level routes (`/docs/<asset>` among them) stay
    // its own: a mount below one would shadow it, or hide behind it.
    let first = root.trim_start_matches('/').split('/').next().unwrap_or_default();
    if super::servers::RESERVED_NAMES.contains(&first) {
        return Err(ConfigError::new(format!(
            "--path-prefix `{value}` starts with `/{first}`, one of the gateway's own routes ({})",
            super::servers::RESERVED_NAMES.join(", ")
        )));
    }
    Ok(format!("{root}/"))
}

pub(super) fn non_empty(flag: &str, value: &str) -> Result<String, ConfigError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ConfigError::new(format!("{flag} is empty")));
    }
    Ok(value.to_owned())
}
