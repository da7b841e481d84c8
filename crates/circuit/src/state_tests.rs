use std::time::Duration;

use mcp_reconnect_core::{Failure, FailureClass, Reached};
use tokio::time::Instant;

use super::*;

fn fail(class: FailureClass) -> Outcome {
    let transport = class == FailureClass::Connection;
    Outcome::Failure(Failure::new(class, Reached::Unknown).with_transport(transport))
}

fn gateway() -> Outcome {
    fail(FailureClass::Gateway)
}

fn answered_but_failed() -> Failure {
    Failure::new(FailureClass::Gateway, Reached::Unknown)
}

fn refused() -> Failure {
    Failure::new(FailureClass::Unavailable, Reached::No).with_transport(true)
}

/// A machine that has connected once, at `now`.
fn connected(now: Instant, config: &Config) -> Machine {
    let mut machine = Machine::new();
    let effects = machine.start(now);
    assert_eq!(effects.attempt_after, Some(Duration::ZERO));
    machine.on_attempt(Ok(()), now, config);
    assert_eq!(machine.state(), CircuitState::Healthy);
    machine
}

/// The default config, the time now, and a machine that connected then.
fn connected_now() -> (Config, Instant, Machine) {
    let config = Config::default();
    let t0 = Instant::now();
    let machine = connected(t0, &config);
    (config, t0, machine)
}

/// `config`, the time now, and a machine started then, before its first attempt.
fn started_now(config: Config) -> (Config, Instant, Machine) {
    let t0 = Instant::now();
    let mut machine = Machine::new();
    machine.start(t0);
    (config, t0, machine)
}

/// `count` gateway failures on connection `generation`, all at `now`.
fn gateway_failures(machine: &mut Machine, count: usize, generation: u64, now: Instant, config: &Config) {
    for _ in 0..count {
        machine.on_outcome(&gateway(), generation, now, config);
    }
}

/// The wait the machine asks for after each of `attempts` failed attempts (at `now`).
fn failed_attempts(
    machine: &mut Machine,
    attempts: usize,
    failure: &Failure,
    now: Instant,
    config: &Config,
) -> Vec<Option<Duration>> {
    (0..attempts)
        .map(|_| machine.on_attempt(Err(failure), now, config).attempt_after)
        .collect()
}

