//! Child processes under test, and their memory.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use mcp_reconnect_core::BoxError;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// How long a child may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A child process killed on drop.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Proc {
    /// Starts `program args`, then waits until `addr` accepts connections.
    pub async fn spawn(
        name: &'static str,
        program: &PathBuf,
        args: &[String],
        addr: SocketAddr,
    ) -> Result<Proc, BoxError> {
        Self::spawn_with_env(name, program, args, &[], addr).await
    }

    /// Like [`spawn`](Self::spawn), with extra environment variables.
    pub async fn spawn_with_env(
        name: &'static str,
        program: &PathBuf,
        args: &[String],
        env: &[(&str, &str)],
        addr: SocketAddr,
    ) -> Result<Proc, BoxError> {
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {name} ({}): {e}", program.display()))?;
        let proc = Proc { child, addr };
        // Polled often: the recovery rounds time from this moment.
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(proc);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Err(format!("{name} did not listen on {addr} within {START_TIMEOUT:?}").into())
    }

    /// Kills the process (`SIGKILL`: no goodbye to its peers) and reaps it.
    pub async fn kill(&mut self) -> Result<(), BoxError> {
        self.child.kill().await?;
        Ok(())
    }

    /// Resident memory in MiB, from `/proc/<pid>/status` (Linux).
    pub fn rss_mib(&self) -> Option<f64> {
        rss_mib(self.child.id()?)
    }

    /// CPU time used so far (user + system), from `/proc/<pid>/stat` (Linux).
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time(self.child.id()?)
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` times: `USER_HZ`, which
/// Linux fixes at 100 for user space whatever the kernel's own tick.
const USER_HZ: f64 = 100.0;

/// CPU time `pid` used so far (user + system).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it don't.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_secs_f64((user + system) as f64 / USER_HZ))
}

/// A free port on 127.0.0.1 (bound and released: good enough for a bench).
pub fn free_addr() -> Result<SocketAddr, BoxError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// A binary built next to this one (same target dir and profile).
pub fn sibling(name: &str) -> Result<PathBuf, BoxError> {
    let me = std::env::current_exe()?;
    let dir = me.parent().ok_or("no parent dir")?;
    let path = dir.join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: build it first (cargo build --release -p mcp-reconnect-gateway)",
            path.display()
        )
        .into())
    }
}

/// Resident memory of `pid` in MiB, from `/proc/<pid>/status` (Linux).
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The testkit upstream in its own process (`mcp-bench upstream`), as in a
/// deployment: apart from the load generator, so neither one's work runs on
/// the other's threads, and killed for real in the recovery rounds.
pub struct UpstreamProc {
    addr: SocketAddr,
    running: Option<Proc>,
}

impl UpstreamProc {
    /// Starts it on a free loopback port; returns once it accepts connections.
    pub async fn start() -> Result<UpstreamProc, BoxError> {
        let mut upstream = UpstreamProc {
            addr: free_addr()?,
            running: None,
        };
        upstream.start_again().await?;
        Ok(upstream)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The MCP endpoint.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Kills it: its port refuses connections and its connections are closed.
    pub async fn stop(&mut self) -> Result<(), BoxError> {
        if let Some(mut running) = self.running.take() {
            running.kill().await?;
        }
        Ok(())
    }

    /// Serves the same port again; returns once it accepts connections.
    pub async fn start_again(&mut self) -> Result<(), BoxError> {
        if self.running.is_none() {
            let args = [
                "upstream".to_string(),
                "--listen".to_string(),
                self.addr.to_string(),
            ];
            let exe = std::env::current_exe()?;
            self.running = Some(Proc::spawn("upstream", &exe, &args, self.addr).await?);
        }
        Ok(())
    }
}
