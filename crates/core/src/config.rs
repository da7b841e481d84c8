//! Reading settings from the environment (`MCPO_*` variables) with clear
//! errors, shared by every layer's `Config`.
//!
//! Layers never read the process environment themselves: a `Config`
//! implements [`FromEnv::read`], [`FromEnv::from_env`] passes [`env_lookup`],
//! tests pass a map ([`FromEnv::from_lookup`]), and a bad value is an error
//! that names the variable.
//!
//! ```
//! use std::time::Duration;
//! use mcp_reconnect_core::config::{ConfigError, Env, FromEnv};
//!
//! #[derive(Debug, Default, PartialEq)]
//! struct Settings {
//!     attempts: u32,
//!     timeout: Duration,
//! }
//!
//! impl FromEnv for Settings {
//!     fn read(&mut self, env: &Env<'_>) -> Result<(), ConfigError> {
//!         env.count("MCPO_RECONNECT_MAX_ATTEMPTS", 1..=100, &mut self.attempts)?;
//!         env.secs("MCPO_CONNECTION_TIMEOUT", &mut self.timeout)
//!     }
//! }
//!
//! let env = |name: &str| match name {
//!     "MCPO_RECONNECT_MAX_ATTEMPTS" => Some("7".to_string()),
//!     "MCPO_CONNECTION_TIMEOUT" => Some("2.5".to_string()),
//!     _ => None,
//! };
//! let settings = Settings::from_lookup(env).unwrap();
//! assert_eq!(settings, Settings { attempts: 7, timeout: Duration::from_millis(2500) });
//! let error = Settings::from_lookup(|_| Some("abc".to_string())).unwrap_err();
//! assert_eq!(error.to_string(), "MCPO_RECONNECT_MAX_ATTEMPTS=\"abc\": expected a whole number from 1 to 100");
//! ```

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

/// The longest duration a setting may name: one day (guards against overflow and typos).
pub const MAX_SETTING_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// `MCPO_CONNECTION_TIMEOUT`, seconds: the one setting behind the connect
/// attempt's bound (circuit, connector) and a call's deadline (retry layer).
pub const ENV_CONNECTION_TIMEOUT: &str = "MCPO_CONNECTION_TIMEOUT";

/// Reads a variable from the process environment (the lookup `from_env` uses).
pub fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A setting whose value is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    name: String,
    value: String,
    expected: String,
}

impl ConfigError {
    /// A setting `name` whose `value` is not what was `expected`.
    pub fn new(name: impl Into<String>, value: impl Into<String>, expected: impl Into<String>) -> Self {
        ConfigError {
            name: name.into(),
            value: value.into(),
            expected: expected.into(),
        }
    }

    /// The setting's name (an environment variable or a builder setting).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: expected {}", self.name, self.value, self.expected)
    }
}

impl std::error::Error for ConfigError {}

/// Settings read from `MCPO_*` variables over their defaults: implement
/// [`read`](Self::read), and `from_env()` and `from_lookup()` come with it.
pub trait FromEnv: Default {
    /// Overrides the settings whose variables `env` sets.
    fn read(&mut self, env: &Env<'_>) -> Result<(), ConfigError>;

    /// Defaults overridden by the process environment.
    fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(env_lookup)
    }

    /// Defaults overridden by `lookup` (a map in tests, the environment in `from_env`).
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut settings = Self::default();
        settings.read(&Env { lookup: &lookup })?;
        Ok(settings)
    }
}

