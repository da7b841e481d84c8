//! Delays between connect attempts: the reconnect design's schedule for an upstream that
//! answers but fails, a short one when nothing listens or while open.

use std::time::Duration;

use crate::config::Config;

/// Delay before the attempt that follows `failed` failed attempts, when the
/// upstream answered (it is struggling: push gently). Attempt 1 is immediate,
/// then `base`, `2 × base`, `4 × base`, … capped at `max`.
pub(crate) fn backoff_delay(config: &Config, failed: u32) -> Duration {
    if failed == 0 {
        return Duration::ZERO;
    }
    doubled(config.backoff_base, failed - 1).min(config.backoff_max)
}

/// Delay before the probe that follows `failed` failed probes: `min`, `2 × min`, …
/// capped at `max` (a refused connect costs the upstream nothing).
pub(crate) fn probe_delay(config: &Config, failed: u32) -> Duration {
    doubled(config.probe_min, failed).min(config.probe_max)
}

fn doubled(base: Duration, times: u32) -> Duration {
    base.saturating_mul(1u32 << times.min(20))
}

/// Takes up to `share` of `delay` off at random.
pub(crate) fn jittered(delay: Duration, share: f64, rng: &mut Rng) -> Duration {
    if share <= 0.0 || delay.is_zero() {
        return delay;
    }
    delay.mul_f64(1.0 - share * rng.next_unit())
}

/// A tiny xorshift generator: jitter needs spread, not cryptography.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn seeded(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// Seeded from the clock and a per-process counter, so circuits differ.
    pub(crate) fn from_time() -> Self {
        static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let sequence = SEQUENCE.fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::Relaxed);
        Rng::seeded(nanos ^ sequence)
    }

    /// A number in `[0, 1)`.
    pub(crate) fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_design_schedule_immediate_then_2s_then_4s() {
        let config = Config::default();
        let delays: Vec<_> = (0..7).map(|failed| backoff_delay(&config, failed)).collect();
        let secs = |s| Duration::from_secs(s);
        assert_eq!(
            delays,
            [secs(0), secs(2), secs(4), secs(8), secs(16), secs(30), secs(30)]
        );
    }

    #[test]
    fn probes_are_short_and_capped() {
        let config = Config::default();
        let ms: Vec<_> = (0..6)
            .map(|failed| probe_delay(&config, failed).as_millis())
            .collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(probe_delay(&config, u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn jitter_only_shortens_and_zero_jitter_is_exact() {
        let mut rng = Rng::seeded(7);
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(2), 0.2, &mut rng);
            assert!(d <= Duration::from_secs(2) && d >= Duration::from_millis(1600));
        }
        assert_eq!(
            jittered(Duration::from_secs(2), 0.0, &mut rng),
            Duration::from_secs(2)
        );
    }
}
