//! `/docs`: Swagger UI, served from the binary (the assets are embedded by
//! the `swagger-ui-dist` crate; nothing is fetched at build or run time).
//!
//! The page carries no inline script, so it is served with a strict
//! `Content-Security-Policy`: a small script of ours reads the OpenAPI URL
//! from a `data-` attribute and starts Swagger UI.

use axum::Router;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use swagger_ui_dist::{ApiDefinition, OpenApiSource};
use tower::ServiceExt;

/// Where the Swagger UI assets are served.
pub const ASSETS_PREFIX: &str = "/docs";
/// The assets under [`ASSETS_PREFIX`] (those of `swagger-ui-dist`, and our starter script).
pub const ASSETS: [&str; 4] = [
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "oauth2-redirect.html",
    "oauth2-redirect.js",
];
/// Our starter script, under [`ASSETS_PREFIX`].
pub const STARTER: &str = "mcp-gateway-docs.js";

/// The policy of the docs page: our own scripts only.
const PAGE_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'";

const STARTER_JS: &str = r##"window.addEventListener("load", function () {
  var node = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({ url: node.dataset.openapi, dom_id: "#swagger-ui", persistAuthorization: true, deepLinking: true });
});
"##;

/// The router serving the assets at `/docs/<asset>` (the crate's own routes, used for the files only).
pub fn assets() -> Router {
    let swagger = swagger_ui_dist::generate_routes(ApiDefinition {
        uri_prefix: ASSETS_PREFIX,
        api_definition: OpenApiSource::Uri("openapi.json"),
        title: None,
    });
    // axum refuses a `Router` in `route_service`: hand it over as a plain service.
    let files = tower::service_fn(move |request: axum::extract::Request| swagger.clone().oneshot(request));
    let mut router = Router::new();
    for asset in ASSETS {
        router = router.route_service(&format!("{ASSETS_PREFIX}/{asset}"), files.clone());
    }
    router.route(
        &format!("{ASSETS_PREFIX}/{STARTER}"),
        axum::routing::get(|| async { ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], STARTER_JS) }),
    )
}

/// The path of every asset [`assets`] serves.
pub fn asset_paths() -> impl Iterator<Item = String> {
    ASSETS
        .iter()
        .chain([&STARTER])
        .map(|asset| format!("{ASSETS_PREFIX}/{asset}"))
}

/// The docs page for the document at `openapi_url`, with assets under `root_path`.
pub fn page(title: &str, openapi_url: &str, root_path: &str) -> Response {
    let assets = format!("{root_path}{ASSETS_PREFIX}");
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Swagger UI</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/{STARTER}"></script>
</body>
</html>
"#,
        title = escape(title),
        assets = escape(&assets),
        openapi = escape(openapi_url),
    );
    let mut response = (StatusCode::OK, [(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    response
        .headers_mut()
        .insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
    response
}

/// Text safe inside HTML text and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_what_it_shows() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
