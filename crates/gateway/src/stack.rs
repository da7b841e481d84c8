//! One upstream's layered service and the handles that watch it.
//!
//! ```text
//! ShedLayer → RespondLayer → ToolRetryLayer → (span fields, malformed bodies answered) → [JsonAnswer] → SessionLayer → CircuitReconnectLayer
//!   → UpstreamConnector-made service: ClassifyLayer → UpstreamService (hyper-util, TLS)
//! ```
//!
//! `/mcp` traffic and the REST routes' `tools/call`s both go through the same
//! [`Upstream::service`], so they share classification, reconnect, retry
//! safety and metrics.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{Either, Full};
use hyper::body::Body as _;
use mcp_reconnect_circuit::{CircuitReconnectLayer, CircuitStatus};
use mcp_reconnect_classify::ClassifyLayer;
use mcp_reconnect_core::Attempt;
use mcp_reconnect_core::peek::{MessageKind, Peek, of_request, peek_with_limit};
use mcp_reconnect_core::respond::{JsonRpcError, RespondLayer, codes};
use mcp_reconnect_health::Upstream as Watched;
use mcp_reconnect_link::{LinkService, SseConnector, SseTarget, StdioConnector};
use mcp_reconnect_retry::ToolRetryLayer;
use mcp_reconnect_upstream::session::{
    AnyStore, DEFAULT_KEY_PREFIX, MemoryStore, RedisConfig, RedisStore, StoreStatus,
};
use mcp_reconnect_upstream::{SessionLayer, UpstreamConnector, UpstreamTarget};
use tower::layer::layer_fn;
use tower::util::{BoxCloneSyncService, MapRequestLayer};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

mod json_answer;
mod shed;

pub use json_answer::{JsonAnswer, JsonAnswerLayer, JsonOrStream, Prefixed};
pub use shed::{Permits, Shed, ShedFuture, ShedLayer};

use crate::config::{ConfigError, GatewayConfig, ServerSpec, Transport};

/// The type-erased stack of one upstream: any request in, an HTTP answer out, never an error.
pub type McpService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// One upstream: its configuration, its stack, and the handles that watch it.
#[derive(Clone)]
pub struct Upstream {
    /// What the config said about it.
    pub spec: Arc<ServerSpec>,
    /// The stack every call goes through.
    pub service: McpService,
    /// The circuit's status handle.
    pub status: CircuitStatus,
    /// The retry layer (for its counters).
    pub retry: ToolRetryLayer,
    /// The shared session store's status (`--session-store redis://…`);
    /// `None` when sessions live in this process only.
    pub session_store: Option<StoreStatus>,
    /// Why the last start of a stdio child or SSE stream failed (none for Streamable HTTP servers).
    start_error: StartFailure,
}

/// The last failed start of a stdio child or SSE stream, for `/health`.
#[derive(Clone, Debug, Default)]
struct StartFailure(Arc<std::sync::Mutex<Option<String>>>);

