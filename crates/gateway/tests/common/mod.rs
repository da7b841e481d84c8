//! Helpers of the gateway's end-to-end tests: a gateway in-process on
//! 127.0.0.1 in front of the testkit's real MCP server, and a plain HTTP client.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_gateway::{Cli, Gateway, GatewayConfig};
use mcp_reconnect_testkit::{McpResponse, Polling, RawClient, TestUpstream};
use serde_json::{Value, json};

/// Settings that make the circuit give up fast in tests (no real waits are asserted).
pub const FAST_ENV: [(&str, &str); 2] = [
    ("MCPO_RECONNECT_MAX_ATTEMPTS", "2"),
    ("MCPO_CONNECTION_TIMEOUT", "5"),
];

/// Starts a gateway in-process with `args` (after `mcp-gateway --host 127.0.0.1 --port 0`).
pub async fn gateway(args: &[&str], env: &[(&str, &str)]) -> Gateway {
    let mut argv = vec!["mcp-gateway", "--host", "127.0.0.1", "--port", "0"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("arguments parse");
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let config =
        GatewayConfig::from_args(&cli.serve, |name| env.get(name).cloned()).expect("config is valid");
    Gateway::start(config).await.expect("gateway starts")
}

/// A [`TestUpstream`] and a gateway in front of it: `mcp-gateway <flags>
/// streamablehttp <the upstream's URL>`.
pub async fn upstream_and_gateway(flags: &[&str], env: &[(&str, &str)]) -> (TestUpstream, Gateway) {
    let upstream = TestUpstream::start().await.expect("the upstream starts");
    let url = upstream.url();
    let mut args = flags.to_vec();
    args.extend(["streamablehttp", url.as_str()]);
    let gateway = gateway(&args, env).await;
    (upstream, gateway)
}

/// Waits (30 s at most) until `done` holds.
pub async fn eventually(what: &str, done: impl Fn() -> bool) {
    let polling = Polling {
        every: Duration::from_millis(50),
        times: 600,
    };
    polling.until(what, || std::future::ready(done())).await;
}

/// How long a test reads a raw connection before it fails: a bound on a
/// broken test, not a timing assertion.
pub const READ_BOUND: Duration = Duration::from_secs(60);

/// Sends raw bytes, reads until the gateway closes (bounded), returns the answer.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("send");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(READ_BOUND, stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the gateway answered or closed");
    String::from_utf8_lossy(&answer).into_owned()
}

/// An answer, read to its end.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// A plain HTTP client.
#[derive(Clone, Debug)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

impl Http {
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body.into())).expect("request");
        let response = self.client.request(request).await.expect("the gateway answers");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Answer {
        self.send(Method::GET, url, headers, Bytes::new()).await
    }

    /// `GET url` without extra headers, which must answer `200`.
    pub async fn get_ok(&self, url: &str) -> Answer {
        let answer = self.get(url, &[]).await;
        assert_eq!(answer.status, StatusCode::OK, "{url}: {answer:?}");
        answer
    }

    pub async fn post_json(&self, url: &str, headers: &[(&str, &str)], body: &Value) -> Answer {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.send(Method::POST, url, &all, body.to_string()).await
    }

    /// Calls the `echo` tool at `url` (a REST route) with `text` and checks that it answers `text`.
    pub async fn assert_echo(&self, url: &str, headers: &[(&str, &str)], text: &str) {
        let answer = self.post_json(url, headers, &json!({ "text": text })).await;
        assert_eq!(
            (answer.status.as_u16(), answer.json()),
            (200, json!(text)),
            "{url}: {answer:?}"
        );
    }
}

/// Logs to the test's output when `MCP_TEST_LOG` holds a filter (e.g. `debug`).
pub fn log() {
    if let Ok(filter) = std::env::var("MCP_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// Starts a REST call of the testkit's `slow` tool (`ms` long) through the
/// gateway at `base`, and returns once the upstream is running it.
pub async fn slow_call_in_flight(
    http: &Http,
    base: &str,
    counters: &mcp_reconnect_testkit::Counters,
    ms: u64,
) -> tokio::task::JoinHandle<Answer> {
    let before = counters.calls("slow");
    let call = {
        let (http, url) = (http.clone(), format!("{base}/slow"));
        tokio::spawn(async move { http.post_json(&url, &[], &serde_json::json!({ "ms": ms })).await })
    };
    for _ in 0..1000 {
        if counters.calls("slow") > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    call
}

#[derive(Clone, Copy, Debug)]
pub enum Era {
    /// `initialize` and `Mcp-Session-Id` (2025 protocol versions).
    Legacy,
    /// `server/discover`, no session (2026-07-28).
    Stateless,
}

pub type RmcpClient = rmcp::service::RunningService<rmcp::service::RoleClient, rmcp::model::ClientConfig>;

/// An rmcp client of `era` whose own re-initialize is off: a `404` would be its error.
pub async fn rmcp_client(url: &str, era: Era) -> RmcpClient {
    use rmcp::model::{ClientConfig, ProtocolVersion};
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::{ClientLifecycleMode, ClientServiceExt, ServiceExt};

    let config =
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()).reinit_on_expired_session(false);
    let transport = StreamableHttpClientTransport::from_config(config);
    let started = match era {
        Era::Legacy => {
            let config =
                ClientConfig::default().with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE);
            tokio::time::timeout(RMCP_DEADLINE, config.serve(transport)).await
        }
        Era::Stateless => {
            let lifecycle = ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            };
            let serving = ClientConfig::default().serve_with_lifecycle(transport, lifecycle);
            tokio::time::timeout(RMCP_DEADLINE, serving).await
        }
    };
    started
        .expect("the client starts in time")
        .unwrap_or_else(|error| panic!("{era:?} client: {error}"))
}

