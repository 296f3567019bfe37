//! A rate-limit policy: `requests` per `per`, with a GCRA burst.

use std::num::NonZeroU32;
use std::time::Duration;

/// Sustained rate `requests` per `per`, at most `burst` requests at once.
///
/// Mirrors the rate fields of `outscope-config`'s `RateLimit` (this crate does not depend on
/// the config crate). In GCRA terms the emission interval is `T = per / requests` and the
/// bucket holds `burst` requests: a fresh key may send `burst` requests back to back, then
/// one every `T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    pub requests: NonZeroU32,
    pub per: Duration,
    pub burst: NonZeroU32,
}

/// Why a [`Policy`] cannot be enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("rate-limit period must be longer than zero")]
    ZeroPeriod,
    #[error("rate limit is faster than one request per microsecond, which cannot be enforced")]
    TooFast,
}

/// The smallest emission interval the shared (Redis) path can represent.
const MIN_INTERVAL: Duration = Duration::from_micros(1);

impl Policy {
    /// Checks the policy can be enforced by both the local and the shared path.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.per.is_zero() {
            return Err(PolicyError::ZeroPeriod);
        }
        if self.emission_interval() < MIN_INTERVAL {
            return Err(PolicyError::TooFast);
        }
        Ok(())
    }

    /// `T = per / requests`: the time one request "costs".
    pub fn emission_interval(&self) -> Duration {
        self.per / self.requests.get()
    }

    /// Time for an empty bucket to fill up again: `burst * T`.
    pub fn full_refill(&self) -> Duration {
        self.emission_interval().saturating_mul(self.burst.get())
    }

    pub(crate) fn quota(&self) -> Result<governor::Quota, PolicyError> {
        self.validate()?;
        governor::Quota::with_period(self.emission_interval())
            .map(|quota| quota.allow_burst(self.burst))
            .ok_or(PolicyError::ZeroPeriod)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(requests: u32, per: Duration, burst: u32) -> Policy {
        Policy {
            requests: NonZeroU32::new(requests).unwrap(),
            per,
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    #[test]
    fn emission_interval_is_period_over_requests() {
        let p = policy(100, Duration::from_secs(1), 10);
        assert_eq!(p.emission_interval(), Duration::from_millis(10));
        assert_eq!(p.full_refill(), Duration::from_millis(100));
        assert_eq!(p.validate(), Ok(()));
    }

    #[test]
    fn zero_period_is_refused() {
        assert_eq!(
            policy(1, Duration::ZERO, 1).validate(),
            Err(PolicyError::ZeroPeriod)
        );
    }

    #[test]
    fn sub_microsecond_interval_is_refused() {
        let p = policy(2_000_000, Duration::from_secs(1), 1);
        assert_eq!(p.validate(), Err(PolicyError::TooFast));
    }
}