/// `millis` as waits.
fn ms(millis: &[u64]) -> Vec<Option<Duration>> {
    millis.iter().map(|&ms| Some(Duration::from_millis(ms))).collect()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn the_threshold_is_exactly_three_consecutive_recoverable_failures() {
    let (config, t0, mut machine) = connected_now();
    let later = t0 + secs(60);
    let effects = machine.on_outcome(&gateway(), 1, later, &config);
    assert_eq!(machine.state(), CircuitState::Degraded);
    assert_eq!(effects.attempt_after, None);
    assert_eq!(
        machine.on_outcome(&gateway(), 1, later, &config).attempt_after,
        None
    );
    let effects = machine.on_outcome(&gateway(), 1, later, &config);
    assert_eq!(machine.state(), CircuitState::Reconnecting);
    assert_eq!(
        effects.transition.map(|t| t.reason),
        Some(Reason::ThresholdReached)
    );
    assert_eq!(effects.attempt_after, Some(Duration::ZERO));
}

#[test]
fn a_success_resets_the_count_and_business_never_counts() {
    let (config, t0, mut machine) = connected_now();
    let later = t0 + secs(60);
    gateway_failures(&mut machine, 2, 1, later, &config);
    let effects = machine.on_outcome(&Outcome::Success, 1, later, &config);
    assert_eq!(effects.transition.map(|t| t.reason), Some(Reason::Recovered));
    assert_eq!(machine.errors(), 0);
    for _ in 0..10 {
        machine.on_outcome(&fail(FailureClass::Business), 1, later, &config);
    }
    assert_eq!(machine.state(), CircuitState::Healthy);
    assert_eq!(machine.errors(), 0);
    gateway_failures(&mut machine, 2, 1, later, &config);
    assert_eq!(machine.state(), CircuitState::Degraded);
}

#[test]
fn a_dead_connection_or_session_reconnects_at_once() {
    let config = Config::default();
    let t0 = Instant::now();
    for (class, reason) in [
        (FailureClass::Connection, Reason::ConnectionLost),
        (FailureClass::SessionLost, Reason::SessionLost),
    ] {
        let mut machine = connected(t0, &config);
        // Even right after the first connect: the min interval is for live connections.
        let effects = machine.on_outcome(&fail(class), 1, t0, &config);
        assert_eq!(effects.transition.map(|t| t.reason), Some(reason));
        assert_eq!(effects.attempt_after, Some(Duration::ZERO));
    }
}

#[test]
fn a_refused_connection_reconnects_at_once_but_a_503_counts() {
    let (config, t0, mut machine) = connected_now();
    let answered_503 = Outcome::Failure(Failure::new(FailureClass::Unavailable, Reached::No));
    assert_eq!(
        machine.on_outcome(&answered_503, 1, t0, &config).attempt_after,
        None
    );
    assert_eq!(machine.state(), CircuitState::Degraded);
    let effects = machine.on_outcome(&Outcome::Failure(refused()), 1, t0, &config);
    assert_eq!(effects.transition.map(|t| t.reason), Some(Reason::ConnectionLost));
}

#[test]
fn a_503_during_an_attempt_gets_the_full_backoff() {
    let (config, t0, mut machine) = started_now(Config::default());
    let answered_503 = Failure::new(FailureClass::Unavailable, Reached::No);
    assert_eq!(
        machine.on_attempt(Err(&answered_503), t0, &config).attempt_after,
        Some(secs(2))
    );
}

#[test]
fn the_first_connect_does_not_start_the_min_interval() {
    let (config, t0, mut machine) = connected_now();
    gateway_failures(&mut machine, 3, 1, t0 + secs(1), &config);
    assert_eq!(
        machine.state(),
        CircuitState::Reconnecting,
        "a 502 burst right after start reconnects"
    );
}

#[test]
fn a_lost_session_while_half_open_proves_the_server_is_back() {
    let (config, t0, mut machine) = started_now(Config::default().max_attempts(1));
    machine.on_attempt(Err(&refused()), t0, &config);
    machine.on_attempt(Ok(()), t0, &config);
    assert_eq!(machine.state(), CircuitState::HalfOpen);
    let lost = Outcome::Failure(Failure::new(FailureClass::SessionLost, Reached::No));
    machine.on_outcome(&lost, machine.generation(), t0, &config);
    assert_eq!(machine.state(), CircuitState::Healthy);
}

#[test]
fn a_lost_session_keeps_a_connection_that_hands_out_its_own_sessions() {
    let config = Config::default().session_loss_reconnects(false);
    let t0 = Instant::now();
    let mut machine = connected(t0, &config);
    let lost = Outcome::Failure(Failure::new(FailureClass::SessionLost, Reached::No));
    for _ in 0..5 {
        machine.on_outcome(&lost, machine.generation(), t0, &config);
    }
    assert_eq!(machine.state(), CircuitState::Healthy, "no reconnect, no count");
    machine.on_outcome(&fail(FailureClass::Connection), machine.generation(), t0, &config);
    assert_eq!(
        machine.state(),
        CircuitState::Reconnecting,
        "a dead connection still reconnects"
    );
}

#[test]
fn within_the_min_interval_the_threshold_opens_instead_of_reconnecting() {
    let (config, t0, mut machine) = connected_now();
    // A first threshold episode at t0, and a reconnect.
    gateway_failures(&mut machine, 3, 1, t0, &config);
    machine.on_attempt(Ok(()), t0, &config);
    let soon = t0 + secs(10);
    gateway_failures(&mut machine, 3, 2, soon, &config);
    assert_eq!(machine.state(), CircuitState::Open);
    // The probe finds the upstream, a half-open call succeeds.
    machine.on_attempt(Ok(()), soon, &config);
    assert_eq!(machine.state(), CircuitState::HalfOpen);
    let effects = machine.on_outcome(&Outcome::Success, 3, soon, &config);
    assert_eq!(machine.state(), CircuitState::Healthy);
    assert_eq!(
        effects.transition.and_then(|t| t.recovered_after),
        Some(Duration::ZERO)
    );
    // 30 s after the last episode, the threshold reconnects again.
    let rested = t0 + secs(30);
    gateway_failures(&mut machine, 3, 3, rested, &config);
    assert_eq!(machine.state(), CircuitState::Reconnecting);
}

#[test]
fn the_backoff_schedule_is_immediate_2s_4s_8s_then_open_after_five_attempts() {
    let (config, t0, mut machine) = started_now(Config::default());
    let delays = failed_attempts(&mut machine, 4, &answered_but_failed(), t0, &config);
    assert_eq!(delays, ms(&[2000, 4000, 8000, 16_000]));
    let effects = machine.on_attempt(Err(&answered_but_failed()), t0, &config);
    assert_eq!(machine.state(), CircuitState::Open);
    assert_eq!(
        effects.transition.map(|t| t.reason),
        Some(Reason::AttemptsExhausted)
    );
    assert_eq!(effects.attempt_after, Some(Duration::from_millis(100)));
}

#[test]
fn when_nothing_listens_attempts_follow_the_short_probe_schedule() {
    let (config, t0, mut machine) = started_now(Config::default());
    let delays = failed_attempts(&mut machine, 4, &refused(), t0, &config);
    assert_eq!(delays, ms(&[100, 200, 400, 800]));
}

#[test]
fn open_probes_back_off_to_one_second_and_a_good_probe_half_opens() {
    let (config, t0, mut machine) = started_now(Config::default().max_attempts(1));
    machine.on_attempt(Err(&refused()), t0, &config);
    assert_eq!(machine.state(), CircuitState::Open);
    let delays = failed_attempts(&mut machine, 5, &refused(), t0, &config);
    assert_eq!(delays, ms(&[200, 400, 800, 1000, 1000]));
    let effects = machine.on_attempt(Ok(()), t0 + secs(3), &config);
    assert_eq!(machine.state(), CircuitState::HalfOpen);
    assert_eq!(effects.attempt_after, None);
    // A half-open failure opens again and probes on.
    let effects = machine.on_outcome(&gateway(), machine.generation(), t0 + secs(3), &config);
    assert_eq!(machine.state(), CircuitState::Open);
    assert_eq!(effects.transition.map(|t| t.reason), Some(Reason::HalfOpenFailed));
    assert!(effects.attempt_after.is_some());
    machine.on_attempt(Ok(()), t0 + secs(4), &config);
    let effects = machine.on_outcome(&Outcome::Success, machine.generation(), t0 + secs(5), &config);
    let transition = effects.transition.unwrap();
    assert_eq!(
        (transition.to, transition.reason),
        (CircuitState::Healthy, Reason::HalfOpenSucceeded)
    );
    // Never healthy before: the first connection is not counted as a recovery.
    assert_eq!(transition.recovered_after, None);
}

#[test]
fn answers_from_a_replaced_service_are_ignored() {
    let (config, t0, mut machine) = connected_now();
    machine.on_outcome(&fail(FailureClass::Connection), 1, t0, &config);
    machine.on_attempt(Ok(()), t0, &config);
    assert_eq!(machine.generation(), 2);
    for _ in 0..5 {
        let effects = machine.on_outcome(&fail(FailureClass::Connection), 1, t0, &config);
        assert_eq!(effects, Effects::default());
    }
    assert_eq!(machine.state(), CircuitState::Healthy);
}
