//! Listening and stopping: an HTTP/1.1 accept loop with a header-read
//! timeout and a bound on open connections, and a graceful shutdown that
//! stops accepting and gives in-flight calls a deadline.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use mcp_reconnect_core::repoll::Repoll;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::client::McpClient;
use crate::config::{ConfigError, GatewayConfig};
use crate::proof::Unproven;
use crate::routes;
use crate::stack::Upstream;

/// Connections open at once, by default (`--max-connections`); the next one
/// waits in the listen backlog.
pub const MAX_CONNECTIONS: usize = 4096;
/// The share of the connections kept for `/health` (one in 16, at least 1):
/// when the rest are taken, a new connection is still accepted into the
/// reserve, and there it is served only `/health` (anything else gets `503`
/// and the connection closes), so probes and load balancers see the gateway
/// alive while clients fill it.
pub const HEALTH_RESERVE_SHARE: usize = 16;
/// Pause after a failed `accept` (out of file descriptors, …) before the next.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// Streams one HTTP/2 connection may have open at once (calls and `GET`
/// streams): what `--max-concurrent-calls` allows per upstream, so one
/// client connection cannot hold more than the gateway would serve.
pub const H2_MAX_STREAMS: u32 = 256;

/// The answer on a `/health`-only connection to anything but `/health`.
fn full() -> axum::response::Response {
    let mut response = crate::rest::detail(
        http::StatusCode::SERVICE_UNAVAILABLE,
        serde_json::json!("too many connections; try again"),
    );
    let headers = response.headers_mut();
    headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
    headers.insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    response
}

