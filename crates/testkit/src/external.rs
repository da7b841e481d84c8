//! Real external servers for the scale-out tests (feature `external`): a
//! `redis-server` and an nginx round-robin balancer, each started on a free
//! `127.0.0.1` port with its files in a temp dir, and killed on drop.
//!
//! Both come from Debian's packages (`scripts/scale-setup.sh` installs them);
//! [`available`] lets a test skip with a clear message when they are not
//! installed (and fails it instead when `MCP_SCALE_REQUIRED` is set, as in CI).
//!
//! ```no_run
//! use mcp_reconnect_testkit::external::{RedisServer, available};
//!
//! # async fn example() -> std::io::Result<()> {
//! if !available(&["redis-server"]) {
//!     return Ok(()); // skipped, with a message
//! }
//! let redis = RedisServer::start().await?;
//! assert_eq!(redis.dbsize().await?, 0);
//! # Ok(())
//! # }
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::process::Stdio;
use tokio::net::TcpStream;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// How often a starting server is checked: every 20 ms.
pub const START_POLL: Duration = Duration::from_millis(20);
/// How many checks a server gets to start: 500 (10 s).
pub const START_POLLS: u32 = 500;

/// Where Debian puts daemons that are not on a user's `PATH`.
const SYSTEM_DIRS: [&str; 4] = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"];

/// The path of `binary`: on `PATH`, or in the system's daemon directories.
pub fn find(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SYSTEM_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
}

/// `None` when every one of `binaries` is installed; otherwise why a test
/// that needs them is skipped.
pub fn missing(binaries: &[&str]) -> Option<String> {
    let absent: Vec<&str> = binaries.iter().copied().filter(|b| find(b).is_none()).collect();
    (!absent.is_empty()).then(|| {
        format!(
            "{} not installed (run scripts/scale-setup.sh: apt-get install redis-server nginx-light)",
            absent.join(", ")
        )
    })
}

/// Set (to anything) in CI: a missing binary fails the test instead of skipping it.
pub const ENV_SCALE_REQUIRED: &str = "MCP_SCALE_REQUIRED";

/// Whether every one of `binaries` is installed. When one is not, prints why
/// the test is skipped and returns `false` — or panics when
/// [`ENV_SCALE_REQUIRED`] is set (CI installed them, so a skip would hide a
/// broken setup).
pub fn available(binaries: &[&str]) -> bool {
    let Some(why) = missing(binaries) else { return true };
    assert!(
        std::env::var_os(ENV_SCALE_REQUIRED).is_none(),
        "{ENV_SCALE_REQUIRED} is set but {why}"
    );
    eprintln!("skipped: {why}");
    false
}

/// A free port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A server's child process and its files: the process can be killed
/// (`SIGKILL`) and started again; on drop it is killed, then its temp dir
/// removed.
#[derive(Debug)]
struct Process {
    child: Option<Child>,
    dir: PathBuf,
}

impl Process {
    /// Not started yet, with a new, empty temp dir named after `what`.
    fn new(what: &str) -> io::Result<Process> {
        Ok(Process {
            child: None,
            dir: temp_dir(what)?,
        })
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn started(&mut self, child: Child) {
        self.child = Some(child);
    }

    /// Kills it and waits for it to end.
    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Spawns `command` with stdin and stderr closed and stdout piped, killed on
/// drop: the child, and its stdout line by line (where a server says it is
/// ready). Errors name the program.
pub fn spawn_reading_stdout(command: &mut Command) -> io::Result<(Child, Lines<BufReader<ChildStdout>>)> {
    let program = command.as_std().get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| io::Error::new(error.kind(), format!("{program}: {error}")))?;
    let stdout = child.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?;
    Ok((child, BufReader::new(stdout).lines()))
}

/// A new, empty temp dir of this process.
fn temp_dir(what: &str) -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("mcp-reconnect-{what}-{}-{n}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn not_installed(binary: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{binary} is not installed"))
}

/// Waits until something accepts connections on `port`.
async fn wait_for_port(port: u16, child: &mut Child, what: &str) -> io::Result<()> {
    for _ in 0..START_POLLS {
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!("{what} exited at start: {status}")));
        }
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(START_POLL).await;
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} did not start"),
    ))
}

mod nginx;
mod python;
mod redis;

pub use nginx::{Nginx, ReverseProxy};
pub use python::{ENV_INTEROP_REQUIRED, PythonServer, interop_home, python_sdk_available};
pub use redis::{RedisServer, Reply};

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::nginx::{config, proxy_config};
    use super::*;

    #[test]
    fn missing_binaries_are_named() {
        assert!(find("sh").is_some());
        let why = missing(&["sh", "mcp-reconnect-no-such-binary"]).unwrap();
        assert!(why.contains("mcp-reconnect-no-such-binary") && !why.contains("sh,"));
        assert!(missing(&["sh"]).is_none());
    }

    #[test]
    fn the_reverse_proxy_config_never_retries_on_its_own() {
        let config = proxy_config(8080, "127.0.0.1:1".parse().unwrap(), Path::new("/tmp/x"));
        assert!(config.contains("server 127.0.0.1:1 ") && config.contains("proxy_next_upstream off;"));
        assert!(config.contains("listen 127.0.0.1:8080;"));
    }

    #[test]
    fn the_balancer_config_streams_and_names_the_replica() {
        let backends = ["127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap()];
        let config = config(8080, &backends, Path::new("/tmp/x"));
        assert!(config.contains("server 127.0.0.1:1 ") && config.contains("server 127.0.0.1:2 "));
        assert!(config.contains("proxy_buffering off;") && config.contains("X-Upstream"));
        assert!(config.contains("listen 127.0.0.1:8080;"));
    }
}
