//! The connector and its services against real servers on 127.0.0.1: what a
//! request looks like upstream, streaming, HTTP/2, refused and TLS connects.

mod common;

use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::{serve, within};
use http::header::{AUTHORIZATION, HeaderValue};
use http::{Request, Response, Version};
use http_body_util::channel::{Channel, Sender};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use mcp_reconnect_core::{FailureClass, Reached, classify_error};
use mcp_reconnect_upstream::{Config, UpstreamConnector, UpstreamService, UpstreamTarget};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::{Service, ServiceExt, service_fn};

type Body = Either<Full<Bytes>, Channel<Bytes, Infallible>>;

/// Answers `GET /stream` with an SSE stream the test feeds; anything else
/// with the request as JSON (method, URI, version, headers).
fn echo(
    streams: Arc<Mutex<Vec<Sender<Bytes, Infallible>>>>,
) -> impl Fn(Request<Incoming>) -> std::future::Ready<Result<Response<Body>, Infallible>> + Clone {
    move |request: Request<Incoming>| {
        if request.uri().path() == "/stream" {
            let (sender, body) = Channel::new(4);
            streams.lock().expect("test setup").push(sender);
            let response = Response::builder()
                .header("content-type", "text/event-stream")
                .header("connection", "keep-alive, x-hop")
                .header("x-hop", "1")
                .body(Either::Right(body))
                .expect("test setup");
            return std::future::ready(Ok(response));
        }
        let headers: serde_json::Map<String, Value> = request
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), json!(value.to_str().unwrap_or("?"))))
            .collect();
        let seen = json!({
            "method": request.method().as_str(),
            "uri": request.uri().to_string(),
            "version": format!("{:?}", request.version()),
            "headers": headers,
        });
        let body = Full::new(Bytes::from(seen.to_string()));
        std::future::ready(Ok(Response::new(Either::Left(body))))
    }
}

async fn connect(config: Config, url: &str) -> UpstreamService {
    let mut connector = UpstreamConnector::new(config);
    let target = UpstreamTarget::new(url)
        .expect("test setup")
        .header(AUTHORIZATION, HeaderValue::from_static("Bearer upstream"));
    within(connector.ready().await.expect("test setup").call(target))
        .await
        .expect("test setup")
}

async fn json_of(response: Response<Incoming>) -> Value {
    let body = within(response.into_body().collect())
        .await
        .expect("test setup")
        .to_bytes();
    serde_json::from_slice(&body).expect("test setup")
}

#[tokio::test]
async fn a_request_reaches_the_endpoint_rewritten_and_without_hop_headers() {
    let (addr, _serving) = serve(service_fn(echo(Arc::default()))).await;
    let upstream = connect(Config::default(), &format!("http://{addr}/mcp?tenant=a")).await;
    let request = Request::post("http://gateway.example:8000/anything?cursor=2")
        .header("host", "gateway.example:8000")
        .header("authorization", "Bearer client-secret-for-the-gateway")
        .header("cookie", "gw=1")
        .header("connection", "keep-alive, x-private")
        .header("x-private", "hop")
        .header("keep-alive", "timeout=5")
        .header("mcp-session-id", "s-1")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .header("last-event-id", "7")
        .header("x-trace", "kept")
        .version(Version::HTTP_2)
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let seen = json_of(within(upstream.clone().oneshot(request)).await.unwrap()).await;
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["uri"], "/mcp?tenant=a&cursor=2");
    assert_eq!(seen["version"], "HTTP/1.1");
    let headers = &seen["headers"];
    assert_eq!(headers["host"], addr.to_string());
    assert_eq!(headers["authorization"], "Bearer upstream");
    assert_eq!(headers["accept"], "application/json, text/event-stream");
    for kept in [
        "mcp-session-id",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
        "last-event-id",
        "x-trace",
    ] {
        assert!(headers.get(kept).is_some(), "{kept} forwarded");
    }
    for gone in ["cookie", "x-private", "keep-alive", "connection"] {
        assert!(headers.get(gone).is_none(), "{gone} not forwarded: {headers}");
    }
}

#[tokio::test]
async fn sse_streams_through_event_by_event() {
    let streams = Arc::new(Mutex::new(Vec::new()));
    let (addr, _serving) = serve(service_fn(echo(Arc::clone(&streams)))).await;
    let upstream = connect(Config::default(), &format!("http://{addr}/stream")).await;
    let get = Request::get("/")
        .header("accept", "text/event-stream")
        .body(Full::default())
        .unwrap();
    let response = within(upstream.oneshot(get)).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(
        !response.headers().contains_key("x-hop"),
        "hop-by-hop answer headers go"
    );
    assert!(!response.headers().contains_key("connection"));
    let mut body = response.into_body();
    let mut sender = streams.lock().unwrap().pop().unwrap();
    for n in 0..3 {
        let event = format!("id: {n}\ndata: {{\"n\":{n}}}\n\n");
        within(sender.send_data(Bytes::from(event.clone())))
            .await
            .unwrap();
        // The event arrives before the next one is even written: nothing buffers.
        let frame = within(body.frame()).await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), event.as_bytes());
    }
    drop(sender);
    assert!(within(body.frame()).await.is_none());
}

#[tokio::test]
async fn http2_prior_knowledge_when_asked() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _serving = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = TowerToHyperService::new(service_fn(echo(Arc::default())));
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    let upstream = connect(Config::default().http2_only(true), &format!("http://{addr}/mcp")).await;
    let request = Request::post("/")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let seen = json_of(within(upstream.oneshot(request)).await.unwrap()).await;
    assert_eq!(seen["version"], "HTTP/2.0");
    assert_eq!(seen["uri"], format!("http://{addr}/mcp"));
}

