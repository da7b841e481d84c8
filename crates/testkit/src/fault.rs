//! What [`FaultProxy`](crate::FaultProxy) does to a request: [`Fault`]s, the
//! [`Rule`]s that pick them, and the [`InjectedFault`] log. Pure and sync.

use std::time::Duration;

use http::{Method, StatusCode};

/// What the proxy does with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Forward it and stream the answer back (the default).
    Pass,
    /// Answer `status` without forwarding (the upstream never sees it), with a
    /// `Retry-After` in whole seconds (rounded up) when `retry_after` is set.
    Status {
        /// The status to answer, e.g. `502`, `503`, `504`.
        status: StatusCode,
        /// The `Retry-After` to send, if any.
        retry_after: Option<Duration>,
    },
    /// Forward it, read the upstream's whole answer, then answer this status
    /// instead: the server executed, the client sees a failure.
    ForwardThenStatus(StatusCode),
    /// Reset the client's connection (TCP `RST`) without forwarding.
    Reset,
    /// Forward it, read the upstream's whole answer, then reset the client's
    /// connection instead of answering.
    ForwardThenReset,
    /// Never answer, until the client gives up or the proxy stops.
    Hang,
    /// Wait this long, then forward.
    Delay(Duration),
}

impl Fault {
    /// Answer `status` without forwarding.
    pub fn status(status: StatusCode) -> Fault {
        Fault::Status {
            status,
            retry_after: None,
        }
    }

    /// Answer `status` with a `Retry-After` header, without forwarding.
    pub fn status_retry_after(status: StatusCode, retry_after: Duration) -> Fault {
        Fault::Status {
            status,
            retry_after: Some(retry_after),
        }
    }

    /// Whether the upstream receives the request under this fault.
    pub fn forwards(&self) -> bool {
        matches!(
            self,
            Fault::Pass | Fault::ForwardThenStatus(_) | Fault::ForwardThenReset | Fault::Delay(_)
        )
    }
}

/// What the proxy knows about a request when it picks a fault.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// The HTTP method (`POST` for JSON-RPC, `GET` for the SSE stream, `DELETE`).
    pub http_method: Method,
    /// The JSON-RPC method, from the `Mcp-Method` header or the body.
    pub method: Option<String>,
    /// The tool of a `tools/call`, from the `Mcp-Name` header or the body.
    pub tool: Option<String>,
}

/// Which requests a [`Rule`] applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Match {
    /// Every request.
    Any,
    /// Requests with this HTTP method (e.g. `GET` for the SSE stream).
    HttpMethod(Method),
    /// JSON-RPC requests or notifications with this method (`initialize`, `tools/list`, …).
    Method(String),
    /// `tools/call` requests of this tool.
    Tool(String),
}

impl Match {
    /// Whether `request` is one of these.
    pub fn matches(&self, request: &RequestInfo) -> bool {
        match self {
            Match::Any => true,
            Match::HttpMethod(method) => request.http_method == *method,
            Match::Method(method) => request.method.as_deref() == Some(method.as_str()),
            Match::Tool(tool) => request.tool.as_deref() == Some(tool.as_str()),
        }
    }
}

/// A matcher, a fault, and how often to inject it.
///
/// A rule *fires* on a request when its matcher matches, it has firings left
/// ([`times`](Self::times)), and the request is its n-th match since the rule
/// was added, with n a multiple of [`every`](Self::every). The proxy tries its
/// rules in order and applies the first that fires; a rule that matches but
/// does not fire lets later rules try. No rule firing means [`Fault::Pass`].
///
/// ```
/// use http::StatusCode;
/// use mcp_reconnect_testkit::{Fault, Rule};
///
/// // The 1st and 2nd `increment` calls are answered 502 after they ran:
/// let rule = Rule::tool("increment", Fault::ForwardThenStatus(StatusCode::BAD_GATEWAY)).times(2);
/// // Every 10th request is answered 503 without reaching the server:
/// let chaos = Rule::any(Fault::status(StatusCode::SERVICE_UNAVAILABLE)).every(10);
/// # let _ = (rule, chaos);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    matcher: Match,
    fault: Fault,
    times: Option<u64>,
    every: u64,
    matched: u64,
    fired: u64,
}

impl Rule {
    /// A rule that injects `fault` into every request `matcher` matches, forever.
    pub fn new(matcher: Match, fault: Fault) -> Rule {
        Rule {
            matcher,
            fault,
            times: None,
            every: 1,
            matched: 0,
            fired: 0,
        }
    }

    /// [`Match::Any`].
    pub fn any(fault: Fault) -> Rule {
        Rule::new(Match::Any, fault)
    }

    /// [`Match::Method`].
    pub fn method(method: impl Into<String>, fault: Fault) -> Rule {
        Rule::new(Match::Method(method.into()), fault)
    }

