//! Secret refresh metrics, exported through the admin listener:
//!
//! | metric | labels |
//! |---|---|
//! | `outscope_secret_refresh_total` | `result` (`unchanged`, `rotated`, `failed`) |
//! | `outscope_secret_refresh_last_success_timestamp_seconds` | |
//!
//! A refresh is `failed` when any reference could not be read (those keep their last good
//! value) or the new values did not build; `rotated` when a value changed and the new
//! runtime is in effect. No reference, path or value ever becomes a label.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use outscope_telemetry::Collect;
use outscope_telemetry::encode::{Encoder, Kind};

/// What one refresh came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshResult {
    Unchanged,
    Rotated,
    Failed,
}

#[derive(Default)]
pub struct SecretMetrics {
    unchanged: AtomicU64,
    rotated: AtomicU64,
    failed: AtomicU64,
    /// Unix milliseconds of the last refresh that read every reference (0: none yet).
    last_success_ms: AtomicU64,
}

impl SecretMetrics {
    pub fn refreshed(&self, result: RefreshResult) {
        let counter = match result {
            RefreshResult::Unchanged => &self.unchanged,
            RefreshResult::Rotated => &self.rotated,
            RefreshResult::Failed => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if result != RefreshResult::Failed {
            self.loaded(SystemTime::now());
        }
    }

    /// Every reference was read at `at` (the first load at start counts).
    pub fn loaded(&self, at: SystemTime) {
        let ms = at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.last_success_ms.store(ms, Ordering::Relaxed);
    }

    pub fn count(&self, result: RefreshResult) -> u64 {
        match result {
            RefreshResult::Unchanged => &self.unchanged,
            RefreshResult::Rotated => &self.rotated,
            RefreshResult::Failed => &self.failed,
        }
        .load(Ordering::Relaxed)
    }
}

impl Collect for SecretMetrics {
    fn collect(&self, enc: &mut Encoder<'_>) {
        const TOTAL: &str = "outscope_secret_refresh_total";
        enc.family(
            TOTAL,
            "Secret refreshes (SIGHUP, refresh_interval), by result.",
            Kind::Counter,
        );
        for (result, label) in [
            (RefreshResult::Unchanged, "unchanged"),
            (RefreshResult::Rotated, "rotated"),
            (RefreshResult::Failed, "failed"),
        ] {
            enc.sample_u64(TOTAL, &[("result", label)], self.count(result));
        }
        const LAST: &str = "outscope_secret_refresh_last_success_timestamp_seconds";
        enc.family(
            LAST,
            "Unix time at which every secret was last read successfully.",
            Kind::Gauge,
        );
        let ms = self.last_success_ms.load(Ordering::Relaxed);
        enc.sample_f64(LAST, &[], ms as f64 / 1000.0);
    }
}
