//! Log level and format: `--log-level` (or `MCPO_LOG_LEVEL`) takes mcpo's
//! names (`DEBUG`, `INFO`, `WARNING`, `ERROR`, `CRITICAL`) or a `RUST_LOG`
//! filter; without it `RUST_LOG` decides, then `info`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::ConfigError;

/// The level when nothing is said.
pub const DEFAULT_LEVEL: &str = "info";
/// The level names a bare `--log-level` word may be (after mcpo's names are mapped).
const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
/// Crates kept at `info` or quieter whatever the level (their `debug` is per byte).
const NOISY: [&str; 3] = ["hyper", "hyper_util", "h2"];

/// The filter for `level` (from the flag or `MCPO_LOG_LEVEL`), else `rust_log`, else `default`.
pub fn filter(level: Option<&str>, rust_log: Option<&str>, default: &str) -> Result<EnvFilter, ConfigError> {
    let (directives, source) = match (level.map(str::trim).filter(|l| !l.is_empty()), rust_log) {
        (Some(level), _) => {
            let directive = level_directive(level);
            // A bare word must be a level: `loud` would parse as a target name.
            if !directive.contains(['=', ',']) && !LEVELS.contains(&directive.as_str()) {
                return Err(ConfigError::new(format!(
                    "--log-level / MCPO_LOG_LEVEL: `{level}` is not a log level (trace, debug, info, warning, error, critical) or a RUST_LOG filter"
                )));
            }
            (directive, "--log-level / MCPO_LOG_LEVEL")
        }
        (None, Some(rust_log)) if !rust_log.trim().is_empty() => (rust_log.trim().to_owned(), "RUST_LOG"),
        _ => (default.to_owned(), "the default"),
    };
    let mut filter = EnvFilter::builder()
        .parse(&directives)
        .map_err(|_| ConfigError::new(format!("{source}: `{directives}` is not a log level (trace, debug, info, warning, error, critical) or a RUST_LOG filter")))?;
    for noisy in NOISY {
        if let Ok(directive) = format!("{noisy}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    Ok(filter)
}

/// mcpo's level names as tracing's (a filter with targets is kept as written).
fn level_directive(level: &str) -> String {
    if level.contains(['=', ',']) {
        return level.to_owned();
    }
    match level.to_ascii_lowercase().as_str() {
        "warning" => "warn".to_owned(),
        "critical" | "fatal" => "error".to_owned(),
        other => other.to_owned(),
    }
}

/// Installs the `fmt` subscriber with `filter`, writing to stderr (colored
/// only on a terminal). Once; later calls do nothing.
pub fn init(filter: EnvFilter) {
    let ansi = std::io::stderr().is_terminal();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcpo_level_names_work_and_nonsense_is_refused() {
        for level in [
            "DEBUG",
            "INFO",
            "WARNING",
            "ERROR",
            "CRITICAL",
            "trace",
            "mcp_gateway=debug",
        ] {
            assert!(filter(Some(level), None, DEFAULT_LEVEL).is_ok(), "{level}");
        }
        assert!(filter(Some("loud"), None, DEFAULT_LEVEL).is_err());
        assert!(filter(None, Some("=="), DEFAULT_LEVEL).is_err());
        assert!(filter(None, None, DEFAULT_LEVEL).is_ok());
    }
}
