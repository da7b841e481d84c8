//! `mcp-gateway`: see the library's docs.

use std::process::ExitCode;

use clap::Parser;
use mcp_reconnect_core::config::env_lookup;
#[cfg(feature = "demo")]
use mcp_reconnect_gateway::demo;
use mcp_reconnect_gateway::{Cli, Command, GatewayConfig, StartError, logging};

/// Exit code for a configuration that cannot be served (as clap's usage errors).
const EXIT_CONFIG: u8 = 2;
/// Exit code for a failure while running.
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match &cli.command {
        Some(Command::Demo(args)) => args.log_level.clone(),
        _ => cli.serve.log_level.clone(),
    };
    let level = level.as_deref();
    let rust_log = env_lookup("RUST_LOG");
    let result = match cli.command {
        Some(Command::Version) => {
            println!("mcp-gateway {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        #[cfg(feature = "demo")]
        Some(Command::Demo(args)) => logging::filter(level, rust_log.as_deref(), demo::DEFAULT_LOG_LEVEL)
            .map_err(|error| (EXIT_CONFIG, error.to_string()))
            .and_then(|filter| {
                logging::init(filter);
                runtime()?
                    .block_on(demo::run(args))
                    .map_err(|error| (EXIT_FAILURE, error.to_string()))
            }),
        #[cfg(feature = "demo")]
        Some(Command::TestServer { .. }) => runtime().and_then(|runtime| {
            runtime
                .block_on(mcp_reconnect_testkit::serve_stdio())
                .map_err(|error| (EXIT_FAILURE, error.to_string()))
        }),
        #[cfg(not(feature = "demo"))]
        Some(Command::Demo(_) | Command::TestServer { .. }) => Err((
            EXIT_CONFIG,
            "this mcp-gateway was built without the `demo` feature".to_owned(),
        )),
        None => GatewayConfig::from_args(&cli.serve, env_lookup)
            .and_then(|config| {
                Ok((
                    config,
                    logging::filter(level, rust_log.as_deref(), logging::DEFAULT_LEVEL)?,
                ))
            })
            .map_err(|error| (EXIT_CONFIG, error.to_string()))
            .and_then(|(config, filter)| {
                logging::init(filter);
                runtime()?
                    .block_on(mcp_reconnect_gateway::run(config))
                    .map_err(|error| match error {
                        StartError::Config(error) => (EXIT_CONFIG, error.to_string()),
                        other => (EXIT_FAILURE, other.to_string()),
                    })
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("mcp-gateway: error: {message}");
            ExitCode::from(code)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, (u8, String)> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| (EXIT_FAILURE, format!("cannot start the runtime: {error}")))
}
