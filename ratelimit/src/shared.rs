//! Shared mode: one GCRA budget per key across every instance, kept in Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock, QuantaClock};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{IntoConnectionInfo, Script};
use tokio::sync::OnceCell;

use crate::{
    DecidedBy, Decision, KeyDigest, KeyHasher, LocalLimiter, Policy, RedisError, SetupError,
};

const GCRA_SCRIPT: &str = include_str!("gcra.lua");
/// Longest prefix or limit name kept in a Redis key.
const MAX_NAME_LEN: usize = 64;

/// What to do when Redis fails (error or timeout) during a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRedisError {
    /// Allow the request ([`DecidedBy::FallbackOpen`]).
    FailOpen,
    /// Refuse the request ([`DecidedBy::FallbackClosed`]).
    FailClosed,
    /// Decide with a per-instance limiter of the same policy ([`DecidedBy::FallbackLocal`]).
    Local,
}

/// How to reach Redis for shared limits.
#[derive(Clone)]
pub struct RedisOptions {
    /// `redis://host:port/db` (credentials go in the fields below). With `cluster`, one
    /// node of the cluster (a seed: the others are discovered) and no database number.
    pub url: String,
    /// A Redis Cluster: commands go to the node owning the key's slot, following
    /// `MOVED`/`ASK` redirects. Every key the limiter writes is one hash tag (one slot).
    pub cluster: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    /// First part of every key, e.g. `outscope`.
    pub key_prefix: String,
    /// Deadline for one check, connecting included; past it the check is a Redis error.
    pub timeout: Duration,
    /// Digests keys; every instance sharing the Redis must use the same one.
    pub hasher: KeyHasher,
    /// After a failure, skip Redis (decide by `on_redis_error` at once) for this long, so
    /// an outage does not add the deadline to every request. `Duration::ZERO`: never skip.
    pub pause_after_error: Duration,
}

impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// One Redis connection (multiplexed, reconnecting) shared by all limits of an instance.
/// Cheap to clone. Connects on first use, so an instance starts while Redis is down.
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Backend>,
}

struct Backend {
    client: Client,
    connection: OnceCell<Connection>,
    prefix: String,
    timeout: Duration,
    hasher: KeyHasher,
    script: Script,
    pause_after_error: Duration,
    /// Monotonic origin for `paused_until_us`.
    created: Instant,
    /// Microseconds after `created` before which Redis is not tried.
    paused_until_us: AtomicU64,
}

/// A standalone Redis or a cluster.
enum Client {
    Single(redis::Client),
    Cluster(ClusterClient),
}

