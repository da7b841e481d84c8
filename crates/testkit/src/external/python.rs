//! [`PythonServer`]: the official Python SDK's MCP server, and where the interop peers are installed.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::process::Command;

use super::*;

/// Where `scripts/interop-setup.sh` installed the foreign MCP peers
/// (`MCP_INTEROP_HOME`, default `~/.cache/mcp-reconnect/interop`).
pub fn interop_home() -> PathBuf {
    std::env::var_os("MCP_INTEROP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/root"));
            home.join(".cache/mcp-reconnect/interop")
        })
}

/// Set (to `1`) in CI: missing foreign peers fail the test instead of skipping it.
pub const ENV_INTEROP_REQUIRED: &str = "MCP_INTEROP_REQUIRED";

/// Whether the official Python SDK is installed; when not, prints why the
/// test is skipped, or panics when [`ENV_INTEROP_REQUIRED`] is `1`.
pub fn python_sdk_available() -> bool {
    let python = interop_home().join("bin/python");
    if python.exists() {
        return true;
    }
    let why = format!("{} is missing: run scripts/interop-setup.sh", python.display());
    assert!(
        std::env::var(ENV_INTEROP_REQUIRED).map_or(true, |v| v != "1"),
        "{ENV_INTEROP_REQUIRED} is set but {why}"
    );
    eprintln!("skipped: {why}");
    false
}

/// The official Python SDK's MCP server (`interop/python_server.py`), stateful
/// sessions, in a child process on a fixed 127.0.0.1 port: killed for real
/// (`SIGKILL`) and started again on the same port. Its non-idempotent
/// `increment` appends to a file, so runs are counted across restarts.
#[derive(Debug)]
pub struct PythonServer {
    port: u16,
    max_sessions: usize,
    /// Serves the legacy HTTP+SSE transport (2024-11-05) instead of Streamable HTTP.
    sse: bool,
    process: Process,
}

impl PythonServer {
    /// Starts it on a free port, with at most `max_sessions` open sessions.
    pub async fn start(max_sessions: usize) -> io::Result<PythonServer> {
        let mut server = PythonServer {
            port: free_port()?,
            max_sessions,
            sse: false,
            process: Process::new("python-server")?,
        };
        server.start_again().await?;
        Ok(server)
    }

    /// Starts it on a free port serving the legacy HTTP+SSE transport
    /// (protocol 2024-11-05: `GET /sse`, `POST /messages/`), whose session
    /// lives as long as its event stream.
    pub async fn start_sse() -> io::Result<PythonServer> {
        let mut server = PythonServer {
            port: free_port()?,
            max_sessions: 0,
            sse: true,
            process: Process::new("python-sse-server")?,
        };
        server.start_again().await?;
        Ok(server)
    }

    /// `http://127.0.0.1:<port>/mcp` (`/sse` for the legacy SSE transport).
    pub fn url(&self) -> String {
        let path = if self.sse { "sse" } else { "mcp" };
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Whether it runs now.
    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// Kills it (`SIGKILL`: no goodbye to anyone) and waits for it to end.
    pub async fn kill(&mut self) {
        self.process.kill().await;
    }

    /// Starts it (again) on the same port, with no session.
    pub async fn start_again(&mut self) -> io::Result<()> {
        self.kill().await;
        let python = interop_home().join("bin/python");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/python_server.py");
        let mut command = Command::new(&python);
        command.arg(&script).args(["--port", &self.port.to_string()]);
        if self.sse {
            command.arg("--sse");
        } else {
            command.args(["--max-sessions", &self.max_sessions.to_string()]);
        }
        command
            .arg("--calls")
            .arg(self.process.dir().join("calls"))
            .env("PYTHONUNBUFFERED", "1");
        let (child, mut lines) = spawn_reading_stdout(&mut command)?;
        let ready = tokio::time::timeout(START_POLL * START_POLLS * 3, async {
            while let Some(line) = lines.next_line().await? {
                if line.starts_with("READY") {
                    return Ok(());
                }
            }
            Err(io::Error::other("python_server.py exited at start"))
        })
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "python_server.py did not start"))?;
        ready?;
        // Keep reading (and dropping) what it prints, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.process.started(child);
        Ok(())
    }

    /// How often `increment` ran with `key`, across every start.
    pub fn increments(&self, key: &str) -> usize {
        std::fs::read_to_string(self.process.dir().join("calls"))
            .unwrap_or_default()
            .lines()
            .filter(|line| *line == key)
            .count()
    }
}
