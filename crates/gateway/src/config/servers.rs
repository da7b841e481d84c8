//! mcpo's config file: `{"mcpServers": {"<name>": {"type", "url", "headers", "disabledTools"}}}`.

use http::HeaderMap;
use serde_json::{Map, Value};

use super::{ConfigError, ServerSpec, check_type, insert_header, parse_url};

/// The most servers one config file may name.
pub const MAX_SERVERS: usize = 256;
/// The longest server name (it is a URL path segment).
pub const MAX_SERVER_NAME: usize = 128;
/// Names a server entry cannot take: the gateway's own top-level routes.
pub const RESERVED_NAMES: [&str; 4] = ["docs", "openapi.json", "health", "metrics"];

/// Keys of an entry that mcpo uses for things this gateway does not do.
const UNSUPPORTED_KEYS: [(&str, &str); 4] = [
    (
        "command",
        "stdio servers (a command) are not supported; mcp-gateway serves remote Streamable HTTP servers",
    ),
    (
        "oauth",
        "OAuth to the upstream is not supported (send a token with `headers`)",
    ),
    (
        "client_header_forwarding",
        "client header forwarding is not supported",
    ),
    ("env", "`env` is for stdio servers, which are not supported"),
];

/// Parses a config file's text into servers mounted under `prefix` (`/` or
/// `/x/`). `defaults` are headers from `--header`, overridden per entry.
pub fn parse_servers_file(
    text: &str,
    prefix: &str,
    defaults: &HeaderMap,
) -> Result<Vec<ServerSpec>, ConfigError> {
    let root: Value =
        serde_json::from_str(text).map_err(|error| ConfigError::new(format!("not valid JSON: {error}")))?;
    let Some(entries) = root.get("mcpServers").and_then(Value::as_object) else {
        return Err(ConfigError::new("no `mcpServers` object"));
    };
    if entries.is_empty() {
        return Err(ConfigError::new("`mcpServers` is empty"));
    }
    if entries.len() > MAX_SERVERS {
        return Err(ConfigError::new(format!(
            "`mcpServers` names more than {MAX_SERVERS} servers"
        )));
    }
    entries
        .iter()
        .map(|(name, entry)| parse_entry(name, entry, prefix, defaults))
        .collect()
}

fn parse_entry(
    name: &str,
    entry: &Value,
    prefix: &str,
    defaults: &HeaderMap,
) -> Result<ServerSpec, ConfigError> {
    let place = format!("server `{name}`");
    validate_server_name(name).map_err(|why| ConfigError::new(format!("{place}: {why}")))?;
    let Some(entry) = entry.as_object() else {
        return Err(ConfigError::new(format!("{place}: expected an object")));
    };
    for (key, why) in UNSUPPORTED_KEYS {
        if entry.get(key).is_some_and(|value| !value.is_null()) {
            return Err(ConfigError::new(format!("{place}: `{key}`: {why}")));
        }
    }
    let Some(url) = entry.get("url").and_then(Value::as_str) else {
        return Err(ConfigError::new(format!("{place}: no `url` (a string)")));
    };
    match entry.get("type").and_then(Value::as_str) {
        Some(kind) => check_type(&place, kind)?,
        None => {
            return Err(ConfigError::new(format!(
                "{place}: no `type`; mcpo reads a `url` without `type` as the legacy SSE transport, which is not supported: set \"type\": \"streamable-http\""
            )));
        }
    }
    let mut server = ServerSpec::new(
        name,
        format!("{prefix}{name}"),
        parse_url(&format!("{place}: `url`"), url)?,
    );
    server.headers = defaults.clone();
    if let Some(headers) = entry.get("headers").filter(|value| !value.is_null()) {
        let Some(headers) = headers.as_object() else {
            return Err(ConfigError::new(format!(
                "{place}: `headers` must be an object of strings"
            )));
        };
        add_headers(&mut server.headers, &place, headers)?;
    }
    let disabled = entry.get("disabledTools").or_else(|| entry.get("disabled_tools"));
    if let Some(disabled) = disabled.filter(|value| !value.is_null()) {
        let names = disabled
            .as_array()
            .and_then(|list| list.iter().map(Value::as_str).collect::<Option<Vec<_>>>());
        let Some(names) = names else {
            return Err(ConfigError::new(format!(
                "{place}: `disabledTools` must be a list of strings"
            )));
        };
        server.disabled_tools = names.into_iter().map(str::to_owned).collect();
    }
    Ok(server)
}

fn add_headers(
    headers: &mut HeaderMap,
    place: &str,
    entries: &Map<String, Value>,
) -> Result<(), ConfigError> {
    for (name, value) in entries {
        let Some(value) = value.as_str() else {
            return Err(ConfigError::new(format!(
                "{place}: `headers`: the value of `{name}` is not a string"
            )));
        };
        insert_header(headers, &format!("{place}: `headers`"), name, value)?;
    }
    Ok(())
}

/// A server name is one URL path segment of letters, digits, `-`, `_` and
/// `.`, and not one of the gateway's own routes.
pub fn validate_server_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_SERVER_NAME {
        return Err(format!("the name must have 1 to {MAX_SERVER_NAME} characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || name.starts_with('.')
    {
        return Err(
            "the name may hold only letters, digits, `-`, `_` and `.` (it is a URL path segment)".to_owned(),
        );
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(format!(
            "`{name}` is one of the gateway's own routes ({})",
            RESERVED_NAMES.join(", ")
        ));
    }
    Ok(())
}
