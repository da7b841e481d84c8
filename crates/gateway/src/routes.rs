//! The router: per upstream `<mount>/mcp`, `<mount>/<tool>`,
//! `<mount>/openapi.json` and `<mount>/docs`; top-level `/health`,
//! `/metrics`, Swagger UI assets (and, with a config file, a combined
//! `/openapi.json` and `/docs`); then the edge layers.

use std::collections::{BTreeSet, HashSet};
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, any_service, get, post};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use mcp_reconnect_core::headers::MCP_SESSION_ID;
use mcp_reconnect_core::respond::{JsonRpcError, codes};
use mcp_reconnect_health::HealthLayer;
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::edge::{BodyLimit, CatchPanicLayer, CorsOnOriginLayer, Gate, GateLayer};
use crate::rebinding::LoopbackGuard;
use crate::trace::TraceLayer;

use crate::auth::{self, Auth};
use crate::config::{Cors, GatewayConfig};
use crate::docs;
use crate::openapi::{self, DocInfo, ToolGroup};
use crate::rest::{self, DEFAULT_RETRY_AFTER, RestState, detail};
use crate::stack::McpService;
use crate::tools::{Catalog, McpClient};

/// How long `/openapi.json` waits for a stale tool list to be fetched before
/// it answers with the cached one (the fetch goes on in the background).
pub const OPENAPI_REFRESH_WAIT: Duration = Duration::from_secs(2);

/// What the OpenAPI and docs routes need.
#[derive(Clone, Debug)]
struct Docs {
    config: Arc<GatewayConfig>,
    /// The servers the document shows (one, or all for the combined one).
    clients: Arc<[Arc<McpClient>]>,
    /// Path of the document, for the docs page.
    openapi_path: String,
    /// Whether this is the combined document of a config file's servers.
    combined: bool,
    /// The document last built, and the catalogs it was built from: it is
    /// built once per catalog generation, not per request (a catalog of
    /// thousands of tools takes long to render, and `/openapi.json` needs
    /// no key).
    cache: Arc<Mutex<Option<BuiltDocument>>>,
    /// Held while a document is built: requests that find the cache stale
    /// at once wait for one build instead of each building their own.
    building: Arc<tokio::sync::Mutex<()>>,
}

/// An OpenAPI document as served, and the catalogs it was built from.
type BuiltDocument = (Vec<Arc<Catalog>>, bytes::Bytes);

/// The gateway's whole HTTP service.
pub fn app(config: &GatewayConfig, clients: &[Arc<McpClient>]) -> impl App {
    let shared = Arc::new(config.clone());
    let mut router = Router::new();
    // Open without the key (unless `--strict-auth`): exact paths only.
    let mut open: BTreeSet<String> = std::iter::once("/metrics".to_owned())
        .chain(docs::asset_paths())
        .collect();
    // Every fixed path the router serves: `CallsFirst` leaves these to it.
    let mut fixed: HashSet<String> = [auth::HEALTH_PATH.to_owned(), "/metrics".to_owned()]
        .into_iter()
        .chain(docs::asset_paths())
        .collect();
    let mut mount_docs = |router: Router, mount: &str, clients: Arc<[Arc<McpClient>]>, combined: bool| {
        let state = Docs {
            config: Arc::clone(&shared),
            clients,
            openapi_path: format!("{mount}/openapi.json"),
            combined,
            cache: Arc::default(),
            building: Arc::default(),
        };
        for path in [format!("{mount}/openapi.json"), format!("{mount}/docs")] {
            open.insert(path.clone());
            fixed.insert(path);
        }
        router
            .route(
                &format!("{mount}/openapi.json"),
                get(openapi_json).with_state(state.clone()),
            )
            .route(&format!("{mount}/docs"), get(docs_page).with_state(state))
    };
    let mut endpoints = Vec::with_capacity(clients.len());
    for client in clients {
        let mount = client.upstream().spec.mount.clone();
        let rest = RestState {
            client: Arc::clone(client),
            limits: config.limits.clone(),
        };
        router = router.route(
            &format!("{mount}/{{tool}}"),
            post(rest::call_tool).with_state(rest.clone()),
        );
        endpoints.push(Endpoint {
            mount: mount.clone(),
            client: Arc::clone(client),
            rest,
        });
        router = mount_docs(router, &mount, Arc::from([Arc::clone(client)]), false);
    }
    if !config.is_single() {
        router = mount_docs(router, "", Arc::from(clients), true);
    }
    let health = health(clients);
    let auth = Auth::new(config.api_key.clone(), config.strict_auth, open);
    let body_limit = usize::try_from(config.limits.max_body_bytes).unwrap_or(usize::MAX);
    let guard = LoopbackGuard::for_listen_host(&config.host, &config.cors);
    let router = match &guard {
        Some(guard) => router.layer(GateLayer::new(guard.clone())),
        None => router,
    };
    let router = router
        .route_service(auth::HEALTH_PATH, health.clone())
        .route_service("/metrics", health)
        .merge(docs::assets())
        .fallback(|| async { detail(StatusCode::NOT_FOUND, json!("Not Found")) });
    // The edge layers wrap the router once, not each route (`Router::layer`
    // would box every layer per route, and clone and box each of them again
    // on every request).
    ServiceBuilder::new()
        .map_request(|request: Request<Incoming>| request.map(Body::new))
        .layer(TraceLayer)
        .layer(CatchPanicLayer::new(|| {
            detail(StatusCode::INTERNAL_SERVER_ERROR, json!("Internal Server Error"))
        }))
        .layer(cors(&config.cors))
        .layer(GateLayer::new(auth))
        .layer(GateLayer::new(BodyLimit::new(body_limit)))
        .service(CallsFirst {
            endpoints: Arc::from(endpoints),
            fixed: Arc::new(fixed),
            guard,
            stream_idle: config.limits.stream_idle_timeout,
            router,
        })
}

