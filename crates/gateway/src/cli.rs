//! The command line: mcpo's flags and forms, plus the gateway's own limits.
//!
//! Parsing only; [`crate::config`] turns the result into a checked
//! [`GatewayConfig`](crate::GatewayConfig). mcpo's short flags are kept, so
//! `-h` is `--host` (help is `--help`) and `-v` is the API's `--version`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};

/// Environment variable for `--api-key` (kept out of `ps` output).
pub const ENV_API_KEY: &str = "MCPO_API_KEY";
/// Environment variable for `--log-level` (the reconnect design's).
pub const ENV_LOG_LEVEL: &str = "MCPO_LOG_LEVEL";
/// Environment variable for `--session-store` (may hold a Redis password).
pub const ENV_SESSION_STORE: &str = "MCPO_SESSION_STORE";

/// Default of `--max-concurrent-calls`: calls in flight per upstream.
pub const DEFAULT_MAX_CONCURRENT_CALLS: u32 = 256;
/// The largest `--max-concurrent-calls` accepted.
pub const MAX_CONCURRENT_CALLS_LIMIT: i64 = 1_000_000;
/// Default of `--max-body-bytes`: 4 MiB, what the retry layer buffers at most.
pub const DEFAULT_MAX_BODY_BYTES: u64 = mcp_reconnect_core::body::DEFAULT_MESSAGE_LIMIT as u64;
/// The largest `--max-body-bytes` accepted: 256 MiB.
pub const MAX_BODY_BYTES_LIMIT: u64 = 256 * 1024 * 1024;

/// Parses seconds (fractions allowed, above 0, at most a day) with core's rules.
fn seconds(value: &str) -> Result<Duration, String> {
    let lookup = |_: &str| Some(value.to_owned());
    match mcp_reconnect_core::config::parse_secs(&lookup, "value") {
        Ok(Some(duration)) => Ok(duration),
        Ok(None) => Err("expected seconds, above 0 and at most 86400".to_owned()),
        Err(_) => Err("expected seconds, above 0 and at most 86400".to_owned()),
    }
}

/// `mcp-gateway`: an mcpo-compatible gateway with reconnect in front of
/// remote MCP Streamable HTTP servers.
#[derive(Debug, Parser)]
#[command(
    name = "mcp-gateway",
    version,
    about = "An mcpo-compatible gateway with automatic reconnect in front of remote MCP Streamable HTTP servers.",
    long_about = None,
    disable_help_flag = true,
    disable_version_flag = true,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  mcp-gateway --port 8000 --api-key secret streamablehttp https://server/mcp\n  mcp-gateway --port 8000 --api-key secret --server-type streamable-http -- https://server/mcp\n  mcp-gateway --config servers.json\n  mcp-gateway demo --duration 20\n\nEnvironment: MCPO_RECONNECT_MAX_ATTEMPTS, MCPO_RECONNECT_MIN_INTERVAL, MCPO_RECONNECT_ERROR_THRESHOLD,\nMCPO_TOOL_MAX_RETRIES, MCPO_CONNECTION_TIMEOUT, MCPO_TOOL_RETRY_ALLOW, MCPO_TOOL_RETRY_DENY, MCPO_SESSION_MAX,\nMCPO_SESSION_IDLE_TIMEOUT, MCPO_SESSION_STORE, MCPO_LOG_LEVEL, MCPO_API_KEY, RUST_LOG."
)]
pub struct Cli {
    /// Print help.
    #[arg(long, action = ArgAction::Help, global = true)]
    help: Option<bool>,

    /// Serving options (when no subcommand is given).
    #[command(flatten)]
    pub serve: ServeArgs,

    /// A subcommand.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the gateway in front of an embedded, deliberately flaky MCP server
    /// on 127.0.0.1 and shows the recovery live.
    Demo(DemoArgs),
    /// Prints the program's version.
    Version,
    /// Serves the demo's MCP tools over stdio (a child for stdio tests and demos).
    #[command(hide = true)]
    TestServer {
        /// A word only for telling processes apart (tests find their child by it).
        #[arg(long)]
        tag: Option<String>,
    },
}

/// Options of `mcp-gateway demo`.
#[derive(Clone, Debug, Args)]
pub struct DemoArgs {
    /// How long the demo runs, in seconds.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = seconds)]
    pub duration: Duration,
    /// The gateway's port on 127.0.0.1 (0 picks a free one).
    #[arg(long, short = 'p', default_value_t = 0)]
    pub port: u16,
    /// An API key for the demo's gateway (its clients send it).
    #[arg(long, short = 'k')]
    pub api_key: Option<String>,
    /// Log level (default: errors only, so the live view stays readable).
    #[arg(long, env = ENV_LOG_LEVEL)]
    pub log_level: Option<String>,
}

