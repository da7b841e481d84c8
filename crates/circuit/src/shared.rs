//! The state every clone of one circuit shares, and the driver task that runs
//! reconnect attempts and probes — one at a time, outliving whichever caller
//! started it, aborted when the last clone is dropped.

use std::future::poll_fn;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use mcp_reconnect_core::{BoxError, Classification, Failure, FailureClass, Reached, classify_error};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower_service::Service;
use tracing::Instrument;

use crate::backoff::{Rng, jittered};
use crate::config::Config;
use crate::state::{CircuitState, Effects, Machine, Outcome, Reason, Transition};
use crate::status::CircuitStatus;

/// What the shared state and its driver need of the connector: it makes
/// services, cloned to every caller, on the driver's task.
pub(crate) trait Connector<T>:
    Service<T, Response: Clone + Send + 'static, Error: Into<BoxError>, Future: Send> + Send + 'static
{
}

impl<M, T> Connector<T> for M where
    M: Service<T, Response: Clone + Send + 'static, Error: Into<BoxError>, Future: Send> + Send + 'static
{
}

/// What the circuit needs of its target: cloned into every attempt.
pub(crate) trait Target: Clone + Send + Sync + 'static {}

impl<T> Target for T where T: Clone + Send + Sync + 'static {}

pub(crate) struct Shared<M, T, S> {
    pub(crate) status: CircuitStatus,
    pub(crate) config: Config,
    /// Woken on every state change and new service: callers waiting for a reconnect.
    pub(crate) changed: Arc<Notify>,
    /// Half-open calls in flight (bounded by `config.half_open_permits`).
    pub(crate) half_open: Arc<AtomicU32>,
    target: T,
    inner: Mutex<Inner<M, S>>,
}

struct Inner<M, S> {
    machine: Machine,
    service: Option<S>,
    /// `None` while the driver holds it: exactly one attempt loop at a time.
    connector: Option<M>,
    driver: Option<JoinHandle<()>>,
    rng: Rng,
}

/// What a response future needs from the circuit, without its type parameters.
pub(crate) trait Report: Send + Sync {
    fn report(self: Arc<Self>, outcome: Outcome, generation: u64);
}

