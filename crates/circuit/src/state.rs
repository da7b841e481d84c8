//! The circuit's state machine: pure, synchronous, no I/O. The service and
//! the driver feed it outcomes and attempt results; it answers with the
//! transition to record and what the driver must do next.

use std::time::Duration;

pub(crate) use mcp_reconnect_core::status::{CircuitState, Reason};
use mcp_reconnect_core::{Failure, FailureClass, Reached};
use tokio::time::Instant;

use crate::backoff::{backoff_delay, probe_delay};
use crate::config::Config;

/// A state change to record and log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Transition {
    pub(crate) from: CircuitState,
    pub(crate) to: CircuitState,
    pub(crate) reason: Reason,
    /// Set when the circuit is healthy again: how long the trouble lasted.
    pub(crate) recovered_after: Option<Duration>,
}

/// What a call's outcome was, as the circuit counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure(Failure),
}

/// What the machine asks for after an event.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Effects {
    pub(crate) transition: Option<Transition>,
    /// Start (or go on with) connect attempts after this delay (before jitter).
    pub(crate) attempt_after: Option<Duration>,
}

#[derive(Debug)]
pub(crate) struct Machine {
    state: CircuitState,
    started: bool,
    errors: u32,
    failed_attempts: u32,
    last_episode: Option<Instant>,
    generation: u64,
    trouble_since: Option<Instant>,
}

impl Machine {
    pub(crate) fn new() -> Self {
        Machine {
            state: CircuitState::Healthy,
            started: false,
            errors: 0,
            failed_attempts: 0,
            last_episode: None,
            generation: 0,
            trouble_since: None,
        }
    }

    pub(crate) fn state(&self) -> CircuitState {
        self.state
    }

    pub(crate) fn errors(&self) -> u32 {
        self.errors
    }

    /// Bumped each time a new upstream service is installed.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The first use connects (lazily, so a gateway starts with its upstream down).
    pub(crate) fn start(&mut self, now: Instant) -> Effects {
        if self.started {
            return Effects::default();
        }
        self.started = true;
        // The first connect is not a recovery: `trouble_since` stays unset.
        self.begin_episode(Reason::Started, now)
    }

    /// A call through the service of `generation` ended with `outcome`.
    pub(crate) fn on_outcome(
        &mut self,
        outcome: &Outcome,
        generation: u64,
        now: Instant,
        config: &Config,
    ) -> Effects {
        if generation != self.generation {
            // An answer from a service already replaced: says nothing about the new one.
            return Effects::default();
        }
        let failure = match outcome {
            Outcome::Success => {
                self.errors = 0;
                return match self.state {
                    CircuitState::Degraded => self.become_healthy(Reason::Recovered, now),
                    CircuitState::HalfOpen => self.become_healthy(Reason::HalfOpenSucceeded, now),
                    _ => Effects::default(),
                };
            }
            Outcome::Failure(failure) if failure.is_recoverable() => failure,
            // The upstream's own answer: never counts, never resets.
            Outcome::Failure(_) => return Effects::default(),
        };
        if failure.class() == FailureClass::SessionLost && !config.session_loss_reconnects {
            // The connection that answered is alive and knows its own sessions.
            return match self.state {
                CircuitState::HalfOpen => self.become_healthy(Reason::HalfOpenSucceeded, now),
                _ => Effects::default(),
            };
        }
        match self.state {
            CircuitState::Healthy | CircuitState::Degraded => {
                self.errors = self.errors.saturating_add(1);
                self.trouble_since.get_or_insert(now);
                match failure.class() {
                    _ if failure.proves_connection_dead() => self.begin_episode(Reason::ConnectionLost, now),
                    FailureClass::SessionLost => self.begin_episode(Reason::SessionLost, now),
                    // A probe tells at once whether the server is down.
                    _ if config.probe_decides => self.begin_episode(Reason::RecoverableFailure, now),
                    _ if self.errors >= config.error_threshold => {
                        let rested = self
                            .last_episode
                            .is_none_or(|last| now.duration_since(last) >= config.min_interval);
                        if rested {
                            // Rate control counts only these: reconnects of a connection that still answers.
                            self.last_episode = Some(now);
                            self.begin_episode(Reason::ThresholdReached, now)
                        } else {
                            self.open(Reason::RateLimited, config)
                        }
                    }
                    _ if self.state == CircuitState::Healthy => {
                        self.go(CircuitState::Degraded, Reason::RecoverableFailure, None)
                    }
                    _ => Effects::default(),
                }
            }
            // A lost session is the server's own answer: it is back. (With a
            // session layer above, re-initializing is that layer's job.)
            CircuitState::HalfOpen if failure.class() == FailureClass::SessionLost => {
                self.become_healthy(Reason::HalfOpenSucceeded, now)
            }
            CircuitState::HalfOpen => self.open(Reason::HalfOpenFailed, config),
            CircuitState::Reconnecting | CircuitState::Open => Effects::default(),
        }
    }

