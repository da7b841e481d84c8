//! What the demo prints: one live line a second, and the summary.

use std::time::Duration;

use mcp_reconnect_circuit::StatusSnapshot;
use mcp_reconnect_retry::RetryCounts;

use super::client::Tally;
use std::sync::atomic::Ordering::Relaxed;

/// What the live line and the summary read, at one moment.
#[derive(Debug)]
pub struct Reading<'a> {
    /// Seconds since the traffic started.
    pub elapsed: Duration,
    /// The clients' score.
    pub tally: &'a Tally,
    /// The circuit.
    pub circuit: StatusSnapshot,
    /// The retry layer.
    pub retries: RetryCounts,
    /// Upstream restarts so far (kills and restarts).
    pub restarts: u64,
}

impl Reading<'_> {
    fn sessions(&self) -> String {
        let reopened = self.tally.sessions_reopened.load(Relaxed);
        if self.restarts == 0 {
            "mcp session open".to_owned()
        } else if reopened == 0 {
            format!("mcp session kept through {} restart(s)", self.restarts)
        } else {
            format!(
                "mcp session re-opened {reopened}× in {} restart(s)",
                self.restarts
            )
        }
    }
}

/// The line printed every second.
pub fn live_line(reading: &Reading<'_>) -> String {
    format!(
        "{:>4}s │ ok {:>5}  failed {:>3} │ circuit {:<12} │ reconnects {:>2} │ retries {:>3} │ {}",
        reading.elapsed.as_secs(),
        reading.tally.ok.load(Relaxed),
        reading.tally.failed.load(Relaxed),
        reading.circuit.state.as_str(),
        reading.circuit.reconnects_succeeded,
        reading.retries.attempted,
        reading.sessions(),
    )
}

/// The summary printed at the end. `duplicates` is how many `increment`s ran
/// more than once, from the server's own counters.
pub fn summary(reading: &Reading<'_>, increments: usize, duplicates: u64) -> String {
    let ok = reading.tally.ok.load(Relaxed);
    let failed = reading.tally.failed.load(Relaxed);
    let total = ok + failed;
    let rate = if total == 0 {
        0.0
    } else {
        100.0 * ok as f64 / total as f64
    };
    let outages = reading.tally.outages();
    let (mean, max) = match outages.iter().max() {
        Some(max) => (
            outages.iter().sum::<Duration>() / u32::try_from(outages.len()).unwrap_or(u32::MAX),
            *max,
        ),
        None => (Duration::ZERO, Duration::ZERO),
    };
    let recovery = &reading.circuit.recovery;
    let mut lines = vec![
        "── summary ─────────────────────────────────────────────────────────".to_owned(),
        format!(
            "calls            {total} in {}s: {ok} ok, {failed} failed ({rate:.1} % success)",
            reading.elapsed.as_secs()
        ),
        format!(
            "client outages   {} (mean {} ms, longest {} ms, from the first failed call to the next good one)",
            outages.len(),
            mean.as_millis(),
            max.as_millis()
        ),
        format!(
            "circuit          {} recoveries (mean {} ms), {} reconnects in {} attempts, {} calls failed fast",
            recovery.count,
            recovery.mean_seconds().map_or(0, |s| (s * 1000.0) as u64),
            reading.circuit.reconnects_succeeded,
            reading.circuit.reconnect_attempts,
            reading.circuit.fail_fast
        ),
        format!(
            "retries          {} sent, {} calls saved, {} not repeated because the tool may have run",
            reading.retries.attempted, reading.retries.succeeded, reading.retries.refused_unsafe
        ),
        format!("sessions         {}", reading.sessions()),
        format!("increment        {increments} calls, duplicate executions: {duplicates}"),
    ];
    let maybe_ran = reading.tally.maybe_ran.load(Relaxed);
    if maybe_ran > 0 {
        lines.push(format!(
            "                 {maybe_ran} call(s) answered \"may have run\": the gateway refused to run them twice",
        ));
    }
    if failed == maybe_ran {
        lines.push(if failed == 0 {
            "verdict          every call succeeded through every fault".to_owned()
        } else {
            "verdict          the faults cost nothing but \"may have run\" refusals of a non-idempotent tool"
                .to_owned()
        });
    }
    lines.join("\n")
}
