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
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

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

/// A reply of Redis, as [`RedisServer::command`] reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `nil`.
    Nil,
    /// An integer.
    Int(i64),
    /// A simple or bulk string.
    Text(String),
    /// An error.
    Error(String),
    /// An array.
    Array(Vec<Reply>),
}

/// A real `redis-server` on a free 127.0.0.1 port, without persistence
/// (`--save '' --appendonly no`): a restart starts empty, as an unpersisted
/// production Redis would.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one and waits until it answers `PING`.
    pub async fn start() -> io::Result<RedisServer> {
        let binary = find("redis-server").ok_or_else(|| not_installed("redis-server"))?;
        let mut server = RedisServer {
            binary,
            port: free_port()?,
            dir: temp_dir("redis")?,
            child: None,
        };
        server.start_again().await?;
        Ok(server)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether it runs.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills it (`SIGKILL`) and waits for it to end.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn start_again(&mut self) -> io::Result<()> {
        self.stop().await;
        let port = self.port.to_string();
        let mut child = Command::new(&self.binary)
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--daemonize", "no", "--loglevel", "warning", "--dir"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let started = async {
            for _ in 0..START_POLLS {
                if let Some(status) = child.try_wait()? {
                    return Err(io::Error::other(format!(
                        "redis-server exited at start: {status}"
                    )));
                }
                if matches!(command_at(self.port, &["PING"]).await, Ok(Reply::Text(pong)) if pong == "PONG") {
                    return Ok(());
                }
                tokio::time::sleep(START_POLL).await;
            }
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "redis-server did not start",
            ))
        };
        started.await?;
        self.child = Some(child);
        Ok(())
    }

    /// Sends one command and reads its reply (on a new connection).
    pub async fn command(&self, args: &[&str]) -> io::Result<Reply> {
        command_at(self.port, args).await
    }

    /// `DBSIZE`: how many keys it holds.
    pub async fn dbsize(&self) -> io::Result<u64> {
        match self.command(&["DBSIZE"]).await? {
            Reply::Int(n) => u64::try_from(n).map_err(io::Error::other),
            other => Err(io::Error::other(format!("DBSIZE answered {other:?}"))),
        }
    }

    /// The keys matching `pattern` (`KEYS`: test data only).
    pub async fn keys(&self, pattern: &str) -> io::Result<Vec<String>> {
        match self.command(&["KEYS", pattern]).await? {
            Reply::Array(keys) => Ok(keys
                .into_iter()
                .filter_map(|key| match key {
                    Reply::Text(key) => Some(key),
                    _ => None,
                })
                .collect()),
            other => Err(io::Error::other(format!("KEYS answered {other:?}"))),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One command to the Redis on `port`, in RESP.
async fn command_at(port: u16, args: &[&str]) -> io::Result<Reply> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut stream = BufReader::new(stream);
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    stream.get_mut().write_all(&request).await?;
    read_reply(&mut stream).await
}

async fn read_line(stream: &mut BufReader<TcpStream>) -> io::Result<String> {
    let mut line = String::new();
    if stream.read_line(&mut line).await? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "Redis closed the connection",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn read_reply(stream: &mut BufReader<TcpStream>) -> io::Result<Reply> {
    let bad = |line: &str| io::Error::other(format!("unexpected reply {line:?}"));
    let mut arrays: Vec<(usize, Vec<Reply>)> = Vec::new();
    loop {
        let line = read_line(stream).await?;
        let (kind, rest) = line.split_at(line.len().min(1));
        let number = || rest.parse::<i64>().map_err(|_| bad(&line));
        let reply = match kind {
            "+" => Reply::Text(rest.to_owned()),
            "-" => Reply::Error(rest.to_owned()),
            ":" => Reply::Int(number()?),
            "$" if number()? < 0 => Reply::Nil,
            "$" => {
                let mut data = read_line(stream).await?;
                let wanted = usize::try_from(number()?).map_err(|_| bad(&line))?;
                // A bulk string may hold CRLF; read on until it has its length.
                while data.len() < wanted {
                    data.push_str("\r\n");
                    data.push_str(&read_line(stream).await?);
                }
                Reply::Text(data)
            }
            "*" if number()? < 0 => Reply::Nil,
            "*" => {
                let len = usize::try_from(number()?).map_err(|_| bad(&line))?;
                if len > 0 {
                    arrays.push((len, Vec::with_capacity(len)));
                    continue;
                }
                Reply::Array(Vec::new())
            }
            _ => return Err(bad(&line)),
        };
        // Fill the open arrays from the innermost out.
        let mut reply = reply;
        loop {
            let Some((len, items)) = arrays.last_mut() else {
                return Ok(reply);
            };
            items.push(reply);
            if items.len() < *len {
                break;
            }
            let Some((_, items)) = arrays.pop() else {
                return Err(bad(&line));
            };
            reply = Reply::Array(items);
        }
    }
}

/// A real nginx (single process) balancing round-robin over `backends`, as
/// an L7 load balancer in front of gateway replicas: `proxy_buffering off`
/// (SSE streams through), a new upstream connection per request (so a dead
/// replica is a refused connect, which nginx passes to the next one), and an
/// `X-Upstream` answer header naming the replica that answered.
#[derive(Debug)]
pub struct Nginx {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Nginx {
    /// Writes the config into a temp dir and starts nginx on a free port.
    pub async fn start(backends: &[SocketAddr]) -> io::Result<Nginx> {
        Nginx::run("nginx", |port, dir| config(port, backends, dir)).await
    }

    /// Starts nginx on a free port with the config `config(port, dir)` writes.
    async fn run(what: &str, config: impl FnOnce(u16, &Path) -> String) -> io::Result<Nginx> {
        let binary = find("nginx").ok_or_else(|| not_installed("nginx"))?;
        let port = free_port()?;
        let dir = temp_dir(what)?;
        std::fs::write(dir.join("nginx.conf"), config(port, &dir))?;
        let mut child = Command::new(binary)
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        wait_for_port(port, &mut child, "nginx").await?;
        Ok(Nginx {
            port,
            dir,
            child: Some(child),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// nginx's error log so far (to explain a failure).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// Stops it and waits for it to end.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A real nginx as the reverse proxy in front of one MCP server, as in
/// production: it stays up while the server restarts and answers `502` itself
/// while the server's port refuses (`proxy_next_upstream off`: nothing is
/// retried by nginx), so a TCP connect to it proves nothing about the server.
#[derive(Debug)]
pub struct ReverseProxy {
    nginx: Nginx,
}

impl ReverseProxy {
    /// Starts nginx on a free port in front of the server at `backend`.
    pub async fn start(backend: SocketAddr) -> io::Result<ReverseProxy> {
        let nginx = Nginx::run("nginx-proxy", |port, dir| proxy_config(port, backend, dir)).await?;
        Ok(ReverseProxy { nginx })
    }

    /// `http://127.0.0.1:<port>/mcp`: the MCP endpoint through the proxy.
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.nginx.url())
    }

    /// nginx's error log so far (to explain a failure).
    pub fn error_log(&self) -> String {
        self.nginx.error_log()
    }
}

/// The reverse proxy's config: one backend (never marked failed), no
/// retries of its own.
fn proxy_config(port: u16, backend: SocketAddr, dir: &Path) -> String {
    let servers = format!("        server {backend} max_fails=0;\n");
    nginx_config(port, dir, &servers, "proxy_next_upstream off;", "")
}

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
    dir: PathBuf,
    child: Option<Child>,
}

impl PythonServer {
    /// Starts it on a free port, with at most `max_sessions` open sessions.
    pub async fn start(max_sessions: usize) -> io::Result<PythonServer> {
        let mut server = PythonServer {
            port: free_port()?,
            max_sessions,
            dir: temp_dir("python-server")?,
            child: None,
        };
        server.start_again().await?;
        Ok(server)
    }

    /// `http://127.0.0.1:<port>/mcp`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Whether it runs now.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills it (`SIGKILL`: no goodbye to anyone) and waits for it to end.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts it (again) on the same port, with no session.
    pub async fn start_again(&mut self) -> io::Result<()> {
        self.kill().await;
        let python = interop_home().join("bin/python");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/python_server.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .args(["--port", &self.port.to_string()])
            .args(["--max-sessions", &self.max_sessions.to_string()])
            .arg("--calls")
            .arg(self.dir.join("calls"))
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| io::Error::new(error.kind(), format!("{}: {error}", python.display())))?;
        let stdout = child.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
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
        self.child = Some(child);
        Ok(())
    }

    /// How often `increment` ran with `key`, across every start.
    pub fn increments(&self, key: &str) -> usize {
        std::fs::read_to_string(self.dir.join("calls"))
            .unwrap_or_default()
            .lines()
            .filter(|line| *line == key)
            .count()
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The balancer's config.
fn config(port: u16, backends: &[SocketAddr], dir: &Path) -> String {
    let servers: String = backends
        .iter()
        .map(|backend| format!("        server {backend} max_fails=1 fail_timeout=2s;\n"))
        .collect();
    nginx_config(
        port,
        dir,
        &servers,
        "proxy_next_upstream error timeout;",
        "add_header X-Upstream $upstream_addr always;",
    )
}

/// One nginx process, files in `dir`, listening on `port` and proxying every
/// path to the `servers` of one upstream, streaming (SSE passes through).
fn nginx_config(port: u16, dir: &Path, servers: &str, next_upstream: &str, extra: &str) -> String {
    let dir = dir.display();
    format!(
        r#"master_process off;
pid {dir}/nginx.pid;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream backends {{
{servers}    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_cache off;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
            {next_upstream}
            {extra}
        }}
    }}
}}
"#
    )
}

#[cfg(test)]
mod tests {
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
