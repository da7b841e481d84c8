//! The ceiling for any proxy: a minimal hyper forwarder with no layers at all.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mcp_reconnect_core::BoxError;

/// Serves on `listen`, forwarding every request to `upstream` (same path).
pub async fn run(listen: SocketAddr, upstream: SocketAddr) -> Result<(), BoxError> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("bare proxy listening on {}", listener.local_addr()?);
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new()).build_http();
    loop {
        let (stream, _) = listener.accept().await?;
        let client = client.clone();
        tokio::spawn(async move {
            let service = service_fn(move |mut request: http::Request<Incoming>| {
                let path = request
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_string();
                let client = client.clone();
                async move {
                    let uri = format!("http://{upstream}{path}")
                        .parse()
                        .map_err(std::io::Error::other)?;
                    *request.uri_mut() = uri;
                    request.headers_mut().remove(http::header::HOST);
                    client.request(request).await.map_err(std::io::Error::other)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
