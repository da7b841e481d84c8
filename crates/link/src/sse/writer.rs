//! Messages to the server: each one `POST`ed to the endpoint its stream named.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use tokio::sync::{Semaphore, mpsc};

use super::{HttpClient, error_text, send};
use crate::link::{Ending, Outgoing};

/// `POST`s in flight to one server at once; more wait their turn.
const POSTS_IN_FLIGHT: usize = 32;
/// The most of a `POST`'s answer read (a legacy server answers `Accepted`).
const POST_ANSWER_LIMIT: usize = 64 * 1024;
/// Posts each message to the endpoint the stream named.
pub(super) struct Writer<C> {
    pub(super) client: C,
    pub(super) headers: HeaderMap,
    pub(super) endpoint: Arc<std::sync::Mutex<Uri>>,
    /// How long one `POST` may take (a server may never answer one for a session it lost).
    pub(super) timeout: Duration,
}

impl<C: HttpClient> Writer<C> {
    /// Requests go concurrently (bounded); notifications and answers in
    /// order, each after the one before it.
    pub(super) async fn run(self, mut queue: mpsc::Receiver<Outgoing>, ending: Ending) {
        let in_flight = Arc::new(Semaphore::new(POSTS_IN_FLIGHT));
        while let Some(Outgoing { message, written }) = queue.recv().await {
            let uri = self
                .endpoint
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            let post = post(
                self.client.clone(),
                uri,
                self.headers.clone(),
                message,
                self.timeout,
            );
            let Some(written) = written else {
                if let Err(why) = post.await {
                    ending.end(&why);
                    return;
                }
                continue;
            };
            let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
                return;
            };
            written.store(true, Ordering::Relaxed);
            let ending = ending.clone();
            tokio::spawn(async move {
                if let Err(why) = post.await {
                    ending.end(&why);
                }
                drop(permit);
            });
        }
    }
}

/// One message `POST`ed; `Err` says why the link cannot go on.
async fn post<C: HttpClient>(
    client: C,
    uri: Uri,
    headers: HeaderMap,
    message: Vec<u8>,
    timeout: Duration,
) -> Result<(), String> {
    let mut request = Request::new(Full::new(Bytes::from(message)));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    let request_headers = request.headers_mut();
    request_headers.extend(headers);
    request_headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let response = match tokio::time::timeout(timeout, send(client, request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            return Err(format!(
                "posting a message failed: {}",
                error_text(error.as_ref())
            ));
        }
        Err(_) => return Err(format!("a message's POST had no answer within {timeout:?}")),
    };
    let status = response.status();
    // Read the short answer so the connection goes back to the pool.
    let _ = tokio::time::timeout(
        timeout,
        Limited::new(response.into_body(), POST_ANSWER_LIMIT).collect(),
    )
    .await;
    match status {
        status if status.is_success() => Ok(()),
        StatusCode::NOT_FOUND => Err("the server forgot the session (a POST answered 404)".to_owned()),
        status => Err(format!("the server refused a message ({status})")),
    }
}