#[tokio::test]
async fn a_refused_port_fails_the_connector_unavailable_not_reached() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut connector = UpstreamConnector::default();
    let target = UpstreamTarget::new(&format!("http://{addr}/mcp")).unwrap();
    let error = within(connector.ready().await.unwrap().call(target))
        .await
        .unwrap_err();
    let failure = classify_error(&*error);
    assert_eq!(failure.class(), FailureClass::Unavailable);
    assert_eq!(failure.reached(), Reached::No);
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}

#[tokio::test]
async fn https_speaks_tls_before_anything_else() {
    // A plain TCP listener that closes at once: the TLS handshake fails, so
    // the connector call fails — though the port accepted the connection.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepting = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        drop(stream);
    });
    let mut connector = UpstreamConnector::default();
    let target = UpstreamTarget::new(&format!("https://localhost:{}/mcp", addr.port())).unwrap();
    let error = within(connector.ready().await.unwrap().call(target))
        .await
        .unwrap_err();
    within(accepting).await.unwrap();
    // The MCP probe's request never went out: a connect-stage failure.
    assert_eq!(classify_error(&*error).reached(), Reached::No, "{error}");
}

/// A server that answers every request with `status`, `content-type` and `body`.
async fn answering(status: u16, content_type: &'static str, body: &'static str) -> String {
    let service = service_fn(move |_: Request<Incoming>| async move {
        let response = Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .expect("test setup");
        Ok::<_, Infallible>(response)
    });
    let (addr, serving) = serve(service).await;
    // Served until the test's runtime ends.
    drop(serving);
    format!("http://{addr}/mcp")
}

#[tokio::test]
async fn the_probe_asks_the_mcp_server_not_the_port() {
    let probe = |url: String| async move {
        let mut connector = UpstreamConnector::default();
        let target = UpstreamTarget::new(&url).unwrap();
        within(connector.ready().await.unwrap().call(target)).await
    };
    // A proxy in front of a server that is down: it accepts TCP, answers 502/503/504.
    for status in [502, 503, 504, 429] {
        let url = answering(status, "text/html", "<html>bad gateway</html>").await;
        let Err(error) = probe(url).await else {
            panic!("{status}: the probe should fail");
        };
        let failure = classify_error(&*error);
        assert!(failure.is_recoverable(), "{status}: {failure:?}");
        assert!(error.to_string().contains(&status.to_string()), "{error}");
    }
    // Any answer of the MCP server itself proves it up: a session error, a
    // version error, the ping's own answer, and a full server's JSON-RPC 503.
    let answers = [
        (
            400,
            "application/json",
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Missing session ID"}}"#,
        ),
        (404, "text/plain", "Not Found"),
        (
            200,
            "application/json",
            r#"{"jsonrpc":"2.0","id":"mcp-reconnect-probe","result":{}}"#,
        ),
        (
            503,
            "application/json",
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Too many open sessions"}}"#,
        ),
    ];
    for (status, content_type, body) in answers {
        let url = answering(status, content_type, body).await;
        assert!(probe(url).await.is_ok(), "{status} {body}");
    }
}

#[tokio::test]
async fn the_probe_is_a_json_rpc_ping_with_the_targets_headers() {
    let seen = Arc::new(Mutex::new(Vec::<Value>::new()));
    let log = Arc::clone(&seen);
    let service = service_fn(move |request: Request<Incoming>| {
        let log = Arc::clone(&log);
        async move {
            let headers: serde_json::Map<String, Value> = request
                .headers()
                .iter()
                .map(|(name, value)| (name.to_string(), json!(value.to_str().unwrap_or("?"))))
                .collect();
            let method = request.method().to_string();
            let body = request.into_body().collect().await.unwrap().to_bytes();
            log.lock()
                .unwrap()
                .push(json!({"method": method, "headers": headers, "body": String::from_utf8_lossy(&body)}));
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
        }
    });
    let (addr, _serving) = serve(service).await;
    let mut connector = UpstreamConnector::default();
    let target = UpstreamTarget::new(&format!("http://{addr}/mcp"))
        .unwrap()
        .header(AUTHORIZATION, HeaderValue::from_static("Bearer upstream"));
    within(connector.ready().await.unwrap().call(target))
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let ping: Value = serde_json::from_str(seen[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (seen[0]["method"].as_str(), ping["method"].as_str()),
        (Some("POST"), Some("ping"))
    );
    assert_eq!(seen[0]["headers"]["authorization"], "Bearer upstream");
    assert_eq!(seen[0]["headers"]["mcp-method"], "ping");
}

#[tokio::test]
async fn redirects_and_cookies_from_the_upstream_never_reach_the_client() {
    let service = service_fn(move |_: Request<Incoming>| async move {
        let response = Response::builder()
            .status(307)
            .header("location", "/other/route")
            .header("set-cookie", "internal=1")
            .body(Full::new(Bytes::from_static(b"moved")))
            .expect("test setup");
        Ok::<_, Infallible>(response)
    });
    let (addr, _serving) = serve(service).await;
    // (The MCP probe would see the redirect as a bad gateway: connect only.)
    let config = Config::default().probe(mcp_reconnect_upstream::Probe::Connect);
    let upstream = connect(config, &format!("http://{addr}/mcp")).await;
    let request = Request::post("/mcp")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let response = within(upstream.oneshot(request)).await.unwrap();
    assert_eq!(response.status(), 502);
    assert!(response.headers().get("location").is_none());
    assert!(response.headers().get("set-cookie").is_none());
}
