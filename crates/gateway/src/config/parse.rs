//! Checking the command line's values: the server given on it, headers,
//! CORS origins, paths.

use std::path::Path;

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use mcp_reconnect_core::redact_url;

use super::{ConfigError, Cors, STREAMABLE_HTTP_TYPES, ServerSpec, parse_servers_file};

/// The reconnect design's `streamablehttp URL`, `sse URL`, mcpo's `--server-type T -- URL`,
/// or a stdio command: `-- CMD ARGS…`, `--server-type stdio CMD ARGS…`, `stdio CMD ARGS…`.
pub(super) fn command_line_server(
    server_type: Option<&str>,
    target: &[String],
    headers: HeaderMap,
    env: &[(String, String)],
) -> Result<ServerSpec, ConfigError> {
    let given = server_type
        .map(|kind| server_kind("the command line", kind))
        .transpose()?;
    let (kind, rest) = match target {
        [] => {
            return Err(ConfigError::new(
                "no server: give `streamablehttp URL`, `-- URL`, `-- COMMAND ARGS…` or --config FILE",
            ));
        }
        [word, rest @ ..] if given.is_none() && is_type_word(word) && !rest.is_empty() => {
            (server_kind("the command line", word)?, rest)
        }
        [url] if url.contains("://") => (given.unwrap_or(Kind::StreamableHttp), target),
        _ => (given.unwrap_or(Kind::Stdio), target),
    };
    match (kind, rest) {
        (Kind::StreamableHttp | Kind::Sse, [url]) => {
            let url = parse_url("the server URL", url)?;
            let mut server = match kind {
                Kind::Sse => ServerSpec::sse("mcp", "", url),
                _ => ServerSpec::new("mcp", "", url),
            };
            server.headers = headers;
            Ok(server)
        }
        (Kind::StreamableHttp, _) => Err(ConfigError::new(
            "a streamable-http server is one URL: `streamablehttp URL` or `-- URL`",
        )),
        (Kind::Sse, _) => Err(ConfigError::new(
            "an SSE server is one URL: `sse URL` or `--server-type sse -- URL`",
        )),
        (Kind::Stdio, [command, args @ ..]) => {
            if command.contains("://") {
                return Err(ConfigError::new(format!(
                    "`{}` looks like a URL; a stdio server is a command (use --server-type streamable-http for a URL)",
                    redact_url(command)
                )));
            }
            if !headers.is_empty() {
                return Err(ConfigError::new(
                    "--header: headers go to remote servers; a stdio server takes --env",
                ));
            }
            let target = stdio_target(command, args, env, None)?;
            Ok(ServerSpec::stdio("mcp", "", target))
        }
        (Kind::Stdio, []) => Err(ConfigError::new("a stdio server needs a command")),
    }
}

/// A stdio child: `command` with `args`, `env` over the inherited variables, in `cwd`.
pub(super) fn stdio_target(
    command: &str,
    args: &[String],
    env: &[(String, String)],
    cwd: Option<&str>,
) -> Result<mcp_reconnect_link::StdioTarget, ConfigError> {
    if command.trim().is_empty() {
        return Err(ConfigError::new("the stdio command is empty"));
    }
    let mut target = mcp_reconnect_link::StdioTarget::new(command).args(args.iter().cloned());
    for (key, value) in env {
        target = target.env(key.clone(), value.clone());
    }
    if let Some(cwd) = cwd {
        target = target.cwd(cwd);
    }
    Ok(target)
}

/// `--env-path` lines, then `--env` values: `KEY=VALUE` each.
pub(super) fn parse_env(
    values: &[String],
    path: Option<&Path>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut env = Vec::new();
    if let Some(path) = path {
        let text = std::fs::read_to_string(path).map_err(|error| {
            ConfigError::new(format!("--env-path {}: cannot read it: {error}", path.display()))
        })?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let place = format!("--env-path {} line {}", path.display(), n + 1);
            let (key, value) = env_pair(&place, line)?;
            env.push((key, unquote(&value).to_owned()));
        }
    }
    for value in values {
        env.push(env_pair("--env", value)?);
    }
    Ok(env)
}

fn env_pair(place: &str, text: &str) -> Result<(String, String), ConfigError> {
    match text.split_once('=') {
        Some((key, value)) if is_env_name(key.trim()) => Ok((key.trim().to_owned(), value.to_owned())),
        // The value may be a secret: only the name is shown.
        Some((key, _)) => Err(ConfigError::new(format!(
            "{place}: `{}` is not a variable name",
            key.trim()
        ))),
        None => Err(ConfigError::new(format!("{place}: expected KEY=VALUE"))),
    }
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn unquote(value: &str) -> &str {
    let value = value.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|v| v.strip_suffix(quote)) {
            return inner;
        }
    }
    value
}

pub(super) fn read_servers_file(
    path: &Path,
    prefix: &str,
    headers: &HeaderMap,
    env: &[(String, String)],
) -> Result<Vec<ServerSpec>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| ConfigError::new(format!("--config {}: cannot read it: {error}", path.display())))?;
    parse_servers_file(&text, prefix, headers, env)
        .map_err(|error| ConfigError::new(format!("--config {}: {error}", path.display())))
}

/// A transport a server type names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    StreamableHttp,
    Sse,
    Stdio,
}

/// The transport `kind` names; names what is refused otherwise.
pub(crate) fn server_kind(place: &str, kind: &str) -> Result<Kind, ConfigError> {
    let normalized = kind.to_ascii_lowercase();
    if STREAMABLE_HTTP_TYPES.contains(&normalized.as_str()) {
        return Ok(Kind::StreamableHttp);
    }
    match normalized.as_str() {
        "stdio" => Ok(Kind::Stdio),
        "sse" => Ok(Kind::Sse),
        _ => Err(ConfigError::new(format!(
            "{place}: server type `{kind}`: unknown (expected streamable-http, sse or stdio)"
        ))),
    }
}

/// A server type as the positional form gives it (`streamablehttp URL`, `stdio CMD`).
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
    if origins.contains(&"*") {
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

/// `--allowed-hosts`: names (a port is ignored), `*` for any; none given:
/// the default for the bind address.
pub(super) fn parse_allowed_hosts(values: &[String], bind: &str) -> Result<super::AllowedHosts, ConfigError> {
    let names: Vec<&str> = values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(super::AllowedHosts::for_bind(bind));
    }
    if names.contains(&"*") {
        return Ok(super::AllowedHosts::Any);
    }
    names
        .into_iter()
        .map(|name| {
            let bare = name.trim_start_matches('[');
            let bare = bare.split(']').next().unwrap_or(bare);
            let bare = if name.starts_with('[') {
                bare
            } else {
                bare.rsplit_once(':').map_or(bare, |(host, _)| host)
            };
            if bare.is_empty() || bare.contains(['/', ' ', '@']) {
                return Err(ConfigError::new(format!(
                    "--allowed-hosts: `{name}` is not a host name"
                )));
            }
            Ok(bare.to_ascii_lowercase())
        })
        .collect::<Result<_, _>>()
        .map(super::AllowedHosts::List)
}
