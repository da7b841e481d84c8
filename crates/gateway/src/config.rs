//! From the command line, the environment and an mcpo config file to one
//! checked [`GatewayConfig`]. Every error here is reported before anything
//! starts, and the binary exits with code 2.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Uri};
use mcp_reconnect_core::config::FromEnv;
use mcp_reconnect_core::redact_url;

use crate::cli::ServeArgs;

mod parse;
mod servers;

use parse::{
    command_line_server, non_empty, parse_allowed_hosts, parse_cors, parse_env, parse_headers, path_prefix,
    read_servers_file, root_path,
};
pub(crate) use parse::{insert_header, parse_url};
pub use servers::{parse_servers_file, validate_server_name};

/// Server types accepted for a Streamable HTTP server (mcpo's spellings).
pub const STREAMABLE_HTTP_TYPES: [&str; 3] = ["streamable-http", "streamablehttp", "streamable_http"];

/// A configuration that cannot be served, with a message naming what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl From<mcp_reconnect_core::config::ConfigError> for ConfigError {
    fn from(error: mcp_reconnect_core::config::ConfigError) -> Self {
        ConfigError::new(error.to_string())
    }
}

/// The API key clients must present. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key; empty keys are refused by the config (an empty key guards nothing).
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The key's bytes, for the constant-time comparison.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Which origins may call the gateway from a browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cors {
    /// Any origin (`--cors-allow-origins '*'`).
    Any,
    /// These origins, besides loopback pages and the gateway's own origin
    /// (none given: only those).
    List(Vec<HeaderValue>),
}

/// The `Host` names the gateway answers to (`--allowed-hosts`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedHosts {
    /// Any name (`*`; the default on a bind that is not loopback).
    Any,
    /// These names, any port (the default on a loopback bind: the loopback names).
    List(Vec<String>),
}

impl AllowedHosts {
    /// The default for a gateway bound to `host`.
    pub fn for_bind(host: &str) -> Self {
        if crate::rebinding::is_loopback_name(host) {
            AllowedHosts::List(["localhost", "127.0.0.1", "::1"].map(str::to_owned).to_vec())
        } else {
            AllowedHosts::Any
        }
    }
}

/// The OpenAPI document's `info`, when given on the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiInfo {
    /// `--name`.
    pub title: Option<String>,
    /// `--description`.
    pub description: Option<String>,
    /// `--version`.
    pub version: Option<String>,
}

/// One upstream MCP server and where the gateway serves it.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerSpec {
    /// The entry's name (`mcpServers` key), or `"mcp"` for a server given on the command line.
    pub name: String,
    /// Where its routes live: `""` for a command-line server, `/<prefix>/<name>` for a config entry.
    pub mount: String,
    /// How the gateway reaches the server.
    pub transport: Transport,
    /// The name shown in logs, `/health` and metrics (no credentials).
    pub display: String,
    /// Headers sent with every upstream request (values never logged).
    pub headers: HeaderMap,
    /// Tools not served (`disabledTools`).
    pub disabled_tools: BTreeSet<String>,
}

/// How the gateway reaches one server.
#[derive(Clone, Debug, PartialEq)]
pub enum Transport {
    /// A remote Streamable HTTP endpoint.
    StreamableHttp(Uri),
    /// A local child speaking MCP over stdio, started and supervised by the gateway.
    Stdio(mcp_reconnect_link::StdioTarget),
    /// A remote legacy HTTP+SSE server (protocol 2024-11-05): the URL of its event stream.
    Sse(Uri),
}

impl ServerSpec {
    /// A Streamable HTTP server at `url` named `name`, served under `mount`.
    pub fn new(name: impl Into<String>, mount: impl Into<String>, url: Uri) -> Self {
        let shown = format!("StreamableHTTP-{}", redact_url(&url.to_string()));
        Self::with_transport(name.into(), mount.into(), Transport::StreamableHttp(url), shown)
    }

    /// A legacy SSE server whose event stream is at `url`, named `name`, served under `mount`.
    pub fn sse(name: impl Into<String>, mount: impl Into<String>, url: Uri) -> Self {
        let shown = format!("SSE-{}", redact_url(&url.to_string()));
        Self::with_transport(name.into(), mount.into(), Transport::Sse(url), shown)
    }

    /// A stdio server run as `target`, named `name`, served under `mount`.
    pub fn stdio(
        name: impl Into<String>,
        mount: impl Into<String>,
        target: mcp_reconnect_link::StdioTarget,
    ) -> Self {
        let name = name.into();
        // The command only: arguments may carry tokens.
        let command = target.command_line();
        let command = command.split_whitespace().next().unwrap_or("stdio");
        let shown = format!("stdio-{command}");
        let target = target.name(name.clone());
        Self::with_transport(name, mount.into(), Transport::Stdio(target), shown)
    }

