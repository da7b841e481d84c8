//! ToolRetryLayer over ClassifyLayer over a real hyper-util client, against
//! the testkit's rmcp server behind its fault proxy, all on 127.0.0.1.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_classify::ClassifyLayer;
use mcp_reconnect_core::BoxError;
use mcp_reconnect_core::respond::codes;
use mcp_reconnect_retry::ToolRetryLayer;
use mcp_reconnect_testkit::jsonrpc::{initialize, initialized, jsonrpc_request, tools_call, tools_list};
use mcp_reconnect_testkit::{Fault, McpResponse, Rule, ServerOptions, TestUpstream};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

/// The stack under test, with the session it opened.
struct Stack {
    upstream: TestUpstream,
    layer: ToolRetryLayer,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    session: Option<String>,
    next_id: u64,
}

impl Stack {
    /// The next call of `tool` meets `fault` at the proxy.
    fn fault_once(&self, tool: &str, fault: Fault) {
        self.upstream.proxy.push(Rule::tool(tool, fault).once());
    }

    async fn start(options: ServerOptions) -> Result<Stack, BoxError> {
        let upstream = TestUpstream::start_with(options).await?;
        let client = Client::builder(TokioExecutor::new()).build_http();
        let mut stack = Stack {
            upstream,
            layer: ToolRetryLayer::new(),
            client,
            session: None,
            next_id: 0,
        };
        let answer = stack.post(&initialize(0)).await?;
        assert_eq!(answer.status, StatusCode::OK);
        stack.session = answer.session_id().map(str::to_owned);
        assert_eq!(stack.post(&initialized()).await?.status, StatusCode::ACCEPTED);
        // The layer learns the tools' annotations from this answer passing through.
        let id = stack.id();
        let list = stack.post(&tools_list(id)).await?;
        assert!(
            list.result()
                .is_some_and(|r| r["tools"].as_array().is_some_and(|t| t.len() == 5))
        );
        assert!(
            stack
                .layer
                .tool_safety()
                .hints("echo")
                .is_some_and(|h| h.read_only)
        );
        Ok(stack)
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    async fn post(&self, body: &Value) -> Result<McpResponse, BoxError> {
        let request: Request<Full<Bytes>> =
            jsonrpc_request(&self.upstream.url(), self.session.as_deref(), body)?;
        let service = self.layer.layer(ClassifyLayer::new().layer(self.client.clone()));
        let response = service.oneshot(request).await?;
        Ok(McpResponse::read(response).await?)
    }

    async fn call(&mut self, tool: &str, arguments: Value) -> Result<McpResponse, BoxError> {
        let id = self.id();
        self.post(&tools_call(id, tool, arguments)).await
    }
}

fn options() -> [ServerOptions; 2] {
    [
        ServerOptions::default(),
        ServerOptions::default()
            .with_sessions(false)
            .with_json_response(true),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_then_502_on_increment_runs_it_exactly_once() -> Result<(), BoxError> {
    for options in options() {
        let mut stack = Stack::start(options).await?;
        stack.fault_once("increment", Fault::ForwardThenStatus(StatusCode::BAD_GATEWAY));
        let answer = stack.call("increment", json!({"key": "k"})).await?;
        assert_eq!(stack.upstream.counters().increments("k"), 1);
        let error = answer
            .message()
            .and_then(|m| m.get("error").cloned())
            .expect("a JSON-RPC error");
        assert_eq!(error["code"], codes::MAYBE_EXECUTED);
        assert_eq!(error["data"]["tool"], "increment");
        assert_eq!(error["data"]["retried"], false);
        assert_eq!(stack.layer.stats().refused_unsafe, 1);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_before_forwarding_increment_is_retried_and_runs_once() -> Result<(), BoxError> {
    for options in options() {
        let mut stack = Stack::start(options).await?;
        let fault = Fault::status(StatusCode::SERVICE_UNAVAILABLE);
        stack.fault_once("increment", fault);
        let answer = stack.call("increment", json!({"key": "k"})).await?;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.text().as_deref(), Some("1"));
        assert_eq!(stack.upstream.counters().increments("k"), 1);
        assert_eq!(stack.layer.stats().succeeded, 1);
    }
    Ok(())
}

/// A `502` that the proxy made up without forwarding looks exactly like one
/// after forwarding: the layer cannot tell, so it does not repeat `increment`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_502_before_forwarding_increment_is_not_repeated() -> Result<(), BoxError> {
    let mut stack = Stack::start(ServerOptions::default()).await?;
    stack.fault_once("increment", Fault::status(StatusCode::BAD_GATEWAY));
    let answer = stack.call("increment", json!({"key": "k"})).await?;
    assert_eq!(answer.message().unwrap()["error"]["code"], codes::MAYBE_EXECUTED);
    assert_eq!(stack.upstream.counters().increments("k"), 0);
    // The client may then decide; the next call runs normally.
    let answer = stack.call("increment", json!({"key": "k"})).await?;
    assert_eq!(answer.text().as_deref(), Some("1"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_then_502_on_echo_is_retried_and_succeeds() -> Result<(), BoxError> {
    for options in options() {
        let mut stack = Stack::start(options).await?;
        stack.fault_once("echo", Fault::ForwardThenStatus(StatusCode::BAD_GATEWAY));
        let answer = stack.call("echo", json!({"text": "hi"})).await?;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.text().as_deref(), Some("hi"));
        assert_eq!(stack.upstream.counters().calls("echo"), 2);
        assert_eq!(stack.layer.stats().attempted, 1);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_then_reset_on_increment_runs_it_exactly_once() -> Result<(), BoxError> {
    let mut stack = Stack::start(ServerOptions::default()).await?;
    stack.fault_once("increment", Fault::ForwardThenReset);
    let answer = stack.call("increment", json!({"key": "k"})).await?;
    assert_eq!(answer.message().unwrap()["error"]["code"], codes::MAYBE_EXECUTED);
    assert_eq!(stack.upstream.counters().increments("k"), 1);
    Ok(())
}