/// Serves the two call routes of each upstream itself, `<mount>/mcp` and
/// `POST <mount>/<tool>`, and hands every other request to the router. The
/// calls are nearly all the traffic, and through axum each paid for path
/// matching, the method router's clones, the path parameters' map and a
/// boxed handler future (BENCHMARKS.md "Profile").
///
/// A tool route is taken here only when the router would route it to the
/// same handler: one plain segment (nothing to percent-decode) that is not
/// one of the router's fixed paths. Anything else takes the router's way.
#[derive(Clone)]
struct CallsFirst {
    endpoints: Arc<[Endpoint]>,
    /// The router's fixed paths, which a tool route does not shadow.
    fixed: Arc<HashSet<String>>,
    /// The DNS-rebinding guard on a loopback listener (the router has it on its routes).
    guard: Option<LoopbackGuard>,
    /// How long a `GET <mount>/mcp` stream may go without a frame (`--stream-idle-timeout`).
    stream_idle: Duration,
    router: Router,
}

/// One upstream's mount and what its call routes need.
struct Endpoint {
    /// `""` for a single upstream, `/<name>` for each of a config file's.
    mount: String,
    client: Arc<McpClient>,
    rest: RestState,
}

/// A request [`CallsFirst`] serves itself.
enum Call {
    Mcp(Arc<McpClient>),
    Tool(RestState, String),
}

impl CallsFirst {
    fn route(&self, request: &Request) -> Option<Call> {
        let path = request.uri().path();
        self.endpoints.iter().find_map(|endpoint| {
            let rest = path.strip_prefix(endpoint.mount.as_str())?.strip_prefix('/')?;
            if rest == "mcp" {
                return Some(Call::Mcp(Arc::clone(&endpoint.client)));
            }
            let plain = !rest.is_empty() && !rest.contains(['/', '%']);
            (request.method() == Method::POST && plain && !self.fixed.contains(path))
                .then(|| Call::Tool(endpoint.rest.clone(), rest.to_owned()))
        })
    }
}

impl Service<Request> for CallsFirst {
    type Response = Response;
    type Error = Infallible;
    type Future = CallsFirstFuture<<Router as Service<Request>>::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let Some(call) = self.route(&request) else {
            return CallsFirstFuture::Routed {
                future: self.router.call(request),
            };
        };
        if let Some(refused) = self.guard.as_ref().and_then(|guard| guard.check(&mut request)) {
            return CallsFirstFuture::Answered {
                response: Some(refused),
            };
        }
        match call {
            Call::Mcp(client) => mcp(&client, request, self.stream_idle),
            Call::Tool(state, tool) => CallsFirstFuture::Tool {
                future: Box::pin(async move { Ok(rest::call_tool(State(state), Path(tool), request).await) }),
            },
        }
    }
}

type BoxedCall = std::pin::Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

