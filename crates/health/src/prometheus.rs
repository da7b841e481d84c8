//! `/metrics` as Prometheus text 0.0.4 or OpenMetrics 1.0, encoded by
//! `prometheus-client` from a [`Collector`] that snapshots the circuits'
//! atomics on each scrape (no second set of metrics, no global registry).
//! The families are listed in the crate docs.

use std::fmt;
use std::sync::Arc;

use mcp_reconnect_core::metrics::HistogramSnapshot;
use mcp_reconnect_core::status::CircuitState;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet, prometheus_text, text};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::json::{Reading, unix_seconds};
use crate::negotiate::Format;
use crate::upstream::Upstream;

/// The label naming the upstream (its redacted display name).
pub const UPSTREAM_LABEL: &str = "upstream";

/// Bytes reserved for one upstream's exposition, so a scrape rarely reallocates.
const BYTES_PER_UPSTREAM: usize = 6 * 1024;

/// Encodes every upstream's numbers in `format` (Prometheus text or OpenMetrics).
pub(crate) fn render(format: Format, upstreams: &Arc<[Upstream]>) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(UpstreamCollector {
        upstreams: Arc::clone(upstreams),
    }));
    let mut out = String::with_capacity(BYTES_PER_UPSTREAM * upstreams.len().max(1));
    match format {
        Format::OpenMetrics => text::encode(&mut out, &registry)?,
        _ => prometheus_text::encode(&mut out, &registry)?,
    }
    Ok(out)
}

/// Reads the circuits (and retry sources) once per scrape.
#[derive(Debug)]
struct UpstreamCollector {
    upstreams: Arc<[Upstream]>,
}

type Labels<'a, const N: usize> = [(&'static str, &'a str); N];

/// The `upstream` label of a reading.
fn up<'a>(reading: &Reading<'a>) -> (&'static str, &'a str) {
    (UPSTREAM_LABEL, reading.name)
}

impl Collector for UpstreamCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let readings = crate::layer::read(&self.upstreams);
        let readings = &readings[..];

        let requests = readings.iter().flat_map(|r| {
            let by_class = r.snapshot.requests.iter();
            by_class.map(move |&(class, n)| ([up(r), ("class", class.map_or("success", |c| c.as_str()))], n))
        });
        family(&mut encoder, "mcp_reconnect_requests", HELP_REQUESTS, requests)?;
        let states = readings.iter().flat_map(|r| {
            CircuitState::ALL.into_iter().map(move |state| {
                (
                    [up(r), ("state", state.as_str())],
                    i64::from(r.snapshot.state == state),
                )
            })
        });
        family(&mut encoder, "mcp_reconnect_circuit_state", HELP_STATE, states)?;
        let errors = readings
            .iter()
            .map(|r| ([up(r)], i64::from(r.snapshot.error_count)));
        family(
            &mut encoder,
            "mcp_reconnect_consecutive_errors",
            HELP_ERRORS,
            errors,
        )?;
        let reconnects = readings.iter().flat_map(|r| {
            let (attempts, succeeded) = (r.snapshot.reconnect_attempts, r.snapshot.reconnects_succeeded);
            [
                ([up(r), ("outcome", "succeeded")], succeeded),
                ([up(r), ("outcome", "failed")], attempts.saturating_sub(succeeded)),
            ]
        });
        family(
            &mut encoder,
            "mcp_reconnect_reconnects",
            HELP_RECONNECTS,
            reconnects,
        )?;
        let transitions = readings.iter().flat_map(|r| {
            let by_reason = r.snapshot.transitions.iter();
            by_reason.map(move |&(reason, n)| ([up(r), ("reason", reason.as_str())], n))
        });
        family(
            &mut encoder,
            "mcp_reconnect_transitions",
            HELP_TRANSITIONS,
            transitions,
        )?;
        let fail_fast = readings.iter().map(|r| ([up(r)], r.snapshot.fail_fast));
        family(&mut encoder, "mcp_reconnect_fail_fast", HELP_FAIL_FAST, fail_fast)?;
        let held = readings.iter().map(|r| ([up(r)], i64::from(r.snapshot.held_now)));
        family(&mut encoder, "mcp_reconnect_held_calls", HELP_HELD, held)?;
        let ended = readings.iter().flat_map(|r| {
            let s = &r.snapshot;
            [
                ([up(r), ("outcome", "released")], s.held_released),
                ([up(r), ("outcome", "expired")], s.held_expired),
                ([up(r), ("outcome", "shed")], s.held_shed),
            ]
        });
        family(&mut encoder, "mcp_reconnect_held", HELP_HELD_ENDED, ended)?;
        if readings.iter().any(|r| r.retries.is_some()) {
            let retries = readings.iter().flat_map(|r| {
                let outcomes = r.retries.map(|counts| counts.by_outcome()).into_iter().flatten();
                outcomes.map(move |(outcome, n)| ([up(r), ("outcome", outcome)], n))
            });
            family(&mut encoder, "mcp_reconnect_retries", HELP_RETRIES, retries)?;
        }
        if readings.iter().any(|r| r.store.is_some()) {
            let stored = || readings.iter().filter_map(|r| Some((r, r.store?)));
            let degraded = stored().map(|(r, store)| ([up(r)], i64::from(store.degraded)));
            family(
                &mut encoder,
                "mcp_reconnect_session_store_degraded",
                HELP_STORE_DEGRADED,
                degraded,
            )?;
            let events = stored().flat_map(|(r, store)| {
                let counters = store.counters().into_iter();
                counters.map(move |(event, n)| ([up(r), ("event", event)], n))
            });
            family(
                &mut encoder,
                "mcp_reconnect_session_store_events",
                HELP_STORE_EVENTS,
                events,
            )?;
            let local =
                stored().map(|(r, store)| ([up(r)], i64::try_from(store.local_sessions).unwrap_or(i64::MAX)));
            family(
                &mut encoder,
                "mcp_reconnect_session_store_local_sessions",
                HELP_STORE_LOCAL,
                local,
            )?;
        }
        if readings.iter().any(|r| r.snapshot.last_check.is_some()) {
            let checked = readings
                .iter()
                .filter_map(|r| Some(([up(r)], unix_seconds(r.snapshot.last_check?))));
            let mut family = encoder.encode_descriptor(
                "mcp_reconnect_last_check_timestamp_seconds",
                HELP_LAST_CHECK,
                None,
                MetricType::Gauge,
            )?;
            for (labels, seconds) in checked {
                family.encode_family(&labels)?.encode_gauge(&seconds)?;
            }
        }
        let durations = readings.iter().map(|r| ([up(r)], &r.snapshot.attempt_duration));
        histograms(
            &mut encoder,
            "mcp_reconnect_reconnect_duration",
            HELP_DURATION,
            durations,
        )?;
        let waits = readings.iter().map(|r| ([up(r)], &r.snapshot.held_wait));
        histograms(&mut encoder, "mcp_reconnect_held_wait", HELP_HELD_WAIT, waits)?;
        let recoveries = readings.iter().map(|r| ([up(r)], &r.snapshot.recovery));
        histograms(&mut encoder, "mcp_reconnect_recovery", HELP_RECOVERY, recoveries)
    }
}

