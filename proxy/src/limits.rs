//! Phase 3: the route's rate limits, built from config (local or shared through Redis) and
//! applied in order. The first limit that refuses ends the request; later ones are not
//! charged.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use outscope_config::{Config, OnRedisError, RateLimit, RateLimitBackend, RateLimitKey, Route};
use outscope_ratelimit::headers::{self as rl_headers, RateLimitHeaders};
use outscope_ratelimit::{
    DecidedBy, Decision, KeyHasher, Limiter, LocalLimiter, Policy, RedisBackend, RedisOptions,
    SharedLimiter,
};
use outscope_telemetry::{Check, FallbackMode, LimitMetrics, Metrics};

use crate::errors::ProxyError;
use crate::secrets;

/// One configured limit, ready to check.
pub struct ConfiguredLimit {
    spec: RateLimit,
    limiter: Limiter,
    metrics: LimitMetrics,
}

/// Why the limits could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    #[error("rate_limits.{name}: {reason}")]
    Setup { name: String, reason: String },
    #[error("redis.password: {0}")]
    Password(#[from] secrets::SecretError),
}

/// What identifies the client for each kind of key.
pub struct KeySource<'a> {
    pub client_ip: IpAddr,
    pub headers: &'a HeaderMap,
    pub client_cert_subject: Option<&'a [u8]>,
    pub route: &'a str,
}

/// Builds every configured limit, reusing (and so keeping the state of) a previous
/// generation's limit when its definition did not change.
pub fn build(
    config: &Config,
    metrics: &Metrics,
    previous: &[Arc<ConfiguredLimit>],
    previous_redis: Option<&outscope_config::Redis>,
    secrets: &secrets::Resolved,
) -> Result<Vec<Arc<ConfiguredLimit>>, LimitsError> {
    let redis_unchanged = previous_redis == config.redis.as_ref();
    let mut backend: Option<RedisBackend> = None;
    let handles = metrics.bind_limits(config.rate_limits.iter().map(|l| l.name.as_str()));
    let mut built = Vec::new();
    for (spec, handle) in config.rate_limits.iter().zip(handles) {
        let shared = matches!(spec.backend, RateLimitBackend::Redis { .. });
        if let Some(old) = previous
            .iter()
            .find(|old| old.spec == *spec && (!shared || redis_unchanged))
        {
            built.push(old.clone());
            continue;
        }
        let setup = |e: outscope_ratelimit::SetupError| LimitsError::Setup {
            name: spec.name.clone(),
            reason: e.to_string(),
        };
        let policy = Policy {
            requests: spec.requests,
            per: spec.per,
            burst: spec.burst,
        };
        let limiter = match spec.backend {
            RateLimitBackend::Local => Limiter::Local(LocalLimiter::new(policy).map_err(setup)?),
            RateLimitBackend::Redis { on_error } => {
                let backend = match &backend {
                    Some(b) => b.clone(),
                    None => {
                        let b =
                            redis_backend(config, secrets)?.ok_or_else(|| LimitsError::Setup {
                                name: spec.name.clone(),
                                reason: "backend = \"redis\" needs a [redis] section".into(),
                            })?;
                        backend = Some(b.clone());
                        b
                    }
                };
                let on_error = match on_error {
                    OnRedisError::FailOpen => outscope_ratelimit::OnRedisError::FailOpen,
                    OnRedisError::FailClosed => outscope_ratelimit::OnRedisError::FailClosed,
                    OnRedisError::Local => outscope_ratelimit::OnRedisError::Local,
                };
                Limiter::Shared(
                    SharedLimiter::new(&spec.name, policy, backend, on_error).map_err(setup)?,
                )
            }
        };
        built.push(Arc::new(ConfiguredLimit {
            spec: spec.clone(),
            limiter,
            metrics: handle,
        }));
    }
    Ok(built)
}

