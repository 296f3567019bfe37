//! The three metric primitives: [`Counter`], [`Gauge`] and [`Histogram`].
//!
//! Each is a handful of atomics updated with `Relaxed` ordering: a scrape may see one
//! update of a request and not yet another, which Prometheus tolerates. No primitive
//! allocates or locks after construction.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets (seconds) for request and handshake durations: 0.5 ms to 30 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Buckets (seconds) for outscope's own share of a request: 100 µs to 2.5 s (tokenizer
/// round trips included).
pub const OVERHEAD_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Buckets (bytes) for body sizes: 64 B to 16 MiB, powers of four.
pub const SIZE_BUCKETS: &[f64] = &[
    64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
];

/// A monotonically increasing count. Exported with a `_total` suffix.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (an `f64` stored as its bits).
#[derive(Debug)]
pub struct Gauge(AtomicU64);

impl Default for Gauge {
    fn default() -> Self {
        Self(AtomicU64::new(0f64.to_bits()))
    }
}

impl Gauge {
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    pub fn add(&self, delta: f64) {
        add_f64(&self.0, delta);
    }

    pub fn inc(&self) {
        self.add(1.0);
    }

    pub fn dec(&self) {
        self.add(-1.0);
    }

    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// A distribution over fixed upper bounds, exported as cumulative `_bucket{le=..}`
/// samples plus `_sum` and `_count`.
///
/// Counts are stored per bucket (not cumulative) so an observation touches one
/// counter; the exporter accumulates them. The last slot is the `+Inf` overflow.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl Histogram {
    /// `bounds` must be strictly increasing and finite; the `+Inf` bucket is implicit.
    pub fn new(bounds: &'static [f64]) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        debug_assert!(bounds.iter().all(|b| b.is_finite()));
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            bounds,
            counts,
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Records one observation. NaN is ignored (it would poison `_sum` forever).
    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        let slot = self.bounds.partition_point(|&b| b < v);
        if let Some(c) = self.counts.get(slot) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        add_f64(&self.sum, v);
    }

    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// A consistent-enough copy for export: cumulative counts per bound (the last entry
    /// is `+Inf` and equals `count`), and the sum.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0u64;
        let cumulative = self
            .counts
            .iter()
            .map(|c| {
                running = running.saturating_add(c.load(Ordering::Relaxed));
                running
            })
            .collect();
        HistogramSnapshot {
            cumulative,
            sum: f64::from_bits(self.sum.load(Ordering::Relaxed)),
        }
    }
}

/// See [`Histogram::snapshot`].
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// One entry per bound plus a final `+Inf` entry; non-decreasing.
    pub cumulative: Vec<u64>,
    pub sum: f64,
}

impl HistogramSnapshot {
    pub fn count(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }
}

fn add_f64(cell: &AtomicU64, delta: f64) {
    // The closure always returns Some, so fetch_update cannot fail.
    let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
        Some((f64::from_bits(bits) + delta).to_bits())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_puts_values_on_bounds_into_that_bucket() {
        let h = Histogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.0, 1.5, 2.0, 3.0, f64::INFINITY] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative, vec![2, 4, 6]);
        assert_eq!(s.count(), 6);
    }

    #[test]
    fn histogram_ignores_nan_and_sums_the_rest() {
        let h = Histogram::new(&[1.0]);
        h.observe(f64::NAN);
        h.observe(0.25);
        h.observe(0.5);
        let s = h.snapshot();
        assert_eq!(s.count(), 2);
        assert_eq!(s.sum, 0.75);
    }

    #[test]
    fn gauge_moves_both_ways() {
        let g = Gauge::default();
        g.inc();
        g.inc();
        g.dec();
        assert_eq!(g.get(), 1.0);
        g.set(-3.5);
        assert_eq!(g.get(), -3.5);
    }
}