pin_project_lite::pin_project! {
    /// The future of [`CallsFirst`].
    #[project = CallsFirstProj]
    enum CallsFirstFuture<F> {
        Mcp { #[pin] future: McpCall },
        Tool { future: BoxedCall },
        Answered { response: Option<Response> },
        Routed { #[pin] future: F },
    }
}

impl<F> Future for CallsFirstFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.project() {
            CallsFirstProj::Mcp { future } => future.poll(cx),
            CallsFirstProj::Tool { future } => future.as_mut().poll(cx),
            CallsFirstProj::Answered { response } => std::task::Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| mcp_reconnect_core::polled_after_completion("CallsFirst future")))),
            CallsFirstProj::Routed { future } => future.poll(cx),
        }
    }
}

/// What [`app`] makes: hyper's requests in, answers out, never an error.
pub trait App:
    Service<Request<Incoming>, Response = Response, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S> App for S where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + 'static
{
}

/// `/health` and `/metrics` over every upstream's circuit and retry counters
/// (`HealthLayer` answers both paths itself; nothing else reaches its inner service).
fn health(clients: &[Arc<McpClient>]) -> MethodRouter {
    let mut watched = clients.iter().map(|client| {
        let tools = Arc::clone(client);
        client.upstream().watched().warnings(move || {
            let catalog = tools.catalog();
            let cut = catalog.truncated.as_ref();
            cut.map(|why| {
                format!(
                    "tool list cut short ({why}): {} tools served",
                    catalog.tools.len()
                )
            })
            .into_iter()
            .collect()
        })
    });
    let Some(first) = watched.next() else {
        return any(|| async { StatusCode::NOT_FOUND });
    };
    let layer = watched.fold(HealthLayer::new(first), HealthLayer::upstream);
    let not_found = service_fn(|_: Request| async {
        Ok::<_, Infallible>(detail(StatusCode::NOT_FOUND, json!("Not Found")))
    });
    any_service(
        layer
            .layer(not_found)
            .map_response(|response| response.map(Body::new)),
    )
}

/// `<mount>/mcp`: the upstream's stack, with calls shed when too many are in
/// flight. A `POST` is a call and holds a permit as long as its answer's
/// body (an SSE stream included); `GET` (the server's stream) and `DELETE`
/// hold none, and a `GET` stream ends after `stream_idle` without a frame.
fn mcp<F>(client: &McpClient, request: Request, stream_idle: Duration) -> CallsFirstFuture<F> {
    let upstream = client.upstream();
    tracing::Span::current().record("upstream", upstream.spec.display.as_str());
    let permit = if request.method() == Method::POST {
        match Arc::clone(&upstream.calls).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                let error = JsonRpcError::new(
                    codes::UPSTREAM_UNAVAILABLE,
                    "too many calls in flight to this upstream",
                )
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .with_retry_after(Some(DEFAULT_RETRY_AFTER));
                return CallsFirstFuture::Answered {
                    response: Some(error.into_response().map(Body::from)),
                };
            }
        }
    } else {
        None
    };
    let stream_idle = (request.method() == Method::GET).then_some(stream_idle);
    CallsFirstFuture::Mcp {
        future: McpCall {
            call: upstream.service.clone().oneshot(request),
            permit,
            stream_idle,
        },
    }
}

pin_project_lite::pin_project! {
    /// One `<mount>/mcp` request through the upstream's stack (a named
    /// future: it is most of the traffic, and a boxed `async fn` cost an
    /// allocation and a move of its state per call).
    struct McpCall {
        #[pin]
        call: tower::util::Oneshot<McpService, Request>,
        permit: Option<OwnedSemaphorePermit>,
        stream_idle: Option<Duration>,
    }
}

impl Future for McpCall {
    type Output = Result<Response, Infallible>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let response = match std::task::ready!(this.call.poll(cx)) {
            Ok(response) => response,
            Err(never) => match never {},
        };
        std::task::Poll::Ready(Ok(match (this.permit.take(), *this.stream_idle) {
            (Some(permit), _) => response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _held = &permit;
                    frame
                }))
            }),
            (None, Some(idle)) => response.map(|body| Body::new(crate::stall::IdleEnd::new(body, idle))),
            (None, None) => response,
        }))
    }
}