fn redis_backend(
    config: &Config,
    secrets: &secrets::Resolved,
) -> Result<Option<RedisBackend>, LimitsError> {
    let Some(redis) = &config.redis else {
        return Ok(None);
    };
    let password = match &redis.password {
        Some(reference) => {
            let secret = secrets.get(reference)?;
            Some(
                String::from_utf8_lossy(secret.expose())
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
            )
        }
        None => None,
    };
    let hasher = match &redis.key_secret {
        Some(reference) => {
            KeyHasher::keyed(secrets.get(reference)?.expose()).map_err(|e| LimitsError::Setup {
                name: "redis.key_secret".into(),
                reason: e.to_string(),
            })?
        }
        None => KeyHasher::unkeyed(),
    };
    let options = RedisOptions {
        url: redis.url.clone(),
        cluster: redis.cluster,
        username: redis.username.clone(),
        password,
        key_prefix: redis.key_prefix.clone(),
        timeout: redis.timeout,
        hasher,
        pause_after_error: Duration::from_secs(1),
    };
    RedisBackend::new(options)
        .map(Some)
        .map_err(|e| LimitsError::Setup {
            name: "redis".into(),
            reason: e.to_string(),
        })
}

/// Applies the route's limits in order. Returns the rate-limit headers to add to the
/// response, or the error that ends the request.
pub async fn apply(
    limits: &[Arc<ConfiguredLimit>],
    route: &Route,
    source: &KeySource<'_>,
    redis_check: &Check,
) -> Result<Option<RateLimitHeaders>, ProxyError> {
    if route.rate_limits.is_empty() {
        return Ok(None);
    }
    let mut applied: Vec<(&ConfiguredLimit, Decision)> =
        Vec::with_capacity(route.rate_limits.len());
    let mut refusal = None;
    for limit in route.rate_limits.iter().filter_map(|&i| limits.get(i)) {
        let key = key_bytes(&limit.spec.key, source);
        let decision = limit.limiter.check(&key).await;
        note_redis(limit, decision.decided_by(), redis_check);
        if let Decision::Limited { decided_by, .. } = decision {
            refusal = Some(decided_by);
            applied.push((limit, decision));
            break;
        }
        applied.push((limit, decision));
    }
    let headers = rl_headers::render(
        applied
            .iter()
            .map(|(l, d)| (l.spec.name.as_str(), l.limiter.policy(), d)),
    );
    match refusal {
        None => Ok(headers),
        Some(DecidedBy::FallbackClosed) => Err(ProxyError::RateLimiterUnavailable),
        Some(_) => {
            if let Some((limit, _)) = applied.last() {
                limit.metrics.limited();
            }
            let retry_after = headers.as_ref().and_then(|h| h.retry_after).unwrap_or(1);
            Err(ProxyError::RateLimited {
                retry_after: Duration::from_secs(retry_after),
                headers: header_pairs(headers.as_ref()),
            })
        }
    }
}

/// Counts fallbacks and keeps the Redis readiness check current.
fn note_redis(limit: &ConfiguredLimit, by: DecidedBy, redis_check: &Check) {
    let mode = match by {
        DecidedBy::Redis => {
            redis_check.set_up();
            return;
        }
        DecidedBy::Local => return,
        DecidedBy::FallbackOpen => FallbackMode::FailOpen,
        DecidedBy::FallbackClosed => FallbackMode::FailClosed,
        DecidedBy::FallbackLocal => FallbackMode::Local,
    };
    redis_check.set_down("unreachable");
    limit.metrics.fallback(mode);
}

fn key_bytes(key: &RateLimitKey, source: &KeySource<'_>) -> Vec<u8> {
    match key {
        RateLimitKey::ClientIp => source.client_ip.to_string().into_bytes(),
        RateLimitKey::Header(name) => source
            .headers
            .get(name.as_str())
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default(),
        RateLimitKey::ClientCertSubject => source
            .client_cert_subject
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        RateLimitKey::Route => source.route.as_bytes().to_vec(),
    }
}

/// `RateLimit-Policy` and `RateLimit` as header pairs.
pub fn header_pairs(headers: Option<&RateLimitHeaders>) -> Vec<(HeaderName, HeaderValue)> {
    let Some(h) = headers else { return Vec::new() };
    let mut out = Vec::with_capacity(2);
    if let Ok(v) = HeaderValue::from_str(&h.policy) {
        out.push((HeaderName::from_static(rl_headers::RATELIMIT_POLICY), v));
    }
    if let Ok(v) = HeaderValue::from_str(&h.ratelimit) {
        out.push((HeaderName::from_static(rl_headers::RATELIMIT), v));
    }
    out
}
