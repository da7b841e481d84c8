//! One line of the table per target: what its calls came to.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::client::{Call, Caller, Outcome};
use super::{CALL_DEADLINE, RUN, SETTLED};

pub(super) fn header() {
    println!(
        "\n| fault | target | safe calls ok | `increment` ran twice | answered \"may have run\" | hung (no answer in {} s) | session re-opens | recovers |",
        CALL_DEADLINE.as_secs()
    );
    println!("|---|---|---|---|---|---|---|---|");
}

/// One line of the table.
pub(super) struct Line {
    target: &'static str,
    safe_ok: usize,
    safe: usize,
    increments: usize,
    twice: usize,
    maybe_run: usize,
    hung: usize,
    reopened: u32,
    /// When failures stopped, after the fault ended (`None`: they did not).
    recovered: Option<Duration>,
    /// Whether any call failed at all.
    any_failed: bool,
    /// Whether the fault ended before the run did.
    fault_ends: bool,
    /// A few distinct reasons of failures.
    reasons: Vec<String>,
}

impl Line {
    pub(super) fn of(
        caller: &Caller,
        calls: &[Call],
        increments: &dyn Fn(&str) -> u64,
        fault_end: Option<Duration>,
    ) -> Line {
        let safe: Vec<&Call> = calls.iter().filter(|c| c.tool != "increment").collect();
        let last_failure = calls
            .iter()
            .filter(|c| c.outcome != Outcome::Ok)
            .map(|c| c.done)
            .max();
        let recovered = match last_failure {
            Some(at) if at + SETTLED > RUN => None,
            Some(at) => Some(at.saturating_sub(fault_end.unwrap_or_default())),
            None => Some(Duration::ZERO),
        };
        let mut reasons: Vec<String> = Vec::new();
        for call in calls {
            if let Outcome::Failed(why) = &call.outcome
                && reasons.len() < 3
                && !reasons.contains(why)
            {
                reasons.push(why.clone());
            }
        }
        Line {
            target: caller.label,
            safe_ok: safe.iter().filter(|c| c.outcome == Outcome::Ok).count(),
            safe: safe.len(),
            increments: calls.iter().filter(|c| c.key.is_some()).count(),
            twice: calls
                .iter()
                .filter_map(|c| c.key.as_deref())
                .filter(|key| increments(key) > 1)
                .count(),
            maybe_run: calls.iter().filter(|c| c.outcome == Outcome::MaybeRun).count(),
            hung: calls.iter().filter(|c| c.outcome == Outcome::Hung).count(),
            reopened: caller.reopened.load(Ordering::Relaxed),
            recovered,
            any_failed: last_failure.is_some(),
            fault_ends: fault_end.is_some(),
            reasons,
        }
    }

    pub(super) fn print(&self, scenario: &str) {
        let recovered = match (self.any_failed, self.fault_ends, self.recovered) {
            (false, _, _) => "no failure".to_string(),
            (true, false, _) => "— (lasts the run)".to_string(),
            (true, true, Some(after)) => format!("yes, {:.1} s after the fault", after.as_secs_f64()),
            (true, true, None) => "**no**".to_string(),
        };
        println!(
            "| {scenario} | {} | {}/{} ({:.0} %) | {} of {} | {} | {} | {} | {recovered} |",
            self.target,
            self.safe_ok,
            self.safe,
            100.0 * self.safe_ok as f64 / self.safe.max(1) as f64,
            self.twice,
            self.increments,
            self.maybe_run,
            self.hung,
            self.reopened,
        );
        if std::env::var_os("MCP_BENCH_VERBOSE").is_some() {
            for reason in &self.reasons {
                eprintln!("  {}: {reason}", self.target);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::client::Surface;
    use super::*;

    fn call(outcome: Outcome, done_ms: u64) -> Call {
        Call {
            tool: "echo",
            key: None,
            outcome,
            done: Duration::from_millis(done_ms),
        }
    }

    async fn caller() -> Arc<Caller> {
        Caller::new("t", Surface::Rest { base: String::new() })
            .await
            .expect("a REST caller needs no peer")
    }

    #[tokio::test]
    async fn recovery_is_the_last_failure_after_the_fault_and_none_near_the_end() {
        let caller = caller().await;
        let counters = |_: &str| 0;
        let end = Some(Duration::from_secs(4));
        let failed = |ms| call(Outcome::Failed("x".into()), ms);

        let line = Line::of(&caller, &[call(Outcome::Ok, 100)], &counters, end);
        assert!(!line.any_failed);
        let line = Line::of(
            &caller,
            &[failed(5_000), call(Outcome::Ok, 6_000)],
            &counters,
            end,
        );
        assert_eq!(line.recovered, Some(Duration::from_secs(1)));
        // A failure during the fault counts as recovered at the fault's end.
        let line = Line::of(&caller, &[failed(3_000)], &counters, end);
        assert_eq!(line.recovered, Some(Duration::ZERO));
        // Still failing in the run's last stretch: not recovered.
        let late = (RUN - SETTLED / 2).as_millis() as u64;
        let line = Line::of(&caller, &[failed(late)], &counters, end);
        assert_eq!(line.recovered, None);
        let line = Line::of(&caller, &[call(Outcome::Hung, late)], &counters, end);
        assert_eq!((line.recovered, line.hung), (None, 1));
    }
}
