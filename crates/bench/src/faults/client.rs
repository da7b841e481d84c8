//! The clients of a scenario: one per target, each pacing tool calls on a
//! legacy MCP session or on REST routes, and what each call came to.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_core::BoxError;
use mcp_reconnect_testkit::RawClient;
use mcp_reconnect_testkit::jsonrpc::{self, McpResponse};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use super::{CALL_DEADLINE, IN_FLIGHT, PACE, RUN};

/// What one call came to.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Outcome {
    Ok,
    /// The gateway said it may have run and did not repeat it (`-32051`).
    MaybeRun,
    /// Why it failed (printed with `MCP_BENCH_VERBOSE=1`).
    Failed(String),
    /// No answer within [`CALL_DEADLINE`].
    Hung,
}

pub(super) struct Call {
    pub(super) tool: &'static str,
    pub(super) key: Option<String>,
    pub(super) outcome: Outcome,
    /// When its answer was read, from the scenario's start.
    pub(super) done: Duration,
}

/// How a client reaches the tools.
pub(super) enum Surface {
    /// A legacy MCP session at `url`; tools are named `prefix` + the tool.
    Session { url: String, prefix: String },
    /// mcpo's REST routes under `base`.
    Rest { base: String },
}

pub(super) struct Caller {
    pub(super) label: &'static str,
    surface: Surface,
    http: Client<HttpConnector, Full<Bytes>>,
    session: Mutex<Option<String>>,
    pub(super) reopened: AtomicU32,
}

impl Caller {
    pub(super) async fn new(label: &'static str, surface: Surface) -> Result<Arc<Caller>, BoxError> {
        let caller = Caller {
            label,
            surface,
            http: Client::builder(TokioExecutor::new()).build_http(),
            session: Mutex::new(None),
            reopened: AtomicU32::new(0),
        };
        if let Surface::Session { url, .. } = &caller.surface {
            *caller.session.lock().await = Some(open_session(url).await?);
        }
        Ok(Arc::new(caller))
    }

    fn plan(&self, n: u32) -> (&'static str, Value, Option<String>) {
        let key = format!("{}-{n}", self.label);
        match n % 4 {
            1 => ("add", json!({"a": n, "b": 1}), None),
            2 => ("increment", json!({"key": key}), Some(key)),
            _ => ("echo", json!({"text": key}), None),
        }
    }

    async fn call(&self, n: u32, started: Instant) -> Call {
        let (tool, arguments, key) = self.plan(n);
        let answer = async {
            match &self.surface {
                Surface::Rest { base } => self.rest(base, tool, &arguments).await,
                Surface::Session { url, prefix } => {
                    self.in_session(url, &format!("{prefix}{tool}"), n, arguments.clone())
                        .await
                }
            }
        };
        let outcome = tokio::time::timeout(CALL_DEADLINE, answer)
            .await
            .unwrap_or(Outcome::Hung);
        Call {
            tool,
            key,
            outcome,
            done: started.elapsed(),
        }
    }

    async fn in_session(&self, url: &str, tool: &str, n: u32, arguments: Value) -> Outcome {
        let sent = self.session.lock().await.clone();
        let body = jsonrpc::tools_call(u64::from(n) + 10, tool, arguments);
        let request = match jsonrpc::jsonrpc_request(url, sent.as_deref(), &body) {
            Ok(request) => request,
            Err(error) => return Outcome::Failed(format!("request: {error}")),
        };
        let answer = match self.http.request(request).await {
            Ok(response) => match McpResponse::read(response).await {
                Ok(answer) => answer,
                Err(error) => return Outcome::Failed(format!("answer cut off: {error}")),
            },
            Err(error) => return Outcome::Failed(format!("transport: {error}")),
        };
        if answer.status == StatusCode::NOT_FOUND {
            let mut session = self.session.lock().await;
            if *session == sent {
                self.reopened.fetch_add(1, Ordering::Relaxed);
                *session = open_session(url).await.ok();
            }
            return Outcome::Failed("404: the session was lost".into());
        }
        match answer.message() {
            Some(message) if message["error"]["code"] == -32051 => Outcome::MaybeRun,
            Some(message)
                if answer.status == StatusCode::OK
                    && message.get("result").is_some()
                    && !answer.is_tool_error() =>
            {
                Outcome::Ok
            }
            _ => Outcome::Failed(format!(
                "{}: {:.200}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            )),
        }
    }

    async fn rest(&self, base: &str, tool: &str, arguments: &Value) -> Outcome {
        let request = match http::Request::post(format!("{base}/{tool}"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(arguments.to_string())))
        {
            Ok(request) => request,
            Err(error) => return Outcome::Failed(format!("request: {error}")),
        };
        let response = match self.http.request(request).await {
            Ok(response) => response,
            Err(error) => return Outcome::Failed(format!("transport: {error}")),
        };
        let status = response.status();
        let body = match response.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(error) => return Outcome::Failed(format!("answer cut off: {error}")),
        };
        let text = String::from_utf8_lossy(&body);
        if status == StatusCode::OK {
            Outcome::Ok
        } else if text.contains("may have run") {
            Outcome::MaybeRun
        } else {
            Outcome::Failed(format!("{status}: {text:.200}"))
        }
    }
}

/// A new legacy session at `url`: its id.
async fn open_session(url: &str) -> Result<String, BoxError> {
    let mut client = RawClient::new(url);
    let answer = client.initialize().await?;
    client
        .session()
        .map(str::to_owned)
        .ok_or_else(|| format!("initialize at {url} answered {} without a session", answer.status).into())
}

/// Paces calls of `caller` until `RUN` is over.
pub(super) async fn drive(caller: Arc<Caller>, started: Instant) -> Vec<Call> {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut calls = Vec::new();
    let mut next = started;
    let mut n = 0;
    while started.elapsed() < RUN {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let caller = Arc::clone(&caller);
        calls.push(tokio::spawn(async move {
            let call = caller.call(n, started).await;
            drop(permit);
            call
        }));
        n += 1;
        next += PACE;
        tokio::time::sleep_until(next).await;
    }
    let mut done = Vec::new();
    for call in calls {
        if let Ok(call) = call.await {
            done.push(call);
        }
    }
    done
}