/// The variables a [`FromEnv::read`] sees. Each setter leaves its field
/// alone when the variable is unset or blank.
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    /// The raw value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// Sets `field` to `name` read as a whole number within `range`.
    pub fn count<T: TryFrom<u32>>(
        &self,
        name: &str,
        range: RangeInclusive<u32>,
        field: &mut T,
    ) -> Result<(), ConfigError> {
        if let Some(n) = parse_u32(&self.lookup, name, range)? {
            *field = T::try_from(n)
                .map_err(|_| ConfigError::new(name, n.to_string(), "a number this platform can hold"))?;
        }
        Ok(())
    }

    /// Sets `field` to `name` read as seconds, as [`parse_secs`] does.
    pub fn secs(&self, name: &str, field: &mut Duration) -> Result<(), ConfigError> {
        if let Some(duration) = parse_secs(&self.lookup, name)? {
            *field = duration;
        }
        Ok(())
    }

    /// Sets `field` to `name` read as seconds or `0`, as [`parse_secs_or_zero`] does.
    pub fn secs_or_zero(&self, name: &str, field: &mut Duration) -> Result<(), ConfigError> {
        if let Some(duration) = parse_secs_or_zero(&self.lookup, name)? {
            *field = duration;
        }
        Ok(())
    }
}

impl fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets; only the type is shown.
        f.debug_struct("Env").finish_non_exhaustive()
    }
}

/// Reads `name` as a whole number within `range`; `Ok(None)` when unset or blank.
pub fn parse_u32(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    range: RangeInclusive<u32>,
) -> Result<Option<u32>, ConfigError> {
    let Some(value) = lookup(name).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    match value.trim().parse::<u32>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(ConfigError::new(
            name,
            value,
            format!("a whole number from {} to {}", range.start(), range.end()),
        )),
    }
}

/// Reads `name` as seconds (fractions allowed) above zero and at most a day;
/// `Ok(None)` when unset or blank.
pub fn parse_secs(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<Duration>, ConfigError> {
    let Some(value) = lookup(name).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let seconds = value.trim().parse::<f64>().ok().filter(|s| s.is_finite());
    match seconds.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
        Some(duration) if !duration.is_zero() && duration <= MAX_SETTING_DURATION => Ok(Some(duration)),
        _ => Err(ConfigError::new(
            name,
            value,
            "seconds, above 0 and at most 86400",
        )),
    }
}

/// Reads `name` as seconds like [`parse_secs`], but also accepts `0` (to switch a wait off).
pub fn parse_secs_or_zero(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<Duration>, ConfigError> {
    let is_zero = lookup(name).is_some_and(|v| v.trim().parse::<f64>() == Ok(0.0));
    if is_zero {
        return Ok(Some(Duration::ZERO));
    }
    parse_secs(lookup, name).map_err(|e| ConfigError {
        expected: "seconds, from 0 to 86400".into(),
        ..e
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &'static str) -> impl Fn(&str) -> Option<String> {
        move |_| Some(value.to_string())
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        for value in ["abc", "-1", "0", "4294967296", "1.5"] {
            let error = parse_u32(&one(value), "MCPO_X", 1..=10).unwrap_err();
            assert_eq!(error.name(), "MCPO_X");
            assert!(error.to_string().contains(value));
        }
        assert_eq!(parse_u32(&one(" 3 "), "MCPO_X", 1..=10), Ok(Some(3)));
        assert_eq!(parse_u32(&one(""), "MCPO_X", 1..=10), Ok(None));
        assert_eq!(parse_u32(&|_: &str| None, "MCPO_X", 1..=10), Ok(None));
    }

    #[test]
    fn durations_are_seconds_above_zero() {
        assert_eq!(parse_secs(&one("30"), "T"), Ok(Some(Duration::from_secs(30))));
        assert_eq!(
            parse_secs(&one("0.25"), "T"),
            Ok(Some(Duration::from_millis(250)))
        );
        for value in ["0", "-3", "NaN", "inf", "1e300", "ten", "86401"] {
            assert!(parse_secs(&one(value), "T").is_err(), "{value}");
        }
        assert_eq!(parse_secs_or_zero(&one("0"), "T"), Ok(Some(Duration::ZERO)));
        assert!(parse_secs_or_zero(&one("-1"), "T").is_err());
    }
}
