//! Readiness: the draining flag and named dependency checks behind `/readyz`.
//!
//! Names and reasons are `&'static str`: a reason is a code such as `connect_failed`,
//! never an error message, so no address, credential or request content can reach the
//! readiness body or the `outscope_dependency_up` metric.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::encode::{Collect, Encoder, Kind};

/// Whether a down check makes the instance not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Down means `/readyz` answers 503.
    Required,
    /// Down is reported (and exported) but the instance stays ready.
    Optional,
}

/// The state shared by the proxy and the admin server. Share it as `Arc<Health>`.
#[derive(Debug, Default)]
pub struct Health {
    draining: AtomicBool,
    checks: Mutex<Vec<Arc<CheckState>>>,
}

#[derive(Debug)]
struct CheckState {
    name: &'static str,
    requirement: Requirement,
    /// `None` when up, the reason code when down.
    down: Mutex<Option<&'static str>>,
}

/// A check's handle: the component that owns the dependency sets it.
#[derive(Debug, Clone)]
pub struct Check(Arc<CheckState>);

/// The reason a check has before its owner first reports.
pub const NOT_CHECKED: &str = "not_checked";

impl Health {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a dependency (or returns the existing handle for `name`). It starts
    /// down with reason [`NOT_CHECKED`], so a required check keeps the instance unready
    /// until its owner reports it up.
    pub fn register(&self, name: &'static str, requirement: Requirement) -> Check {
        let mut checks = self.lock();
        if let Some(c) = checks.iter().find(|c| c.name == name) {
            return Check(Arc::clone(c));
        }
        let state = Arc::new(CheckState {
            name,
            requirement,
            down: Mutex::new(Some(NOT_CHECKED)),
        });
        checks.push(Arc::clone(&state));
        Check(state)
    }

    /// Flips readiness off for good (SIGTERM).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Not draining and every required check up.
    pub fn ready(&self) -> bool {
        self.report().ready
    }

    pub fn report(&self) -> Readiness {
        let mut failing = Vec::new();
        let mut degraded = Vec::new();
        for c in self.lock().iter() {
            if let Some(reason) = c.reason() {
                let f = FailingCheck {
                    check: c.name,
                    reason,
                };
                match c.requirement {
                    Requirement::Required => failing.push(f),
                    Requirement::Optional => degraded.push(f),
                }
            }
        }
        let draining = self.is_draining();
        Readiness {
            ready: !draining && failing.is_empty(),
            draining,
            failing,
            degraded,
        }
    }

    /// `outscope_draining` and `outscope_dependency_up{dependency}`.
    pub fn encode(&self, enc: &mut Encoder<'_>) {
        let name = "outscope_draining";
        enc.family(
            name,
            "1 while the instance drains after SIGTERM.",
            Kind::Gauge,
        );
        enc.sample_u64(name, &[], u64::from(self.is_draining()));
        let name = "outscope_dependency_up";
        enc.family(
            name,
            "1 when a dependency check passes, 0 when it fails.",
            Kind::Gauge,
        );
        for c in self.lock().iter() {
            enc.sample_u64(
                name,
                &[("dependency", c.name)],
                u64::from(c.reason().is_none()),
            );
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arc<CheckState>>> {
        self.checks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Collect for Health {
    fn collect(&self, enc: &mut Encoder<'_>) {
        self.encode(enc);
    }
}

impl CheckState {
    fn reason(&self) -> Option<&'static str> {
        *self.down.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, v: Option<&'static str>) {
        *self.down.lock().unwrap_or_else(PoisonError::into_inner) = v;
    }
}

impl Check {
    pub fn set_up(&self) {
        self.0.set(None);
    }

    /// `reason` is a stable code (`connect_failed`, `expired`), never a message.
    pub fn set_down(&self, reason: &'static str) {
        self.0.set(Some(reason));
    }

    pub fn name(&self) -> &'static str {
        self.0.name
    }
}

/// A point-in-time readiness answer; serialises to the `/readyz` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub draining: bool,
    /// Required checks that are down.
    pub failing: Vec<FailingCheck>,
    /// Optional checks that are down.
    pub degraded: Vec<FailingCheck>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FailingCheck {
    pub check: &'static str,
    pub reason: &'static str,
}

impl Readiness {
    /// `{"status":"ready"|"not_ready","draining":..,"failing":[..],"degraded":[..]}`,
    /// each list entry `{"check":..,"reason":..}`.
    pub fn to_json(&self) -> String {
        let body = ReadinessBody {
            status: if self.ready { "ready" } else { "not_ready" },
            draining: self.draining,
            failing: &self.failing,
            degraded: &self.degraded,
        };
        // Serialising static strings and bools into a String cannot fail.
        serde_json::to_string(&body).unwrap_or_default()
    }
}

#[derive(serde::Serialize)]
struct ReadinessBody<'a> {
    status: &'static str,
    draining: bool,
    failing: &'a [FailingCheck],
    degraded: &'a [FailingCheck],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_check_gates_readiness_optional_does_not() {
        let h = Health::new();
        assert!(h.ready(), "no checks, not draining");
        let redis = h.register("redis", Requirement::Required);
        let vault = h.register("vault", Requirement::Optional);
        assert!(!h.ready(), "a new required check starts down");
        redis.set_up();
        assert!(h.ready(), "optional vault is still not_checked");
        assert_eq!(
            h.report().degraded,
            vec![FailingCheck {
                check: "vault",
                reason: NOT_CHECKED
            }]
        );
        vault.set_up();
        redis.set_down("connect_failed");
        let r = h.report();
        assert!(!r.ready);
        assert_eq!(
            r.failing,
            vec![FailingCheck {
                check: "redis",
                reason: "connect_failed"
            }]
        );
    }

    #[test]
    fn draining_is_not_ready() {
        let h = Health::new();
        h.start_draining();
        let r = h.report();
        assert!(!r.ready && r.draining);
        assert_eq!(
            r.to_json(),
            r#"{"status":"not_ready","draining":true,"failing":[],"degraded":[]}"#
        );
    }

    #[test]
    fn registering_a_name_twice_returns_the_same_check() {
        let h = Health::new();
        let a = h.register("redis", Requirement::Required);
        let b = h.register("redis", Requirement::Required);
        b.set_up();
        assert!(h.ready());
        a.set_down("timeout");
        assert!(!h.ready());
    }
}
