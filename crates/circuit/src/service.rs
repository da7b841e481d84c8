use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, Response};
use mcp_reconnect_core::{BoxError, ClassifiedError, Deadline, Failure, FailureClass, Reached, RequestFacts};
use tokio::sync::futures::OwnedNotified;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::config::Config;
use crate::error::{CircuitOpen, NotReady};
use crate::future::ResponseFuture;
use crate::shared::{Report, Shared};
use crate::state::{CircuitState, Outcome};
use crate::status::CircuitStatus;

/// The service made by [`CircuitReconnectLayer`](crate::CircuitReconnectLayer):
/// owns a connector `M` that makes upstream services for target `T`, and
/// routes each call to the current one.
///
/// Clones share one circuit (state, counters, the single reconnect); each
/// clone keeps its own copy of the current upstream service and its readiness.
pub struct CircuitReconnect<M, T>
where
    M: Service<T>,
{
    shared: Arc<Shared<M, T, M::Response>>,
    cached: Option<(u64, M::Response)>,
    ready: Option<Ready>,
    waiting: Option<Pin<Box<OwnedNotified>>>,
    /// This clone's call waiting for the upstream to come back, if it is.
    hold: Option<Hold>,
}

/// A call waiting in `poll_ready` for the circuit to close: its waiting
/// slot (given back on drop, so a caller that gives up frees it) and when
/// the wait must end.
struct Hold {
    status: CircuitStatus,
    since: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    ended: bool,
}

impl Hold {
    fn end(mut self, released: bool) {
        self.ended = true;
        self.status.end_hold(Some((self.since.elapsed(), released)));
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if !self.ended {
            self.status.end_hold(None);
        }
    }
}

/// What waiting for the upstream came to.
enum Held {
    /// The state changed: look again.
    Changed,
    /// Fail this call fast (the wait ran out, or too many wait).
    FailFast,
}

/// What `poll_ready` decided, for `call` to carry out.
enum Ready {
    Upstream(Option<Permit>),
    FailFast(Duration),
    Failed(BoxError),
}

/// A half-open call slot, given back on drop (so a cancelled probe never wedges the circuit).
pub(crate) struct Permit(Arc<AtomicU32>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<M, T> CircuitReconnect<M, T>
where
    M: Service<T, Response: Clone + Send + 'static> + Send + 'static,
    M::Error: Into<BoxError>,
    M::Future: Send,
    T: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(connector: M, target: T, config: Config, status: CircuitStatus) -> Self {
        CircuitReconnect {
            shared: Arc::new(Shared::new(connector, target, config, status)),
            cached: None,
            ready: None,
            waiting: None,
            hold: None,
        }
    }
}

impl<M, T> CircuitReconnect<M, T>
where
    M: Service<T>,
{
    /// The circuit's status handle.
    pub fn status(&self) -> CircuitStatus {
        self.shared.status.clone()
    }
}

impl<M, T> Clone for CircuitReconnect<M, T>
where
    M: Service<T, Response: Clone>,
{
    fn clone(&self) -> Self {
        // Readiness and half-open permits belong to one clone: never copied.
        CircuitReconnect {
            shared: self.shared.clone(),
            cached: self.cached.clone(),
            ready: None,
            waiting: None,
            hold: None,
        }
    }
}

impl<M, T> fmt::Debug for CircuitReconnect<M, T>
where
    M: Service<T>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitReconnect")
            .field("upstream", &self.shared.status.name())
            .field("state", &self.shared.status.state())
            .finish_non_exhaustive()
    }
}

impl<M, T, S, B, RB> Service<Request<B>> for CircuitReconnect<M, T>
where
    M: Service<T, Response = S> + Send + 'static,
    M::Error: Into<BoxError>,
    M::Future: Send,
    T: Clone + Send + Sync + 'static,
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = Response<RB>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.ready.is_some() {
            return Poll::Ready(Ok(()));
        }
        loop {
            let state = self.shared.status.state();
            let permit = match state {
                CircuitState::Healthy | CircuitState::Degraded if self.shared.status.generation() == 0 => {
                    // Never connected: the first caller starts it, everyone waits.
                    self.shared.start();
                    continue;
                }
                CircuitState::Healthy | CircuitState::Degraded => {
                    if let Some(hold) = self.hold.take() {
                        hold.end(true);
                    }
                    None
                }
                CircuitState::Reconnecting | CircuitState::Open => match ready!(self.poll_hold(cx, state)) {
                    Held::Changed => continue,
                    Held::FailFast => {
                        self.ready = Some(Ready::FailFast(self.retry_after()));
                        return Poll::Ready(Ok(()));
                    }
                },
                CircuitState::HalfOpen => match self.end_hold_then_permit() {
                    Some(permit) => Some(permit),
                    None => {
                        self.ready = Some(Ready::FailFast(self.retry_after()));
                        return Poll::Ready(Ok(()));
                    }
                },
            };
            let generation = self.shared.status.generation();
            if self
                .cached
                .as_ref()
                .is_none_or(|(cached, _)| *cached != generation)
            {
                self.cached = self.shared.current();
            }
            let Some((generation, service)) = self.cached.as_mut() else {
                // The state moved on between our reads: look again.
                continue;
            };
            return match service.poll_ready(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(())) => {
                    self.ready = Some(Ready::Upstream(permit));
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(error)) => {
                    // A broken upstream service is a dead connection, not our death:
                    // count it, drop the copy, and fail only this call (tower's reconnect does the same).
                    let error = ClassifiedError::classify(error);
                    let failure = error.failure().clone();
                    let generation = *generation;
                    self.cached = None;
                    Report::report(self.shared.clone(), Outcome::Failure(failure), generation);
                    self.ready = Some(Ready::Failed(error.into()));
                    Poll::Ready(Ok(()))
                }
            };
        }
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.ready.take() {
            Some(Ready::Upstream(permit)) => match self.cached.as_mut() {
                Some((generation, service)) => {
                    let facts = RequestFacts::from_request(&request);
                    let deadline = Deadline::of(&request);
                    let reporter: Arc<dyn Report> = self.shared.clone();
                    let status = self.shared.status.clone();
                    ResponseFuture::upstream(
                        service.call(request),
                        reporter,
                        status,
                        *generation,
                        facts,
                        permit,
                        deadline,
                    )
                }
                None => ResponseFuture::failed(NotReady.into()),
            },
            Some(Ready::FailFast(retry_after)) => {
                self.shared.status.record_fail_fast();
                let open = CircuitOpen {
                    upstream: self.shared.status.name(),
                    retry_after,
                };
                let failure =
                    Failure::new(FailureClass::Unavailable, Reached::No).with_retry_after(Some(retry_after));
                ResponseFuture::failed(ClassifiedError::new(failure, open).into())
            }
            Some(Ready::Failed(error)) => ResponseFuture::failed(error),
            None => ResponseFuture::failed(NotReady.into()),
        }
    }
}

