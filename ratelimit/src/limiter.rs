//! One configured limit, local or shared, behind one `check`.

use governor::clock::{Clock, QuantaClock};

use crate::{Decision, LocalLimiter, Policy, SharedLimiter};

/// A limit as the proxy holds it: per instance, or shared through Redis.
#[derive(Debug)]
pub enum Limiter<C: Clock = QuantaClock> {
    Local(LocalLimiter<C>),
    Shared(SharedLimiter<C>),
}

impl<C: Clock> Limiter<C> {
    /// Counts one request for `key` and decides it. Never fails: shared limits resolve a
    /// Redis failure with their `on_redis_error` policy, visible in [`Decision::decided_by`].
    pub async fn check(&self, key: &[u8]) -> Decision {
        match self {
            Self::Local(local) => local.check(key),
            Self::Shared(shared) => shared.check(key).await,
        }
    }

    pub fn policy(&self) -> &Policy {
        match self {
            Self::Local(local) => local.policy(),
            Self::Shared(shared) => shared.policy(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn is_send<T: Send>(_: T) {}
    fn is_send_sync<T: Send + Sync>() {}

    #[test]
    fn limiters_can_be_shared_across_tasks() {
        is_send_sync::<Limiter>();
        is_send_sync::<Limiter<FakeRelativeClock>>();
    }

    /// Type-checked, never run: a check can be awaited inside `tokio::spawn`.
    #[allow(dead_code)]
    fn check_futures_are_send(limiter: &Limiter) {
        is_send(limiter.check(b"key"));
    }
}
