//! The status handle: a cheap, lock-free view of one circuit that health
//! checks, metrics and users read without touching the request path.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mcp_reconnect_core::metrics::Histogram;
use mcp_reconnect_core::{Classification, FailureClass};
use tokio::time::Instant;

use mcp_reconnect_core::status::{CircuitState, Reason, StatusSnapshot, StatusSource};

use crate::state::Transition;

/// A shared view of one circuit's state and counters; clones are cheap and
/// see the same circuit.
#[derive(Clone, Debug)]
pub struct CircuitStatus {
    cells: Arc<StatusCells>,
}

#[derive(Debug)]
struct StatusCells {
    /// Renamed by the layer's `name()`: every handle already taken sees it.
    name: RwLock<Arc<str>>,
    epoch: Instant,
    state: AtomicU8,
    generation: AtomicU64,
    error_count: AtomicU32,
    last_check_micros: AtomicU64,
    last_failure: AtomicU8,
    next_attempt_micros: AtomicU64,
    reconnect_attempts: AtomicU64,
    reconnects_succeeded: AtomicU64,
    reconnects_failed: AtomicU64,
    fail_fast: AtomicU64,
    /// When the outage began (micros since `epoch`, plus one; 0: none).
    outage_since_micros: AtomicU64,
    held_now: AtomicU32,
    held_total: AtomicU64,
    held_released: AtomicU64,
    held_expired: AtomicU64,
    held_shed: AtomicU64,
    held_wait: Histogram,
    requests: [AtomicU64; 1 + FailureClass::ALL.len()],
    transitions: [AtomicU64; Reason::ALL.len()],
    recovery: Histogram,
    attempt_duration: Histogram,
}

/// A state in one byte, for the status cell.
fn encode(state: CircuitState) -> u8 {
    u8::try_from(state.index()).unwrap_or(u8::MAX)
}

fn decode(n: u8) -> CircuitState {
    CircuitState::ALL
        .get(usize::from(n))
        .copied()
        .unwrap_or(CircuitState::HalfOpen)
}

impl StatusSource for CircuitStatus {
    fn name(&self) -> Arc<str> {
        CircuitStatus::name(self)
    }

    fn snapshot(&self) -> StatusSnapshot {
        CircuitStatus::snapshot(self)
    }

    fn state(&self) -> CircuitState {
        CircuitStatus::state(self)
    }
}

impl CircuitStatus {
    pub(crate) fn new(name: Arc<str>) -> Self {
        CircuitStatus {
            cells: Arc::new(StatusCells {
                name: RwLock::new(name),
                epoch: Instant::now(),
                state: AtomicU8::new(encode(CircuitState::Healthy)),
                generation: AtomicU64::new(0),
                error_count: AtomicU32::new(0),
                last_check_micros: AtomicU64::new(0),
                last_failure: AtomicU8::new(0),
                next_attempt_micros: AtomicU64::new(0),
                reconnect_attempts: AtomicU64::new(0),
                reconnects_succeeded: AtomicU64::new(0),
                reconnects_failed: AtomicU64::new(0),
                fail_fast: AtomicU64::new(0),
                outage_since_micros: AtomicU64::new(0),
                held_now: AtomicU32::new(0),
                held_total: AtomicU64::new(0),
                held_released: AtomicU64::new(0),
                held_expired: AtomicU64::new(0),
                held_shed: AtomicU64::new(0),
                held_wait: Histogram::new(),
                requests: Default::default(),
                transitions: Default::default(),
                recovery: Histogram::new(),
                attempt_duration: Histogram::new(),
            }),
        }
    }

