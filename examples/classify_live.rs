//! Classifies live faults: starts the testkit's real MCP server behind its
//! fault proxy (both on 127.0.0.1), injects each fault of the reconnect design's table,
//! and prints what `ClassifyLayer` makes of it.
//!
//! ```text
//! cargo run --example classify_live
//! ```

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect::ClassifyLayer;
use mcp_reconnect::core::{BoxError, Classification, ClassifiedError};
use mcp_reconnect_testkit::jsonrpc::{jsonrpc_request, tools_call};
use mcp_reconnect_testkit::{Fault, RawClient, Rule, TestUpstream};
use serde_json::json;
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut upstream = TestUpstream::start().await?;
    let url = upstream.url();
    println!("MCP server {} behind fault proxy {url}\n", upstream.server.url());
    println!(
        "{:<34} {:<26} {:<13} {:<8} recoverable",
        "fault", "client saw", "class", "reached"
    );

    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let service = ServiceBuilder::new()
        .layer(ClassifyLayer::new())
        .timeout(Duration::from_millis(500))
        .service(client);

    let mut session_client = RawClient::new(url.clone());
    session_client.initialize().await?;
    let session = session_client.session().map(str::to_string);

    let faults: Vec<(&str, Option<Fault>)> = vec![
        ("none", None),
        ("502 from the proxy", Some(Fault::status(StatusCode::BAD_GATEWAY))),
        (
            "503 from the proxy",
            Some(Fault::status(StatusCode::SERVICE_UNAVAILABLE)),
        ),
        (
            "504 from the proxy",
            Some(Fault::status(StatusCode::GATEWAY_TIMEOUT)),
        ),
        ("403 from the proxy", Some(Fault::status(StatusCode::FORBIDDEN))),
        (
            "forwarded, then 502",
            Some(Fault::ForwardThenStatus(StatusCode::BAD_GATEWAY)),
        ),
        ("connection reset", Some(Fault::Reset)),
        ("hang (client timeout 500 ms)", Some(Fault::Hang)),
    ];
    for (name, fault) in faults {
        if let Some(fault) = fault {
            upstream.proxy.push(Rule::any(fault).once());
        }
        let outcome = send(&service, &url, session.as_deref()).await;
        print_row(name, outcome);
    }

    upstream.proxy.refuse().await;
    print_row(
        "connection refused",
        send(&service, &url, session.as_deref()).await,
    );
    upstream.proxy.accept().await?;

    let body = tools_call(1, "fail_business", json!({}));
    let request = jsonrpc_request(&url, session.as_deref(), &body)?;
    print_row("tool returned isError (SSE)", call(&service, request).await);

    upstream.server.restart().await?;
    print_row(
        "server restarted (old session)",
        send(&service, &url, session.as_deref()).await,
    );

    println!("\nAn SSE answer is never buffered to classify it: an isError result inside a stream is");
    println!("classified by its status (success); the same result as a small JSON body is business.");
    Ok(())
}

type Outcome = Result<(StatusCode, Classification), BoxError>;

async fn send<S>(service: &S, url: &str, session: Option<&str>) -> Outcome
where
    S: Service<
            http::Request<Full<Bytes>>,
            Response = http::Response<mcp_reconnect::classify::ClassifyBody<hyper::body::Incoming>>,
            Error = BoxError,
        > + Clone,
{
    let request = jsonrpc_request(url, session, &tools_call(1, "echo", json!({"text": "hi"})))?;
    call(service, request).await
}

async fn call<S>(service: &S, request: http::Request<Full<Bytes>>) -> Outcome
where
    S: Service<
            http::Request<Full<Bytes>>,
            Response = http::Response<mcp_reconnect::classify::ClassifyBody<hyper::body::Incoming>>,
            Error = BoxError,
        > + Clone,
{
    let response = service.clone().oneshot(request).await?;
    let class = response
        .extensions()
        .get::<Classification>()
        .cloned()
        .ok_or("not classified")?;
    Ok((response.status(), class))
}

fn print_row(fault: &str, outcome: Outcome) {
    let (saw, class) = match outcome {
        Ok((status, class)) => (status.to_string(), class),
        Err(error) => match error.downcast_ref::<ClassifiedError>() {
            Some(classified) => (
                "error".to_string(),
                Classification::Failure(classified.failure().clone()),
            ),
            None => (format!("error: {error}"), Classification::Success),
        },
    };
    let reached = class.failure().map_or("yes", |f| f.reached().as_str());
    println!(
        "{fault:<34} {saw:<26} {:<13} {reached:<8} {}",
        class.as_str(),
        class.is_recoverable()
    );
}
