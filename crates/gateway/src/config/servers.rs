//! mcpo's config file: `{"mcpServers": {"<name>": {...}}}`, each entry a
//! remote server (`type` streamable-http or sse, `url`, `headers`; a `url`
//! without `type` is SSE, as mcpo reads it) or a stdio one (`command`,
//! `args`, `env`, `cwd`), with `disabledTools`.

use http::HeaderMap;
use serde_json::{Map, Value};

use super::parse::{Kind, server_kind, stdio_target};
use super::{ConfigError, ServerSpec, insert_header, parse_url};

/// The most servers one config file may name.
pub const MAX_SERVERS: usize = 256;
/// The longest server name (it is a URL path segment).
pub const MAX_SERVER_NAME: usize = 128;
/// Names a server entry cannot take: the gateway's own top-level routes.
pub const RESERVED_NAMES: [&str; 4] = ["docs", "openapi.json", "health", "metrics"];

/// Keys of an entry that mcpo uses for things this gateway does not do.
const UNSUPPORTED_KEYS: [(&str, &str); 2] = [
    (
        "oauth",
        "OAuth to the upstream is not supported (send a token with `headers`)",
    ),
    (
        "client_header_forwarding",
        "client header forwarding is not supported",
    ),
];

/// Parses a config file's text into servers mounted under `prefix` (`/` or
/// `/x/`). `defaults` are headers from `--header`, overridden per entry.
pub fn parse_servers_file(
    text: &str,
    prefix: &str,
    defaults: &HeaderMap,
    env: &[(String, String)],
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
        .map(|(name, entry)| parse_entry(name, entry, prefix, defaults, env))
        .collect()
}

fn parse_entry(
    name: &str,
    entry: &Value,
    prefix: &str,
    defaults: &HeaderMap,
    env: &[(String, String)],
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
    let kind = entry.get("type").and_then(Value::as_str);
    let kind = kind.map(|kind| server_kind(&place, kind)).transpose()?;
    if entry.get("command").is_some_and(|value| !value.is_null()) || kind == Some(Kind::Stdio) {
        let mut server = stdio_entry(name, &format!("{prefix}{name}"), &place, entry, env)?;
        server.disabled_tools = disabled_tools(&place, entry)?;
        return Ok(server);
    }
    let Some(url) = entry.get("url").and_then(Value::as_str) else {
        return Err(ConfigError::new(format!(
            "{place}: no `url` (a string) and no `command`"
        )));
    };
    let url = parse_url(&format!("{place}: `url`"), url)?;
    // As mcpo reads it: a `url` without `type` is a legacy SSE server.
    let mut server = match kind {
        Some(Kind::StreamableHttp) => ServerSpec::new(name, format!("{prefix}{name}"), url),
        _ => ServerSpec::sse(name, format!("{prefix}{name}"), url),
    };
    server.headers = defaults.clone();
    if let Some(headers) = entry.get("headers").filter(|value| !value.is_null()) {
        let Some(headers) = headers.as_object() else {
            return Err(ConfigError::new(format!(
                "{place}: `headers` must be an object of strings"
            )));
        };
        add_headers(&mut server.headers, &place, headers)?;
    }
    server.disabled_tools = disabled_tools(&place, entry)?;
    Ok(server)
}

/// A `command` entry: `args` (strings), `env` (an object of strings) over
/// `--env`, and `cwd`.
fn stdio_entry(
    name: &str,
    mount: &str,
    place: &str,
    entry: &Map<String, Value>,
    defaults: &[(String, String)],
) -> Result<ServerSpec, ConfigError> {
    let Some(command) = entry.get("command").and_then(Value::as_str) else {
        return Err(ConfigError::new(format!(
            "{place}: a stdio server needs a `command` (a string)"
        )));
    };
    if entry.get("url").is_some_and(|value| !value.is_null()) {
        return Err(ConfigError::new(format!(
            "{place}: give `command` or `url`, not both"
        )));
    }
    let args = match entry.get("args").filter(|value| !value.is_null()) {
        None => Vec::new(),
        Some(args) => args
            .as_array()
            .and_then(|list| {
                list.iter()
                    .map(|arg| arg.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| ConfigError::new(format!("{place}: `args` must be a list of strings")))?,
    };
    let mut env = defaults.to_vec();
    if let Some(own) = entry.get("env").filter(|value| !value.is_null()) {
        let Some(own) = own.as_object() else {
            return Err(ConfigError::new(format!(
                "{place}: `env` must be an object of strings"
            )));
        };
        for (key, value) in own {
            let Some(value) = value.as_str() else {
                return Err(ConfigError::new(format!(
                    "{place}: `env`: the value of `{key}` is not a string"
                )));
            };
            env.push((key.clone(), value.to_owned()));
        }
    }
    let cwd = match entry.get("cwd").filter(|value| !value.is_null()) {
        None => None,
        Some(cwd) => Some(
            cwd.as_str()
                .ok_or_else(|| ConfigError::new(format!("{place}: `cwd` must be a string")))?,
        ),
    };
    let target = stdio_target(command, &args, &env, cwd)
        .map_err(|error| ConfigError::new(format!("{place}: {error}")))?;
    Ok(ServerSpec::stdio(name, mount, target))
}

fn disabled_tools(
    place: &str,
    entry: &Map<String, Value>,
) -> Result<std::collections::BTreeSet<String>, ConfigError> {
    let disabled = entry.get("disabledTools").or_else(|| entry.get("disabled_tools"));
    let Some(disabled) = disabled.filter(|value| !value.is_null()) else {
        return Ok(Default::default());
    };
    let names = disabled
        .as_array()
        .and_then(|list| list.iter().map(Value::as_str).collect::<Option<Vec<_>>>());
    let Some(names) = names else {
        return Err(ConfigError::new(format!(
            "{place}: `disabledTools` must be a list of strings"
        )));
    };
    Ok(names.into_iter().map(str::to_owned).collect())
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