impl StartFailure {
    fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set(&self, why: Option<String>) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = why;
    }

    /// `connector`, classified like every upstream, recording each start's outcome here.
    fn watch<C, T>(
        &self,
        connector: C,
    ) -> impl Service<
        T,
        Response = mcp_reconnect_classify::Classify<LinkService>,
        Error = mcp_reconnect_core::BoxError,
        Future: Send,
    > + Clone
    + Send
    + 'static
    where
        C: Service<T, Response = LinkService, Error = mcp_reconnect_core::BoxError> + Clone + Send + 'static,
        C::Future: Send,
    {
        let (failed, started) = (self.clone(), self.clone());
        connector
            .map_err(move |error: mcp_reconnect_core::BoxError| {
                let why = mcp_reconnect_core::error::chain(error.as_ref())
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(": ");
                failed.set(Some(why));
                error
            })
            .map_response(move |service| {
                started.set(None);
                ClassifyLayer::new().layer(service)
            })
    }
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.spec.name)
            .field("display", &self.spec.display)
            .field("state", &self.status.state())
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// Builds the stack for `spec` with the policies of `config`. Nothing
    /// connects yet: the circuit connects (or starts the child) on the first call.
    pub fn build(spec: &ServerSpec, config: &GatewayConfig) -> Result<Self, ConfigError> {
        let retry = ToolRetryLayer::with_config(config.retry.clone());
        let store = session_store(spec, config)?;
        let sessions = SessionLayer::with_store(Arc::clone(&store), config.session.clone());
        let permits = usize::try_from(config.limits.max_concurrent_calls).unwrap_or(usize::MAX);
        let json = config
            .json_response
            .then(|| JsonAnswerLayer::new(mcp_reconnect_core::body::DEFAULT_MESSAGE_LIMIT));
        // The one stack, over whichever connector the transport needs.
        macro_rules! front {
            ($inner:expr) => {{
                let service = ServiceBuilder::new()
                    .layer(ShedLayer::new(permits))
                    .map_response(|response: Response<_>| response.map(Body::new))
                    .layer(RespondLayer::new())
                    .layer(retry.clone())
                    .layer(MapRequestLayer::new(record_request))
                    .layer(layer_fn(RejectMalformed))
                    .service($inner);
                BoxCloneSyncService::new(service)
            }};
        }
        macro_rules! stack {
            ($circuit:expr, $connector:expr) => {{
                let inner = ServiceBuilder::new()
                    .layer(sessions)
                    .layer($circuit)
                    .service($connector);
                match json {
                    Some(json) => front!(json.layer(inner)),
                    None => front!(inner),
                }
            }};
        }
        let start_error = StartFailure::default();
        let (service, status) = match &spec.transport {
            Transport::StreamableHttp(url) => {
                let target = UpstreamTarget::from_uri(url.clone())
                    .map_err(|error| ConfigError::new(format!("server `{}`: {error}", spec.name)))?
                    .headers_from(spec.headers.clone());
                let circuit = CircuitReconnectLayer::with_config(target, config.circuit.clone())
                    .name(spec.display.clone());
                let status = circuit.status();
                let connector = UpstreamConnector::new(config.upstream.clone()).layered(ClassifyLayer::new());
                (stack!(circuit, connector), status)
            }
            Transport::Sse(url) => {
                let target = SseTarget::from_uri(url.clone())
                    .map_err(|error| ConfigError::new(format!("server `{}`: {error}", spec.name)))?
                    .headers_from(spec.headers.clone())
                    .name(spec.display.clone());
                // Each stream is its own server session: one a client knew from the last stream is not a dead link.
                let circuit_config = config.circuit.clone().session_loss_reconnects(false);
                let circuit =
                    CircuitReconnectLayer::with_config(target, circuit_config).name(spec.display.clone());
                let status = circuit.status();
                let client = UpstreamConnector::new(config.upstream.clone()).http_client();
                let connector = start_error.watch(SseConnector::new(client, config.sse.clone()));
                (stack!(circuit, connector), status)
            }
            Transport::Stdio(target) => {
                // Starting a child (`uvx`, `npx` may fetch a package first) is one connect attempt.
                // Each child hands out its own session: one a client knew from the last child is not a dead child.
                let mut circuit_config = config.circuit.clone().session_loss_reconnects(false);
                circuit_config.attempt_timeout = circuit_config
                    .attempt_timeout
                    .max(config.stdio.handshake_timeout + Duration::from_secs(1));
                let circuit = CircuitReconnectLayer::with_config(target.clone(), circuit_config)
                    .name(spec.display.clone());
                let status = circuit.status();
                let connector = start_error.watch(StdioConnector::new(config.stdio.clone()));
                (stack!(circuit, connector), status)
            }
        };
        Ok(Upstream {
            spec: Arc::new(spec.clone()),
            service,
            status,
            retry,
            session_store: store.status(),
            start_error,
        })
    }

    /// Why the stdio child last failed to start, while the circuit is not healthy.
    pub fn start_error(&self) -> Option<String> {
        if self.status.state() == mcp_reconnect_core::status::CircuitState::Healthy {
            return None;
        }
        self.start_error.get()
    }

    /// The upstream as `HealthLayer` watches it: circuit status, retry
    /// counters and, with `--session-store`, the shared store's state.
    pub fn watched(&self) -> Watched {
        let watched = Watched::new(self.status.clone()).retries(self.retry.clone());
        match self.session_store.clone() {
            None => watched,
            Some(store) => watched.session_store(move || store.snapshot()),
        }
    }
}