/// `<mount>/openapi.json` (or the combined `/openapi.json`).
async fn openapi_json(State(docs): State<Docs>) -> Response {
    let mut catalogs = Vec::with_capacity(docs.clients.len());
    for client in docs.clients.iter() {
        catalogs.push(fresh_catalog(client).await);
    }
    let cached = |docs: &Docs| {
        let cached = docs.cache.lock().unwrap_or_else(PoisonError::into_inner);
        match &*cached {
            Some((built_from, document))
                if built_from.len() == catalogs.len()
                    && built_from.iter().zip(&catalogs).all(|(a, b)| Arc::ptr_eq(a, b)) =>
            {
                Some(document.clone())
            }
            _ => None,
        }
    };
    if let Some(document) = cached(&docs) {
        return json_bytes(document);
    }
    let _building = docs.building.lock().await;
    if let Some(document) = cached(&docs) {
        return json_bytes(document);
    }
    let groups: Vec<ToolGroup<'_>> = docs
        .clients
        .iter()
        .zip(&catalogs)
        .map(|(client, catalog)| {
            let spec = &client.upstream().spec;
            ToolGroup {
                prefix: if docs.combined { &spec.mount } else { "" },
                tag: docs.combined.then_some(spec.name.as_str()),
                tools: &catalog.tools,
            }
        })
        .collect();
    let document = openapi::document(&doc_info(&docs, &catalogs), &groups);
    let document = bytes::Bytes::from(serde_json::to_vec(&document).unwrap_or_default());
    *docs.cache.lock().unwrap_or_else(PoisonError::into_inner) = Some((catalogs, document.clone()));
    json_bytes(document)
}

fn json_bytes(document: bytes::Bytes) -> Response {
    ([(http::header::CONTENT_TYPE, "application/json")], document).into_response()
}

/// The tool list, refreshed if stale, waiting at most [`OPENAPI_REFRESH_WAIT`].
async fn fresh_catalog(client: &Arc<McpClient>) -> Arc<Catalog> {
    let refreshing = Arc::clone(client);
    let task = tokio::spawn(async move { refreshing.tools(None).await });
    match tokio::time::timeout(OPENAPI_REFRESH_WAIT, task).await {
        Ok(Ok(catalog)) => catalog,
        _ => client.catalog(),
    }
}

fn doc_info(docs: &Docs, catalogs: &[Arc<Catalog>]) -> DocInfo {
    let config = &docs.config;
    let server = (!docs.combined)
        .then(|| docs.clients.first().and_then(|client| client.server_info()))
        .flatten()
        .unwrap_or_default();
    let mut description = config
        .info
        .description
        .clone()
        .or(server.instructions)
        .unwrap_or_else(|| openapi::DEFAULT_DESCRIPTION.to_owned());
    for (client, catalog) in docs.clients.iter().zip(catalogs) {
        let spec = &client.upstream().spec;
        if docs.combined {
            description.push_str(&format!(
                "\n\n- [{}]({}{}/docs)",
                spec.name, config.root_path, spec.mount
            ));
        }
        if catalog.fetched.is_none() {
            description.push_str(&format!(
                "\n\n**{}**: the upstream is not reachable now; its tools appear here when it is.",
                spec.name
            ));
        }
    }
    let mount = if docs.combined {
        ""
    } else {
        docs.clients
            .first()
            .map_or("", |c| c.upstream().spec.mount.as_str())
    };
    let server_url = format!("{}{}", config.root_path, mount);
    DocInfo {
        title: config.info.title.clone().or(server.name).unwrap_or_else(|| {
            match (docs.combined, docs.clients.first()) {
                (false, Some(client)) if !config.is_single() => client.upstream().spec.name.clone(),
                _ => openapi::DEFAULT_TITLE.to_owned(),
            }
        }),
        description,
        version: config
            .info
            .version
            .clone()
            .or(server.version)
            .unwrap_or_else(|| openapi::DEFAULT_VERSION.to_owned()),
        server_url: (!server_url.is_empty()).then_some(server_url),
        secured: config.api_key.is_some(),
    }
}

/// `<mount>/docs`.
async fn docs_page(State(docs): State<Docs>) -> Response {
    let title = docs
        .config
        .info
        .title
        .clone()
        .unwrap_or_else(|| match docs.clients.first() {
            Some(client) if !docs.combined && !docs.config.is_single() => client.upstream().spec.name.clone(),
            _ => openapi::DEFAULT_TITLE.to_owned(),
        });
    let openapi_url = format!("{}{}", docs.config.root_path, docs.openapi_path);
    docs::page(&title, &openapi_url, &docs.config.root_path)
}

fn cors(policy: &Cors) -> CorsOnOriginLayer {
    let layer = CorsLayer::new()
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers([
            MCP_SESSION_ID,
            http::header::RETRY_AFTER,
            http::header::WWW_AUTHENTICATE,
        ]);
    let layer = match policy {
        Cors::Any => layer.allow_origin(Any),
        Cors::List(origins) => layer.allow_origin(AllowOrigin::list(origins.iter().cloned())),
    };
    CorsOnOriginLayer::new(layer)
}
