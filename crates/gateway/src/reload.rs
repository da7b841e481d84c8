//! `--hot-reload`: the config file is watched (debounced), and a change
//! that reads and checks is applied without a restart. Servers whose entry
//! did not change keep their client (`McpClient`: its stack, circuit,
//! sessions and calls in flight); added ones are built, changed ones
//! rebuilt; removed and replaced ones leave the routes at once and drain: a
//! call in flight holds its own handle to the old stack and finishes, and the
//! stack (a stdio child, an SSE stream) stops when the last one goes. A file
//! that does not read or check changes nothing; `/health` shows why until a
//! good one is applied.

use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::Response;
use http::Request;
use hyper::body::Incoming;
use notify_debouncer_mini::notify::RecursiveMode;
use tokio::sync::mpsc;
use tower::Service;
use tower::ServiceExt;
use tower::util::{BoxCloneSyncService, Oneshot};

use crate::client::McpClient;
use crate::config::{ConfigError, ConfigFile, GatewayConfig, ServerSpec};
use crate::routes;
use crate::stack::Upstream;

/// How long the file must be quiet before it is read (editors write in steps).
const DEBOUNCE: Duration = Duration::from_millis(300);

type BoxApp = BoxCloneSyncService<Request<Incoming>, Response, Infallible>;

/// Why the last change of the config file was not applied (shown in `/health`).
#[derive(Clone, Debug, Default)]
pub struct ReloadStatus(Arc<Mutex<Option<String>>>);

impl ReloadStatus {
    /// The reason, while the file on disk is one that was not applied.
    pub fn refused(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set(&self, why: Option<String>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = why;
    }
}

/// The gateway's app, swapped as a whole when the config changes. Each
/// request is served by the app current when it arrived.
#[derive(Clone)]
pub struct SwapApp {
    current: Arc<RwLock<BoxApp>>,
}

impl SwapApp {
    fn new(app: impl routes::App + Sync) -> Self {
        SwapApp {
            current: Arc::new(RwLock::new(BoxCloneSyncService::new(app))),
        }
    }

    fn swap(&self, app: impl routes::App + Sync) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = BoxCloneSyncService::new(app);
    }
}

impl Service<Request<Incoming>> for SwapApp {
    type Response = Response;
    type Error = Infallible;
    type Future = Oneshot<BoxApp, Request<Incoming>>;

    /// Ready: each call is served by a clone of the current app, made ready in the call.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let app = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        app.oneshot(request)
    }
}

/// The servers served now, shared with [`Gateway::clients`](crate::Gateway::clients).
pub type Clients = Arc<RwLock<Vec<Arc<McpClient>>>>;

/// Starts serving `clients` as an app that `--hot-reload` swaps, and the
/// task that watches `file`. The task ends when the returned handle is aborted.
pub(crate) fn start(
    config: &GatewayConfig,
    file: ConfigFile,
    clients: Clients,
    status: ReloadStatus,
) -> Result<(SwapApp, tokio::task::JoinHandle<()>), ConfigError> {
    let current = clients.read().unwrap_or_else(PoisonError::into_inner).clone();
    let app = SwapApp::new(routes::app(config, &current, &status));
    let (changed, mut changes) = mpsc::channel(1);
    let mut debouncer = notify_debouncer_mini::new_debouncer(DEBOUNCE, {
        let path = file.path.clone();
        move |events: notify_debouncer_mini::DebounceEventResult| {
            let ours = events.is_ok_and(|events| events.iter().any(|event| same_file(&event.path, &path)));
            if ours {
                // One pending change is enough: the file is read when it is handled.
                let _ = changed.try_send(());
            }
        }
    })
    .map_err(|error| ConfigError::new(format!("--hot-reload: cannot watch files: {error}")))?;
    // The directory, not the file: editors replace a file by renaming a new one over it.
    let directory = match file.path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    debouncer
        .watcher()
        .watch(&directory, RecursiveMode::NonRecursive)
        .map_err(|error| {
            ConfigError::new(format!(
                "--hot-reload: cannot watch {}: {error}",
                directory.display()
            ))
        })?;
    let reloader = Reloader {
        config: config.clone(),
        file,
        clients,
        status,
        app: app.clone(),
    };
    let task = tokio::spawn(async move {
        // The watcher lives as long as the task.
        let _debouncer = debouncer;
        while changes.recv().await.is_some() {
            reloader.apply();
        }
    });
    tracing::info!("--hot-reload: watching the config file for changes");
    Ok((app, task))
}

fn same_file(event: &Path, watched: &Path) -> bool {
    event == watched
        || (event.file_name() == watched.file_name()
            && std::fs::canonicalize(event.parent().unwrap_or(event)).ok()
                == std::fs::canonicalize(watched.parent().unwrap_or(watched)).ok())
}

struct Reloader {
    config: GatewayConfig,
    file: ConfigFile,
    clients: Clients,
    status: ReloadStatus,
    app: SwapApp,
}

impl Reloader {
    /// Reads the file again and applies it, or leaves everything as it is and says why.
    fn apply(&self) {
        let specs = match self.file.read() {
            Ok(specs) => specs,
            Err(error) => {
                tracing::warn!(file = %self.file.path.display(), %error, "config file changed, not applied; the running config stays");
                self.status.set(Some(format!(
                    "the config file changed and was not applied: {error}"
                )));
                return;
            }
        };
        let current = self
            .clients
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let kept = |spec: &ServerSpec| {
            current
                .iter()
                .find(|client| *client.upstream().spec == *spec)
                .cloned()
        };
        if specs.len() == current.len() && specs.iter().all(|spec| kept(spec).is_some()) {
            self.status.set(None);
            return;
        }
        let mut config = self.config.clone();
        config.servers = specs.clone();
        let mut next = Vec::with_capacity(specs.len());
        let mut started = Vec::new();
        for spec in &specs {
            match kept(spec) {
                Some(client) => next.push(client),
                None => match Upstream::build(spec, &config) {
                    Ok(upstream) => {
                        let client = McpClient::new(upstream);
                        started.push(Arc::clone(&client));
                        next.push(client);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "config file changed, not applied; the running config stays");
                        self.status.set(Some(format!(
                            "the config file changed and was not applied: {error}"
                        )));
                        return;
                    }
                },
            }
        }
        let names = |clients: &[Arc<McpClient>]| {
            clients
                .iter()
                .map(|client| client.upstream().spec.name.clone())
                .collect::<Vec<_>>()
        };
        let gone: Vec<_> = current
            .iter()
            .filter(|client| !next.iter().any(|kept| Arc::ptr_eq(kept, client)))
            .cloned()
            .collect();
        self.app.swap(routes::app(&config, &next, &self.status));
        *self.clients.write().unwrap_or_else(PoisonError::into_inner) = next;
        self.status.set(None);
        tracing::info!(
            started = ?names(&started),
            stopped = ?names(&gone),
            "config file applied: servers started, and stopped once their calls finish"
        );
        for client in started {
            tokio::spawn(crate::server::warm_up(client));
        }
    }
}
