//! Jittered exponential backoff between retries.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::Error;

/// Delays between retries: `initial * factor^attempt`, capped at `max`, with "equal jitter"
/// (a uniformly random point in the upper half of that ceiling), so many clients that
/// failed together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    factor: f64,
}

impl Backoff {
    /// Checks that `initial` is above zero, `max >= initial` and `factor` is a finite
    /// number of at least 1.
    pub fn new(initial: Duration, max: Duration, factor: f64) -> Result<Self, Error> {
        if initial.is_zero() {
            return Err(Error::config("backoff: initial delay must be above zero"));
        }
        if max < initial {
            return Err(Error::config(format!(
                "backoff: max delay {max:?} is below the initial delay {initial:?}"
            )));
        }
        if !factor.is_finite() || factor < 1.0 {
            return Err(Error::config(format!(
                "backoff: factor must be a finite number >= 1 (got {factor})"
            )));
        }
        Ok(Self {
            initial,
            max,
            factor,
        })
    }

    /// The largest delay before retry number `attempt` (0 for the first retry).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let scaled = self.initial.as_secs_f64() * self.factor.powi(exponent);
        if !scaled.is_finite() || scaled >= self.max.as_secs_f64() {
            return self.max;
        }
        Duration::from_secs_f64(scaled)
    }

    /// The delay before retry `attempt` for a given jitter in `[0, 1]` (clamped): 0 gives
    /// half the ceiling, 1 the whole ceiling.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        let ceiling = self.ceiling(attempt);
        ceiling / 2 + ceiling.mul_f64(jitter / 2.0)
    }

    /// The delay before retry `attempt` with a random jitter.
    pub fn next_delay(&self, attempt: u32) -> Duration {
        self.delay(attempt, random_unit())
    }
}

impl Default for Backoff {
    /// 100 ms, doubling, at most 5 s.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            factor: 2.0,
        }
    }
}

/// A number in `[0, 1)` that differs per call and per process. Jitter needs spread, not
/// unpredictability, so std's randomly keyed hasher is enough.
fn random_unit() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let bits = RandomState::new().hash_one(n) >> 11;
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_constructor_refuses_what_cannot_back_off() {
        assert!(
            Backoff::new(Duration::ZERO, MS, 2.0)
                .unwrap_err()
                .is_config()
        );
        assert!(Backoff::new(10 * MS, MS, 2.0).unwrap_err().is_config());
        for factor in [0.5, -1.0, f64::NAN, f64::INFINITY] {
            let err = Backoff::new(MS, 10 * MS, factor).unwrap_err();
            assert!(err.is_config(), "factor {factor}: {err}");
        }
        assert!(
            Backoff::new(MS, MS, 1.0).is_ok(),
            "a constant backoff is allowed"
        );
    }

    #[test]
    fn delays_grow_by_the_factor_until_the_cap() {
        let backoff = Backoff::new(100 * MS, 1000 * MS, 2.0).unwrap();
        let ceilings: Vec<_> = (0..6).map(|n| backoff.ceiling(n)).collect();
        assert_eq!(
            ceilings,
            [100 * MS, 200 * MS, 400 * MS, 800 * MS, 1000 * MS, 1000 * MS]
        );
        assert_eq!(backoff.ceiling(u32::MAX), 1000 * MS, "no overflow");
    }

    #[test]
    fn jitter_stays_in_the_upper_half_of_the_ceiling() {
        let backoff = Backoff::new(100 * MS, 1000 * MS, 2.0).unwrap();
        assert_eq!(backoff.delay(1, 0.0), 100 * MS);
        assert_eq!(backoff.delay(1, 1.0), 200 * MS);
        assert_eq!(backoff.delay(1, 7.0), 200 * MS, "clamped");
        assert_eq!(backoff.delay(1, f64::NAN), 100 * MS);
        for attempt in 0..20 {
            let delay = backoff.next_delay(attempt);
            let ceiling = backoff.ceiling(attempt);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} vs {ceiling:?}"
            );
        }
    }

    #[test]
    fn random_jitter_spreads() {
        let samples: std::collections::BTreeSet<u64> =
            (0..32).map(|_| (random_unit() * 1e6) as u64).collect();
        assert!(samples.len() > 16, "{samples:?}");
    }
}
