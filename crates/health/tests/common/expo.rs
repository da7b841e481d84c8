//! A strict parser for the Prometheus text format 0.0.4 and OpenMetrics 1.0
//! text, as the health layer must write them: every family is `# HELP`, then
//! `# TYPE` (then `# UNIT` in OpenMetrics), then its samples, contiguous; label
//! syntax and escapes exact; no duplicate series; histogram buckets sorted and
//! monotonic, ending in `+Inf` equal to `_count`, with one `_sum`; OpenMetrics
//! ends with `# EOF`. Used by the unit tests (through `#[path]`) and `tests/`.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One metric family: its metadata and samples.
#[derive(Clone, Debug, Default)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: String,
    pub unit: Option<String>,
    pub samples: Vec<Sample>,
}

/// A whole exposition.
#[derive(Clone, Debug, Default)]
pub struct Exposition {
    pub families: Vec<Family>,
}

impl Exposition {
    /// The family called `name` (as in `# TYPE`).
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|family| family.name == name)
    }

    /// The value of the sample `name` with exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.families
            .iter()
            .flat_map(|family| &family.samples)
            .find(|sample| sample.name == name && sample.labels == wanted)
            .map(|sample| sample.value)
    }

    /// Every label value of every sample.
    pub fn label_values(&self) -> impl Iterator<Item = &str> {
        self.families
            .iter()
            .flat_map(|family| &family.samples)
            .flat_map(|sample| sample.labels.values().map(String::as_str))
    }
}

/// Parses `text`, strictly; `openmetrics` selects the OpenMetrics rules.
pub fn parse(text: &str, openmetrics: bool) -> Result<Exposition, String> {
    let body = text
        .strip_suffix('\n')
        .ok_or("the exposition must end with a newline")?;
    let mut lines: Vec<&str> = body.split('\n').collect();
    if openmetrics {
        if lines.pop() != Some("# EOF") {
            return Err("OpenMetrics must end with `# EOF`".into());
        }
    } else if lines.contains(&"# EOF") {
        return Err("`# EOF` in Prometheus text 0.0.4".into());
    }
    let mut exposition = Exposition::default();
    let mut series = HashSet::new();
    for (number, line) in lines.iter().enumerate() {
        parse_line(&mut exposition, &mut series, line, openmetrics)
            .map_err(|e| format!("line {}: {e}: {line:?}", number + 1))?;
    }
    for family in &exposition.families {
        check_family(family, openmetrics)?;
    }
    Ok(exposition)
}

fn parse_line(
    exposition: &mut Exposition,
    series: &mut HashSet<String>,
    line: &str,
    om: bool,
) -> Result<(), String> {
    if let Some(rest) = line.strip_prefix("# ") {
        let mut parts = rest.splitn(3, ' ');
        let (keyword, name, value) = (
            parts.next(),
            parts.next().ok_or("no name")?,
            parts.next().ok_or("no value")?,
        );
        check_name(name)?;
        match keyword {
            Some("HELP") => {
                if exposition.family(name).is_some() {
                    return Err("a second HELP for the family".into());
                }
                unescape(value, om)?;
                exposition.families.push(Family {
                    name: name.into(),
                    help: value.into(),
                    ..Family::default()
                });
            }
            Some("TYPE") => {
                let family = current(exposition, name)?;
                if !family.kind.is_empty() || !family.samples.is_empty() {
                    return Err("TYPE out of place".into());
                }
                let known: &[&str] = if om {
                    &["counter", "gauge", "histogram", "unknown"]
                } else {
                    &["counter", "gauge", "histogram", "untyped"]
                };
                if !known.contains(&value) {
                    return Err(format!("unknown type {value}"));
                }
                if !om && value == "counter" && !name.ends_with("_total") {
                    return Err("a 0.0.4 counter's name must end in _total".into());
                }
                family.kind = value.into();
            }
            Some("UNIT") if om => {
                let family = current(exposition, name)?;
                if family.kind.is_empty() || family.unit.is_some() || !name.ends_with(&format!("_{value}")) {
                    return Err("UNIT out of place or not the name's suffix".into());
                }
                family.unit = Some(value.into());
            }
            _ => return Err("unknown comment".into()),
        }
        return Ok(());
    }
    let sample = parse_sample(line)?;
    let family = exposition
        .families
        .last_mut()
        .ok_or("a sample before any family")?;
    if family.kind.is_empty() {
        return Err("a sample before its TYPE".into());
    }
    let suffix = sample
        .name
        .strip_prefix(family.name.as_str())
        .ok_or("a sample outside its family")?;
    let allowed: &[&str] = match (family.kind.as_str(), om) {
        ("counter", true) => &["_total"],
        ("histogram", _) => &["_bucket", "_sum", "_count"],
        _ => &[""],
    };
    if !allowed.contains(&suffix) {
        return Err(format!("suffix {suffix:?} not allowed for a {}", family.kind));
    }
    if (suffix == "_bucket") != sample.labels.contains_key("le") {
        return Err("`le` on a non-bucket, or a bucket without `le`".into());
    }
    if family.kind == "counter" && (sample.value.is_nan() || sample.value < 0.0) {
        return Err("a counter below zero or NaN".into());
    }
    if !series.insert(format!("{}{:?}", sample.name, sample.labels)) {
        return Err("a duplicate series".into());
    }
    family.samples.push(sample);
    Ok(())
}

