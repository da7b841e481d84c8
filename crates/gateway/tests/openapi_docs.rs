//! `/openapi.json` is a valid OpenAPI 3.1 document listing every tool, and
//! `/docs` serves Swagger UI from the binary.

mod common;

use std::collections::HashSet;

use common::{Http, upstream_and_gateway};
use serde_json::Value;

const TOOLS: [&str; 5] = ["echo", "add", "increment", "slow", "fail_business"];

/// Every `$ref` in `document` resolves inside it.
fn check_refs(document: &Value, value: &Value, problems: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get("$ref") {
                match reference.strip_prefix('#') {
                    Some(pointer) if document.pointer(pointer).is_some() => {}
                    _ => problems.push(reference.clone()),
                }
            }
            object
                .values()
                .for_each(|child| check_refs(document, child, problems));
        }
        Value::Array(items) => items.iter().for_each(|item| check_refs(document, item, problems)),
        _ => {}
    }
}

/// The structural rules of OpenAPI 3.1 this document must follow.
fn check_openapi_31(document: &Value) {
    let version = document["openapi"].as_str().expect("openapi is a string");
    assert!(version.starts_with("3.1."), "{version}");
    assert!(document["info"]["title"].is_string() && document["info"]["version"].is_string());
    let paths = document["paths"].as_object().expect("paths is an object");
    let mut operation_ids = HashSet::new();
    for (path, item) in paths {
        assert!(path.starts_with('/'), "{path}");
        for (method, operation) in item.as_object().expect("a path item is an object") {
            assert!(
                [
                    "get", "put", "post", "delete", "options", "head", "patch", "trace"
                ]
                .contains(&method.as_str())
            );
            let id = operation["operationId"].as_str().expect("operationId");
            assert!(operation_ids.insert(id.to_owned()), "operationId {id} is unique");
            let responses = operation["responses"].as_object().expect("responses");
            assert!(!responses.is_empty());
            for (code, response) in responses {
                assert!(
                    code.len() == 3 && code.chars().all(|c| c.is_ascii_digit()),
                    "{code}"
                );
                assert!(response["description"].is_string(), "{path} {code}");
            }
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            assert!(schema.is_object(), "{path} has a JSON request body");
        }
    }
    let keys = document["components"]["schemas"]
        .as_object()
        .expect("components.schemas");
    for key in keys.keys() {
        assert!(
            key.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')),
            "{key}"
        );
    }
    let mut problems = Vec::new();
    check_refs(document, document, &mut problems);
    assert!(problems.is_empty(), "unresolved $refs: {problems:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_is_3_1_and_lists_every_tool_with_bearer_security() {
    let (_upstream, gateway) = upstream_and_gateway(&["--api-key", "secret"], &[]).await;
    let http = Http::default();
    let document = http
        .get_ok(&format!("{}/openapi.json", gateway.url()))
        .await
        .json();
    check_openapi_31(&document);
    for tool in TOOLS {
        let operation = &document["paths"][format!("/{tool}")]["post"];
        assert!(operation.is_object(), "{tool} is listed");
        assert_eq!(operation["security"][0]["HTTPBearer"], serde_json::json!([]));
    }
    assert_eq!(
        document["components"]["securitySchemes"]["HTTPBearer"]["scheme"],
        "bearer"
    );
    let echo = &document["components"]["schemas"]["echo_form_model"];
    assert_eq!(echo["required"], serde_json::json!(["text"]));
    assert_eq!(
        document["info"]["title"],
        mcp_reconnect_testkit::tools::SERVER_NAME
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_serve_swagger_ui_from_the_binary() {
    let (_upstream, gateway) = upstream_and_gateway(&["--root-path", "/tools"], &[]).await;
    let http = Http::default();
    let page = http.get_ok(&format!("{}/docs", gateway.url())).await;
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains(r#"data-openapi="/tools/openapi.json""#), "{html}");
    assert!(html.contains("/tools/docs/swagger-ui-bundle.js"), "{html}");
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    for (asset, kind) in [
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui.css", "css"),
        ("mcp-gateway-docs.js", "javascript"),
    ] {
        let file = http.get(&format!("{}/docs/{asset}", gateway.url()), &[]).await;
        assert_eq!(file.status, 200, "{asset}");
        assert!(
            file.headers["content-type"].to_str().unwrap().contains(kind),
            "{asset}"
        );
        assert!(!file.body.is_empty());
    }
    let document = http
        .get(&format!("{}/openapi.json", gateway.url()), &[])
        .await
        .json();
    assert_eq!(document["servers"][0]["url"], "/tools");
    gateway.shutdown().await;
}
