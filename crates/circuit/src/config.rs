//! The reconnect policy: the reconnect design's numbers as defaults, each overridable by
//! the builder or an `MCPO_*` environment variable (builder beats env beats
//! default).

use std::time::Duration;

use mcp_reconnect_core::config::{ConfigError, Env, FromEnv};

/// Consecutive recoverable failures that trigger a reconnect: 3.
pub const DEFAULT_ERROR_THRESHOLD: u32 = 3;
/// Connect attempts in one reconnect episode before the circuit opens: 5.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Least time between two threshold-triggered reconnects: 30 s.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(30);
/// The backoff after the first failed attempt (then doubled): 2 s.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(2);
/// The longest backoff between two attempts: 30 s.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The first probe delay when nothing listens, and while open (then doubled): 100 ms.
pub const DEFAULT_PROBE_MIN: Duration = Duration::from_millis(100);
/// The longest probe delay: 1 s, so a returning upstream is noticed within a second.
pub const DEFAULT_PROBE_MAX: Duration = Duration::from_secs(1);
/// The share of each delay taken off at random, so clients do not probe in step: 0.2.
pub const DEFAULT_JITTER: f64 = 0.2;
/// How long one connect attempt may take: 10 s.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests let through while half-open: 1.
pub const DEFAULT_HALF_OPEN_PERMITS: u32 = 1;
/// How long, from the start of an outage, calls that were not sent yet wait
/// for the upstream to come back: 10 s. A restart of a few seconds (a
/// container or process restart behind a proxy) is absorbed whole, with
/// room for a slow start; it stays well inside the usual 30 s call
/// deadline, so a caller of an upstream that stays down hears so while it
/// still waits, and from then on new calls fail fast until a probe succeeds.
pub const DEFAULT_RECONNECT_WAIT: Duration = Duration::from_secs(10);
/// Calls waiting for the upstream at once; past it, calls are shed: 1024.
pub const DEFAULT_MAX_WAITING: u32 = 1024;

/// `MCPO_RECONNECT_ERROR_THRESHOLD`: consecutive recoverable failures before reconnecting.
pub const ENV_ERROR_THRESHOLD: &str = "MCPO_RECONNECT_ERROR_THRESHOLD";
/// `MCPO_RECONNECT_MAX_ATTEMPTS`: connect attempts per episode.
pub const ENV_MAX_ATTEMPTS: &str = "MCPO_RECONNECT_MAX_ATTEMPTS";
/// `MCPO_RECONNECT_MIN_INTERVAL`: seconds between threshold-triggered reconnects (0 = none).
pub const ENV_MIN_INTERVAL: &str = "MCPO_RECONNECT_MIN_INTERVAL";
/// `MCPO_CONNECTION_TIMEOUT`: seconds one connect attempt may take.
pub use mcp_reconnect_core::config::ENV_CONNECTION_TIMEOUT;
/// `MCPO_RECONNECT_WAIT`: seconds, from the start of an outage, that unsent calls wait (0 = fail fast).
pub const ENV_RECONNECT_WAIT: &str = "MCPO_RECONNECT_WAIT";

/// The largest threshold or attempt count a setting may give.
const MAX_COUNT: u32 = 1_000;