    fn with_transport(name: String, mount: String, transport: Transport, shown: String) -> Self {
        let display = if mount.is_empty() { shown } else { name.clone() };
        ServerSpec {
            name,
            mount,
            transport,
            display,
            headers: HeaderMap::new(),
            disabled_tools: BTreeSet::new(),
        }
    }

    /// The server's URL, when it is a remote one.
    pub fn url(&self) -> Option<&Uri> {
        match &self.transport {
            Transport::StreamableHttp(url) | Transport::Sse(url) => Some(url),
            Transport::Stdio(_) => None,
        }
    }
}

/// Bounds that protect the gateway and its upstreams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Calls in flight per upstream before new ones are shed with `503`.
    pub max_concurrent_calls: u32,
    /// Largest request body, in bytes.
    pub max_body_bytes: u64,
    /// Time a client has to send a request's headers.
    pub header_read_timeout: Duration,
    /// Connections open at once, `/health`'s reserve included.
    pub max_connections: u32,
    /// Time a client may take no bytes of an answer before it is disconnected.
    pub send_timeout: Duration,
    /// Time a `GET /mcp` stream may go without a frame from the upstream before it ends.
    pub stream_idle_timeout: Duration,
    /// Time in-flight calls get to finish at shutdown.
    pub shutdown_timeout: Duration,
    /// Time a REST tool call may take, answer included.
    pub tool_timeout: Duration,
}

/// Everything the gateway needs to serve, checked.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Host to listen on.
    pub host: String,
    /// `Host` names the gateway answers to.
    pub allowed_hosts: AllowedHosts,
    /// The certificate chain and key files to serve HTTPS with.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Port to listen on (0 picks a free one).
    pub port: u16,
    /// The API key, if any.
    pub api_key: Option<ApiKey>,
    /// Whether the key also guards docs, OpenAPI and metrics.
    pub strict_auth: bool,
    /// What the upstream learns of the client's address (`--forwarded-for`).
    pub forwarded_for: crate::forwarded::ForwardedFor,
    /// CORS policy.
    pub cors: Cors,
    /// OpenAPI `info` overrides.
    pub info: ApiInfo,
    /// Prefix a reverse proxy strips before the gateway (`""` or `/x`), used in links.
    pub root_path: String,
    /// The upstream servers.
    pub servers: Vec<ServerSpec>,
    /// Bounds.
    pub limits: Limits,
    /// The reconnect policy (`MCPO_RECONNECT_*`, `MCPO_CONNECTION_TIMEOUT`).
    pub circuit: mcp_reconnect_circuit::Config,
    /// The retry policy (`MCPO_TOOL_*`, `MCPO_CONNECTION_TIMEOUT`).
    pub retry: mcp_reconnect_retry::Config,
    /// The upstream connector (`MCPO_CONNECTION_TIMEOUT`).
    pub upstream: mcp_reconnect_upstream::Config,
    /// Client sessions kept across upstream restarts (`MCPO_SESSION_*`).
    pub session: mcp_reconnect_upstream::SessionConfig,
    /// How stdio children are run (their handshake timeout, line bound, stop grace).
    pub stdio: mcp_reconnect_link::StdioConfig,
    /// How legacy SSE servers are linked to (handshake timeout, longest event).
    pub sse: mcp_reconnect_link::SseConfig,
    /// The Redis URL of the session store replicas share (`--session-store`,
    /// `MCPO_SESSION_STORE`); `None`: sessions live in this process.
    pub session_store: Option<String>,
    /// `--hot-reload`: the config file to watch and how to read it again.
    pub reload: Option<ConfigFile>,
    /// `--json-response`: a request whose stream opens with its response is
    /// answered with that one JSON object, when the client accepts JSON.
    pub json_response: bool,
}

/// A config file read the way the command line said (`--path-prefix`,
/// `--header` defaults, `--env`): what `--hot-reload` reads again.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    /// The file.
    pub path: std::path::PathBuf,
    prefix: String,
    headers: HeaderMap,
    env: Vec<(String, String)>,
}

impl ConfigFile {
    /// Reads and checks the file's servers now.
    pub fn read(&self) -> Result<Vec<ServerSpec>, ConfigError> {
        read_servers_file(&self.path, &self.prefix, &self.headers, &self.env)
    }
}

