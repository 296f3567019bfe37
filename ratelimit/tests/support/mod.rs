//! Shared helpers for the Redis stories.
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test helpers: a panic is a failed test"
)]

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use outscope_ratelimit::{
    KeyHasher, OnRedisError, Policy, RedisBackend, RedisOptions, SharedLimiter,
};

/// Three requests per hour, all at once: nothing refills while a test runs, so the real
/// Redis clock cannot change an outcome.
pub fn three_per_hour() -> Policy {
    Policy {
        requests: NonZeroU32::new(3).unwrap(),
        per: Duration::from_secs(3600),
        burst: NonZeroU32::new(3).unwrap(),
    }
}

pub const SECRET: &[u8] = b"test-secret-shared-by-all-instances";

/// A prefix no other test (or run) on a shared Redis uses.
pub fn unique_prefix(test: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    format!(
        "t-{test}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// A backend with its own connection, like one proxy instance.
pub fn instance(url: &str, prefix: &str) -> RedisBackend {
    backend(url, false, prefix)
}

/// A backend on a Redis Cluster, reached through one seed node.
pub fn cluster_instance(seed: &str, prefix: &str) -> RedisBackend {
    backend(seed, true, prefix)
}

fn backend(url: &str, cluster: bool, prefix: &str) -> RedisBackend {
    RedisBackend::new(RedisOptions {
        url: url.to_owned(),
        cluster,
        username: None,
        password: None,
        key_prefix: prefix.to_owned(),
        timeout: Duration::from_secs(2),
        hasher: KeyHasher::keyed(SECRET).unwrap(),
        pause_after_error: Duration::ZERO,
    })
    .unwrap()
}

pub fn shared(backend: RedisBackend, on_error: OnRedisError) -> SharedLimiter {
    SharedLimiter::new("per-key", three_per_hour(), backend, on_error).unwrap()
}

/// A plain connection for looking at what the limiter stored.
pub async fn inspect(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}
