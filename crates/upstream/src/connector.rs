//! [`UpstreamConnector`]: makes [`UpstreamService`]s for an [`UpstreamTarget`],
//! after proving the upstream takes connections.

use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Body;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use mcp_reconnect_core::BoxError;
use rustls::{ClientConfig, RootCertStore};
use tower_layer::Layer;
use tower_service::Service;

use crate::config::{Config, Probe};
use crate::error::ConnectError;
use crate::service::UpstreamService;
use crate::target::UpstreamTarget;

/// The connection stack under every upstream client: TCP (`TCP_NODELAY`,
/// connect timeout), then TLS for `https://` (rustls, ring provider, ALPN).
pub type UpstreamConnection = HttpsConnector<HttpConnector>;

/// How long an MCP probe (`ping`) may take, at most: 5 s (less when the
/// connect timeout is shorter). A server that takes longer to answer a ping
/// is not up in any way that helps a caller.
pub const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The future of a connector call.
pub type ConnectFuture<S> = Pin<Box<dyn Future<Output = Result<S, BoxError>> + Send>>;

/// Makes [`UpstreamService`]s: a `tower::Service<UpstreamTarget>`, the
/// *connector* that `CircuitReconnectLayer` drives.
///
/// Each call opens one connection to the target (TCP, and TLS for
/// `https://`) to prove it takes connections — a refused port fails the call
/// with a [`ConnectError`] that core classifies `Unavailable`, not reached —
/// then drops it and returns a service with a fresh connection pool, so a
/// reconnect never reuses a connection to the upstream that went away.
///
/// TLS uses rustls with the `ring` provider and Mozilla's root certificates
/// (`webpki-roots`); bring your own roots with [`with_tls`](Self::with_tls).
///
/// `B` is the request body the services take (`Full<Bytes>` by default, as the
/// session and retry layers send).
pub struct UpstreamConnector<B = Full<Bytes>> {
    connection: UpstreamConnection,
    config: Config,
    _body: PhantomData<fn(B)>,
}

impl UpstreamConnector {
    /// A connector with `config` and Mozilla's root certificates, for
    /// `Full<Bytes>` request bodies (see [`with_body`](Self::with_body)).
    pub fn new(config: Config) -> Self {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self::with_tls(config, tls)
    }

    /// A connector with `config` and your own rustls configuration (private
    /// roots, client certificates). Its ALPN protocols are set by the connector.
    pub fn with_tls(config: Config, tls: ClientConfig) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));
        let builder = HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
        let connection = if config.http2_only {
            builder.enable_http2().wrap_connector(http)
        } else {
            builder.enable_all_versions().wrap_connector(http)
        };
        UpstreamConnector {
            connection,
            config,
            _body: PhantomData,
        }
    }
}

impl<B> UpstreamConnector<B> {
    /// The same connector, making services for request bodies of type `B2`
    /// (a streaming body, for a proxy that does not buffer requests).
    pub fn with_body<B2>(self) -> UpstreamConnector<B2> {
        UpstreamConnector {
            connection: self.connection,
            config: self.config,
            _body: PhantomData,
        }
    }

    /// The connector's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A connector whose services are wrapped in `layer` (for example
    /// `ClassifyLayer`), as the circuit wants them.
    pub fn layered<L>(self, layer: L) -> Layered<L, B> {
        Layered {
            connector: self,
            layer,
        }
    }

    /// A pooled HTTP client with this connector's TLS, timeouts and pool
    /// settings, sending each request to its own absolute URI, as it is:
    /// no header is set or removed (the legacy SSE connector's client).
    pub fn http_client(&self) -> Client<UpstreamConnection, B>
    where
        B: Body + Send,
        B::Data: Send,
    {
        Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(self.config.pool_idle_timeout)
            .pool_max_idle_per_host(self.config.pool_max_idle)
            .http2_only(self.config.http2_only)
            .build(self.connection.clone())
    }
}

impl Default for UpstreamConnector {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl<B> Clone for UpstreamConnector<B> {
    fn clone(&self) -> Self {
        UpstreamConnector {
            connection: self.connection.clone(),
            config: self.config.clone(),
            _body: PhantomData,
        }
    }
}

impl<B> fmt::Debug for UpstreamConnector<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamConnector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<B> Service<UpstreamTarget> for UpstreamConnector<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    type Response = UpstreamService<B>;
    type Error = BoxError;
    type Future = ConnectFuture<UpstreamService<B>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, target: UpstreamTarget) -> Self::Future {
        let mut probe = self.connection.clone();
        let client = self.http_client();
        let pinger = match self.config.probe {
            Probe::Mcp => Some(self.clone().with_body::<Full<Bytes>>().http_client()),
            Probe::Connect => None,
        };
        let forward_credentials = self.config.forward_client_credentials;
        let timeout = self.config.connect_timeout;
        Box::pin(async move {
            let failed =
                |source: BoxError| -> BoxError { ConnectError::new(target.display(), source).into() };
            match pinger {
                Some(pinger) => {
                    let ping = crate::probe::ping(pinger, &target);
                    match tokio::time::timeout(timeout.min(PROBE_TIMEOUT), ping).await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => return Err(failed(error)),
                        Err(elapsed) => return Err(failed(elapsed.into())),
                    }
                    tracing::debug!(upstream = %target, "the MCP server answers");
                }
                None => {
                    let connect = async {
                        poll_fn(|cx| probe.poll_ready(cx)).await?;
                        probe.call(target.connect_uri()).await
                    };
                    match tokio::time::timeout(timeout, connect).await {
                        // The connection proved the upstream listens; requests open their own.
                        Ok(Ok(connection)) => drop(connection),
                        Ok(Err(error)) => return Err(failed(error)),
                        Err(elapsed) => return Err(failed(elapsed.into())),
                    }
                    tracing::debug!(upstream = %target, "upstream takes connections");
                }
            }
            Ok(UpstreamService::new(client, &target, forward_credentials))
        })
    }
}

/// A connector whose services are wrapped in a layer; see [`UpstreamConnector::layered`].
pub struct Layered<L, B = Full<Bytes>> {
    connector: UpstreamConnector<B>,
    layer: L,
}

impl<L: Clone, B> Clone for Layered<L, B> {
    fn clone(&self) -> Self {
        Layered {
            connector: self.connector.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<L, B> fmt::Debug for Layered<L, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layered")
            .field("connector", &self.connector)
            .finish_non_exhaustive()
    }
}

impl<L, B> Service<UpstreamTarget> for Layered<L, B>
where
    L: Layer<UpstreamService<B>> + Clone + Send + 'static,
    L::Service: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
{
    type Response = L::Service;
    type Error = BoxError;
    type Future = ConnectFuture<L::Service>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.connector.poll_ready(cx)
    }

    fn call(&mut self, target: UpstreamTarget) -> Self::Future {
        let connecting = self.connector.call(target);
        let layer = self.layer.clone();
        Box::pin(async move {
            let service = connecting.await?;
            Ok(layer.layer(service))
        })
    }
}