/// Why the gateway could not start.
#[derive(Debug)]
pub enum StartError {
    /// The configuration cannot be served (exit code 2).
    Config(ConfigError),
    /// The address cannot be listened on.
    Listen(io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(error) => error.fmt(f),
            StartError::Listen(error) => write!(f, "cannot listen: {error}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    addr: SocketAddr,
    clients: crate::reload::Clients,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    warm_ups: Vec<JoinHandle<()>>,
    reloader: Option<JoinHandle<()>>,
}

impl Gateway {
    /// Builds every upstream's stack, listens, and serves in the background.
    /// Upstreams are connected lazily: a dead one never stops the start.
    pub async fn start(config: GatewayConfig) -> Result<Gateway, StartError> {
        let clients = config
            .servers
            .iter()
            .map(|spec| Upstream::build(spec, &config).map(McpClient::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StartError::Config)?;
        let tls = match &config.tls {
            Some((cert, key)) => Some(crate::tls::acceptor(cert, key).map_err(StartError::Config)?),
            None => None,
        };
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .map_err(StartError::Listen)?;
        let addr = listener.local_addr().map_err(StartError::Listen)?;
        let (stop, stopped) = oneshot::channel();
        let shared: crate::reload::Clients = Arc::new(std::sync::RwLock::new(clients.clone()));
        let (limits, forwarded, keyed) = (
            config.limits.clone(),
            config.forwarded_for,
            config.api_key.is_some(),
        );
        let (server, reloader) = match config.reload.clone() {
            None => {
                let app = routes::app(&config, &clients, &crate::reload::ReloadStatus::default());
                let server = tokio::spawn(serve(listener, app, limits, forwarded, keyed, tls, stopped));
                (server, None)
            }
            Some(file) => {
                let status = crate::reload::ReloadStatus::default();
                let (app, reloader) = crate::reload::start(&config, file, Arc::clone(&shared), status)
                    .map_err(StartError::Config)?;
                let server = tokio::spawn(serve(listener, app, limits, forwarded, keyed, tls, stopped));
                (server, Some(reloader))
            }
        };
        let warm_ups = clients
            .iter()
            .map(|client| tokio::spawn(warm_up(Arc::clone(client))))
            .collect();
        tracing::info!(%addr, upstreams = clients.len(), "mcp-gateway listening");
        if addr.ip().is_unspecified() && config.api_key.is_none() {
            tracing::warn!(
                %addr,
                "listening on every interface without --api-key: anyone who can reach this port can call the tools; \
                 set --api-key, or bind 127.0.0.1 behind a proxy that authenticates"
            );
        }
        Ok(Gateway {
            addr,
            clients: shared,
            stop: Some(stop),
            server,
            warm_ups,
            reloader,
        })
    }

    /// The address the gateway listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The gateway's clients of its upstreams now (status, retry counters,
    /// tools); with `--hot-reload`, the set the config file last gave.
    pub fn clients(&self) -> Vec<Arc<McpClient>> {
        self.clients
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Stops accepting, lets in-flight requests finish within the shutdown
    /// deadline, then returns.
    pub async fn shutdown(mut self) {
        if let Some(reloader) = self.reloader.take() {
            reloader.abort();
        }
        if let Some(stop) = self.stop.take() {
            // The server may have ended already; then there is nothing to stop.
            let _ = stop.send(());
        }
        if let Err(error) = (&mut self.server).await {
            tracing::warn!(%error, "server task ended abnormally");
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        for task in self.warm_ups.iter().chain(&self.reloader) {
            task.abort();
        }
        self.server.abort();
    }
}

/// Fetches the tool list once at start, so `/openapi.json` is ready and the
/// circuit reports the upstream's state; a failure is only logged.
pub(crate) async fn warm_up(client: Arc<McpClient>) {
    let catalog = client.tools(None).await;
    let name = &client.upstream().spec.display;
    match (&catalog.fetched, &catalog.error) {
        (Some(_), _) => tracing::info!(upstream = %name, tools = catalog.tools.len(), "upstream ready"),
        (None, Some(error)) => {
            tracing::warn!(upstream = %name, %error, "upstream not reachable yet; it is served when it comes back")
        }
        (None, None) => {}
    }
}

async fn serve(
    listener: TcpListener,
    app: impl routes::App,
    limits: crate::config::Limits,
    forwarded: crate::forwarded::ForwardedFor,
    keyed: bool,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stopped: oneshot::Receiver<()>,
) {
    let graceful = GracefulShutdown::new();
    let max = usize::try_from(limits.max_connections)
        .unwrap_or(MAX_CONNECTIONS)
        .max(2);
    let reserve = (max / HEALTH_RESERVE_SHARE).max(1);
    let connections = Arc::new(Semaphore::new(max - reserve));
    let reserved = Arc::new(Semaphore::new(reserve));
    let unproven = Arc::new(Unproven::default());
    // HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on one port: the
    // connection's first bytes tell them apart.
    let mut http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    http.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        // A general slot if one is free; else the oldest connection that has
        // not shown the key (or a whole request) makes room; else one of
        // `/health`'s. With all of them taken, this connection waits, and
        // the next ones wait in the listen backlog.
        let (permit, health_only) = match Arc::clone(&connections).try_acquire_owned() {
            Ok(permit) => (permit, false),
            Err(_) => {
                // An evicted connection's slot comes back here: wait for it
                // rather than put this one in `/health`'s reserve.
                let evicted = unproven.evict_oldest();
                if evicted {
                    tracing::debug!("connections full: dropping the oldest unproven one");
                }
                tokio::select! {
                    _ = &mut stopped => break,
                    permit = Arc::clone(&connections).acquire_owned() => match permit {
                        Ok(permit) => (permit, false),
                        Err(_) => break,
                    },
                    permit = Arc::clone(&reserved).acquire_owned(), if !evicted => match permit {
                        Ok(permit) => (permit, true),
                        Err(_) => break,
                    },
                }
            }
        };
        // Best effort: Nagle only delays small JSON-RPC answers.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let client = crate::forwarded::Client::new(peer);
        let proof = unproven.enter();
        let standing = Arc::clone(&proof);
        let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            let app = app.clone();
            if !standing.is_proven() {
                if keyed {
                    // The key check proves the connection (`auth.rs`).
                    request.extensions_mut().insert(Arc::clone(&standing));
                } else {
                    standing.prove();
                }
            }
            forwarded.apply(request.headers_mut(), &client);
            async move {
                if health_only && request.uri().path() != crate::auth::HEALTH_PATH {
                    return Ok(full());
                }
                app.oneshot(request).await
            }
        });
        let (http, watcher, tls) = (http.clone(), graceful.watcher(), tls.clone());
        let (send_timeout, handshake) = (limits.send_timeout, limits.header_read_timeout);
        // `Repoll`: hyper wakes this task from inside its own poll once per
        // call; polling again in place saves a worker wake-up.
        tokio::spawn(Repoll::new(async move {
            let served = async {
                let ended = match tls {
                    None => {
                        let io = TokioIo::new(crate::stall::SendTimeout::new(stream, send_timeout));
                        watcher.watch(http.serve_connection(io, service)).await
                    }
                    // The handshake is bounded as a request's headers are.
                    Some(acceptor) => match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let io = TokioIo::new(crate::stall::SendTimeout::new(stream, send_timeout));
                            watcher.watch(http.serve_connection(io, service)).await
                        }
                        Ok(Err(error)) => Err(format!("TLS handshake failed: {error}").into()),
                        Err(_) => Err("no TLS handshake within the header read timeout".into()),
                    },
                };
                if let Err(error) = ended {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
            };
            tokio::select! {
                biased;
                () = served => {}
                () = proof.evicted() => tracing::debug!(%peer, "unproven connection dropped to make room"),
            }
            drop(permit);
        }));
    }
    drop(listener);
    tracing::info!(
        deadline_ms = u64::try_from(limits.shutdown_timeout.as_millis()).unwrap_or(u64::MAX),
        "shutting down: no new connections, finishing in-flight requests"
    );
    match tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!("shutdown deadline passed; closing the connections still open"),
    }
}

/// Waits for Ctrl-C or (on Unix) `SIGTERM`.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

/// Starts the gateway and serves until Ctrl-C or `SIGTERM`, then shuts down gracefully.
pub async fn run(config: GatewayConfig) -> Result<(), StartError> {
    let gateway = Gateway::start(config).await?;
    shutdown_signal().await;
    gateway.shutdown().await;
    Ok(())
}
