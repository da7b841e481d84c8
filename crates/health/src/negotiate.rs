//! Which representation of `/metrics` a client asked for: `?format=` first,
//! then the `Accept` header (with `q` values), JSON when it does not say.

use http::HeaderMap;
use http::header::ACCEPT;

/// A representation of `/metrics`.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// The reconnect design's JSON (`.connection.reconnect_attempts`, …): the default.
    Json,
    /// Prometheus text exposition 0.0.4 (`text/plain`).
    #[cfg(feature = "prometheus")]
    Prometheus,
    /// OpenMetrics 1.0 text (`application/openmetrics-text`), ending in `# EOF`.
    #[cfg(feature = "prometheus")]
    OpenMetrics,
}

/// The `Content-Type` of a JSON answer.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// The `Content-Type` of a Prometheus text answer.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The `Content-Type` of an OpenMetrics answer.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The query parameter that names a format: `?format=json|prometheus|openmetrics`.
pub const FORMAT_PARAMETER: &str = "format";

/// The most `Accept` media ranges read; the rest are ignored.
pub const MAX_MEDIA_RANGES: usize = 32;

/// Why no representation can be given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// `?format=` named no known format: `400`.
    UnknownFormat,
    /// The format named, or every type the `Accept` header allows, cannot be
    /// produced (the `prometheus` feature is off, or `Accept: image/png`): `406`.
    NotAcceptable,
}

/// The formats this build can produce, in order of preference on a tie.
const OFFERED: &[(Format, &str, &str)] = &[
    (Format::Json, "application", "json"),
    #[cfg(feature = "prometheus")]
    (Format::OpenMetrics, "application", "openmetrics-text"),
    #[cfg(feature = "prometheus")]
    (Format::Prometheus, "text", "plain"),
];

impl Format {
    /// The `Content-Type` of an answer in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Json => JSON_CONTENT_TYPE,
            #[cfg(feature = "prometheus")]
            Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
            #[cfg(feature = "prometheus")]
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }

    /// Decides the format for a request's query and headers.
    ///
    /// `?format=` (`json`, `prometheus`, `openmetrics`) wins. Otherwise each
    /// offered type takes the `q` of the most specific `Accept` range that
    /// matches it (`type/subtype` over `type/*` over `*/*`); the highest `q`
    /// wins, then the more specific match, then JSON, OpenMetrics, Prometheus
    /// in that order. No `Accept` header means JSON. `q=0` refuses a type.
    pub fn negotiate(query: Option<&str>, headers: &HeaderMap) -> Result<Format, Rejection> {
        if let Some(named) = query.and_then(format_parameter) {
            return from_name(named);
        }
        let mut ranges = headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(MediaRange::parse)
            .take(MAX_MEDIA_RANGES)
            .peekable();
        if ranges.peek().is_none() {
            return Ok(Format::Json);
        }
        let ranges: Vec<MediaRange<'_>> = ranges.collect();
        let mut best: Option<(u16, u8, usize)> = None;
        for (preference, (_, kind, subtype)) in OFFERED.iter().enumerate() {
            let Some((q, specificity)) = ranges
                .iter()
                .filter_map(|range| range.specificity(kind, subtype).map(|s| (s, range.q)))
                .max_by_key(|&(specificity, q)| (specificity, q))
                .map(|(specificity, q)| (q, specificity))
            else {
                continue;
            };
            let better = best.is_none_or(|(best_q, best_s, _)| (q, specificity) > (best_q, best_s));
            if q > 0 && better {
                best = Some((q, specificity, preference));
            }
        }
        best.and_then(|(_, _, index)| OFFERED.get(index))
            .map(|&(format, _, _)| format)
            .ok_or(Rejection::NotAcceptable)
    }
}

/// The value of `format=` in a query string, if present.
fn format_parameter(query: &str) -> Option<&str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == FORMAT_PARAMETER).then_some(value)
    })
}

fn from_name(name: &str) -> Result<Format, Rejection> {
    if name.eq_ignore_ascii_case("json") {
        return Ok(Format::Json);
    }
    let known = ["prometheus", "text", "openmetrics"];
    if !known.iter().any(|known| name.eq_ignore_ascii_case(known)) {
        return Err(Rejection::UnknownFormat);
    }
    #[cfg(feature = "prometheus")]
    {
        if name.eq_ignore_ascii_case("openmetrics") {
            return Ok(Format::OpenMetrics);
        }
        Ok(Format::Prometheus)
    }
    #[cfg(not(feature = "prometheus"))]
    Err(Rejection::NotAcceptable)
}

/// One `Accept` media range: `type/subtype;params;q=0.5`. `q` is in thousandths.
#[derive(Debug)]
struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    q: u16,
}

/// `q=1` in thousandths.
const Q_MAX: u16 = 1000;

impl<'a> MediaRange<'a> {
    /// Parses one range; a malformed one (no `/`, bad `q`) is skipped.
    fn parse(text: &'a str) -> Option<MediaRange<'a>> {
        let mut parts = text.split(';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        let (kind, subtype) = (kind.trim(), subtype.trim());
        if kind.is_empty() || subtype.is_empty() || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut q = Q_MAX;
        for parameter in parts {
            let Some((name, value)) = parameter.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("q") {
                q = parse_q(value.trim())?;
            }
        }
        Some(MediaRange { kind, subtype, q })
    }

    /// How specifically this range matches `kind/subtype`: 2 exact, 1 `kind/*`, 0 `*/*`.
    fn specificity(&self, kind: &str, subtype: &str) -> Option<u8> {
        match (self.kind, self.subtype) {
            ("*", "*") => Some(0),
            (k, "*") if k.eq_ignore_ascii_case(kind) => Some(1),
            (k, s) if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(subtype) => Some(2),
            _ => None,
        }
    }
}

/// `0`, `0.5`, `1`, `1.000` → thousandths; anything else (`2`, `-1`, `0.1234`) → `None`.
fn parse_q(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match whole {
        "0" => 0,
        "1" => Q_MAX,
        _ => return None,
    };
    let mut thousandths = 0u16;
    for (digit, scale) in fraction.bytes().zip([100u16, 10, 1]) {
        thousandths += u16::from(digit - b'0') * scale;
    }
    let q = whole + thousandths;
    (q <= Q_MAX).then_some(q)
}
