//! Shared mode against a real redis-server: instances share one budget, keys are digests,
//! the script survives SCRIPT FLUSH.

#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

mod support;

use std::time::Duration;

use outscope_ratelimit::{DecidedBy, Decision, FakeRelativeClock, OnRedisError};
use outscope_testkit::shared_redis;
use support::{inspect, instance, shared, unique_prefix};

const HOUR: Duration = Duration::from_secs(3600);

fn remaining(decision: Decision) -> Option<u32> {
    assert_eq!(decision.decided_by(), DecidedBy::Redis, "{decision:?}");
    decision.is_allowed().then(|| decision.remaining())
}

#[tokio::test]
async fn a_client_spends_its_burst_then_is_limited() {
    let redis = shared_redis();
    let limiter = shared(
        instance(redis.url(), &unique_prefix("burst")),
        OnRedisError::FailClosed,
    );

    assert_eq!(remaining(limiter.check(b"client").await), Some(2));
    assert_eq!(remaining(limiter.check(b"client").await), Some(1));
    assert_eq!(remaining(limiter.check(b"client").await), Some(0));
    let denied = limiter.check(b"client").await;

    let Decision::Limited {
        retry_after,
        reset,
        decided_by: DecidedBy::Redis,
    } = denied
    else {
        panic!("fourth request was not limited by Redis: {denied:?}");
    };
    // One request costs 20 minutes; almost all of it is still to wait.
    assert!(retry_after <= HOUR / 3 && retry_after > HOUR / 3 - Duration::from_secs(60));
    assert!(
        reset <= HOUR && reset > HOUR - Duration::from_secs(60),
        "{reset:?}"
    );
}

#[tokio::test]
async fn two_instances_share_one_budget() {
    let redis = shared_redis();
    let prefix = unique_prefix("two");
    let east = shared(instance(redis.url(), &prefix), OnRedisError::FailClosed);
    let west = shared(instance(redis.url(), &prefix), OnRedisError::FailClosed);

    assert_eq!(remaining(east.check(b"api-key-1").await), Some(2));
    assert_eq!(remaining(west.check(b"api-key-1").await), Some(1));
    assert_eq!(remaining(east.check(b"api-key-1").await), Some(0));

    assert_eq!(
        remaining(west.check(b"api-key-1").await),
        None,
        "west saw east's requests"
    );
    assert_eq!(remaining(east.check(b"api-key-1").await), None);
    assert_eq!(
        remaining(west.check(b"api-key-2").await),
        Some(2),
        "other keys unaffected"
    );
}

#[tokio::test]
async fn redis_stores_a_digest_with_a_ttl_never_the_api_key() {
    let redis = shared_redis();
    let prefix = unique_prefix("digest");
    let limiter = shared(instance(redis.url(), &prefix), OnRedisError::FailClosed);
    let api_key = b"sk_live_51HxVerySecretApiKey";

    limiter.check(api_key).await;

    let mut conn = inspect(redis.url()).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{{{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys, [limiter.redis_key(api_key)]);
    let key = &keys[0];
    let digest = key
        .strip_prefix(&format!("{{{prefix}:per-key:"))
        .unwrap()
        .strip_suffix('}');
    let digest = digest.unwrap();
    assert_eq!(digest.len(), 32);
    assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    assert!(!key.contains("sk_live"), "{key}");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let one_request = i64::try_from((HOUR / 3).as_millis()).unwrap();
    assert!(ttl > 0 && ttl <= one_request, "ttl {ttl} ms");
}

#[tokio::test]
async fn the_script_is_reloaded_after_script_flush() {
    let redis = shared_redis();
    let limiter = shared(
        instance(redis.url(), &unique_prefix("flush")),
        OnRedisError::FailClosed,
    );
    assert_eq!(remaining(limiter.check(b"client").await), Some(2));

    let mut conn = inspect(redis.url()).await;
    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();

    assert_eq!(
        remaining(limiter.check(b"client").await),
        Some(1),
        "NOSCRIPT was not recovered"
    );
}

#[tokio::test]
async fn the_budget_refills_on_redis_time() {
    let redis = shared_redis();
    let limiter = shared(
        instance(redis.url(), &unique_prefix("refill")),
        OnRedisError::FailClosed,
    );
    for _ in 0..3 {
        limiter.check(b"client").await;
    }
    assert_eq!(remaining(limiter.check(b"client").await), None);

    // Forty minutes pass: instead of waiting, move the stored arrival time back.
    let key = limiter.redis_key(b"client");
    let mut conn = inspect(redis.url()).await;
    let tat: i64 = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let forty_minutes = 40 * 60 * 1_000_000;
    let () = redis::cmd("SET")
        .arg(&key)
        .arg(tat - forty_minutes)
        .query_async(&mut conn)
        .await
        .unwrap();

    assert_eq!(
        remaining(limiter.check(b"client").await),
        Some(1),
        "two requests came back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_through_two_instances_never_overspend() {
    let redis = shared_redis();
    let prefix = unique_prefix("race");
    let policy = outscope_ratelimit::Policy {
        requests: std::num::NonZeroU32::new(50).unwrap(),
        per: HOUR,
        burst: std::num::NonZeroU32::new(50).unwrap(),
    };
    let make = |prefix: &str| {
        let backend = instance(redis.url(), prefix);
        outscope_ratelimit::SharedLimiter::new("race", policy, backend, OnRedisError::FailClosed)
            .unwrap()
    };
    let instances = [
        std::sync::Arc::new(make(&prefix)),
        std::sync::Arc::new(make(&prefix)),
    ];

    let mut tasks = Vec::new();
    for i in 0..200 {
        let limiter = instances[i % 2].clone();
        tasks.push(tokio::spawn(async move { limiter.check(b"hot-key").await }));
    }
    let mut allowed = 0;
    for task in tasks {
        let decision = task.await.unwrap();
        assert_eq!(decision.decided_by(), DecidedBy::Redis, "{decision:?}");
        allowed += usize::from(decision.is_allowed());
    }

    assert_eq!(allowed, 50, "the burst of 50 was spent exactly once");
}

#[tokio::test]
async fn instance_clocks_do_not_matter_redis_time_decides() {
    let redis = shared_redis();
    let prefix = unique_prefix("skew");
    let (behind, ahead) = (FakeRelativeClock::default(), FakeRelativeClock::default());
    ahead.advance(Duration::from_secs(6 * 3600)); // six hours ahead of its peer
    let make = |clock| {
        outscope_ratelimit::SharedLimiter::with_clock(
            "per-key",
            support::three_per_hour(),
            instance(redis.url(), &prefix),
            OnRedisError::Local,
            clock,
        )
        .unwrap()
    };
    let (east, west) = (make(behind), make(ahead));

    for limiter in [&east, &west, &east] {
        assert!(limiter.check(b"client").await.is_allowed());
    }

    assert_eq!(
        remaining(west.check(b"client").await),
        None,
        "west's clock refilled nothing"
    );
}
