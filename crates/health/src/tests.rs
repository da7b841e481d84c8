//! Unit tests: a real `CircuitReconnectLayer` over a scripted connector, in
//! paused time, with the health layer on top.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_reconnect_circuit::{CircuitReconnect, CircuitReconnectLayer, CircuitStatus, Config};
use mcp_reconnect_core::BoxError;
use serde_json::Value;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt, service_fn};

use crate::{Health, HealthLayer};

#[cfg(feature = "prometheus")]
#[path = "../tests/common/expo.rs"]
mod expo;
mod exposition;
mod shape;
mod store;
mod surface;
#[cfg(feature = "prometheus")]
mod text;

/// What the fake upstream answers (`1` is a reset), and how connects go.
#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<VecDeque<u16>>>,
    connect_failures: Arc<Mutex<VecDeque<io::ErrorKind>>>,
    connects: Arc<AtomicUsize>,
    connect_delay: Duration,
}

impl Script {
    fn answer(&self, answers: &[u16]) {
        self.answers.lock().unwrap().extend(answers);
    }

    fn fail_connects(&self, kind: io::ErrorKind, n: usize) {
        self.connect_failures
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(kind, n));
    }
}

type Body = Full<Bytes>;
type Upstream = BoxCloneSyncService<Request<Body>, Response<Body>, io::Error>;
type Connector = BoxCloneSyncService<u16, Upstream, io::Error>;
type Circuit = CircuitReconnect<Connector, u16>;
type Stack = Health<Circuit>;

fn connector(script: Script) -> Connector {
    BoxCloneSyncService::new(service_fn(move |_target: u16| {
        let script = script.clone();
        async move {
            script.connects.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(script.connect_delay).await;
            if let Some(kind) = script.connect_failures.lock().unwrap().pop_front() {
                return Err(io::Error::from(kind));
            }
            let answers = script.answers.clone();
            Ok(BoxCloneSyncService::new(service_fn(move |_: Request<Body>| {
                let answer = answers.lock().unwrap().pop_front().unwrap_or(200);
                async move {
                    match answer {
                        1 => Err(io::Error::from(io::ErrorKind::ConnectionReset)),
                        status => Ok(Response::builder().status(status).body(Body::default()).unwrap()),
                    }
                }
            })))
        }
    }))
}

/// A circuit named `name` with the test policy (2 attempts, no rate limit,
/// no jitter, failing fast while open).
fn circuit(name: &str, script: &Script) -> (CircuitStatus, Circuit) {
    let layer = CircuitReconnectLayer::with_config(
        8080u16,
        Config::default()
            .max_attempts(2)
            .min_interval(Duration::ZERO)
            .reconnect_wait(Duration::ZERO)
            .jitter(0.0),
    )
    .name(name);
    (layer.status(), layer.layer(connector(script.clone())))
}

fn stack(name: &str, script: &Script) -> (CircuitStatus, Stack) {
    let (status, circuit) = circuit(name, script);
    (status.clone(), HealthLayer::new(status).layer(circuit))
}

/// One call through `service`: the status, or the error.
async fn call<S>(service: &S, path: &str) -> Result<StatusCode, BoxError>
where
    S: tower::Service<Request<Body>, Response = Response<crate::HealthBody<Body>>> + Clone,
    S::Error: Into<BoxError>,
{
    let request = Request::post(path).body(Body::default()).unwrap();
    let response = service.clone().oneshot(request).await.map_err(Into::into)?;
    Ok(response.status())
}

/// A `GET` (or any method) with headers; the status, headers and whole body.
async fn fetch<S>(service: &S, request: Request<Body>) -> (StatusCode, http::HeaderMap, Bytes)
where
    S: tower::Service<Request<Body>, Response = Response<crate::HealthBody<Body>>> + Clone,
    S::Error: std::fmt::Debug,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

async fn get<S>(service: &S, uri: &str) -> (StatusCode, http::HeaderMap, Bytes)
where
    S: tower::Service<Request<Body>, Response = Response<crate::HealthBody<Body>>> + Clone,
    S::Error: std::fmt::Debug,
{
    fetch(service, Request::get(uri).body(Body::default()).unwrap()).await
}

async fn get_json<S>(service: &S, uri: &str) -> (StatusCode, Value)
where
    S: tower::Service<Request<Body>, Response = Response<crate::HealthBody<Body>>> + Clone,
    S::Error: std::fmt::Debug,
{
    let (status, headers, body) = get(service, uri).await;
    assert_eq!(headers["content-type"], "application/json");
    (status, serde_json::from_slice(&body).unwrap())
}

/// Lets spawned tasks and the circuit's driver run, in paused time.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}
