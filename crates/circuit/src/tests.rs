use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use mcp_reconnect_core::{ClassifiedError, FailureClass, cause_ref};
use tokio::time::Instant;
use tower::{Service, ServiceExt, service_fn};
use tower_layer::Layer;

use super::*;

/// What the fake upstream answers: a status, `0` to hang forever, `1` for a reset.
#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<VecDeque<u16>>>,
    connect_failures: Arc<Mutex<VecDeque<io::ErrorKind>>>,
    connects: Arc<AtomicUsize>,
    connect_times: Arc<Mutex<Vec<Instant>>>,
    connect_delay: Duration,
    /// Upstreams made by connects numbered below this answer with a reset.
    dead_below: Arc<AtomicUsize>,
}

impl Script {
    fn answer(&self, answers: &[u16]) {
        self.answers.lock().unwrap().extend(answers);
    }

    fn fail_connects(&self, kinds: &[io::ErrorKind]) {
        self.connect_failures.lock().unwrap().extend(kinds);
    }

    /// Kills every upstream connected so far: like a server restart under open connections.
    fn kill_connections(&self) {
        self.dead_below.store(self.connects(), Ordering::SeqCst);
    }

    fn connects(&self) -> usize {
        self.connects.load(Ordering::SeqCst)
    }
}

type Upstream = tower::util::BoxCloneSyncService<Request<()>, Response<()>, io::Error>;

fn upstream(script: Script, number: usize) -> Upstream {
    tower::util::BoxCloneSyncService::new(service_fn(move |_: Request<()>| {
        let dead = number < script.dead_below.load(Ordering::SeqCst);
        let answer = if dead {
            1
        } else {
            script.answers.lock().unwrap().pop_front().unwrap_or(200)
        };
        async move {
            match answer {
                0 => std::future::pending().await,
                1 => Err(io::Error::from(io::ErrorKind::ConnectionReset)),
                status => Ok(Response::builder().status(status).body(()).unwrap()),
            }
        }
    }))
}

type ConnectorFn = tower::util::BoxCloneSyncService<u16, Upstream, io::Error>;

fn connector(script: Script) -> ConnectorFn {
    tower::util::BoxCloneSyncService::new(service_fn(move |_target: u16| {
        let script = script.clone();
        async move {
            let number = script.connects.fetch_add(1, Ordering::SeqCst);
            script.connect_times.lock().unwrap().push(Instant::now());
            tokio::time::sleep(script.connect_delay).await;
            let failure = script.connect_failures.lock().unwrap().pop_front();
            match failure {
                Some(kind) => Err(io::Error::from(kind)),
                None => Ok(upstream(script.clone(), number)),
            }
        }
    }))
}

fn circuit(config: Config, script: &Script) -> Circuit {
    make_circuit(config, script.clone())
}

type Circuit = CircuitReconnect<ConnectorFn, u16>;

/// `service` after one call that went through (it has connected).
async fn connected(service: Circuit) -> Circuit {
    send(&service).await.expect("the first call goes through");
    service
}

/// A config in which the probe decides, with `max_attempts` per episode and
/// callers waiting up to `wait` for the upstream.
fn probe_decides(max_attempts: u32, wait: Duration) -> Config {
    Config::default()
        .probe_decides(true)
        .max_attempts(max_attempts)
        .reconnect_wait(wait)
}

/// A circuit on `config` that has connected, whose upstream then goes down: the
/// connection dies and the next `refused` connects are refused.
async fn outage(config: Config, refused: usize) -> (Script, Circuit) {
    let script = Script::default();
    let service = connected(circuit(config, &script)).await;
    script.kill_connections();
    script.fail_connects(&vec![io::ErrorKind::ConnectionRefused; refused]);
    (script, service)
}

fn make_circuit(config: Config, script: Script) -> Circuit {
    CircuitReconnectLayer::with_config(8080u16, config.jitter(0.0))
        .name("test")
        .layer(connector(script))
}

async fn send<S>(service: &S) -> Result<Response<()>, mcp_reconnect_core::BoxError>
where
    S: Service<Request<()>, Response = Response<()>, Error = mcp_reconnect_core::BoxError> + Clone,
{
    service.clone().oneshot(Request::new(())).await
}