    /// The upstream's display name.
    pub fn name(&self) -> Arc<str> {
        Arc::clone(&self.cells.name.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Gives the circuit a new display name, for every handle.
    pub(crate) fn rename(&self, name: Arc<str>) {
        *self.cells.name.write().unwrap_or_else(PoisonError::into_inner) = name;
    }

    /// The circuit's state now.
    pub fn state(&self) -> CircuitState {
        decode(self.cells.state.load(Relaxed))
    }

    /// Consecutive recoverable failures counted now.
    pub fn error_count(&self) -> u32 {
        self.cells.error_count.load(Relaxed)
    }

    /// Connect attempts (and probes) made since start.
    pub fn reconnect_attempts(&self) -> u64 {
        self.cells.reconnect_attempts.load(Relaxed)
    }

    /// Reconnects that succeeded since start: it changes exactly when the
    /// upstream connection was replaced, so a client can tell cheaply whether
    /// what it learned (a session, a tool list) may be stale. The snapshot
    /// has it too, but builds every counter and histogram.
    pub fn reconnects_succeeded(&self) -> u64 {
        self.cells.reconnects_succeeded.load(Relaxed)
    }

    /// How long until the next connect attempt or probe (zero if none is waiting).
    pub fn next_attempt_in(&self) -> Duration {
        let at = Duration::from_micros(self.cells.next_attempt_micros.load(Relaxed));
        at.saturating_sub(self.cells.epoch.elapsed())
    }

    /// Everything at once, for a health check or a scrape.
    pub fn snapshot(&self) -> StatusSnapshot {
        let cells = &*self.cells;
        let last_check = match cells.last_check_micros.load(Relaxed) {
            0 => None,
            micros => Some(UNIX_EPOCH + Duration::from_micros(micros)),
        };
        let last_failure = match cells.last_failure.load(Relaxed) {
            0 => None,
            n => FailureClass::ALL.get(usize::from(n) - 1).copied(),
        };
        let classes = std::iter::once(None).chain(FailureClass::ALL.into_iter().map(Some));
        let mut snapshot = StatusSnapshot::new(self.name(), self.state());
        snapshot.error_count = self.error_count();
        snapshot.reconnect_attempts = self.reconnect_attempts();
        snapshot.reconnects_succeeded = self.reconnects_succeeded();
        snapshot.reconnects_failed = cells.reconnects_failed.load(Relaxed);
        snapshot.fail_fast = cells.fail_fast.load(Relaxed);
        snapshot.held_now = cells.held_now.load(Relaxed);
        snapshot.held_total = cells.held_total.load(Relaxed);
        snapshot.held_released = cells.held_released.load(Relaxed);
        snapshot.held_expired = cells.held_expired.load(Relaxed);
        snapshot.held_shed = cells.held_shed.load(Relaxed);
        snapshot.held_wait = cells.held_wait.snapshot();
        snapshot.last_check = last_check;
        snapshot.last_failure = last_failure;
        snapshot.requests = classes
            .zip(&cells.requests)
            .map(|(c, n)| (c, n.load(Relaxed)))
            .collect();
        snapshot.transitions = Reason::ALL
            .into_iter()
            .zip(&cells.transitions)
            .map(|(r, n)| (r, n.load(Relaxed)))
            .collect();
        snapshot.recovery = cells.recovery.snapshot();
        snapshot.attempt_duration = cells.attempt_duration.snapshot();
        snapshot
    }

    // === recording (crate-internal) ===

    pub(crate) fn generation(&self) -> u64 {
        self.cells.generation.load(Relaxed)
    }

    pub(crate) fn set_generation(&self, generation: u64) {
        self.cells.generation.store(generation, Relaxed);
    }

    pub(crate) fn set_state(&self, state: CircuitState, error_count: u32) {
        self.cells.error_count.store(error_count, Relaxed);
        self.cells.state.store(encode(state), Relaxed);
    }

    pub(crate) fn record_transition(&self, transition: &Transition) {
        self.cells.transitions[transition.reason.index()].fetch_add(1, Relaxed);
        if transition.reason == Reason::AttemptsExhausted {
            self.cells.reconnects_failed.fetch_add(1, Relaxed);
        }
        if let Some(after) = transition.recovered_after {
            self.cells.recovery.observe(after);
        }
    }

    pub(crate) fn record_outcome(&self, classification: &Classification) {
        let index = match classification.class() {
            None => 0,
            Some(class) => 1 + FailureClass::ALL.iter().position(|&c| c == class).unwrap_or(0),
        };
        self.cells.requests[index].fetch_add(1, Relaxed);
        if index > 0 {
            self.cells.last_failure.store(index as u8, Relaxed);
        }
        self.touch();
    }

    pub(crate) fn record_attempt(&self, took: Duration, succeeded: bool) {
        self.cells.reconnect_attempts.fetch_add(1, Relaxed);
        if succeeded {
            self.cells.reconnects_succeeded.fetch_add(1, Relaxed);
        }
        self.cells.attempt_duration.observe(took);
        self.touch();
    }

    pub(crate) fn record_fail_fast(&self) {
        self.cells.fail_fast.fetch_add(1, Relaxed);
    }

    /// When the current outage began, if there is one.
    pub(crate) fn outage_since(&self) -> Option<Instant> {
        match self.cells.outage_since_micros.load(Relaxed) {
            0 => None,
            micros => Some(self.cells.epoch + Duration::from_micros(micros - 1)),
        }
    }

    /// Marks the start of an outage (kept if one is going on) or its end.
    pub(crate) fn set_outage(&self, on: bool) {
        if !on {
            self.cells.outage_since_micros.store(0, Relaxed);
            return;
        }
        let micros = u64::try_from(self.cells.epoch.elapsed().as_micros()).unwrap_or(u64::MAX - 1);
        let _ = self
            .cells
            .outage_since_micros
            .compare_exchange(0, micros + 1, Relaxed, Relaxed);
    }

    /// Takes a waiting slot, unless `max` calls wait already.
    pub(crate) fn try_hold(&self, max: u32) -> bool {
        let taken = self
            .cells
            .held_now
            .fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1))
            .is_ok();
        if taken {
            self.cells.held_total.fetch_add(1, Relaxed);
        } else {
            self.cells.held_shed.fetch_add(1, Relaxed);
        }
        taken
    }

    /// Gives a waiting slot back; `waited` is how the wait ended, if it did.
    pub(crate) fn end_hold(&self, waited: Option<(Duration, bool)>) {
        self.cells.held_now.fetch_sub(1, Relaxed);
        if let Some((took, released)) = waited {
            let counter = if released {
                &self.cells.held_released
            } else {
                &self.cells.held_expired
            };
            counter.fetch_add(1, Relaxed);
            self.cells.held_wait.observe(took);
        }
    }

    pub(crate) fn set_next_attempt(&self, at: Instant) {
        let micros = at.saturating_duration_since(self.cells.epoch).as_micros();
        self.cells
            .next_attempt_micros
            .store(u64::try_from(micros).unwrap_or(u64::MAX), Relaxed);
    }

    fn touch(&self) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let micros = u64::try_from(now.as_micros()).unwrap_or(u64::MAX);
        self.cells.last_check_micros.store(micros, Relaxed);
    }
}