impl<M, T, S> Shared<M, T, S>
where
    M: Connector<T, Response = S>,
    T: Target,
{
    pub(crate) fn new(connector: M, target: T, config: Config, status: CircuitStatus) -> Self {
        Shared {
            status,
            config,
            changed: Arc::new(Notify::new()),
            half_open: Arc::new(AtomicU32::new(0)),
            target,
            inner: Mutex::new(Inner {
                machine: Machine::new(),
                service: None,
                connector: Some(connector),
                driver: None,
                rng: Rng::from_time(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<M, S>> {
        // A panic while holding this lock leaves the machine consistent (every
        // change is one assignment), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current upstream service and its generation, if one is installed.
    pub(crate) fn current(&self) -> Option<(u64, S)> {
        let inner = self.lock();
        let service = inner.service.clone()?;
        Some((inner.machine.generation(), service))
    }

    /// Connects for the first time (once, whoever asks first).
    pub(crate) fn start(self: &Arc<Self>) {
        let mut inner = self.lock();
        let effects = inner.machine.start(Instant::now());
        self.apply(&mut inner, &effects);
    }

    /// Publishes a transition and, if asked, starts the driver.
    fn apply(self: &Arc<Self>, inner: &mut Inner<M, S>, effects: &Effects) {
        if let Some(transition) = &effects.transition {
            self.publish(inner, transition);
        } else {
            self.status
                .set_state(inner.machine.state(), inner.machine.errors());
        }
        // No connector here means the driver holds it: it goes on by itself.
        if let Some(after) = effects.attempt_after
            && let Some(connector) = inner.connector.take()
        {
            let delay = jittered(after, self.config.jitter, &mut inner.rng);
            self.status.set_next_attempt(Instant::now() + delay);
            let span = tracing::info_span!("mcp.reconnect", upstream = %self.status.name());
            let driver = drive(Arc::downgrade(self), connector, delay).instrument(span);
            inner.driver = Some(tokio::spawn(driver));
        }
    }

    fn publish(&self, inner: &Inner<M, S>, transition: &Transition) {
        let machine = &inner.machine;
        match transition.to {
            CircuitState::Reconnecting | CircuitState::Open => self.status.set_outage(true),
            CircuitState::Healthy => self.status.set_outage(false),
            CircuitState::Degraded | CircuitState::HalfOpen => {}
        }
        self.status.set_generation(machine.generation());
        self.status.set_state(machine.state(), machine.errors());
        self.status.record_transition(transition);
        log_transition(&self.status.name(), transition, machine.errors(), &self.config);
        self.changed.notify_waiters();
    }

    async fn connect(&self, connector: &mut M) -> Result<S, Failure> {
        let attempt = async {
            poll_fn(|cx| connector.poll_ready(cx)).await.map_err(Into::into)?;
            connector.call(self.target.clone()).await.map_err(Into::into)
        };
        match tokio::time::timeout(self.config.attempt_timeout, attempt).await {
            Ok(Ok(service)) => Ok(service),
            Ok(Err(error)) => {
                let error: BoxError = error;
                let failure = classify_error(&*error);
                tracing::debug!(error = %error, class = %failure.class(), "connect attempt failed");
                Err(failure)
            }
            Err(_) => Err(Failure::new(FailureClass::Timeout, Reached::No)),
        }
    }
}

impl<M, T, S> Report for Shared<M, T, S>
where
    M: Connector<T, Response = S>,
    T: Target,
{
    fn report(self: Arc<Self>, outcome: Outcome, generation: u64) {
        let classification = match &outcome {
            Outcome::Success => Classification::Success,
            Outcome::Failure(failure) => Classification::Failure(failure.clone()),
        };
        self.status.record_outcome(&classification);
        if let Outcome::Failure(failure) = &outcome
            && failure.is_recoverable()
        {
            tracing::info!(upstream = %self.status.name(), class = %failure.class(), "recoverable error detected");
        }
        let mut inner = self.lock();
        let effects = inner
            .machine
            .on_outcome(&outcome, generation, Instant::now(), &self.config);
        self.apply(&mut inner, &effects);
    }
}

impl<M, T, S> Drop for Shared<M, T, S> {
    fn drop(&mut self) {
        let inner = self
            .inner
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(driver) = inner.driver.take() {
            driver.abort();
        }
    }
}

/// The attempt loop: sleeps, connects, feeds the machine, until the machine
/// stops asking for attempts. Holds only a `Weak` to the circuit.
async fn drive<M, T, S>(shared: Weak<Shared<M, T, S>>, mut connector: M, mut delay: Duration)
where
    M: Connector<T, Response = S>,
    T: Target,
{
    loop {
        if !delay.is_zero() {
            tracing::debug!(
                backoff_ms = delay.as_millis() as u64,
                "waiting before the next attempt"
            );
            tokio::time::sleep(delay).await;
        }
        let Some(shared) = shared.upgrade() else { return };
        let started = Instant::now();
        let result = shared.connect(&mut connector).await;
        let now = Instant::now();
        shared.status.record_attempt(now - started, result.is_ok());
        let mut inner = shared.lock();
        let effects = inner
            .machine
            .on_attempt(result.as_ref().map(|_| ()), now, &shared.config);
        if let Ok(service) = result
            && effects.transition.is_some()
        {
            inner.service = Some(service);
        }
        if let Some(transition) = &effects.transition {
            shared.publish(&inner, transition);
        }
        match effects.attempt_after {
            Some(after) => {
                delay = jittered(after, shared.config.jitter, &mut inner.rng);
                shared.status.set_next_attempt(now + delay);
            }
            None => {
                // Hand the connector back in the same critical section that ended
                // the loop, so the next episode always finds it.
                inner.connector = Some(connector);
                inner.driver = None;
                return;
            }
        }
    }
}

fn log_transition(upstream: &str, transition: &Transition, errors: u32, config: &Config) {
    let Transition { from, to, reason, .. } = *transition;
    match (to, reason) {
        (CircuitState::Open, Reason::AttemptsExhausted) => tracing::error!(
            upstream, %from, %to, %reason, attempts = config.max_attempts,
            "reconnecting failed; circuit open, failing fast while probing"
        ),
        (CircuitState::Reconnecting, _) => tracing::info!(upstream, %from, %to, %reason, "reconnecting"),
        (CircuitState::Healthy, _) => tracing::info!(
            upstream, %from, %to, %reason,
            recovered_ms = transition.recovered_after.map(|d| d.as_millis() as u64),
            "connected"
        ),
        (CircuitState::Degraded | CircuitState::Open, _) => tracing::warn!(
            upstream, %from, %to, %reason, error_count = errors, threshold = config.error_threshold,
            "upstream failing"
        ),
        _ => tracing::info!(upstream, %from, %to, %reason, "circuit state changed"),
    }
}