    /// [`Match::Tool`].
    pub fn tool(tool: impl Into<String>, fault: Fault) -> Rule {
        Rule::new(Match::Tool(tool.into()), fault)
    }

    /// Fires at most `n` times (`0`: never).
    pub fn times(mut self, n: u64) -> Rule {
        self.times = Some(n);
        self
    }

    /// Fires once.
    pub fn once(self) -> Rule {
        self.times(1)
    }

    /// Fires on every `n`-th matching request only: the n-th, 2n-th, …
    /// (`0` counts as `1`).
    pub fn every(mut self, n: u64) -> Rule {
        self.every = n.max(1);
        self
    }

    /// The fault this rule injects.
    pub fn fault(&self) -> &Fault {
        &self.fault
    }

    /// How many times the rule fired.
    pub fn fired(&self) -> u64 {
        self.fired
    }

    /// Counts `request` if it is this rule's, and tells whether the rule fires on it.
    fn fire(&mut self, request: &RequestInfo) -> bool {
        let exhausted = self.times.is_some_and(|times| self.fired >= times);
        if exhausted || !self.matcher.matches(request) {
            return false;
        }
        self.matched += 1;
        if !self.matched.is_multiple_of(self.every) {
            return false;
        }
        self.fired += 1;
        true
    }
}

/// Applies the first rule of `rules` that fires on `request`.
pub(crate) fn choose(rules: &mut [Rule], request: &RequestInfo) -> Fault {
    rules
        .iter_mut()
        .find_map(|rule| rule.fire(request).then(|| rule.fault.clone()))
        .unwrap_or(Fault::Pass)
}

/// One fault the proxy injected.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InjectedFault {
    /// The proxy's sequence number of the request (1 for the first it received).
    pub seq: u64,
    /// What the proxy did.
    pub fault: Fault,
    /// The request's JSON-RPC method, if known.
    pub method: Option<String>,
    /// The request's tool, if it was a `tools/call`.
    pub tool: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(tool: &str) -> RequestInfo {
        RequestInfo {
            http_method: Method::POST,
            method: Some("tools/call".into()),
            tool: Some(tool.into()),
        }
    }

    const BAD_GATEWAY: Fault = Fault::ForwardThenStatus(StatusCode::BAD_GATEWAY);

    #[test]
    fn no_rule_means_pass() {
        assert_eq!(choose(&mut [], &call("echo")), Fault::Pass);
    }

    #[test]
    fn first_firing_rule_wins_and_times_runs_out() {
        let mut rules = [Rule::tool("echo", Fault::Reset).once(), Rule::any(Fault::Hang)];
        assert_eq!(choose(&mut rules, &call("add")), Fault::Hang);
        assert_eq!(choose(&mut rules, &call("echo")), Fault::Reset);
        assert_eq!(choose(&mut rules, &call("echo")), Fault::Hang);
        assert_eq!(rules[0].fired(), 1);
        assert_eq!(rules[1].fired(), 2);
    }

    #[test]
    fn every_fires_on_each_nth_match_and_lets_others_through() {
        let mut rules = [Rule::any(BAD_GATEWAY).every(3)];
        let faults: Vec<Fault> = (0..7).map(|_| choose(&mut rules, &call("echo"))).collect();
        let fired: Vec<bool> = faults.iter().map(|fault| *fault == BAD_GATEWAY).collect();
        assert_eq!(fired, [false, false, true, false, false, true, false]);
    }

    #[test]
    fn every_and_times_combine() {
        let mut rules = [Rule::any(Fault::Reset).every(2).times(1)];
        let fired = (0..6)
            .filter(|_| choose(&mut rules, &call("x")) == Fault::Reset)
            .count();
        assert_eq!(fired, 1);
    }

    #[test]
    fn matchers_read_method_tool_and_http_method() {
        let get = RequestInfo {
            http_method: Method::GET,
            ..RequestInfo::default()
        };
        assert!(Match::HttpMethod(Method::GET).matches(&get));
        assert!(!Match::Method("tools/call".into()).matches(&get));
        assert!(Match::Method("tools/call".into()).matches(&call("echo")));
        assert!(!Match::Tool("add".into()).matches(&call("echo")));
        assert!(Rule::any(Fault::Pass).times(0).fire(&call("echo")).eq(&false));
    }

    #[test]
    fn only_forwarding_faults_reach_the_upstream() {
        assert!(Fault::Pass.forwards());
        assert!(BAD_GATEWAY.forwards());
        assert!(Fault::Delay(Duration::from_millis(1)).forwards());
        assert!(!Fault::status(StatusCode::SERVICE_UNAVAILABLE).forwards());
        assert!(!Fault::Reset.forwards());
        assert!(!Fault::Hang.forwards());
    }
}
