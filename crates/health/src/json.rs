//! The JSON documents: `/health` in the reconnect design's shape, `/metrics` with its
//! `.connection` object and everything the circuits count.

use std::time::{SystemTime, UNIX_EPOCH};

use mcp_reconnect_core::metrics::HistogramSnapshot;
use mcp_reconnect_core::status::StatusSnapshot;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::verdict::Verdict;
use mcp_reconnect_core::status::{RetryCounts, StoreCounts};

/// One upstream at one moment, with what the JSON and the exposition need.
pub(crate) struct Reading<'a> {
    pub(crate) name: &'a str,
    pub(crate) snapshot: StatusSnapshot,
    pub(crate) verdict: Verdict,
    pub(crate) retries: Option<RetryCounts>,
    pub(crate) store: Option<StoreCounts>,
    pub(crate) warnings: Vec<String>,
}

/// `/health`: the reconnect design's object for the first upstream at the top level (its
/// `status` the overall verdict), and with several upstreams also `upstreams`, one such
/// object each.
#[derive(Serialize)]
struct HealthDocument<'a> {
    #[serde(flatten)]
    first: HealthEntry<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstreams: Option<Vec<HealthEntry<'a>>>,
}

/// One upstream in `/health`.
#[derive(Serialize)]
struct HealthEntry<'a> {
    status: &'static str,
    connection_name: &'a str,
    current_status: CurrentStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_store: Option<StoreHealth>,
    #[serde(skip_serializing_if = "no_warnings")]
    warnings: &'a [String],
}

fn no_warnings(warnings: &&[String]) -> bool {
    warnings.is_empty()
}

/// A session store in `/health`: `{"status": "ok"}` or `{"status": "degraded"}`.
#[derive(Serialize)]
struct StoreHealth {
    status: &'static str,
}

impl StoreHealth {
    fn of(reading: &Reading<'_>) -> Option<Self> {
        reading.store.map(|store| StoreHealth {
            status: store.status(),
        })
    }
}

impl<'a> HealthEntry<'a> {
    fn of(reading: &'a Reading<'a>, watched_since: SystemTime) -> Self {
        HealthEntry {
            status: reading.verdict.as_str(),
            connection_name: reading.name,
            current_status: CurrentStatus::of(&reading.snapshot, watched_since),
            session_store: StoreHealth::of(reading),
            warnings: &reading.warnings,
        }
    }
}

#[derive(Serialize)]
struct CurrentStatus {
    status: &'static str,
    error_count: u32,
    reconnect_attempts: u64,
    last_check: f64,
}

impl CurrentStatus {
    fn of(snapshot: &StatusSnapshot, watched_since: SystemTime) -> Self {
        CurrentStatus {
            status: snapshot.state.as_str(),
            error_count: snapshot.error_count,
            reconnect_attempts: snapshot.reconnect_attempts,
            last_check: unix_seconds(snapshot.last_check.unwrap_or(watched_since)),
        }
    }
}

/// Seconds since the Unix epoch, with a fraction (the reconnect design's `last_check`).
pub(crate) fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// The `/health` body. `overall` is the top-level `status`.
pub(crate) fn health(readings: &[Reading<'_>], overall: Verdict, watched_since: SystemTime) -> Vec<u8> {
    let first = match readings.first() {
        Some(reading) => HealthEntry {
            status: overall.as_str(),
            ..HealthEntry::of(reading, watched_since)
        },
        None => HealthEntry {
            status: overall.as_str(),
            connection_name: "",
            current_status: CurrentStatus {
                status: Verdict::Healthy.as_str(),
                error_count: 0,
                reconnect_attempts: 0,
                last_check: unix_seconds(watched_since),
            },
            session_store: None,
            warnings: &[],
        },
    };
    let document = HealthDocument {
        first,
        upstreams: (readings.len() > 1).then(|| {
            readings
                .iter()
                .map(|r| HealthEntry::of(r, watched_since))
                .collect()
        }),
    };
    // These types always serialize (a non-finite float becomes `null`).
    serde_json::to_vec(&document).unwrap_or_default()
}

/// `/metrics` as JSON: the overall verdict, the first upstream as the reconnect design's
/// `connection`, and every upstream (the first again) in `upstreams`.
#[derive(Serialize)]
struct MetricsDocument<'a> {
    status: &'static str,
    connection: Option<Connection<'a>>,
    upstreams: Vec<Connection<'a>>,
}

