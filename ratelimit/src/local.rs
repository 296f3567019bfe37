//! Per-instance GCRA limiter: governor's keyed limiter over key digests.
//!
//! Memory stays bounded: keys are 16-byte digests, and governor's
//! [`retain_recent`](governor::RateLimiter::retain_recent) drops every key whose bucket is
//! full again (indistinguishable from a key never seen; governor waits one more emission
//! interval to be sure). It runs when the map has grown past
//! a high-water mark, which is then set to twice the surviving size (at least
//! [`MIN_HIGH_WATER`]), so its cost is amortised O(1) per check. A key therefore lives at
//! most [`Policy::full_refill`] plus one interval after its last request, plus the time
//! until the next sweep;
//! the proxy may also call [`LocalLimiter::housekeep`] from a timer.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use governor::RateLimiter;
use governor::clock::{Clock, QuantaClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::HashMapStateStore;

use crate::{DecidedBy, Decision, KeyDigest, KeyHasher, Policy, SetupError};

/// The map size below which no sweep runs.
pub const MIN_HIGH_WATER: usize = 4096;
/// Checks between two looks at the map size.
const SIZE_CHECK_EVERY: u64 = 256;

type Governor<C> =
    RateLimiter<KeyDigest, HashMapStateStore<KeyDigest>, C, StateInformationMiddleware>;

/// A keyed GCRA limiter local to this process. `C` is the clock: [`QuantaClock`] in
/// production, governor's `FakeRelativeClock` in tests.
pub struct LocalLimiter<C: Clock = QuantaClock> {
    policy: Policy,
    hasher: KeyHasher,
    limiter: Governor<C>,
    decided_by: DecidedBy,
    checks: AtomicU64,
    high_water: AtomicUsize,
}

impl LocalLimiter<QuantaClock> {
    /// A limiter on the real monotonic clock, digesting keys with a random secret.
    pub fn new(policy: Policy) -> Result<Self, SetupError> {
        Self::with_clock(policy, QuantaClock::default())
    }
}

impl<C: Clock> LocalLimiter<C> {
    /// A limiter on `clock` (inject `FakeRelativeClock` in tests).
    pub fn with_clock(policy: Policy, clock: C) -> Result<Self, SetupError> {
        Self::build(policy, clock, KeyHasher::random()?, DecidedBy::Local)
    }

    pub(crate) fn build(
        policy: Policy,
        clock: C,
        hasher: KeyHasher,
        decided_by: DecidedBy,
    ) -> Result<Self, SetupError> {
        let quota = policy.quota()?;
        let limiter = RateLimiter::hashmap_with_clock(quota, clock)
            .with_middleware::<StateInformationMiddleware>();
        Ok(Self {
            policy,
            hasher,
            limiter,
            decided_by,
            checks: AtomicU64::new(0),
            high_water: AtomicUsize::new(MIN_HIGH_WATER),
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Counts one request for `key` and decides it.
    pub fn check(&self, key: &[u8]) -> Decision {
        self.check_digest(&self.hasher.digest(key))
    }

    pub(crate) fn check_digest(&self, digest: &KeyDigest) -> Decision {
        let decision = match self.limiter.check_key(digest) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                Decision::Allowed {
                    remaining,
                    reset: self.reset_after_allow(remaining),
                    decided_by: self.decided_by,
                }
            }
            Err(not_until) => {
                let retry_after = not_until.wait_time_from(self.limiter.clock().now());
                Decision::Limited {
                    retry_after,
                    // The bucket is full `burst - 1` intervals after the next conforming time.
                    reset: retry_after + self.interval_times(self.policy.burst.get() - 1),
                    decided_by: self.decided_by,
                }
            }
        };
        self.maybe_sweep();
        decision
    }

    /// Governor exposes the remaining capacity but not the theoretical arrival time, so the
    /// reset is the upper bound `(burst - remaining) * T` (late by less than one `T`).
    fn reset_after_allow(&self, remaining: u32) -> Duration {
        self.interval_times(self.policy.burst.get().saturating_sub(remaining))
    }

    fn interval_times(&self, n: u32) -> Duration {
        self.policy.emission_interval().saturating_mul(n)
    }

    fn maybe_sweep(&self) {
        let n = self.checks.fetch_add(1, Ordering::Relaxed);
        if n.is_multiple_of(SIZE_CHECK_EVERY)
            && self.limiter.len() > self.high_water.load(Ordering::Relaxed)
        {
            self.housekeep();
        }
    }

    /// Drops keys whose bucket is full again and releases the memory they held.
    pub fn housekeep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        let next = self.limiter.len().saturating_mul(2).max(MIN_HIGH_WATER);
        self.high_water.store(next, Ordering::Relaxed);
    }

    /// Number of keys currently tracked.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

impl<C: Clock> std::fmt::Debug for LocalLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLimiter")
            .field("policy", &self.policy)
            .field("keys", &self.limiter.len())
            .finish_non_exhaustive()
    }
}
