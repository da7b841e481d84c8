//! The router: per upstream `<mount>/mcp`, `<mount>/<tool>`,
//! `<mount>/openapi.json` and `<mount>/docs`; top-level `/health`,
//! `/metrics`, Swagger UI assets (and, with a config file, a combined
//! `/openapi.json` and `/docs`); then the edge layers.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::{MethodRouter, any, any_service, get};
use http::StatusCode;
use hyper::body::Incoming;
use mcp_reconnect_core::headers::MCP_SESSION_ID;
use mcp_reconnect_health::HealthLayer;
use serde_json::json;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::edge::{BodyLimit, CatchPanicLayer, CorsOnOriginLayer, GateLayer};
use crate::rebinding::OriginGuard;
use crate::trace::TraceLayer;

use crate::auth::{self, Auth};
use crate::client::McpClient;
use crate::config::GatewayConfig;
use crate::docs;
use crate::reload::ReloadStatus;
use crate::rest::{RestState, detail};

mod calls;
mod document;

use calls::{Calls, Endpoint};
use document::{Docs, docs_page, openapi_json};

/// The gateway's whole HTTP service.
pub fn app(config: &GatewayConfig, clients: &[Arc<McpClient>], reload: &ReloadStatus) -> impl App + Sync {
    let shared = Arc::new(config.clone());
    let mut router = Router::new();
    // Open without the key (unless `--strict-auth`): exact paths only.
    let mut open: BTreeSet<String> = std::iter::once("/metrics".to_owned())
        .chain(docs::asset_paths())
        .collect();
    let mut mount_docs = |router: Router, mount: &str, clients: Arc<[Arc<McpClient>]>, combined: bool| {
        let state = Docs {
            config: Arc::clone(&shared),
            clients,
            openapi_path: format!("{mount}/openapi.json"),
            combined,
            cache: Arc::default(),
        };
        open.extend([format!("{mount}/openapi.json"), format!("{mount}/docs")]);
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
        router = mount_docs(router, &mount, Arc::from([Arc::clone(client)]), false);
        endpoints.push(Endpoint {
            mount,
            client: Arc::clone(client),
            rest,
        });
    }
    if !config.is_single() {
        router = mount_docs(router, "", Arc::from(clients), true);
    }
    let health = health(clients, reload);
    let auth = Auth::new(config.api_key.clone(), config.strict_auth, open);
    let body_limit = usize::try_from(config.limits.max_body_bytes).unwrap_or(usize::MAX);
    let guard = OriginGuard::new(config.allowed_hosts.clone(), config.cors.clone());
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
        .layer(TraceLayer::default())
        .layer(CatchPanicLayer::new(|| {
            detail(StatusCode::INTERNAL_SERVER_ERROR, json!("Internal Server Error"))
        }))
        .layer(cors(&guard))
        .layer(GateLayer::from(auth))
        .layer(GateLayer::from(BodyLimit::new(body_limit)))
        .layer(GateLayer::from(guard))
        .service(Calls {
            endpoints: Arc::from(endpoints),
            stream_idle: config.limits.stream_idle_timeout,
            router,
        })
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
fn health(clients: &[Arc<McpClient>], reload: &ReloadStatus) -> MethodRouter {
    let mut watched = clients.iter().map(|client| {
        let tools = Arc::clone(client);
        let reload = reload.clone();
        client.upstream().watched().warnings(move || {
            let catalog = tools.catalog();
            let cut = catalog.truncated.as_ref().map(|why| {
                format!(
                    "tool list cut short ({why}): {} tools served",
                    catalog.tools.len()
                )
            });
            let start = tools
                .upstream()
                .start_error()
                .map(|why| format!("the server did not start: {why}"));
            cut.into_iter().chain(start).chain(reload.refused()).collect()
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

/// CORS for browsers, by the guard's own rule for origins.
fn cors(guard: &OriginGuard) -> CorsOnOriginLayer {
    let guard = guard.clone();
    let layer = CorsLayer::new()
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers([
            MCP_SESSION_ID,
            http::header::RETRY_AFTER,
            http::header::WWW_AUTHENTICATE,
        ])
        .allow_origin(AllowOrigin::predicate(move |origin, parts| {
            guard.allows_origin(origin, parts.headers.get(http::header::HOST))
        }));
    CorsOnOriginLayer::new(layer)
}
