//! Unit tests: a scripted upstream (`service_fn`), paused time.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_reconnect_classify::ClassifyLayer;
use mcp_reconnect_core::headers::{MCP_METHOD, MCP_NAME};
use mcp_reconnect_core::peek::of_request;
use mcp_reconnect_core::respond::codes;
use mcp_reconnect_core::{Attempt, BoxError, ClassifiedError, Failure, FailureClass, Reached};
use serde_json::{Value, json};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};

use crate::{Config, DeadlineExceeded, RetryBudget, ToolRetryLayer};

// === a scripted upstream ===

#[derive(Clone, Debug)]
enum Answer {
    Status(u16),
    RetryAfter(u16, u64),
    Body(u16, &'static str, &'static str),
    Error(io::ErrorKind),
    Hang,
}

#[derive(Debug, Default)]
struct Script {
    answers: Mutex<VecDeque<Answer>>,
    seen: Mutex<Vec<Seen>>,
}

#[derive(Clone, Debug)]
struct Seen {
    attempt: Option<u32>,
    peeked: bool,
    at: Instant,
}

impl Script {
    fn new(answers: impl IntoIterator<Item = Answer>) -> Arc<Script> {
        Arc::new(Script {
            answers: Mutex::new(answers.into_iter().collect()),
            seen: Mutex::default(),
        })
    }

    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn attempts(&self) -> Vec<Option<u32>> {
        self.seen.lock().unwrap().iter().map(|s| s.attempt).collect()
    }
}

const OK_RESULT: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ok"}]}}"#;
const JSON: &str = "application/json";
const SSE: &str = "text/event-stream";

fn upstream(
    script: Arc<Script>,
) -> impl Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = io::Error, Future: Send> + Clone
{
    service_fn(move |request: Request<Full<Bytes>>| {
        let script = Arc::clone(&script);
        async move {
            script.seen.lock().unwrap().push(Seen {
                attempt: Attempt::of(&request).map(Attempt::number),
                peeked: of_request(&request).is_some(),
                at: Instant::now(),
            });
            let answer = script.answers.lock().unwrap().pop_front();
            let (status, content_type, body) = match answer {
                None => (200, JSON, OK_RESULT),
                Some(Answer::Status(status)) => (status, "text/plain", "upstream says no"),
                Some(Answer::RetryAfter(status, seconds)) => {
                    let mut response = Response::new(Full::new(Bytes::new()));
                    *response.status_mut() = StatusCode::from_u16(status).unwrap();
                    response
                        .headers_mut()
                        .insert(http::header::RETRY_AFTER, seconds.into());
                    return Ok(response);
                }
                Some(Answer::Body(status, content_type, body)) => (status, content_type, body),
                Some(Answer::Error(kind)) => return Err(io::Error::from(kind)),
                Some(Answer::Hang) => std::future::pending().await,
            };
            let response = Response::builder()
                .status(status)
                .header(http::header::CONTENT_TYPE, content_type)
                .body(Full::new(Bytes::from_static(body.as_bytes())))
                .unwrap();
            Ok(response)
        }
    })
}

fn call(tool: &str) -> Request<Full<Bytes>> {
    let body =
        json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":tool,"arguments":{"key":"k"}}});
    post(&body)
}

fn post(body: &Value) -> Request<Full<Bytes>> {
    Request::post("http://127.0.0.1/mcp")
        .header(http::header::CONTENT_TYPE, JSON)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn send(
    layer: &ToolRetryLayer,
    script: &Arc<Script>,
    request: Request<Full<Bytes>>,
) -> Response<Bytes> {
    let response = layer
        .layer(upstream(Arc::clone(script)))
        .oneshot(request)
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

fn json_of(response: &Response<Bytes>) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}

const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[
    {"name":"echo","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true}},
    {"name":"setter","inputSchema":{"type":"object"},"annotations":{"idempotentHint":true}},
    {"name":"increment","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":false}}]}}"#;
const TOOLS_LIST_SSE: &str = "event: message\ndata: \n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"echo\",\"inputSchema\":{},\"annotations\":{\"readOnlyHint\":true}}]}}\n\n";

/// A layer that has seen a `tools/list` answer of `content_type` pass through.
async fn learned(content_type: &'static str, body: &'static str) -> ToolRetryLayer {
    let layer = ToolRetryLayer::new();
    let script = Script::new([Answer::Body(200, content_type, body)]);
    let list = post(&json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}));
    let response = send(&layer, &script, list).await;
    assert_eq!(
        response.body(),
        body.as_bytes(),
        "the tee passes the answer on unchanged"
    );
    layer
}

mod limits;
mod once;
mod safety;

#[test]
fn setters_keep_the_budget_counters_and_tool_map_unless_the_budget_changes() {
    let layer = ToolRetryLayer::new();
    let budget = Arc::clone(&layer.shared.budget);
    let stats = Arc::clone(&layer.shared.stats);
    let layer = layer
        .max_retries(1)
        .allow_tool("echo")
        .connection_timeout(Duration::from_secs(5));
    assert!(Arc::ptr_eq(&budget, &layer.shared.budget), "the budget is kept");
    assert!(Arc::ptr_eq(&stats, &layer.shared.stats), "the counters are kept");
    let changed = RetryBudget::new(Duration::from_secs(5), 1, 0.5).expect("a valid budget");
    let layer = layer.retry_budget(changed);
    assert!(
        !Arc::ptr_eq(&budget, &layer.shared.budget),
        "a new budget is made for new settings"
    );
    assert_eq!(layer.config().max_retries, 1);
}
