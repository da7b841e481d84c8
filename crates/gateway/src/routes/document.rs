//! `<mount>/openapi.json` and `<mount>/docs`: the OpenAPI document, built once per catalog
//! generation and served from its cached bytes, and the Swagger UI page over it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::client::{Catalog, McpClient};
use crate::config::GatewayConfig;
use crate::docs;
use crate::openapi::{self, DocInfo, ToolGroup};

/// How long `/openapi.json` waits for a stale tool list to be fetched before
/// it answers with the cached one (the fetch goes on in the background).
pub const OPENAPI_REFRESH_WAIT: Duration = Duration::from_secs(2);

/// What the OpenAPI and docs routes need.
#[derive(Clone, Debug)]
pub(super) struct Docs {
    pub(super) config: Arc<GatewayConfig>,
    /// The servers the document shows (one, or all for the combined one).
    pub(super) clients: Arc<[Arc<McpClient>]>,
    /// Path of the document, for the docs page.
    pub(super) openapi_path: String,
    /// Whether this is the combined document of a config file's servers.
    pub(super) combined: bool,
    /// The document last built, and the catalogs it was built from: it is
    /// built once per catalog generation, not per request (a catalog of
    /// thousands of tools takes long to render, and `/openapi.json` needs
    /// no key). Held while a document is built, so requests that find it
    /// stale wait for that one build instead of each making their own.
    pub(super) cache: Arc<tokio::sync::Mutex<Option<BuiltDocument>>>,
}

/// An OpenAPI document as served, and the catalogs it was built from.
pub(super) type BuiltDocument = (Vec<Arc<Catalog>>, bytes::Bytes);

/// `<mount>/openapi.json` (or the combined `/openapi.json`).
pub(super) async fn openapi_json(State(docs): State<Docs>) -> Response {
    let mut catalogs = Vec::with_capacity(docs.clients.len());
    for client in docs.clients.iter() {
        catalogs.push(fresh_catalog(client).await);
    }
    let mut cache = docs.cache.lock().await;
    if let Some((built_from, document)) = &*cache
        && built_from.len() == catalogs.len()
        && built_from.iter().zip(&catalogs).all(|(a, b)| Arc::ptr_eq(a, b))
    {
        return json_bytes(document.clone());
    }
    // Rendering thousands of tools is CPU work: off the runtime's workers,
    // so the calls they serve meanwhile do not wait for it.
    let (rendering, from) = (docs.clone(), catalogs.clone());
    let Ok(document) = tokio::task::spawn_blocking(move || render(&rendering, &from)).await else {
        return crate::rest::detail(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!("the OpenAPI document could not be built"),
        );
    };
    *cache = Some((catalogs, document.clone()));
    json_bytes(document)
}

/// The OpenAPI document of `catalogs`, as served.
fn render(docs: &Docs, catalogs: &[Arc<Catalog>]) -> bytes::Bytes {
    let groups: Vec<ToolGroup<'_>> = docs
        .clients
        .iter()
        .zip(catalogs)
        .map(|(client, catalog)| {
            let spec = &client.upstream().spec;
            ToolGroup {
                prefix: if docs.combined { &spec.mount } else { "" },
                tag: docs.combined.then_some(spec.name.as_str()),
                tools: &catalog.tools,
            }
        })
        .collect();
    let document = openapi::document(&doc_info(docs, catalogs), &groups);
    bytes::Bytes::from(serde_json::to_vec(&document).unwrap_or_default())
}

pub(super) fn json_bytes(document: bytes::Bytes) -> Response {
    ([(http::header::CONTENT_TYPE, "application/json")], document).into_response()
}

/// The tool list, refreshed if stale, waiting at most [`OPENAPI_REFRESH_WAIT`].
pub(super) async fn fresh_catalog(client: &Arc<McpClient>) -> Arc<Catalog> {
    let refreshing = Arc::clone(client);
    let task = tokio::spawn(async move { refreshing.tools(None).await });
    match tokio::time::timeout(OPENAPI_REFRESH_WAIT, task).await {
        Ok(Ok(catalog)) => catalog,
        _ => client.catalog(),
    }
}

pub(super) fn doc_info(docs: &Docs, catalogs: &[Arc<Catalog>]) -> DocInfo {
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
pub(super) async fn docs_page(State(docs): State<Docs>) -> Response {
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
