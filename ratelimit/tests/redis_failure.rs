//! Redis dies mid-test: each `on_redis_error` mode decides, and says so.

#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

mod support;

use std::time::Duration;

use outscope_ratelimit::{
    DecidedBy, Decision, KeyHasher, OnRedisError, RedisBackend, RedisError, RedisOptions,
};
use outscope_testkit::RedisServer;
use support::{instance, shared, three_per_hour, unique_prefix};

/// A limiter on a private Redis that has already counted one request, and that Redis.
async fn limiter_then_kill_redis(on_error: OnRedisError) -> outscope_ratelimit::SharedLimiter {
    let mut redis = RedisServer::start();
    let limiter = shared(instance(redis.url(), &unique_prefix("kill")), on_error);
    let before = limiter.check(b"client").await;
    assert_eq!(before.decided_by(), DecidedBy::Redis, "{before:?}");

    redis.stop();
    limiter
}

#[tokio::test]
async fn fail_open_allows_and_says_so() {
    let limiter = limiter_then_kill_redis(OnRedisError::FailOpen).await;

    for _ in 0..5 {
        let decision = limiter.check(b"client").await;
        assert!(decision.is_allowed(), "{decision:?}");
        assert_eq!(decision.decided_by(), DecidedBy::FallbackOpen);
    }
}

#[tokio::test]
async fn fail_closed_refuses_and_says_so() {
    let limiter = limiter_then_kill_redis(OnRedisError::FailClosed).await;

    let decision = limiter.check(b"client").await;

    assert_eq!(
        decision,
        Decision::Limited {
            retry_after: Duration::from_secs(1200),
            reset: Duration::from_secs(1200),
            decided_by: DecidedBy::FallbackClosed
        }
    );
}

#[tokio::test]
async fn local_fallback_enforces_the_same_policy_per_instance() {
    let limiter = limiter_then_kill_redis(OnRedisError::Local).await;

    let decided: Vec<(bool, DecidedBy)> = {
        let mut out = Vec::new();
        for _ in 0..4 {
            let d = limiter.check(b"client").await;
            out.push((d.is_allowed(), d.decided_by()));
        }
        out
    };

    // The local limiter starts with a full burst of three: it cannot know Redis' count.
    let fallback = DecidedBy::FallbackLocal;
    assert_eq!(
        decided,
        [
            (true, fallback),
            (true, fallback),
            (true, fallback),
            (false, fallback)
        ]
    );
}

#[tokio::test]
async fn an_instance_starts_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let url = redis.url().to_owned();
    redis.stop(); // nothing listens on that port now

    let limiter = shared(
        instance(&url, &unique_prefix("down")),
        OnRedisError::FailClosed,
    );

    assert_eq!(
        limiter.check(b"client").await.decided_by(),
        DecidedBy::FallbackClosed
    );
    let err = limiter.try_check(b"client").await.unwrap_err();
    assert!(matches!(err, RedisError::Failed { .. }), "{err:?}");
}

#[tokio::test]
async fn a_redis_that_never_answers_hits_the_deadline() {
    // Accepts TCP connections (kernel backlog) and never replies.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    let timeout = Duration::from_millis(200);
    let backend = RedisBackend::new(RedisOptions {
        url,
        cluster: false,
        username: None,
        password: None,
        key_prefix: unique_prefix("silent"),
        timeout,
        hasher: KeyHasher::unkeyed(),
        pause_after_error: Duration::ZERO,
    })
    .unwrap();
    let limiter = shared(backend, OnRedisError::FailOpen);

    assert_eq!(
        limiter.try_check(b"client").await,
        Err(RedisError::Timeout(timeout))
    );
    assert_eq!(
        limiter.check(b"client").await.decided_by(),
        DecidedBy::FallbackOpen
    );
}

#[tokio::test]
async fn errors_never_mention_the_key_or_the_password() {
    let mut redis = RedisServer::start();
    let url = redis.url().to_owned();
    redis.stop();
    let backend = RedisBackend::new(RedisOptions {
        url,
        cluster: false,
        username: Some("proxy".to_owned()),
        password: Some("hunter2-redis-password".to_owned()),
        key_prefix: unique_prefix("leak"),
        timeout: Duration::from_secs(1),
        hasher: KeyHasher::unkeyed(),
        pause_after_error: Duration::ZERO,
    })
    .unwrap();
    let limiter = outscope_ratelimit::SharedLimiter::new(
        "k",
        three_per_hour(),
        backend,
        OnRedisError::FailOpen,
    )
    .unwrap();

    let err = limiter
        .try_check(b"sk_live_secret_api_key")
        .await
        .unwrap_err();

    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("sk_live") && !text.contains("hunter2"),
        "{text}"
    );
}

#[tokio::test]
async fn after_a_failure_redis_is_skipped_for_the_pause() {
    let mut redis = RedisServer::start();
    let backend = RedisBackend::new(RedisOptions {
        url: redis.url().to_owned(),
        cluster: false,
        username: None,
        password: None,
        key_prefix: unique_prefix("pause"),
        timeout: Duration::from_secs(1),
        hasher: KeyHasher::unkeyed(),
        pause_after_error: Duration::from_secs(3600),
    })
    .unwrap();
    let limiter = shared(backend, OnRedisError::Local);
    assert_eq!(
        limiter.check(b"client").await.decided_by(),
        DecidedBy::Redis
    );
    redis.stop();

    let first = limiter.try_check(b"client").await;
    let second = limiter.try_check(b"client").await;
    let decision = limiter.check(b"client").await;

    assert!(matches!(first, Err(RedisError::Failed { .. })), "{first:?}");
    assert_eq!(
        second,
        Err(RedisError::Paused),
        "Redis was tried again during the pause"
    );
    assert_eq!(decision.decided_by(), DecidedBy::FallbackLocal);
}

#[tokio::test]
async fn when_redis_comes_back_it_decides_again() {
    let mut redis = RedisServer::start();
    let limiter = shared(
        instance(redis.url(), &unique_prefix("back")),
        OnRedisError::Local,
    );
    assert_eq!(
        limiter.check(b"client").await.decided_by(),
        DecidedBy::Redis
    );

    redis.stop();
    assert_eq!(
        limiter.check(b"client").await.decided_by(),
        DecidedBy::FallbackLocal
    );

    redis.restart(); // same port, empty: the budget starts over
    // The first check may still meet the dead connection; the reconnect follows at once.
    let mut decided = Vec::new();
    for _ in 0..3 {
        decided.push(limiter.check(b"client").await.decided_by());
    }
    assert_eq!(decided.last(), Some(&DecidedBy::Redis), "{decided:?}");
}