/// Multiplexed and cheap to clone, either way.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisBackend {
    pub fn new(options: RedisOptions) -> Result<Self, SetupError> {
        let url_error = |err: redis::RedisError| SetupError::RedisUrl {
            kind: format!("{:?}", err.kind()),
        };
        let mut info = options
            .url
            .as_str()
            .into_connection_info()
            .map_err(url_error)?;
        if options.username.is_some() {
            info.redis.username = options.username;
        }
        if options.password.is_some() {
            info.redis.password = options.password;
        }
        let client = if options.cluster {
            Client::Cluster(
                ClusterClient::builder([info])
                    .connection_timeout(options.timeout)
                    .response_timeout(options.timeout)
                    // As for a single node: a failed command fails the check now.
                    .retries(0)
                    .build()
                    .map_err(url_error)?,
            )
        } else {
            Client::Single(redis::Client::open(info).map_err(url_error)?)
        };
        Ok(Self {
            inner: Arc::new(Backend {
                client,
                connection: OnceCell::new(),
                prefix: sanitize(&options.key_prefix),
                timeout: options.timeout,
                hasher: options.hasher,
                script: Script::new(GCRA_SCRIPT),
                pause_after_error: options.pause_after_error,
                created: Instant::now(),
                paused_until_us: AtomicU64::new(0),
            }),
        })
    }

    /// The Redis key of `digest` under limit `name`: `{prefix:name:hex}`. The whole key is
    /// one hash tag, so a Redis Cluster maps it to one slot (the script touches one key).
    fn key(&self, name: &str, digest: &KeyDigest) -> String {
        format!("{{{}:{}:{}}}", self.inner.prefix, name, digest.to_hex())
    }

    /// Runs the GCRA script for one key, under the deadline, unless a recent failure
    /// paused Redis.
    async fn run(&self, key: &str, policy: &Policy) -> Result<Decision, RedisError> {
        if self.elapsed_us() < self.inner.paused_until_us.load(Ordering::Relaxed) {
            return Err(RedisError::Paused);
        }
        let timeout = self.inner.timeout;
        let result = match tokio::time::timeout(timeout, self.run_untimed(key, policy)).await {
            Ok(result) => result,
            Err(_) => Err(RedisError::Timeout(timeout)),
        };
        if result.is_err() && !self.inner.pause_after_error.is_zero() {
            let until = self
                .elapsed_us()
                .saturating_add(micros(self.inner.pause_after_error));
            self.inner
                .paused_until_us
                .fetch_max(until, Ordering::Relaxed);
        }
        result
    }

    fn elapsed_us(&self) -> u64 {
        micros(self.inner.created.elapsed())
    }

    async fn run_untimed(&self, key: &str, policy: &Policy) -> Result<Decision, RedisError> {
        let mut connection = self.connection().await?;
        let interval = micros(policy.emission_interval());
        // EVALSHA; on NOSCRIPT (restart, failover, SCRIPT FLUSH) redis-rs loads the script
        // with SCRIPT LOAD and retries once.
        let mut invocation = self.inner.script.key(key);
        invocation.arg(interval).arg(policy.burst.get());
        let reply: Result<Vec<i64>, redis::RedisError> = match &mut connection {
            Connection::Single(c) => invocation.invoke_async(c).await,
            // EVALSHA goes to the key's node; SCRIPT LOAD on NOSCRIPT as above.
            Connection::Cluster(c) => invocation.invoke_async(c).await,
        };
        let reply = reply.map_err(|err| RedisError::from_redis(&err, self.inner.timeout))?;
        decode(&reply)
    }

    async fn connection(&self) -> Result<Connection, RedisError> {
        let timeout = self.inner.timeout;
        self.inner
            .connection
            .get_or_try_init(|| async {
                match &self.inner.client {
                    Client::Single(client) => {
                        let config = ConnectionManagerConfig::new()
                            .set_connection_timeout(timeout)
                            .set_response_timeout(timeout)
                            // No retry loop inside a check: a failed connection fails the
                            // check now, and the next check (after `pause_after_error`)
                            // connects again.
                            .set_number_of_retries(0);
                        ConnectionManager::new_with_config(client.clone(), config)
                            .await
                            .map(Connection::Single)
                    }
                    Client::Cluster(client) => {
                        client.get_async_connection().await.map(Connection::Cluster)
                    }
                }
            })
            .await
            .cloned()
            .map_err(|err| RedisError::from_redis(&err, timeout))
    }
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

/// A named limit whose budget lives in Redis, with a policy for when Redis fails.
pub struct SharedLimiter<C: Clock = QuantaClock> {
    name: String,
    policy: Policy,
    backend: RedisBackend,
    on_error: OnRedisError,
    /// Present when `on_error` is [`OnRedisError::Local`].
    fallback: Option<LocalLimiter<C>>,
}

impl SharedLimiter<QuantaClock> {
    pub fn new(
        name: &str,
        policy: Policy,
        backend: RedisBackend,
        on_error: OnRedisError,
    ) -> Result<Self, SetupError> {
        Self::with_clock(name, policy, backend, on_error, QuantaClock::default())
    }
}