impl GatewayConfig {
    /// Checks `args` and reads the `MCPO_*` settings through `lookup` (the
    /// environment in the binary, a map in tests).
    pub fn from_args(args: &ServeArgs, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // The connector probes the MCP server itself (a `ping`), so its
        // answer decides, and real calls are never used as probes.
        let circuit = mcp_reconnect_circuit::Config::from_lookup(&lookup)?.probe_decides(true);
        let mut retry = mcp_reconnect_retry::Config::from_lookup(&lookup)?;
        // The retry and session layers buffer `/mcp` bodies: never more than the gateway accepts.
        let max_body = usize::try_from(args.max_body_bytes).unwrap_or(usize::MAX);
        retry.max_body = retry.max_body.min(max_body);
        let upstream = mcp_reconnect_upstream::Config::from_lookup(&lookup)?;
        let session = mcp_reconnect_upstream::SessionConfig::from_lookup(&lookup)?;
        let session = session.max_body(max_body);
        let api_key = match &args.api_key {
            Some(key) if key.is_empty() => return Err(ConfigError::new("--api-key: the key is empty")),
            Some(key) => Some(ApiKey::new(key.clone())),
            None => None,
        };
        let headers = parse_headers(&args.headers)?;
        let env = parse_env(&args.env, args.env_path.as_deref())?;
        let mut reload = None;
        let servers = match (&args.config, args.target.as_slice()) {
            (Some(_), [_, ..]) => {
                return Err(ConfigError::new("give either --config or a server URL, not both"));
            }
            (Some(path), []) => {
                let file = ConfigFile {
                    path: path.clone(),
                    prefix: path_prefix(args.path_prefix.as_deref())?,
                    headers: headers.clone(),
                    env: env.clone(),
                };
                let servers = file.read()?;
                reload = args.hot_reload.then_some(file);
                servers
            }
            (None, _) if args.hot_reload => {
                return Err(ConfigError::new(
                    "--hot-reload watches a config file: give --config FILE",
                ));
            }
            (None, target) => vec![command_line_server(
                args.server_type.as_deref(),
                target,
                headers,
                &env,
            )?],
        };
        let session_store = session_store(args.session_store.as_deref())?;
        let forwarded_for = crate::forwarded::ForwardedFor::parse(&args.forwarded_for)
            .ok_or_else(|| ConfigError::new("--forwarded-for: expected `append`, `replace` or `strip`"))?;
        Ok(GatewayConfig {
            allowed_hosts: parse_allowed_hosts(&args.allowed_hosts, &args.host)?,
            tls: args.ssl_certfile.clone().zip(args.ssl_keyfile.clone()),
            host: non_empty("--host", &args.host)?,
            port: args.port,
            api_key,
            strict_auth: args.strict_auth,
            forwarded_for,
            cors: parse_cors(&args.cors_allow_origins)?,
            info: ApiInfo {
                title: args.name.clone(),
                description: args.description.clone(),
                version: args.api_version.clone(),
            },
            root_path: root_path(&args.root_path)?,
            servers,
            limits: Limits {
                max_concurrent_calls: args.max_concurrent_calls,
                max_body_bytes: args.max_body_bytes,
                header_read_timeout: args.header_read_timeout,
                max_connections: args.max_connections,
                send_timeout: args.send_timeout,
                stream_idle_timeout: args.stream_idle_timeout,
                shutdown_timeout: args.shutdown_timeout,
                tool_timeout: args.tool_timeout,
            },
            circuit,
            retry,
            upstream,
            session,
            stdio: mcp_reconnect_link::StdioConfig::default(),
            sse: mcp_reconnect_link::SseConfig::default(),
            session_store,
            reload,
            json_response: args.json_response,
        })
    }

    /// Whether the one server was given on the command line (served at `/`).
    pub fn is_single(&self) -> bool {
        matches!(self.servers.as_slice(), [server] if server.mount.is_empty())
    }
}

/// `--session-store`: `memory` (or nothing) keeps sessions in this process;
/// a `redis://` URL shares them through Redis.
fn session_store(value: Option<&str>) -> Result<Option<String>, ConfigError> {
    match value.map(str::trim) {
        None | Some("" | "memory") => Ok(None),
        Some(url) if url.starts_with("redis://") => Ok(Some(url.to_owned())),
        Some(url) if url.starts_with("rediss://") => Err(ConfigError::new(
            "--session-store: TLS to Redis (rediss://) is not built in; use redis:// on a private network",
        )),
        Some(_) => Err(ConfigError::new(
            "--session-store: expected `memory` or a redis://host:port URL",
        )),
    }
}

#[cfg(test)]
mod tests;