/// A bound on one rmcp client operation (generous: a busy machine).
pub const RMCP_DEADLINE: Duration = Duration::from_secs(30);

/// Calls `echo` with `text` and checks the answer.
pub async fn rmcp_echo(client: &RmcpClient, text: &str) {
    use rmcp::model::CallToolRequestParams;

    let arguments = json!({ "text": text }).as_object().cloned().unwrap_or_default();
    let call = client.call_tool(CallToolRequestParams::new("echo").with_arguments(arguments));
    let result = tokio::time::timeout(RMCP_DEADLINE, call)
        .await
        .expect("the call ends in time")
        .unwrap_or_else(|error| panic!("{text}: {error}"));
    assert_ne!(result.is_error, Some(true), "{text}: {result:?}");
    let answer = result.content[0].as_text().map(|content| content.text.as_str());
    assert_eq!(answer, Some(text));
}

/// server-everything (the TypeScript SDK's reference server) and the Node it runs on, if installed.
pub fn everything() -> Option<(String, String)> {
    let node = mcp_reconnect_testkit::external::interop_home().join("bin/node");
    let index = mcp_reconnect_testkit::external::interop_home()
        .join("npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    if node.exists() && index.exists() {
        return Some((node.display().to_string(), index.display().to_string()));
    }
    assert!(
        std::env::var("MCP_INTEROP_REQUIRED").map_or(true, |v| v != "1"),
        "MCP_INTEROP_REQUIRED is set but server-everything is missing: run scripts/interop-setup.sh"
    );
    None
}

/// A 2026-07-28 `tools/call` of `echo` with `text`: no session, the protocol in `_meta`.
pub fn stateless_echo_request(id: u64, text: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "name": "echo", "arguments": {"text": text},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}})
}

/// Opens a legacy session through `{base}/mcp` and checks that `tools/list` names `tool`.
pub async fn legacy_session_listing(base: &str, tool: &str) -> RawClient {
    let mut client = RawClient::new(format!("{base}/mcp"));
    assert_eq!(client.initialize().await.expect("initialize").status, 200);
    let listed = client
        .post(&mcp_reconnect_testkit::jsonrpc::tools_list(90))
        .await
        .expect("tools/list");
    let tools = listed.result().expect("a result")["tools"].clone();
    assert!(
        tools
            .as_array()
            .is_some_and(|tools| tools.iter().any(|listed| listed["name"] == tool)),
        "{tools}"
    );
    client
}

/// Calls `echo` with `text` in `client`'s session, checks that it answers
/// `200` and `text`, and returns the answer (for its headers).
pub async fn assert_mcp_echo(client: &mut RawClient, text: &str) -> McpResponse {
    let answer = client
        .call_tool("echo", json!({ "text": text }))
        .await
        .unwrap_or_else(|error| panic!("{text}: {error}"));
    assert_eq!(answer.status, http::StatusCode::OK, "{answer:?}");
    assert_eq!(answer.text().as_deref(), Some(text), "{answer:?}");
    answer
}

/// A 2026-07-28 `tools/call` of `echo` through `{base}/mcp` (no session, the
/// protocol in `_meta`): checks the status and returns the body.
pub async fn stateless_echo(http: &Http, base: &str, text: &str) -> String {
    let call = stateless_echo_request(5, text);
    let answer = http
        .post_json(
            &format!("{base}/mcp"),
            &[
                ("accept", "application/json, text/event-stream"),
                ("mcp-protocol-version", "2026-07-28"),
            ],
            &call,
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    String::from_utf8_lossy(&answer.body).into_owned()
}

/// The JSON-RPC message a fake upstream was sent (`null` when the body is not JSON).
pub async fn request_message(request: http::Request<hyper::body::Incoming>) -> Value {
    let Ok(body) = request.into_body().collect().await else {
        return Value::Null;
    };
    serde_json::from_slice(&body.to_bytes()).unwrap_or_default()
}

/// The `connection_name` of each upstream `/health` lists.
pub fn upstream_names(health: &Value) -> Vec<String> {
    health["upstreams"]
        .as_array()
        .map(|upstreams| {
            upstreams
                .iter()
                .filter_map(|upstream| upstream["connection_name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
