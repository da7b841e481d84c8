//! A lock-free duration histogram with fixed buckets, for the `_seconds`
//! metrics the layers keep in their shared state (no global registry).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the duration buckets, Prometheus style (`le`).
pub const DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Counts durations into [`DURATION_BUCKETS`]; safe to share, never blocks.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; DURATION_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one duration.
    pub fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        if let Some(i) = DURATION_BUCKETS.iter().position(|&le| seconds <= le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// A consistent-enough copy for a scrape (each number is read once).
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let buckets = DURATION_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(&le, count)| {
                cumulative += count.load(Ordering::Relaxed);
                (le, cumulative)
            })
            .collect();
        HistogramSnapshot {
            buckets,
            count: self.count.load(Ordering::Relaxed),
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// A histogram's numbers at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, cumulative count)` per bucket; `+Inf` is [`count`](Self::count).
    pub buckets: Vec<(f64, u64)>,
    /// How many durations were recorded.
    pub count: u64,
    /// Their sum in seconds.
    pub sum_seconds: f64,
}

impl HistogramSnapshot {
    /// The mean in seconds, if anything was recorded.
    pub fn mean_seconds(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_seconds / self.count as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_overflow_counts_only_in_the_total() {
        let histogram = Histogram::new();
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_millis(300));
        histogram.observe(Duration::from_secs(100));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count, 3);
        assert_eq!(snapshot.buckets[0], (0.005, 1));
        assert_eq!(snapshot.buckets[6], (0.5, 2));
        assert_eq!(snapshot.buckets.last(), Some(&(30.0, 2)));
        assert!((snapshot.sum_seconds - 100.303).abs() < 1e-6);
    }
}