/// Where `spec`'s client sessions live: in this process, or in the Redis of
/// `--session-store` under a key prefix of the server's own (replicas that
/// serve the same server share them; other servers never collide).
fn session_store(spec: &ServerSpec, config: &GatewayConfig) -> Result<Arc<AnyStore>, ConfigError> {
    let max_sessions = config.session.max_sessions;
    let store = match &config.session_store {
        None => AnyStore::Memory(MemoryStore::new(max_sessions)),
        Some(url) => {
            let redis = RedisConfig::new(url.clone())
                .key_prefix(format!("{DEFAULT_KEY_PREFIX}{}:", spec.name))
                .max_local_sessions(max_sessions);
            let store = RedisStore::new(redis)
                .map_err(|error| ConfigError::new(format!("--session-store: {error}")))?;
            AnyStore::Redis(store)
        }
    };
    Ok(Arc::new(store))
}

/// Marks a request whose span fields the gateway recorded itself (REST calls).
#[derive(Clone, Copy, Debug)]
pub struct SpanRecorded;

/// Puts the JSON-RPC method and tool the retry layer peeked into the current
/// `mcp.request` span on the first try, and the try number on retries
/// (never arguments or ids).
fn record_request(request: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return request;
    }
    match Attempt::of(&request) {
        Some(attempt) if attempt.is_retry() => {
            span.record("attempt", attempt.number());
        }
        _ if request.extensions().get::<SpanRecorded>().is_none() => {
            if let Some(message) = of_request(&request).and_then(Peek::single) {
                if let Some(method) = message.method() {
                    span.record("mcp.method", method);
                }
                if let Some(tool) = message.tool_name() {
                    span.record("mcp.tool", tool);
                }
            }
        }
        _ => {}
    }
    request
}

/// Answers a `POST` whose body is not a JSON-RPC message itself, without
/// forwarding it: `400` with `-32700` (not JSON) or `-32600` (not a
/// request, notification or response). The upstream never sees garbage, and
/// the client gets a JSON-RPC error whatever the upstream would have said
/// (rmcp answers `415` with text). A batch with one valid member passes.
#[derive(Clone, Debug)]
pub struct RejectMalformed<S>(pub S);

impl<S, B> Service<Request<Full<Bytes>>> for RejectMalformed<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
{
    type Response = Response<Either<B, Full<Bytes>>>;
    type Error = S::Error;
    type Future = RejectMalformedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let kind = match malformed(&request) {
            Some(error) => MalformedKind::Answered {
                response: Some(error.into_response().map(Full::new)),
            },
            None => MalformedKind::Forwarded {
                future: self.0.call(request),
            },
        };
        RejectMalformedFuture { kind }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`RejectMalformed`]: the answer to a malformed request,
    /// or the inner service's.
    pub struct RejectMalformedFuture<F> {
        #[pin]
        kind: MalformedKind<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = MalformedKindProj]
    enum MalformedKind<F> {
        Answered { response: Option<Response<Full<Bytes>>> },
        Forwarded { #[pin] future: F },
    }
}

impl<F, B, E> Future for RejectMalformedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Either<B, Full<Bytes>>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            MalformedKindProj::Answered { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response.map(Either::Right))),
                None => mcp_reconnect_core::polled_after_completion("RejectMalformed future"),
            },
            MalformedKindProj::Forwarded { future } => {
                Poll::Ready(std::task::ready!(future.poll(cx)).map(|response| response.map(Either::Left)))
            }
        }
    }
}

/// The error for a `POST` the retry layer could not peek, or whose messages are all invalid.
fn malformed(request: &Request<Full<Bytes>>) -> Option<JsonRpcError> {
    if request.method() != Method::POST {
        return None;
    }
    let error = match of_request(request) {
        Some(peek) if peek.messages().iter().any(|m| m.kind() != MessageKind::Invalid) => return None,
        Some(peek) => JsonRpcError::new(
            codes::INVALID_REQUEST,
            "invalid request: not a JSON-RPC 2.0 request, notification or response",
        )
        .with_id(peek.single().and_then(|message| message.id().cloned())),
        // The buffered body is one frame, ready at once; peeked again only when malformed.
        None => {
            let mut body = request.body().clone();
            let bytes = match Pin::new(&mut body).poll_frame(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
                _ => Bytes::new(),
            };
            let error = peek_with_limit(&bytes, usize::MAX).err()?;
            JsonRpcError::new(error.jsonrpc_code(), format!("invalid request: {error}"))
        }
    };
    Some(error.with_status(http::StatusCode::BAD_REQUEST))
}