/// How hard the circuit pushes a failing upstream, and how fast it notices a returning one.
///
/// ```
/// use std::time::Duration;
/// use mcp_reconnect_circuit::{Config, FromEnv};
///
/// let env = |name: &str| (name == "MCPO_RECONNECT_MAX_ATTEMPTS").then(|| "7".to_string());
/// let config = Config::from_lookup(env).unwrap().error_threshold(2);
/// assert_eq!(config.max_attempts, 7);
/// assert_eq!(config.error_threshold, 2);
/// assert_eq!(config.min_interval, Duration::from_secs(30));
/// assert!(Config::from_lookup(|_| Some("abc".into())).is_err());
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Consecutive recoverable failures that trigger a reconnect ([`Config::error_threshold`](Self::error_threshold())).
    pub error_threshold: u32,
    /// Connect attempts in one reconnect episode before the circuit opens.
    pub max_attempts: u32,
    /// Least time between two threshold-triggered reconnects.
    pub min_interval: Duration,
    /// The backoff after the first failed attempt (then doubled).
    pub backoff_base: Duration,
    /// The longest backoff between two attempts.
    pub backoff_max: Duration,
    /// The first probe delay when nothing listens, and while open.
    pub probe_min: Duration,
    /// The longest probe delay.
    pub probe_max: Duration,
    /// The share of each delay taken off at random (0.0 to 1.0).
    pub jitter: f64,
    /// How long one connect attempt may take.
    pub attempt_timeout: Duration,
    /// Requests let through while half-open.
    pub half_open_permits: u32,
    /// Whether a connect attempt tells up from down ([`Config::probe_decides`](Self::probe_decides())).
    pub probe_decides: bool,
    /// How long, from the start of an outage, unsent calls wait for the circuit to close.
    pub reconnect_wait: Duration,
    /// Calls that may wait for the upstream at once; past it they are shed.
    pub max_waiting: u32,
    /// Whether a lost session proves the connection dead ([`Config::session_loss_reconnects`](Self::session_loss_reconnects())).
    pub session_loss_reconnects: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            error_threshold: DEFAULT_ERROR_THRESHOLD,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            min_interval: DEFAULT_MIN_INTERVAL,
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
            probe_min: DEFAULT_PROBE_MIN,
            probe_max: DEFAULT_PROBE_MAX,
            jitter: DEFAULT_JITTER,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            half_open_permits: DEFAULT_HALF_OPEN_PERMITS,
            probe_decides: false,
            session_loss_reconnects: true,
            reconnect_wait: DEFAULT_RECONNECT_WAIT,
            max_waiting: DEFAULT_MAX_WAITING,
        }
    }
}

impl FromEnv for Config {
    fn read(&mut self, env: &Env<'_>) -> Result<(), ConfigError> {
        env.count(ENV_ERROR_THRESHOLD, 1..=MAX_COUNT, &mut self.error_threshold)?;
        env.count(ENV_MAX_ATTEMPTS, 1..=MAX_COUNT, &mut self.max_attempts)?;
        env.secs_or_zero(ENV_MIN_INTERVAL, &mut self.min_interval)?;
        env.secs(ENV_CONNECTION_TIMEOUT, &mut self.attempt_timeout)?;
        env.secs_or_zero(ENV_RECONNECT_WAIT, &mut self.reconnect_wait)
    }
}

impl Config {
    /// The nearest valid settings: counts within 1 to 1000, the jitter
    /// within 0.0 to 1.0, each maximum at least its minimum, and probe
    /// delays and the attempt timeout above zero. What a circuit runs with,
    /// whatever it was given; [`validate`](Self::validate) tells what was out of range.
    pub fn normalized(mut self) -> Self {
        for count in [
            &mut self.error_threshold,
            &mut self.max_attempts,
            &mut self.half_open_permits,
        ] {
            *count = (*count).clamp(1, MAX_COUNT);
        }
        self.jitter = if self.jitter.is_nan() {
            0.0
        } else {
            self.jitter.clamp(0.0, 1.0)
        };
        self.backoff_max = self.backoff_max.max(self.backoff_base);
        self.probe_min = self.probe_min.max(Duration::from_millis(1));
        self.probe_max = self.probe_max.max(self.probe_min);
        self.attempt_timeout = self.attempt_timeout.max(Duration::from_millis(1));
        self
    }

