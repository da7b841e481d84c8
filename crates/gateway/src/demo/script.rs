//! The demo's fault script: when, as a share of the run, each fault hits the
//! upstream, and what it does there.

use std::time::Duration;

use http::StatusCode;
use mcp_reconnect_testkit::{Fault, Rule, TestUpstream};

/// How long the upstream stays dead in the "killed" step, at most.
pub const MAX_DOWNTIME: Duration = Duration::from_secs(3);

/// One step of the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The proxy answers `502` to a burst of requests without forwarding them.
    BadGatewayBurst,
    /// The proxy resets a burst of connections.
    ResetBurst,
    /// The server is killed: connections refused, sessions gone.
    Kill,
    /// The killed server comes back on the same port, with no sessions.
    Revive,
    /// An `increment` runs but its answer is lost (a `502` after it ran).
    LostAnswer,
    /// The server restarts at once (kill and start), forgetting every session.
    Restart,
    /// The proxy answers `503` with `Retry-After: 1` to a burst.
    UnavailableBurst,
}

/// The script: each step at a share of the run.
pub const SCRIPT: [(f64, Step); 7] = [
    (0.10, Step::BadGatewayBurst),
    (0.24, Step::ResetBurst),
    (0.38, Step::Kill),
    (0.48, Step::Revive),
    (0.60, Step::LostAnswer),
    (0.72, Step::Restart),
    (0.86, Step::UnavailableBurst),
];

/// Requests hit by one burst.
const BURST: u64 = 6;

impl Step {
    /// What the live view says when the step runs.
    pub fn describe(self) -> &'static str {
        match self {
            Step::BadGatewayBurst => "reverse proxy answers 502 Bad Gateway (6 requests)",
            Step::ResetBurst => "connections reset by peer (6 requests)",
            Step::Kill => "upstream killed: connections refused, sessions gone",
            Step::Revive => "upstream started again (empty session table)",
            Step::LostAnswer => "increment runs, but its answer is lost (502 after it ran)",
            Step::Restart => "upstream restarted at once (every session forgotten)",
            Step::UnavailableBurst => "503 Service Unavailable, Retry-After: 1 (6 requests)",
        }
    }

    /// Applies the step to `upstream`.
    pub async fn apply(self, upstream: &mut TestUpstream) -> std::io::Result<()> {
        match self {
            Step::BadGatewayBurst => upstream
                .proxy
                .push(Rule::any(Fault::status(StatusCode::BAD_GATEWAY)).times(BURST)),
            Step::ResetBurst => upstream.proxy.push(Rule::any(Fault::Reset).times(BURST)),
            Step::Kill => upstream.server.stop().await,
            Step::Revive => upstream.server.start_again().await?,
            Step::LostAnswer => upstream
                .proxy
                .push(Rule::tool("increment", Fault::ForwardThenStatus(StatusCode::BAD_GATEWAY)).once()),
            Step::Restart => upstream.server.restart().await?,
            Step::UnavailableBurst => upstream.proxy.push(
                Rule::any(Fault::status_retry_after(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Duration::from_secs(1),
                ))
                .times(BURST),
            ),
        }
        Ok(())
    }
}

/// When each step runs in a run of `duration`; the revival comes at most
/// [`MAX_DOWNTIME`] after the kill.
pub fn timeline(duration: Duration) -> Vec<(Duration, Step)> {
    let mut kill_at = Duration::ZERO;
    SCRIPT
        .iter()
        .map(|&(share, step)| {
            let mut at = duration.mul_f64(share);
            match step {
                Step::Kill => kill_at = at,
                Step::Revive => at = at.min(kill_at + MAX_DOWNTIME),
                _ => {}
            }
            (at, step)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_is_in_order_and_bounds_the_downtime() {
        let steps = timeline(Duration::from_secs(100));
        assert!(steps.windows(2).all(|pair| pair[0].0 <= pair[1].0));
        let kill = steps.iter().find(|(_, s)| *s == Step::Kill).unwrap().0;
        let revive = steps.iter().find(|(_, s)| *s == Step::Revive).unwrap().0;
        assert_eq!(revive - kill, MAX_DOWNTIME);
        let short = timeline(Duration::from_secs(20));
        assert_eq!(short[0].0, Duration::from_secs(2));
    }
}