impl<C: Clock> SharedLimiter<C> {
    /// `clock` drives the local fallback only; shared decisions use Redis' clock.
    pub fn with_clock(
        name: &str,
        policy: Policy,
        backend: RedisBackend,
        on_error: OnRedisError,
        clock: C,
    ) -> Result<Self, SetupError> {
        policy.validate()?;
        let fallback = match on_error {
            OnRedisError::Local => Some(LocalLimiter::build(
                policy,
                clock,
                backend.inner.hasher.clone(),
                DecidedBy::FallbackLocal,
            )?),
            OnRedisError::FailOpen | OnRedisError::FailClosed => None,
        };
        Ok(Self {
            name: sanitize(name),
            policy,
            backend,
            on_error,
            fallback,
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Counts one request for `key` in Redis and decides it; on a Redis failure, decides by
    /// `on_error` (see [`DecidedBy`]). The failure is logged at debug level without the key.
    pub async fn check(&self, key: &[u8]) -> Decision {
        let digest = self.backend.inner.hasher.digest(key);
        match self
            .backend
            .run(&self.backend.key(&self.name, &digest), &self.policy)
            .await
        {
            Ok(decision) => decision,
            Err(err) => {
                tracing::debug!(limit = %self.name, error = %err, "shared rate limit fell back");
                self.fall_back(&digest)
            }
        }
    }

    /// Like [`check`](Self::check) but returns the Redis failure instead of falling back.
    pub async fn try_check(&self, key: &[u8]) -> Result<Decision, RedisError> {
        let digest = self.backend.inner.hasher.digest(key);
        self.backend
            .run(&self.backend.key(&self.name, &digest), &self.policy)
            .await
    }

    fn fall_back(&self, digest: &KeyDigest) -> Decision {
        match (self.on_error, &self.fallback) {
            (OnRedisError::Local, Some(local)) => local.check_digest(digest),
            (OnRedisError::FailOpen, _) | (OnRedisError::Local, None) => Decision::Allowed {
                remaining: 0,
                reset: Duration::ZERO,
                decided_by: DecidedBy::FallbackOpen,
            },
            (OnRedisError::FailClosed, _) => {
                let retry_after = self.policy.emission_interval();
                Decision::Limited {
                    retry_after,
                    reset: retry_after,
                    decided_by: DecidedBy::FallbackClosed,
                }
            }
        }
    }

    /// The Redis key a raw key is stored under (for tests and operators' debugging).
    pub fn redis_key(&self, key: &[u8]) -> String {
        self.backend
            .key(&self.name, &self.backend.inner.hasher.digest(key))
    }
}

impl<C: Clock> std::fmt::Debug for SharedLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimiter")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .field("on_error", &self.on_error)
            .finish_non_exhaustive()
    }
}

/// Parses the script's `{allowed, a, b}` reply.
fn decode(reply: &[i64]) -> Result<Decision, RedisError> {
    let &[allowed, a, b] = reply else {
        return Err(RedisError::BadReply);
    };
    let (a, b) = (u64::try_from(a), u64::try_from(b));
    let (Ok(a), Ok(b)) = (a, b) else {
        return Err(RedisError::BadReply);
    };
    let reset = Duration::from_micros(b);
    match allowed {
        1 => Ok(Decision::Allowed {
            remaining: u32::try_from(a).unwrap_or(u32::MAX),
            reset,
            decided_by: DecidedBy::Redis,
        }),
        0 => Ok(Decision::Limited {
            retry_after: Duration::from_micros(a),
            reset,
            decided_by: DecidedBy::Redis,
        }),
        _ => Err(RedisError::BadReply),
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Keeps `[A-Za-z0-9_.-]`, replaces anything else (braces, colons, spaces) by `_`, and
/// bounds the length, so config-supplied names cannot break the key layout or hash tag.
fn sanitize(name: &str) -> String {
    name.chars()
        .take(MAX_NAME_LEN)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_break_the_hash_tag() {
        assert_eq!(sanitize("a{b}:c d"), "a_b__c_d");
        assert_eq!(sanitize(&"x".repeat(500)).len(), MAX_NAME_LEN);
    }

    #[test]
    fn replies_decode_into_decisions() {
        assert_eq!(
            decode(&[1, 4, 2_500_000]),
            Ok(Decision::Allowed {
                remaining: 4,
                reset: Duration::from_millis(2500),
                decided_by: DecidedBy::Redis
            })
        );
        assert_eq!(
            decode(&[0, 1_000, 9_000]),
            Ok(Decision::Limited {
                retry_after: Duration::from_millis(1),
                reset: Duration::from_millis(9),
                decided_by: DecidedBy::Redis
            })
        );
    }

    #[test]
    fn malformed_replies_are_errors() {
        assert_eq!(decode(&[1, 2]), Err(RedisError::BadReply));
        assert_eq!(decode(&[2, 0, 0]), Err(RedisError::BadReply));
        assert_eq!(decode(&[1, -1, 0]), Err(RedisError::BadReply));
    }
}