/// The serving options: mcpo's, then the gateway's own.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Host address to listen on (mcpo's default: 127.0.0.1; 0.0.0.0 for all interfaces).
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    pub host: String,
    /// `Host` names the gateway answers to (repeat or separate with commas;
    /// `*` for any). Default: the loopback names on a loopback bind, any elsewhere.
    #[arg(long, value_delimiter = ',', action = ArgAction::Append)]
    pub allowed_hosts: Vec<String>,
    /// Port to listen on.
    #[arg(short = 'p', long, default_value_t = 8000)]
    pub port: u16,
    /// API key clients must send as `Authorization: Bearer <key>`.
    #[arg(short = 'k', long, env = ENV_API_KEY, hide_env_values = true)]
    pub api_key: Option<String>,
    /// The API key also guards /docs, /openapi.json and /metrics (never /health).
    #[arg(long)]
    pub strict_auth: bool,
    /// Origins browsers may call from, besides loopback pages and the
    /// gateway's own (repeat or separate with commas; `*` allows any).
    #[arg(long, value_delimiter = ',', action = ArgAction::Append)]
    pub cors_allow_origins: Vec<String>,
    /// The client's address to the upstream: `append` it to `X-Forwarded-For`
    /// and `Forwarded` (as nginx does), `replace` what the client sent with
    /// it, or `strip` both.
    #[arg(long, value_name = "MODE", default_value = "append")]
    pub forwarded_for: String,
    /// Server type of a server given on the command line: `streamable-http`
    /// (a URL) or `stdio` (a command and its arguments).
    #[arg(long = "server-type", visible_alias = "type")]
    pub server_type: Option<String>,
    /// Environment of a stdio server, `KEY=VALUE` (repeatable), as mcpo's;
    /// with --config, under each stdio entry's own `env`.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", action = ArgAction::Append)]
    pub env: Vec<String>,
    /// A dotenv file of `KEY=VALUE` lines for stdio servers, as mcpo's
    /// (`--env` wins over it).
    #[arg(long = "env-path", value_name = "FILE")]
    pub env_path: Option<PathBuf>,
    /// mcpo config file (`{"mcpServers": {...}}`); each server is served under /<name>/.
    #[arg(short = 'c', long = "config")]
    pub config: Option<PathBuf>,
    /// Watch the config file and apply its changes without a restart, as
    /// mcpo's: added servers start, removed ones drain and stop, changed
    /// ones are replaced; unchanged ones keep their sessions and calls.
    #[arg(long)]
    pub hot_reload: bool,
    /// Answer a request with one `application/json` object when the
    /// upstream's event stream opens with its response and the client
    /// accepts JSON (a stream that opens with anything else is passed on).
    #[arg(long)]
    pub json_response: bool,
    /// API title shown in /docs (default: the server's name).
    #[arg(short = 'n', long)]
    pub name: Option<String>,
    /// API description shown in /docs.
    #[arg(short = 'd', long)]
    pub description: Option<String>,
    /// API version shown in /docs.
    #[arg(short = 'v', long = "version")]
    pub api_version: Option<String>,
    /// Path the gateway is served under behind a proxy that strips it (used in links).
    #[arg(long, default_value = "")]
    pub root_path: String,
    /// Path prefix of the servers of a config file (default `/`).
    #[arg(long)]
    pub path_prefix: Option<String>,
    /// Headers sent upstream: a JSON object, or `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", action = ArgAction::Append)]
    pub headers: Vec<String>,
    /// Log level: trace, debug, info, warning, error, critical (or a RUST_LOG filter).
    #[arg(long, env = ENV_LOG_LEVEL)]
    pub log_level: Option<String>,
    /// Concurrent calls per upstream before new ones are shed with 503.
    #[arg(long, default_value_t = DEFAULT_MAX_CONCURRENT_CALLS, value_parser = clap::value_parser!(u32).range(1..=MAX_CONCURRENT_CALLS_LIMIT))]
    pub max_concurrent_calls: u32,
    /// Connections open at once (a share of them, 1/16, is kept for
    /// `/health`, so probes get through a full gateway); the next one waits
    /// in the listen backlog.
    #[arg(long, default_value_t = crate::server::MAX_CONNECTIONS as u32, value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub max_connections: u32,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES, value_parser = clap::value_parser!(u64).range(1..=MAX_BODY_BYTES_LIMIT))]
    pub max_body_bytes: u64,
    /// Seconds a client has to send a request's headers.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    pub header_read_timeout: Duration,
    /// Seconds a client may take no bytes of an answer before it is
    /// disconnected (its call permit is released with it).
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = seconds)]
    pub send_timeout: Duration,
    /// Seconds a `GET /mcp` stream may go without anything from the upstream
    /// before it ends (heartbeats keep a live one open; the client reopens it).
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = seconds)]
    pub stream_idle_timeout: Duration,
    /// A PEM certificate chain: serve HTTPS (with --ssl-keyfile), HTTP/2 and HTTP/1.1 by ALPN.
    #[arg(long, value_name = "FILE", requires = "ssl_keyfile")]
    pub ssl_certfile: Option<PathBuf>,
    /// The PEM private key of --ssl-certfile.
    #[arg(long, value_name = "FILE", requires = "ssl_certfile")]
    pub ssl_keyfile: Option<PathBuf>,
    /// Seconds in-flight calls get to finish on SIGTERM / Ctrl-C.
    #[arg(long, value_name = "SECS", default_value = "15", value_parser = seconds)]
    pub shutdown_timeout: Duration,
    /// Where client sessions live: `memory` (this process; the default) or
    /// `redis://[:password@]host:port[/db]`, shared by gateway replicas behind a load balancer.
    #[arg(long, value_name = "URL", env = ENV_SESSION_STORE, hide_env_values = true)]
    pub session_store: Option<String>,
    /// Seconds a REST tool call may take, answer included.
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = seconds)]
    pub tool_timeout: Duration,
    /// The server: `streamablehttp URL` (the reconnect design's form) or,
    /// after `--`, a `URL` or a stdio command and its arguments (mcpo's).
    #[arg(trailing_var_arg = true, value_name = "SERVER")]
    pub target: Vec<String>,
}
