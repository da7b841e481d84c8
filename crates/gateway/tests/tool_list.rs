//! The REST routes and `/openapi.json` follow the upstream's tool list when it
//! changes (here: a minimal stateless JSON MCP server whose tools the test edits).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use common::{Http, gateway};
use http::StatusCode;
use serde_json::{Value, json};

type Tools = Arc<Mutex<Vec<&'static str>>>;

/// Calls of a new tool before giving up (100 ms apart).
const MAX_POLLS: usize = 100;

/// A stateless MCP server answering in plain JSON: initialize, tools/list, tools/call.
async fn mcp(State(tools): State<Tools>, Json(message): Json<Value>) -> Response {
    let id = message["id"].clone();
    let result = match message["method"].as_str() {
        Some("initialize") => json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {"listChanged": true}},
            "serverInfo": {"name": "changing", "version": "1"},
        }),
        Some("tools/list") => {
            let names = tools.lock().map(|t| t.clone()).unwrap_or_default();
            let list: Vec<Value> = names
                .iter()
                .map(|name| json!({"name": name, "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}}))
                .collect();
            json!({"tools": list})
        }
        Some("tools/call") => json!({"content": [{"type": "text", "text": message["params"]["name"]}]}),
        _ => return StatusCode::ACCEPTED.into_response(),
    };
    Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_added_upstream_is_served_and_documented() {
    let tools: Tools = Arc::new(Mutex::new(vec!["first"]));
    let app = axum::Router::new()
        .route("/mcp", axum::routing::post(mcp))
        .with_state(Arc::clone(&tools));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let gateway = gateway(&["streamablehttp", &url], &[]).await;
    let base = gateway.url();
    let http = Http::default();
    let before = http.get(&format!("{base}/openapi.json"), &[]).await.json();
    assert!(before["paths"]["/first"]["post"].is_object());
    assert!(before["paths"]["/second"].is_null());

    tools.lock().unwrap().push("second");
    // An unknown tool refetches the list, at most once a second (MIN_REFRESH_INTERVAL).
    let mut call = http.post_json(&format!("{base}/second"), &[], &json!({})).await;
    for _ in 0..MAX_POLLS {
        if call.status != 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        call = http.post_json(&format!("{base}/second"), &[], &json!({})).await;
    }
    assert_eq!((call.status.as_u16(), call.json()), (200, json!("second")));
    let after = http.get(&format!("{base}/openapi.json"), &[]).await.json();
    assert!(after["paths"]["/second"]["post"].is_object(), "{after}");
    assert_eq!(after["info"]["title"], "changing");
    gateway.shutdown().await;
    server.abort();
}