const HELP_REQUESTS: &str = "Calls through the circuit, by outcome class (success or the failure class).";
const HELP_STATE: &str = "The circuit's state: 1 for the current state, 0 for the others.";
const HELP_ERRORS: &str = "Consecutive recoverable failures counted now.";
const HELP_RECONNECTS: &str = "Connect attempts and probes, by outcome.";
const HELP_TRANSITIONS: &str = "Circuit state changes, by reason.";
const HELP_FAIL_FAST: &str = "Calls failed fast while the circuit was open.";
const HELP_HELD: &str = "Calls waiting now for the upstream to come back (not sent yet).";
const HELP_HELD_ENDED: &str = "Calls that waited for the upstream: sent when it came back (released), failed when the wait ran out (expired), or not let wait because too many did (shed).";
const HELP_HELD_WAIT: &str = "How long each call waited for the upstream to come back.";
const HELP_RETRIES: &str = "Retry layer counters: retries attempted, and calls by retry outcome.";
const HELP_STORE_DEGRADED: &str =
    "1 while the shared session store is unavailable and sessions are served from this process's memory.";
const HELP_STORE_EVENTS: &str =
    "Session store events: failed round trips (errors), recoveries, sessions written back after an outage.";
const HELP_STORE_LOCAL: &str = "Sessions held in this process's memory now.";
const HELP_LAST_CHECK: &str = "When the circuit last saw an outcome or attempt result (Unix seconds).";
const HELP_DURATION: &str = "How long each connect attempt took.";
const HELP_RECOVERY: &str = "How long each trouble lasted, from the first failure to healthy again.";

/// A sample's value, which also says what its family is: `u64`s only count
/// up (counters), `i64`s go up and down (gauges).
trait Sample {
    const TYPE: MetricType;
    fn encode(&self, metric: MetricEncoder<'_>) -> Result<(), fmt::Error>;
}

impl Sample for u64 {
    const TYPE: MetricType = MetricType::Counter;
    fn encode(&self, mut metric: MetricEncoder<'_>) -> Result<(), fmt::Error> {
        metric.encode_counter::<NoLabelSet, _, u64>(self, None)
    }
}

impl Sample for i64 {
    const TYPE: MetricType = MetricType::Gauge;
    fn encode(&self, mut metric: MetricEncoder<'_>) -> Result<(), fmt::Error> {
        metric.encode_gauge(self)
    }
}

/// One family of counters or gauges, a sample per label set.
fn family<'a, const N: usize, V: Sample>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (Labels<'a, N>, V)>,
) -> Result<(), fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, V::TYPE)?;
    for (labels, value) in samples {
        value.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn histograms<'a, 'h, const N: usize>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (Labels<'a, N>, &'h HistogramSnapshot)>,
) -> Result<(), fmt::Error> {
    let seconds = Unit::Seconds;
    let mut family = encoder.encode_descriptor(name, help, Some(&seconds), MetricType::Histogram)?;
    let mut buckets = Vec::new();
    for (labels, histogram) in samples {
        let count = per_bucket(histogram, &mut buckets);
        family.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
            histogram.sum_seconds,
            count,
            &buckets,
            None,
        )?;
    }
    Ok(())
}

/// Turns cumulative buckets into the per-bucket counts the encoder sums up,
/// ending with `+Inf`; returns a `count` never below the last bucket (the
/// snapshot reads each atomic once, so a concurrent observation may be half in).
fn per_bucket(histogram: &HistogramSnapshot, out: &mut Vec<(f64, u64)>) -> u64 {
    out.clear();
    let mut previous = 0;
    for &(le, cumulative) in &histogram.buckets {
        out.push((le, cumulative.saturating_sub(previous)));
        previous = previous.max(cumulative);
    }
    let count = histogram.count.max(previous);
    out.push((f64::INFINITY, count - previous));
    count
}
