//! [`Nginx`] (a round-robin balancer) and [`ReverseProxy`] (nginx in front of one MCP server).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use super::*;

/// A real nginx (single process) balancing round-robin over `backends`, as
/// an L7 load balancer in front of gateway replicas: `proxy_buffering off`
/// (SSE streams through), a new upstream connection per request (so a dead
/// replica is a refused connect, which nginx passes to the next one), and an
/// `X-Upstream` answer header naming the replica that answered.
#[derive(Debug)]
pub struct Nginx {
    port: u16,
    process: Process,
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
        let mut process = Process::new(what)?;
        let dir = process.dir();
        std::fs::write(dir.join("nginx.conf"), config(port, dir))?;
        let mut child = Command::new(binary)
            .arg("-p")
            .arg(dir)
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
        process.started(child);
        Ok(Nginx { port, process })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// nginx's error log so far (to explain a failure).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.process.dir().join("error.log")).unwrap_or_default()
    }

    /// Stops it and waits for it to end.
    pub async fn stop(mut self) {
        self.process.kill().await;
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

    /// Like [`start`](Self::start), with nginx's `proxy_read_timeout` at
    /// `read_timeout`: a stream (SSE) idle that long is cut by the proxy, as
    /// a proxy's default 60 s cuts a quiet legacy SSE stream in production.
    pub async fn with_read_timeout(
        backend: SocketAddr,
        read_timeout: std::time::Duration,
    ) -> io::Result<ReverseProxy> {
        let seconds = read_timeout.as_secs().max(1);
        let nginx = Nginx::run("nginx-proxy", |port, dir| {
            proxy_config(port, backend, dir).replace(
                "proxy_read_timeout 60s;",
                &format!("proxy_read_timeout {seconds}s;"),
            )
        })
        .await?;
        Ok(ReverseProxy { nginx })
    }

    /// `http://127.0.0.1:<port>`: the proxy's root.
    pub fn url(&self) -> String {
        self.nginx.url()
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
pub(super) fn proxy_config(port: u16, backend: SocketAddr, dir: &Path) -> String {
    let servers = format!("        server {backend} max_fails=0;\n");
    nginx_config(port, dir, &servers, "proxy_next_upstream off;", "")
}

/// The balancer's config.
pub(super) fn config(port: u16, backends: &[SocketAddr], dir: &Path) -> String {
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