    /// Checks the settings together (a builder can set any of them alone).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let count = |name: &str, n: u32| {
            if (1..=MAX_COUNT).contains(&n) {
                Ok(())
            } else {
                Err(ConfigError::new(
                    name,
                    n.to_string(),
                    format!("a whole number from 1 to {MAX_COUNT}"),
                ))
            }
        };
        count("error_threshold", self.error_threshold)?;
        count("max_attempts", self.max_attempts)?;
        count("half_open_permits", self.half_open_permits)?;
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(ConfigError::new(
                "jitter",
                self.jitter.to_string(),
                "a share from 0.0 to 1.0",
            ));
        }
        if self.backoff_base > self.backoff_max || self.probe_min > self.probe_max || self.probe_min.is_zero()
        {
            return Err(ConfigError::new(
                "backoff",
                format!("{self:?}"),
                "backoff_base <= backoff_max and 0 < probe_min <= probe_max",
            ));
        }
        if self.attempt_timeout.is_zero() {
            return Err(ConfigError::new("attempt_timeout", "0", "a duration above zero"));
        }
        Ok(())
    }

    mcp_reconnect_core::setters! {
        /// Consecutive recoverable failures that trigger a reconnect. Default is 3
        /// (`MCPO_RECONNECT_ERROR_THRESHOLD`). `Business` failures never count; a success resets the count.
        pub fn error_threshold(error_threshold: u32);

        /// Connect attempts in one reconnect episode before the circuit opens.
        /// Default is 5 (`MCPO_RECONNECT_MAX_ATTEMPTS`).
        pub fn max_attempts(max_attempts: u32);

        /// Least time between two threshold-triggered reconnects of a connection
        /// that still answers; inside it the circuit opens instead. Default is 30 s
        /// (`MCPO_RECONNECT_MIN_INTERVAL`). A dead connection or session reconnects at once.
        pub fn min_interval(min_interval: Duration);
    }

    /// Backoff between attempts to an upstream that answers but fails: the first
    /// attempt is immediate, then `base`, `2 × base`, … up to `max`. Default 2 s, 30 s.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max;
        self
    }

    /// Probe delays when nothing listens and while open: `min`, `2 × min`, … up
    /// to `max`. Default 100 ms, 1 s.
    pub fn probe(mut self, min: Duration, max: Duration) -> Self {
        self.probe_min = min;
        self.probe_max = max;
        self
    }

    mcp_reconnect_core::setters! {
        /// The share of each delay taken off at random (0.0 to 1.0). Default is 0.2; tests use 0.
        pub fn jitter(jitter: f64);

        /// How long one connect attempt may take. Default is 10 s (`MCPO_CONNECTION_TIMEOUT`).
        pub fn attempt_timeout(attempt_timeout: Duration);

        /// Requests let through while half-open. Default is 1.
        pub fn half_open_permits(half_open_permits: u32);

        /// Whether a connect attempt is a real request to the server that tells
        /// up from down (as `UpstreamConnector`'s MCP `ping` is), not only a TCP
        /// connect a proxy in front would always accept. Then the probe decides,
        /// and real calls are never used as probes: the first recoverable failure
        /// of a call starts a probe at once (no threshold to wait for), failed
        /// probes follow the short probe schedule (honouring `Retry-After`), and
        /// a successful probe closes the circuit without half-open calls.
        /// Default is off (a connector made by a plain function proves nothing).
        pub fn probe_decides(probe_decides: bool);

        /// Whether an answer that the session is lost (`404` to an
        /// `Mcp-Session-Id`) reconnects at once, as it does by default: a server
        /// that forgot its sessions restarted. Turn it off where each connection
        /// hands out its own sessions (a stdio child, a legacy SSE stream): there
        /// a client's session from the previous connection is unknown to the new
        /// one, which is alive, and reconnecting would only make every other
        /// client's session unknown in turn. The session layer above
        /// re-initializes the client instead, and the answer counts as the
        /// server's own (neither a failure nor a success).
        pub fn session_loss_reconnects(session_loss_reconnects: bool);

        /// How long, from the start of an outage, a call that was not sent yet
        /// waits in `poll_ready` for the circuit to close (while reconnecting and
        /// while open), instead of failing fast. Nothing was sent, so waiting is
        /// safe for every call. Once the outage is older than this, calls fail
        /// fast again until a probe succeeds. Default is 10 s
        /// (`MCPO_RECONNECT_WAIT`); zero fails fast while open, as a classic
        /// circuit breaker does.
        pub fn reconnect_wait(reconnect_wait: Duration);

        /// Calls that may wait for the upstream at once; past it they fail fast
        /// (shed). Default is 1024.
        pub fn max_waiting(max_waiting: u32);
    }
}