#[tokio::test(start_paused = true)]
async fn the_first_call_connects_lazily() {
    let script = Script::default();
    let service = circuit(Config::default(), &script);
    assert_eq!(script.connects(), 0, "no connect before the first call");
    assert_eq!(send(&service).await.unwrap().status(), 200);
    assert_eq!(script.connects(), 1);
    assert_eq!(service.status().state(), CircuitState::Healthy);
}

#[tokio::test(start_paused = true)]
async fn a_hundred_callers_over_ten_clones_share_one_connect_per_episode() {
    let script = Script {
        connect_delay: Duration::from_millis(50),
        ..Script::default()
    };
    let service = circuit(Config::default(), &script);
    let clones: Vec<_> = (0..10).map(|_| service.clone()).collect();
    async fn run_all(clones: Vec<Circuit>) -> usize {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..100 {
            let clone = clones[i % 10].clone();
            tasks.spawn(async move { send(&clone).await.map(|r| r.status()) });
        }
        let mut ok = 0;
        while let Some(result) = tasks.join_next().await {
            if matches!(result.unwrap(), Ok(status) if status == 200) {
                ok += 1;
            }
        }
        ok
    }
    assert_eq!(run_all(clones.clone()).await, 100);
    assert_eq!(script.connects(), 1);

    // The connection dies under all of them at once: one reconnect, not a
    // hundred. The first caller sees the dead connection; the others wait for
    // the reconnect and go through.
    script.kill_connections();
    assert_eq!(run_all(clones.clone()).await, 99);
    assert_eq!(script.connects(), 2);
    assert_eq!(run_all(clones).await, 100);
    assert_eq!(script.connects(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_backoff_schedule_holds_to_the_millisecond() {
    let script = Script::default();
    script.fail_connects(&[io::ErrorKind::ConnectionReset; 4]);
    // The classic circuit: callers wait out the whole episode.
    let service = circuit(Config::default().reconnect_wait(Duration::ZERO), &script);
    assert_eq!(send(&service).await.unwrap().status(), 200);
    let times = script.connect_times.lock().unwrap().clone();
    let gaps: Vec<_> = times.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    assert_eq!(gaps, [2000, 4000, 8000, 16000]);
}

#[tokio::test(start_paused = true)]
async fn after_the_last_attempt_the_circuit_opens_and_fails_fast() {
    let script = Script::default();
    script.fail_connects(&[io::ErrorKind::ConnectionRefused; 1000]);
    let config = Config::default().max_attempts(3).reconnect_wait(Duration::ZERO);
    let service = circuit(config, &script);
    let error = send(&service).await.unwrap_err();
    let open = cause_ref::<CircuitOpen>(&*error).expect("a CircuitOpen error");
    assert!(open.retry_after <= Duration::from_secs(1));
    let failure = error.downcast_ref::<ClassifiedError>().unwrap().failure();
    assert_eq!(failure.class(), FailureClass::Unavailable);
    assert_eq!(service.status().state(), CircuitState::Open);

    // Calls now fail at once, without a connect each.
    let connects = script.connects();
    let before = Instant::now();
    for _ in 0..50 {
        assert!(send(&service).await.is_err());
    }
    assert_eq!(Instant::now(), before, "failing fast takes no time");
    assert!(script.connects() <= connects + 1);
    assert_eq!(service.status().snapshot().fail_fast, 51);
}

#[tokio::test(start_paused = true)]
async fn a_returning_upstream_is_noticed_within_a_second_and_closes_the_circuit() {
    // The upstream dies: its connection resets, and 30 connects are refused.
    let (script, service) = outage(Config::default(), 30).await;
    assert!(send(&service).await.is_err());
    // The upstream is back after the 30th refused attempt; the next probe finds it.
    while !script.connect_failures.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let back = Instant::now();
    loop {
        if send(&service).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        back.elapsed() <= Duration::from_secs(1),
        "noticed after {:?}",
        back.elapsed()
    );
    assert_eq!(service.status().state(), CircuitState::Healthy);
    assert_eq!(service.status().snapshot().recovery.count, 1);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_half_open_call_gives_its_permit_back() {
    // The connection dies and the one reconnect attempt is refused: open.
    let (script, service) = outage(Config::default().max_attempts(1), 1).await;
    assert!(send(&service).await.is_err());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(service.status().state(), CircuitState::Open);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(service.status().state(), CircuitState::HalfOpen);

    // The one permit goes to a call that hangs; the next caller fails fast.
    script.answer(&[0]);
    let mut probe = service.clone();
    probe.ready().await.unwrap();
    let hanging = probe.call(Request::new(()));
    let error = send(&service).await.unwrap_err();
    assert!(cause_ref::<CircuitOpen>(&*error).is_some());
    // Dropping the hanging call frees the permit: the next call probes and closes the circuit.
    drop(hanging);
    assert_eq!(send(&service).await.unwrap().status(), 200);
    assert_eq!(service.status().state(), CircuitState::Healthy);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_was_never_sent_waits_out_a_short_outage() {
    let config = probe_decides(2, Duration::from_secs(10));
    // The server restarts: 8 probes are refused (the short schedule, 100 ms
    // doubling to 1 s: about 5 s), then it is back.
    let (_, service) = outage(config, 8).await;
    let started = Instant::now();
    // The call that met the dead connection fails (it was sent)...
    assert!(send(&service).await.is_err());
    // ...the ones after it wait, through reconnecting and open, and succeed.
    let waiting: Vec<_> = (0..5)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move { send(&service).await.map(|r| r.status()) })
        })
        .collect();
    for call in waiting {
        assert_eq!(call.await.unwrap().unwrap(), 200);
    }
    let waited = started.elapsed();
    assert!(
        waited > Duration::from_secs(2) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    let snapshot = service.status().snapshot();
    assert_eq!(
        (snapshot.held_total, snapshot.held_released, snapshot.held_expired),
        (5, 5, 0)
    );
    assert_eq!((snapshot.held_now, snapshot.fail_fast), (0, 0));
    assert_eq!(snapshot.held_wait.count, 5);
    assert_eq!(snapshot.state, CircuitState::Healthy);
}

#[tokio::test(start_paused = true)]
async fn past_the_wait_window_calls_fail_fast_until_a_probe_succeeds() {
    let config = probe_decides(1, Duration::from_secs(3));
    let (_, service) = outage(config, 100).await;
    assert!(send(&service).await.is_err());
    // Within the window a call waits; at its end it fails.
    let started = Instant::now();
    let error = send(&service).await.unwrap_err();
    assert!(cause_ref::<CircuitOpen>(&*error).is_some());
    let waited = started.elapsed();
    assert!(waited <= Duration::from_secs(3), "{waited:?}");
    // The outage is older than the window: new calls fail at once.
    let before = Instant::now();
    for _ in 0..20 {
        assert!(send(&service).await.is_err());
    }
    assert_eq!(Instant::now(), before, "failing fast takes no time");
    let snapshot = service.status().snapshot();
    assert_eq!((snapshot.held_total, snapshot.held_expired), (1, 1));
    assert_eq!(snapshot.fail_fast, 21);
}

#[tokio::test(start_paused = true)]
async fn calls_past_the_waiting_bound_are_shed() {
    let config = probe_decides(1, Duration::from_secs(10)).max_waiting(3);
    let (_, service) = outage(config, 100).await;
    assert!(send(&service).await.is_err());
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let mut clone = service.clone();
        waiting.push(tokio::spawn(async move { clone.ready().await.map(|_| ()) }));
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(service.status().snapshot().held_now, 3);
    let error = send(&service).await.unwrap_err();
    assert!(cause_ref::<CircuitOpen>(&*error).is_some(), "shed at once");
    assert_eq!(service.status().snapshot().held_shed, 1);
    // A caller that gives up frees its slot.
    for call in waiting {
        call.abort();
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(service.status().snapshot().held_now, 0);
}

#[tokio::test(start_paused = true)]
async fn when_the_probe_decides_one_failure_probes_and_a_good_probe_closes_the_circuit() {
    let script = Script::default();
    let service = connected(circuit(Config::default().probe_decides(true), &script)).await;
    // One 502 (a proxy's): a probe at once, no threshold of three.
    script.answer(&[502]);
    assert_eq!(send(&service).await.unwrap().status(), 502);
    assert_eq!(send(&service).await.unwrap().status(), 200);
    assert_eq!(script.connects(), 2, "one probe");
    assert_eq!(service.status().state(), CircuitState::Healthy);
    // While open, a successful probe closes the circuit: no half-open call.
    let config = probe_decides(1, Duration::ZERO);
    let (_, service) = outage(config, 2).await;
    assert!(send(&service).await.is_err());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(service.status().state(), CircuitState::Healthy);
    let halfopen = service
        .status()
        .snapshot()
        .transitions
        .iter()
        .any(|(r, n)| *r == Reason::HalfOpenSucceeded && *n > 0);
    assert!(!halfopen);
}

#[test]
fn the_wait_is_read_from_the_environment() {
    let config =
        Config::from_lookup(|name| (name == "MCPO_RECONNECT_WAIT").then(|| "2.5".to_owned())).unwrap();
    assert_eq!(config.reconnect_wait, Duration::from_millis(2500));
    let off = Config::from_lookup(|name| (name == "MCPO_RECONNECT_WAIT").then(|| "0".to_owned())).unwrap();
    assert_eq!(off.reconnect_wait, Duration::ZERO);
    assert_eq!(Config::default().reconnect_wait, config::DEFAULT_RECONNECT_WAIT);
}

#[tokio::test(start_paused = true)]
async fn business_failures_never_reconnect() {
    let script = Script::default();
    let service = circuit(Config::default(), &script);
    script.answer(&[400, 403, 500, 401, 422]);
    for _ in 0..5 {
        send(&service).await.unwrap();
    }
    assert_eq!(script.connects(), 1);
    assert_eq!(service.status().state(), CircuitState::Healthy);
    let snapshot = service.status().snapshot();
    assert_eq!(snapshot.requests[0], (None, 0));
    assert_eq!(snapshot.last_failure, Some(FailureClass::Business));
}

fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

#[test]
fn env_variables_override_defaults_and_bad_values_are_named() {
    let config = Config::from_lookup(lookup(&[
        ("MCPO_RECONNECT_ERROR_THRESHOLD", "4"),
        ("MCPO_RECONNECT_MAX_ATTEMPTS", "9"),
        ("MCPO_RECONNECT_MIN_INTERVAL", "0"),
        ("MCPO_CONNECTION_TIMEOUT", "2.5"),
    ]))
    .unwrap();
    assert_eq!(config.error_threshold, 4);
    assert_eq!(config.max_attempts, 9);
    assert_eq!(config.min_interval, Duration::ZERO);
    for bad in ["abc", "-1", "0", "1e3", "99999999999"] {
        let error = Config::from_lookup(lookup(&[("MCPO_RECONNECT_MAX_ATTEMPTS", bad)])).unwrap_err();
        assert_eq!(error.name(), "MCPO_RECONNECT_MAX_ATTEMPTS");
        assert!(error.to_string().contains(bad), "{error}");
    }
    let error = Config::from_lookup(lookup(&[("MCPO_RECONNECT_MIN_INTERVAL", "-5")])).unwrap_err();
    assert_eq!(error.name(), "MCPO_RECONNECT_MIN_INTERVAL");
    assert_eq!(
        Config::from_lookup(lookup(&[("MCPO_RECONNECT_MAX_ATTEMPTS", "")])).unwrap(),
        Config::default()
    );
    assert!(Config::default().error_threshold(0).validate().is_err());
    assert!(Config::default().jitter(1.5).validate().is_err());
    let normalized = Config::default()
        .max_attempts(0)
        .jitter(f64::NAN)
        .backoff(Duration::from_secs(5), Duration::from_secs(1))
        .normalized();
    assert!(normalized.validate().is_ok(), "{normalized:?}");
    assert_eq!((normalized.max_attempts, normalized.jitter), (1, 0.0));
    assert_eq!(normalized.backoff_max, Duration::from_secs(5));
}

#[test]
fn naming_the_layer_renames_every_status_handle_already_taken() {
    let layer = CircuitReconnectLayer::new("target");
    let early = layer.status();
    let layer = layer.name("server-a");
    assert_eq!(&*early.name(), "server-a");
    assert_eq!(&*layer.status().name(), "server-a");
    assert_eq!(&*early.snapshot().name, "server-a");
}