    /// A connect attempt (or probe) ended: `Ok` installs the new service.
    pub(crate) fn on_attempt(
        &mut self,
        result: Result<(), &Failure>,
        now: Instant,
        config: &Config,
    ) -> Effects {
        match (self.state, result) {
            (CircuitState::Reconnecting, Ok(())) => {
                self.generation += 1;
                self.become_healthy(Reason::Reconnected, now)
            }
            (CircuitState::Reconnecting, Err(failure)) => {
                self.failed_attempts = self.failed_attempts.saturating_add(1);
                if self.failed_attempts >= config.max_attempts {
                    self.failed_attempts = 0;
                    return self.open(Reason::AttemptsExhausted, config);
                }
                let probe = probe_delay(config, self.failed_attempts - 1);
                let after = if config.probe_decides {
                    // A probe is one cheap request: the short schedule, unless
                    // the upstream asked for more.
                    failure.retry_after().map_or(probe, |asked| asked.max(probe))
                } else if nothing_listens(failure) {
                    backoff_delay(config, self.failed_attempts).min(probe)
                } else {
                    backoff_delay(config, self.failed_attempts)
                };
                Effects {
                    transition: None,
                    attempt_after: Some(after),
                }
            }
            (CircuitState::Open, Ok(())) if config.probe_decides => {
                self.generation += 1;
                self.become_healthy(Reason::ProbeSucceeded, now)
            }
            (CircuitState::Open, Ok(())) => {
                self.generation += 1;
                self.go(CircuitState::HalfOpen, Reason::ProbeSucceeded, None)
            }
            (CircuitState::Open, Err(failure)) => {
                self.failed_attempts = self.failed_attempts.saturating_add(1);
                let probe = probe_delay(config, self.failed_attempts);
                let after = match failure.retry_after() {
                    Some(asked) if config.probe_decides => asked.max(probe),
                    _ => probe,
                };
                Effects {
                    transition: None,
                    attempt_after: Some(after),
                }
            }
            // No attempt runs in the other states.
            _ => Effects::default(),
        }
    }

    fn begin_episode(&mut self, reason: Reason, _now: Instant) -> Effects {
        self.failed_attempts = 0;
        let mut effects = self.go(CircuitState::Reconnecting, reason, None);
        effects.attempt_after = Some(Duration::ZERO);
        effects
    }

    fn open(&mut self, reason: Reason, config: &Config) -> Effects {
        let mut effects = self.go(CircuitState::Open, reason, None);
        effects.attempt_after = Some(probe_delay(config, self.failed_attempts));
        effects
    }

    fn become_healthy(&mut self, reason: Reason, now: Instant) -> Effects {
        self.errors = 0;
        self.failed_attempts = 0;
        let recovered_after = self.trouble_since.take().map(|since| now.duration_since(since));
        self.go(CircuitState::Healthy, reason, recovered_after)
    }

    fn go(&mut self, to: CircuitState, reason: Reason, recovered_after: Option<Duration>) -> Effects {
        let from = std::mem::replace(&mut self.state, to);
        Effects {
            transition: Some(Transition {
                from,
                to,
                reason,
                recovered_after,
            }),
            attempt_after: None,
        }
    }
}

/// Refused or unreachable: nothing listens, so probing costs the upstream nothing.
/// (A `503` is an answer from something that listens: it gets the full backoff.)
fn nothing_listens(failure: &Failure) -> bool {
    failure.proves_connection_dead()
        && failure.class() == FailureClass::Unavailable
        && failure.reached() == Reached::No
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