fn current<'a>(exposition: &'a mut Exposition, name: &str) -> Result<&'a mut Family, String> {
    match exposition.families.last_mut() {
        Some(family) if family.name == name => Ok(family),
        _ => Err("metadata for a family that is not the current one (HELP first)".into()),
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    if value.contains(' ') {
        return Err("a timestamp or trailing text".into());
    }
    Ok(Sample {
        name: name.into(),
        labels,
        value: parse_value(value)?,
    })
}

/// Parses `name="value",…}` and returns what follows the `}`.
fn parse_labels<'a>(mut text: &'a str, labels: &mut BTreeMap<String, String>) -> Result<&'a str, String> {
    loop {
        let (name, after) = text.split_once("=\"").ok_or("a label without `=\"`")?;
        let mut chars = name.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(format!("bad label name {name:?}"));
        }
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end.ok_or("an unterminated label value")?;
        let value = unescape(&after[..end], true)?;
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        let after = &after[end + 1..];
        if let Some(next) = after.strip_prefix(',') {
            if next.starts_with('}') {
                return Err("a trailing comma in labels".into());
            }
            text = next;
        } else {
            return after
                .strip_prefix('}')
                .ok_or_else(|| "labels not closed by `}`".to_string());
        }
    }
}

/// Undoes `\\`, `\n` and (in label values and OpenMetrics) `\"`; any other escape is an error.
fn unescape(text: &str, quotes: bool) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            other => return Err(format!("bad escape \\{other:?}")),
        }
    }
    Ok(out)
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if text.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) => {
            text.parse().map_err(|_| format!("bad value {text:?}"))
        }
        _ => Err(format!("bad value {text:?}")),
    }
}

/// One histogram series: its `(le, count)` buckets, `_sum` and `_count`.
type Group = (Vec<(f64, f64)>, Option<f64>, Option<f64>);

fn check_family(family: &Family, om: bool) -> Result<(), String> {
    if family.kind.is_empty() {
        return Err(format!("{}: no TYPE", family.name));
    }
    if family.kind != "histogram" {
        return Ok(());
    }
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for sample in &family.samples {
        let mut key = sample.labels.clone();
        let le = key.remove("le");
        let group = groups.entry(format!("{key:?}")).or_default();
        let suffix = &sample.name[family.name.len()..];
        match (suffix, le) {
            ("_bucket", Some(le)) => group.0.push((parse_value(&le)?, sample.value)),
            ("_sum", None) => group.1 = Some(sample.value),
            ("_count", None) => group.2 = Some(sample.value),
            _ => return Err(format!("{}: odd sample {}", family.name, sample.name)),
        }
    }
    for (labels, (buckets, sum, count)) in groups {
        let where_ = format!("{}{labels}", family.name);
        let (sum, count) = (
            sum.ok_or(format!("{where_}: no _sum"))?,
            count.ok_or(format!("{where_}: no _count"))?,
        );
        if sum.is_nan() || sum < 0.0 || buckets.is_empty() {
            return Err(format!("{where_}: bad _sum or no buckets"));
        }
        for pair in buckets.windows(2) {
            if pair[0].0.partial_cmp(&pair[1].0) != Some(std::cmp::Ordering::Less) || pair[0].1 > pair[1].1 {
                return Err(format!(
                    "{where_}: buckets not sorted or not monotonic: {buckets:?}"
                ));
            }
        }
        if buckets.last() != Some(&(f64::INFINITY, count)) {
            return Err(format!(
                "{where_}: the last bucket must be +Inf = _count ({count}) (om: {om})"
            ));
        }
    }
    Ok(())
}
