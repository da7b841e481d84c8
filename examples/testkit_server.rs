//! The testkit's real MCP server (rmcp, Streamable HTTP) on its own, for
//! foreign tools to talk to: the MCP conformance suite, the MCP Inspector,
//! the Python and TypeScript SDK clients under `interop/`. It prints its URL
//! on the first line of stdout and serves until killed, or for `--seconds N`.
//!
//! ```text
//! cargo run --example testkit_server -- --seconds 120
//! url: http://127.0.0.1:PORT/mcp
//! # after scripts/interop-setup.sh:
//! ~/.cache/mcp-reconnect/interop/bin/conformance server --url http://127.0.0.1:PORT/mcp
//! ~/.cache/mcp-reconnect/interop/bin/mcp-inspector --cli http://127.0.0.1:PORT/mcp --method tools/list
//! ```
//!
//! `--stateless` serves without legacy sessions and answers plain JSON
//! (rmcp's `legacy_session_mode: false`, `json_response: true`).

use std::io::Write;
use std::time::Duration;

use mcp_reconnect::core::BoxError;
use mcp_reconnect_testkit::{McpServer, ServerOptions};

/// What the command line asked for.
struct Args {
    seconds: Option<u64>,
    stateless: bool,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let options = if args.stateless {
        ServerOptions::default()
            .with_sessions(false)
            .with_json_response(true)
    } else {
        ServerOptions::default()
    };
    let server = McpServer::start(options).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "url: {}", server.url())?;
    stdout.flush()?;
    drop(stdout);
    match args.seconds {
        Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
        None => std::future::pending::<()>().await,
    }
    Ok(())
}

fn parse_args() -> Result<Args, BoxError> {
    let mut parsed = Args {
        seconds: None,
        stateless: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => parsed.seconds = Some(args.next().ok_or("--seconds needs a number")?.parse()?),
            "--stateless" => parsed.stateless = true,
            other => return Err(format!("unknown argument {other:?} (try --seconds N, --stateless)").into()),
        }
    }
    Ok(parsed)
}