#[derive(Serialize)]
struct Connection<'a> {
    name: &'a str,
    health: &'static str,
    status: &'static str,
    error_count: u32,
    reconnect_attempts: u64,
    last_check: f64,
    last_failure: Option<&'static str>,
    fail_fast: u64,
    held: Held,
    reconnects: Reconnects,
    requests: Counts,
    transitions: Counts,
    retries: Option<Counts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_store: Option<StoreMetrics>,
    recovery_seconds: Histogram,
    reconnect_duration_seconds: Histogram,
}

/// Calls that waited for the upstream to come back (never sent while waiting).
#[derive(Serialize)]
struct Held {
    now: u32,
    total: u64,
    released: u64,
    expired: u64,
    shed: u64,
    wait_seconds: Histogram,
}

/// A session store in `/metrics`: its status and counters.
#[derive(Serialize)]
struct StoreMetrics {
    status: &'static str,
    degraded: bool,
    errors: u64,
    recoveries: u64,
    written_back: u64,
    local_sessions: u64,
}

impl StoreMetrics {
    fn of(store: StoreCounts) -> Self {
        StoreMetrics {
            status: store.status(),
            degraded: store.degraded,
            errors: store.errors,
            recoveries: store.recoveries,
            written_back: store.written_back,
            local_sessions: store.local_sessions,
        }
    }
}

#[derive(Serialize)]
struct Reconnects {
    attempted: u64,
    succeeded: u64,
    failed: u64,
    episodes_failed: u64,
}

#[derive(Serialize)]
struct Histogram {
    count: u64,
    sum: f64,
    mean: Option<f64>,
    buckets: Vec<Bucket>,
}

#[derive(Serialize)]
struct Bucket {
    le: f64,
    count: u64,
}

impl Histogram {
    fn of(snapshot: &HistogramSnapshot) -> Self {
        Histogram {
            count: snapshot.count,
            sum: snapshot.sum_seconds,
            mean: snapshot.mean_seconds(),
            buckets: snapshot
                .buckets
                .iter()
                .map(|&(le, count)| Bucket { le, count })
                .collect(),
        }
    }
}

/// Named counters, serialized as an object in their fixed order.
struct Counts(Vec<(&'static str, u64)>);

impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, count) in &self.0 {
            map.serialize_entry(name, count)?;
        }
        map.end()
    }
}

impl<'a> Connection<'a> {
    fn of(reading: &'a Reading<'a>, watched_since: SystemTime) -> Self {
        let snapshot = &reading.snapshot;
        let requests = snapshot
            .requests
            .iter()
            .map(|&(class, n)| (class.map_or("success", |c| c.as_str()), n));
        let transitions = snapshot
            .transitions
            .iter()
            .map(|&(reason, n)| (reason.as_str(), n));
        Connection {
            name: reading.name,
            health: reading.verdict.as_str(),
            status: snapshot.state.as_str(),
            error_count: snapshot.error_count,
            reconnect_attempts: snapshot.reconnect_attempts,
            last_check: unix_seconds(snapshot.last_check.unwrap_or(watched_since)),
            last_failure: snapshot.last_failure.map(|class| class.as_str()),
            fail_fast: snapshot.fail_fast,
            held: Held {
                now: snapshot.held_now,
                total: snapshot.held_total,
                released: snapshot.held_released,
                expired: snapshot.held_expired,
                shed: snapshot.held_shed,
                wait_seconds: Histogram::of(&snapshot.held_wait),
            },
            reconnects: Reconnects {
                attempted: snapshot.reconnect_attempts,
                succeeded: snapshot.reconnects_succeeded,
                failed: snapshot
                    .reconnect_attempts
                    .saturating_sub(snapshot.reconnects_succeeded),
                episodes_failed: snapshot.reconnects_failed,
            },
            requests: Counts(requests.collect()),
            transitions: Counts(transitions.collect()),
            retries: reading.retries.map(|counts| Counts(counts.by_outcome().to_vec())),
            session_store: reading.store.map(StoreMetrics::of),
            recovery_seconds: Histogram::of(&snapshot.recovery),
            reconnect_duration_seconds: Histogram::of(&snapshot.attempt_duration),
        }
    }
}

/// The `/metrics` JSON body.
pub(crate) fn metrics(readings: &[Reading<'_>], overall: Verdict, watched_since: SystemTime) -> Vec<u8> {
    let document = MetricsDocument {
        status: overall.as_str(),
        connection: readings
            .first()
            .map(|reading| Connection::of(reading, watched_since)),
        upstreams: readings
            .iter()
            .map(|reading| Connection::of(reading, watched_since))
            .collect(),
    };
    serde_json::to_vec(&document).unwrap_or_default()
}
