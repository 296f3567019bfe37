//! A circuit breaker: after `failure_threshold` consecutive provider failures the circuit
//! opens and calls fail at once for `cool_down`; then one probe call goes through
//! (half-open): its success closes the circuit, its failure opens it again.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::clock::Clock;

/// Breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitOptions {
    /// Consecutive failures that open the circuit (at least 1).
    pub failure_threshold: u32,
    /// How long the circuit stays open before a probe is let through.
    pub cool_down: Duration,
}

impl Default for CircuitOptions {
    fn default() -> Self {
        CircuitOptions {
            failure_threshold: 5,
            cool_down: Duration::from_secs(10),
        }
    }
}

/// The breaker's state, for metrics and readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

pub(crate) struct CircuitBreaker {
    options: CircuitOptions,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

/// Permission to make one call. Report the outcome with [`Permit::record`]; a permit
/// dropped without an outcome (a cancelled call) frees the probe slot and changes nothing.
pub(crate) struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    recorded: bool,
}

impl CircuitBreaker {
    pub(crate) fn new(options: CircuitOptions, clock: Arc<dyn Clock>) -> CircuitBreaker {
        CircuitBreaker {
            options,
            clock,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A permit, or how long until the circuit lets a probe through.
    pub(crate) fn acquire(&self) -> Result<Permit<'_>, Duration> {
        let now = self.clock.now();
        let mut state = self.lock();
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } if now < until => return Err(until - now),
            State::Open { .. } | State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                true
            }
            // A probe is in flight: others wait for its outcome.
            State::HalfOpen { probing: true } => return Err(self.options.cool_down),
        };
        Ok(Permit {
            breaker: self,
            probe,
            recorded: false,
        })
    }

    pub(crate) fn state(&self) -> CircuitState {
        match *self.lock() {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { until } if self.clock.now() < until => CircuitState::Open,
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    fn on_success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    fn on_failure(&self, probe: bool) {
        let mut state = self.lock();
        let failures = match *state {
            State::Closed { failures } if !probe => failures.saturating_add(1),
            // A failed probe (or a failure reported while half-open) opens it again.
            _ => u32::MAX,
        };
        *state = if failures >= self.options.failure_threshold.max(1) {
            State::Open {
                until: self.clock.now() + self.options.cool_down,
            }
        } else {
            State::Closed { failures }
        };
    }
}

impl Permit<'_> {
    /// Records the call's outcome: `true` if the provider was healthy (it answered, even
    /// with a refused card), `false` for an outage, timeout or server error.
    pub(crate) fn record(mut self, healthy: bool) {
        self.recorded = true;
        if healthy {
            self.breaker.on_success();
        } else {
            self.breaker.on_failure(self.probe);
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.recorded {
            let mut state = self.breaker.lock();
            if let State::HalfOpen { probing: true } = *state {
                *state = State::HalfOpen { probing: false };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn breaker(clock: &ManualClock) -> CircuitBreaker {
        let options = CircuitOptions {
            failure_threshold: 3,
            cool_down: Duration::from_secs(10),
        };
        CircuitBreaker::new(options, Arc::new(clock.clone()))
    }

    #[test]
    fn three_failures_open_the_circuit_until_the_cool_down_ends() {
        let clock = ManualClock::new();
        let cb = breaker(&clock);
        for _ in 0..3 {
            cb.acquire().unwrap().record(false);
        }
        assert_eq!(cb.state(), CircuitState::Open);
        assert_eq!(cb.acquire().err(), Some(Duration::from_secs(10)));
        clock.advance(Duration::from_secs(4));
        assert_eq!(cb.acquire().err(), Some(Duration::from_secs(6)));
    }

    #[test]
    fn a_success_resets_the_count() {
        let clock = ManualClock::new();
        let cb = breaker(&clock);
        cb.acquire().unwrap().record(false);
        cb.acquire().unwrap().record(false);
        cb.acquire().unwrap().record(true);
        cb.acquire().unwrap().record(false);
        cb.acquire().unwrap().record(false);
        assert_eq!(cb.state(), CircuitState::Closed);
    }

    #[test]
    fn half_open_lets_one_probe_through_and_its_outcome_decides() {
        let clock = ManualClock::new();
        let cb = breaker(&clock);
        for _ in 0..3 {
            cb.acquire().unwrap().record(false);
        }
        clock.advance(Duration::from_secs(10));
        assert_eq!(cb.state(), CircuitState::HalfOpen);
        let probe = cb.acquire().unwrap();
        assert!(cb.acquire().is_err(), "second caller waits for the probe");
        probe.record(false);
        assert_eq!(cb.state(), CircuitState::Open, "failed probe reopens");
        clock.advance(Duration::from_secs(10));
        cb.acquire().unwrap().record(true);
        assert_eq!(cb.state(), CircuitState::Closed);
    }

    #[test]
    fn a_cancelled_probe_frees_the_slot() {
        let clock = ManualClock::new();
        let cb = breaker(&clock);
        for _ in 0..3 {
            cb.acquire().unwrap().record(false);
        }
        clock.advance(Duration::from_secs(10));
        drop(cb.acquire().unwrap());
        assert!(cb.acquire().is_ok());
    }
}
