//! Local mode, told as stories on a fake clock: time moves only when the test says so.

#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

use std::num::NonZeroU32;
use std::time::Duration;

use outscope_ratelimit::local::MIN_HIGH_WATER;
use outscope_ratelimit::{DecidedBy, Decision, FakeRelativeClock, LocalLimiter, Policy, headers};

const MS: Duration = Duration::from_millis(1);

/// 10 requests per second (one every 100 ms), bursts of 3.
fn ten_per_second_burst_three() -> Policy {
    Policy {
        requests: NonZeroU32::new(10).unwrap(),
        per: Duration::from_secs(1),
        burst: NonZeroU32::new(3).unwrap(),
    }
}

fn limiter(policy: Policy) -> (LocalLimiter<FakeRelativeClock>, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    (
        LocalLimiter::with_clock(policy, clock.clone()).unwrap(),
        clock,
    )
}

fn allowed(remaining: u32, reset: Duration) -> Decision {
    Decision::Allowed {
        remaining,
        reset,
        decided_by: DecidedBy::Local,
    }
}

#[test]
fn a_client_spends_its_burst_then_is_limited() {
    let (limiter, _clock) = limiter(ten_per_second_burst_three());

    assert_eq!(limiter.check(b"203.0.113.7"), allowed(2, 100 * MS));
    assert_eq!(limiter.check(b"203.0.113.7"), allowed(1, 200 * MS));
    assert_eq!(limiter.check(b"203.0.113.7"), allowed(0, 300 * MS));

    assert_eq!(
        limiter.check(b"203.0.113.7"),
        Decision::Limited {
            retry_after: 100 * MS,
            reset: 300 * MS,
            decided_by: DecidedBy::Local
        }
    );
}

#[test]
fn the_bucket_refills_as_the_clock_moves() {
    let (limiter, clock) = limiter(ten_per_second_burst_three());
    for _ in 0..3 {
        assert!(limiter.check(b"client").is_allowed());
    }
    assert!(!limiter.check(b"client").is_allowed());

    clock.advance(99 * MS);
    let decision = limiter.check(b"client");
    assert_eq!(
        decision.retry_after(),
        Some(MS),
        "one millisecond short of a token"
    );

    clock.advance(MS);
    assert_eq!(
        limiter.check(b"client"),
        allowed(0, 300 * MS),
        "exactly one token back"
    );

    clock.advance(Duration::from_secs(10));
    assert_eq!(
        limiter.check(b"client"),
        allowed(2, 100 * MS),
        "idle: full burst again"
    );
}

#[test]
fn clients_have_separate_budgets() {
    let (limiter, _clock) = limiter(ten_per_second_burst_three());
    for _ in 0..3 {
        limiter.check(b"noisy");
    }
    assert!(!limiter.check(b"noisy").is_allowed());
    assert_eq!(limiter.check(b"quiet"), allowed(2, 100 * MS));
}

#[test]
fn the_429_carries_retry_after_and_ratelimit_headers() {
    let policy = ten_per_second_burst_three();
    let (limiter, _clock) = limiter(policy);
    for _ in 0..3 {
        limiter.check(b"k");
    }
    let decision = limiter.check(b"k");

    let rendered = headers::render([("per-ip", &policy, &decision)]).unwrap();

    assert_eq!(rendered.policy, r#""per-ip";q=10;w=1"#);
    assert_eq!(rendered.ratelimit, r#""per-ip";r=0;t=1"#);
    assert_eq!(rendered.retry_after, Some(1));
}

#[test]
fn forgotten_keys_are_swept_so_memory_stays_bounded() {
    // One request per millisecond per key; each key's bucket is full again 1 ms later.
    let policy = Policy {
        requests: NonZeroU32::new(1000).unwrap(),
        per: Duration::from_secs(1),
        burst: NonZeroU32::new(1).unwrap(),
    };
    let (limiter, clock) = limiter(policy);
    let mut largest = 0;

    for client in 0u32..20_000 {
        assert!(limiter.check(&client.to_be_bytes()).is_allowed());
        clock.advance(MS);
        largest = largest.max(limiter.len());
    }

    assert!(
        largest <= MIN_HIGH_WATER + 256,
        "map grew to {largest} keys"
    );
    limiter.housekeep();
    assert!(
        limiter.len() <= 1,
        "{} keys survived a sweep",
        limiter.len()
    );
}

#[test]
fn a_sweep_keeps_keys_that_are_still_limited() {
    let (limiter, clock) = limiter(ten_per_second_burst_three());
    for _ in 0..3 {
        limiter.check(b"busy");
    }
    limiter.check(b"idle");
    // governor forgets a key one interval after its bucket is full again: "idle" is full
    // since 100 ms, "busy" will be at 300 ms.
    clock.advance(200 * MS);

    limiter.housekeep();

    assert_eq!(limiter.len(), 1);
    assert_eq!(
        limiter.check(b"busy"),
        allowed(1, 200 * MS),
        "busy kept its spent budget"
    );
}