impl<M, T> CircuitReconnect<M, T>
where
    M: Service<T>,
{
    /// Waits until the circuit leaves `state` (registering before re-checking,
    /// so a change between the check and the wait is never missed).
    fn poll_changed(&mut self, cx: &mut Context<'_>, state: CircuitState) -> Poll<()> {
        let waiting = self.waiting.get_or_insert_with(|| {
            let mut notified = Box::pin(self.shared.changed.clone().notified_owned());
            notified.as_mut().enable();
            notified
        });
        if self.shared.status.state() != state {
            self.waiting = None;
            return Poll::Ready(());
        }
        ready!(waiting.as_mut().poll(cx));
        self.waiting = None;
        Poll::Ready(())
    }

    /// Waits, while the circuit is reconnecting or open, for it to change:
    /// within [`Config::reconnect_wait`] of the outage's start, and while
    /// fewer than [`Config::max_waiting`] calls wait. Reconnecting with no
    /// wait configured waits for the attempt as a circuit always did; open
    /// with none fails fast.
    fn poll_hold(&mut self, cx: &mut Context<'_>, state: CircuitState) -> Poll<Held> {
        if state == CircuitState::Reconnecting && self.shared.status.generation() == 0 {
            // The first connect is no outage: callers wait for it, as for any connect.
            ready!(self.poll_changed(cx, state));
            return Poll::Ready(Held::Changed);
        }
        let config = &self.shared.config;
        let status = &self.shared.status;
        let window = config.reconnect_wait;
        if window.is_zero() && state == CircuitState::Open {
            return Poll::Ready(Held::FailFast);
        }
        let now = Instant::now();
        let deadline = (!window.is_zero()).then(|| status.outage_since().unwrap_or(now) + window);
        if deadline.is_some_and(|deadline| now >= deadline) {
            if let Some(hold) = self.hold.take() {
                hold.end(false);
            }
            return Poll::Ready(Held::FailFast);
        }
        if self.hold.is_none() {
            if !status.try_hold(config.max_waiting) {
                tracing::debug!(upstream = %status.name(), "too many calls waiting for the upstream; shed");
                return Poll::Ready(Held::FailFast);
            }
            tracing::debug!(upstream = %status.name(), %state, "waiting for the upstream to come back");
            self.hold = Some(Hold {
                status: status.clone(),
                since: now,
                timer: deadline.map(|deadline| Box::pin(tokio::time::sleep_until(deadline))),
                ended: false,
            });
        }
        if self.poll_changed(cx, state).is_ready() {
            return Poll::Ready(Held::Changed);
        }
        let expired = self
            .hold
            .as_mut()
            .and_then(|hold| hold.timer.as_mut())
            .is_some_and(|timer| timer.as_mut().poll(cx).is_ready());
        if expired {
            if let Some(hold) = self.hold.take() {
                hold.end(false);
            }
            return Poll::Ready(Held::FailFast);
        }
        Poll::Pending
    }

    /// When to try again: the next probe, but never "now" (a probe in flight
    /// says 0), so a retry loop above waits instead of spinning through its tries.
    fn retry_after(&self) -> Duration {
        self.shared
            .status
            .next_attempt_in()
            .max(self.shared.config.probe_min)
    }

    fn end_hold_then_permit(&mut self) -> Option<Permit> {
        if let Some(hold) = self.hold.take() {
            hold.end(true);
        }
        self.try_permit()
    }

    fn try_permit(&self) -> Option<Permit> {
        let limit = self.shared.config.half_open_permits;
        let in_flight = &self.shared.half_open;
        in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Permit(in_flight.clone()))
    }
}
