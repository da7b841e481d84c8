//! A legacy SSE server that numbers its events: a stream that drops is
//! reopened with `Last-Event-ID`, and an answer the server sends on the
//! resumed stream reaches the call that waited for it. A resumed stream that
//! names another endpoint is another server session: the link ends.
//!
//! The server is a few lines of HTTP/1.1 on a real 127.0.0.1 socket (neither
//! SDK's legacy server numbers its events or resumes).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_link::{SseConfig, SseConnector, SseTarget};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tower::{Service, ServiceExt};

/// What the server does when a stream is reopened with `Last-Event-ID`.
#[derive(Clone, Copy, PartialEq)]
enum Resume {
    /// Sends what the dropped stream missed.
    Replay,
    /// Names a new endpoint: a new session.
    NewSession,
}

#[derive(Default)]
struct State {
    stream: Mutex<Option<TcpStream>>,
    /// Answers not delivered because the stream was cut.
    missed: Mutex<Vec<String>>,
    next_event: AtomicUsize,
    opens: AtomicUsize,
    last_event_ids: std::sync::Mutex<Vec<String>>,
}

async fn serve(listener: TcpListener, state: Arc<State>, resume: Resume) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            return;
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let _ = handle(socket, state, resume).await;
        });
    }
}

async fn handle(mut socket: TcpStream, state: Arc<State>, resume: Resume) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            line.strip_prefix(&format!("{name}: "))
                .map(str::trim)
                .map(str::to_owned)
        })
    };
    if head.starts_with("get /sse") {
        state.opens.fetch_add(1, Ordering::Relaxed);
        // Held until the stream is stored: a POST that follows the endpoint event finds it.
        let mut stream = state.stream.lock().await;
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n")
            .await?;
        match header("last-event-id") {
            None => {
                let id = state.next_event.fetch_add(1, Ordering::Relaxed);
                let event = format!("id: {id}\nevent: endpoint\ndata: /messages?s=1\n\n");
                socket.write_all(event.as_bytes()).await?;
            }
            Some(last) => {
                state.last_event_ids.lock().expect("the lock").push(last);
                if resume == Resume::NewSession {
                    socket
                        .write_all(b"event: endpoint\ndata: /messages?s=2\n\n")
                        .await?;
                }
                for missed in state.missed.lock().await.drain(..) {
                    socket.write_all(missed.as_bytes()).await?;
                }
            }
        }
        *stream = Some(socket);
        return Ok(());
    }
    let length: usize = header("content-length").and_then(|n| n.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; length];
    socket.read_exact(&mut body).await?;
    socket
        .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 8\r\nconnection: close\r\n\r\nAccepted")
        .await?;
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(id) = message.get("id").cloned() else {
        return Ok(());
    };
    let result = match message["method"].as_str() {
        Some("initialize") => json!({"protocolVersion": "2024-11-05", "capabilities": {"tools": {}},
                                     "serverInfo": {"name": "numbered", "version": "1"}}),
        _ => json!({"content": [{"type": "text", "text": message["params"]["name"]}]}),
    };
    let n = state.next_event.fetch_add(1, Ordering::Relaxed);
    let answer = json!({"jsonrpc": "2.0", "id": id, "result": result});
    let event = format!("id: {n}\ndata: {answer}\n\n");
    let mut stream = state.stream.lock().await;
    if message["params"]["name"] == "cut" {
        // The stream drops before the answer: it waits for the resumed one.
        state.missed.lock().await.push(event);
        *stream = None;
        return Ok(());
    }
    if let Some(stream) = stream.as_mut() {
        stream.write_all(event.as_bytes()).await?;
    }
    Ok(())
}

async fn start(resume: Resume) -> (Arc<State>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}/sse", listener.local_addr().expect("an address"));
    let state = Arc::new(State::default());
    tokio::spawn(serve(listener, Arc::clone(&state), resume));
    (state, url)
}

fn call(id: u64, tool: &str) -> Request<Full<Bytes>> {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                      "params": {"name": tool, "arguments": {}}});
    Request::post("/mcp")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a request")
}

async fn connect(url: &str) -> mcp_reconnect_link::LinkService {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let connector = SseConnector::new(
        client,
        SseConfig::default().handshake_timeout(Duration::from_secs(10)),
    );
    let target = SseTarget::new(url).expect("a URL");
    tokio::time::timeout(Duration::from_secs(10), connector.oneshot(target))
        .await
        .expect("connects in time")
        .expect("connects")
}

/// Calls `cut` (id 7), in whose answer the test server drops the stream:
/// its answer or the link's error, within 10 s.
async fn call_cut(
    service: &mut mcp_reconnect_link::LinkService,
) -> Result<http::Response<mcp_reconnect_link::LinkBody>, mcp_reconnect_core::BoxError> {
    let answer = service.ready().await.expect("ready").call(call(7, "cut"));
    tokio::time::timeout(Duration::from_secs(10), answer)
        .await
        .expect("answered or ended in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_is_resumed_with_the_last_event_id_and_the_answer_arrives() {
    let (state, url) = start(Resume::Replay).await;
    let mut service = connect(&url).await;
    let answer = call_cut(&mut service).await.expect("an answer");
    assert_eq!(answer.status(), StatusCode::OK);
    let body = answer.into_body().collect().await.expect("a body").to_bytes();
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(body["id"], 7, "{body}");
    assert_eq!(body["result"]["content"][0]["text"], "cut", "{body}");
    assert_eq!(state.opens.load(Ordering::Relaxed), 2, "one resume");
    // Events 0 (endpoint) and 1 (initialize's answer) were read before the drop.
    assert_eq!(
        *state.last_event_ids.lock().expect("the lock"),
        vec!["1".to_owned()]
    );
    assert!(service.ended().is_none(), "the link goes on");
    let again = service
        .ready()
        .await
        .expect("ready")
        .call(call(8, "echo"))
        .await
        .expect("an answer");
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_stream_on_another_session_ends_the_link() {
    let (_state, url) = start(Resume::NewSession).await;
    let mut service = connect(&url).await;
    let error = call_cut(&mut service).await.expect_err("the link ends");
    let error = mcp_reconnect_core::error::chain(error.as_ref())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    assert!(error.contains("another session"), "{error}");
    assert!(service.ended().is_some());
}
