//! [`RawClient`]: a legacy-era MCP client made of a plain hyper client, for
//! tests that need to see every status, header and connection error.

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_core::BoxError;
use serde_json::Value;

use crate::jsonrpc::{self, McpResponse};

/// A raw MCP client: it speaks the legacy handshake (`2025-06-18`) with
/// [`jsonrpc`](crate::jsonrpc) bodies over a hyper-util client that keeps
/// connections alive, and hides nothing: every answer comes back as an
/// [`McpResponse`] whatever its status, every transport failure as the
/// hyper-util error (classify it with `mcp_reconnect_core::classify_error`).
#[derive(Clone, Debug)]
pub struct RawClient {
    client: Client<HttpConnector, Full<Bytes>>,
    url: String,
    session: Option<String>,
    next_id: u64,
}

impl RawClient {
    /// A client of the MCP endpoint at `url`, without a session.
    pub fn new(url: impl Into<String>) -> RawClient {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        RawClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
            url: url.into(),
            session: None,
            next_id: 1,
        }
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The session id sent with each request, if any.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// Replaces the session id sent with each request.
    pub fn set_session(&mut self, session: Option<String>) {
        self.session = session;
    }

    /// A fresh JSON-RPC id.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// POSTs `body` with the current session and reads the whole answer.
    pub async fn post(&self, body: &Value) -> Result<McpResponse, BoxError> {
        let request = jsonrpc::jsonrpc_request(&self.url, self.session.as_deref(), body)?;
        let response = self.client.request(request).await?;
        Ok(McpResponse::read(response).await?)
    }

    /// Runs the handshake: `initialize` (without a session), then, if it
    /// succeeded, keeps the session the server assigned and sends
    /// `notifications/initialized`. Returns the `initialize` answer.
    pub async fn initialize(&mut self) -> Result<McpResponse, BoxError> {
        self.session = None;
        let id = self.next_id();
        let answer = self.post(&jsonrpc::initialize(id)).await?;
        if answer.status != StatusCode::OK {
            return Ok(answer);
        }
        self.session = answer.session_id().map(str::to_owned);
        let initialized = self.post(&jsonrpc::initialized()).await?;
        if initialized.status != StatusCode::ACCEPTED {
            return Err(format!("notifications/initialized answered {}", initialized.status).into());
        }
        Ok(answer)
    }

    /// Calls `tool` with `arguments` in the current session.
    pub async fn call_tool(&mut self, tool: &str, arguments: Value) -> Result<McpResponse, BoxError> {
        let id = self.next_id();
        self.post(&jsonrpc::tools_call(id, tool, arguments)).await
    }
}
