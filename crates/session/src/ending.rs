//! The bounds on upstream sessions: a session the store ends on its own
//! (evicted, expired) is ended upstream too, and new sessions are opened at
//! a bounded rate.
//!
//! Most clients never send `DELETE`: without these, every client session the
//! gateway forgot would stay open upstream until the server's own idle
//! timeout, and a server with a session limit (the Python SDK's is 10 000)
//! would then refuse everyone's new sessions, the gateway's own among them.

use std::future::poll_fn;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::Full;
use mcp_reconnect_core::BoxError;
use mcp_reconnect_core::headers::{MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::bounds::SharedUpstream;
use crate::layer::Shared;
use crate::stats::Counters;
use crate::store::{SessionRecord, SessionStore};

/// Upstream `DELETE`s of ended sessions in flight at once, per layer: 4.
pub const MAX_ENDING: usize = 4;
/// How long one upstream `DELETE` of an ended session may take: 5 s.
pub const ENDING_TIMEOUT: Duration = Duration::from_secs(5);

/// A request extension on an `initialize`: the session it opens is the
/// caller's own (a gateway's client for its REST routes), so it is never
/// evicted to make room for another and never counted against the open rate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PinSession;

/// New sessions per second: a token bucket with a burst of one second's worth.
pub(crate) struct OpenRate {
    per_second: u32,
    bucket: Mutex<(f64, Instant)>,
}

impl OpenRate {
    pub(crate) fn new(per_second: u32) -> Self {
        OpenRate {
            per_second,
            bucket: Mutex::new((f64::from(per_second), Instant::now())),
        }
    }

    /// Takes a token; `false` when the rate is spent (0 per second: no bound).
    pub(crate) fn admit(&self) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let rate = f64::from(self.per_second);
        let now = Instant::now();
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let (tokens, last) = *bucket;
        let tokens = (tokens + now.duration_since(last).as_secs_f64() * rate).min(rate);
        if tokens < 1.0 {
            *bucket = (tokens, now);
            return false;
        }
        *bucket = (tokens - 1.0, now);
        true
    }
}

/// The permits for upstream `DELETE`s in flight.
pub(crate) fn permits() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(MAX_ENDING))
}

/// Ends upstream the sessions the store ended on its own: one `DELETE` each
/// through `inner`, in the background, at most [`MAX_ENDING`] at once and
/// each within [`ENDING_TIMEOUT`]. Best effort: a failure is counted and
/// logged, never retried (the upstream's own idle timeout is the fallback).
/// Those left when every permit is taken wait for the next call.
pub(crate) fn end_upstream<S, St, RB>(shared: &Arc<Shared<St>>, inner: &S)
where
    S: SharedUpstream<RB>,
    St: SessionStore,
    RB: Send + 'static,
{
    // Outside a runtime there is nowhere to send them from; they wait.
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    while let Ok(permit) = Arc::clone(&shared.ending).try_acquire_owned() {
        let Some(record) = shared.store.take_ended(1).pop() else {
            return;
        };
        let mut service = inner.clone();
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            let _permit = permit;
            let send = async {
                poll_fn(|cx| service.poll_ready(cx)).await.map_err(Into::into)?;
                service.call(delete_request(&record)).await.map_err(Into::into)
            };
            match tokio::time::timeout(ENDING_TIMEOUT, send).await {
                Ok(Ok(response)) if ended(response.status()) => {
                    Counters::count(&shared.counters.ended_upstream);
                    tracing::debug!(upstream = %record.upstream(), "ended session closed upstream");
                }
                Ok(Ok(response)) => {
                    Counters::count(&shared.counters.ending_failed);
                    tracing::debug!(upstream = %record.upstream(), status = %response.status(), "upstream did not close an ended session");
                }
                Ok(Err::<_, BoxError>(error)) => {
                    Counters::count(&shared.counters.ending_failed);
                    tracing::debug!(upstream = %record.upstream(), %error, "could not close an ended session upstream");
                }
                Err(_) => {
                    Counters::count(&shared.counters.ending_failed);
                    tracing::debug!(upstream = %record.upstream(), "closing an ended session upstream timed out");
                }
            }
        });
    }
}

/// Whether the upstream no longer holds the session: closed now (`2xx`), or
/// already gone (`404`), or it does not close sessions on request (`405`).
fn ended(status: StatusCode) -> bool {
    status.is_success() || status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED
}

/// The `DELETE` that ends `record`'s upstream session.
fn delete_request(record: &SessionRecord) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.method_mut() = Method::DELETE;
    // The upstream service sends every request to its target's URL.
    *request.uri_mut() = Uri::from_static("/mcp");
    let headers = request.headers_mut();
    headers.insert(MCP_SESSION_ID, record.upstream().header_value().clone());
    if let Some(version) = record.protocol_version() {
        headers.insert(MCP_PROTOCOL_VERSION, version.clone());
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_open_rate_admits_a_second_s_worth_then_refills() {
        let rate = OpenRate::new(3);
        assert!((0..3).all(|_| rate.admit()));
        assert!(!rate.admit(), "the burst is spent");
        tokio::time::advance(Duration::from_millis(340)).await;
        assert!(rate.admit(), "a third of a second gives one back");
        assert!(!rate.admit());
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!((0..3).all(|_| rate.admit()), "never more than the burst");
        assert!(!rate.admit());
        let off = OpenRate::new(0);
        assert!((0..10_000).all(|_| off.admit()));
    }
}
