//! The gateways under test, each started in front of an upstream and
//! waited for until it answers a tool call: `mcp-gateway` (built next to
//! this binary), Python mcpo 0.0.20 and the Rust peer mcp-proxy 0.6.0 (both
//! installed into the tools cache by `scripts/peers-setup.sh`; mcpo also by
//! itself, on first use).

use std::path::{Path, PathBuf};

use mcp_reconnect_core::BoxError;

use crate::process::{Proc, free_addr, sibling};
use crate::report::wait_ready;

/// Pinned versions that work together: mcpo 0.0.20 needs an mcp 1.x and fastapi < 0.130.
const MCPO_PINS: &[&str] = &["mcpo==0.0.20", "mcp<2", "fastapi<0.130"];

/// mcp-proxy's name for the one backend: its tools are `up/<tool>`.
pub const MCP_PROXY_BACKEND: &str = "up";

fn cache() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    PathBuf::from(home).join(".cache/mcp-reconnect")
}

/// Where `scripts/peers-setup.sh` installs mcp-proxy.
pub fn default_mcp_proxy() -> PathBuf {
    cache().join("tools/mcp-proxy/bin/mcp-proxy")
}

/// Starts `mcp-gateway` in front of `upstream` with `env` added.
pub async fn start_gateway(upstream: &str, env: &[(&str, &str)]) -> Result<Proc, BoxError> {
    let addr = free_addr()?;
    let port = addr.port().to_string();
    let args = ["--host", "127.0.0.1", "--port", &port, "streamablehttp", upstream];
    let binary = sibling("mcp-gateway")?;
    let proc = Proc::spawn_with_env("mcp-gateway", &binary, &crate::owned(&args), env, addr).await?;
    wait_ready(crate::rest_call(format!("http://{addr}/echo"))).await?;
    Ok(proc)
}

/// Installs mcpo in a private venv (once) and starts it in front of `upstream`.
pub async fn start_mcpo(upstream: &str) -> Result<Proc, BoxError> {
    let venv = cache().join("mcpo-venv");
    let python = venv.join("bin/python");
    if !venv.join("bin/mcpo").exists() {
        let status = tokio::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .await?;
        if !status.success() {
            return Err("python3 -m venv failed".into());
        }
        let status = tokio::process::Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(MCPO_PINS)
            .status()
            .await?;
        if !status.success() {
            return Err("pip install mcpo failed".into());
        }
    }
    let addr = free_addr()?;
    let port = addr.port().to_string();
    let args = [
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--server-type",
        "streamable-http",
        "--",
        upstream,
    ];
    let proc = Proc::spawn("python mcpo", &venv.join("bin/mcpo"), &crate::owned(&args), addr).await?;
    wait_ready(crate::rest_call(format!("http://{addr}/echo"))).await?;
    Ok(proc)
}

/// mcp-proxy's config: one HTTP backend with the retry and circuit-breaker
/// options of its README (the breaker waits 5 s instead of the README's
/// 30 s, so that it can close again inside a fault scenario), metrics and
/// audit logging off as in the gateway's defaults.
fn mcp_proxy_config(port: u16, upstream: &str) -> String {
    format!(
        r#"[proxy]
name = "bench"

[proxy.listen]
host = "127.0.0.1"
port = {port}

[[backends]]
name = "{MCP_PROXY_BACKEND}"
transport = "http"
url = "{upstream}"

[backends.retry]
max_retries = 3
initial_backoff_ms = 100
max_backoff_ms = 5000
budget_percent = 20.0

[backends.circuit_breaker]
failure_rate_threshold = 0.5
minimum_calls = 5
wait_duration_seconds = 5
permitted_calls_in_half_open = 3

[observability]
audit = false
log_level = "warn"

[observability.metrics]
enabled = false
"#
    )
}

/// Starts mcp-proxy (the binary at `binary`) in front of `upstream`, and
/// waits until it answers a tool call. Its MCP endpoint is `/`.
pub async fn start_mcp_proxy(binary: &Path, upstream: &str) -> Result<Proc, BoxError> {
    if !binary.exists() {
        return Err(format!(
            "mcp-proxy not found at {}: run scripts/peers-setup.sh",
            binary.display()
        )
        .into());
    }
    let addr = free_addr()?;
    let config = std::env::temp_dir().join(format!("mcp-bench-mcp-proxy-{}.toml", addr.port()));
    std::fs::write(&config, mcp_proxy_config(addr.port(), upstream))?;
    let args = ["--config".to_string(), config.display().to_string()];
    let proc = Proc::spawn("mcp-proxy", &binary.to_path_buf(), &args, addr).await?;
    wait_ready(crate::mcp_call_of(
        format!("http://{addr}/"),
        &format!("{MCP_PROXY_BACKEND}/echo"),
    ))
    .await?;
    Ok(proc)
}
