//! Rate limits: per instance and shared through a real Redis, keyed by IP, API key, client
//! certificate or route; 429 with Retry-After and the IETF headers; Redis failures handled
//! per `on_redis_error`.

use bytes::Bytes;
use outscope_config::{OnRedisError, RateLimitBackend, RateLimitKey};
use outscope_testkit::RedisServer;

use crate::support::*;

fn with_key(key: &str) -> http::Request<http_body_util::Full<Bytes>> {
    let mut req = request("GET", "/", "localhost", Bytes::new());
    req.headers_mut().insert("x-api-key", key.parse().unwrap());
    req
}

#[tokio::test]
async fn a_burst_is_allowed_then_429_with_retry_after_and_ratelimit_headers() {
    let stack = Stack::start(|cfg, _| {
        cfg.rate_limits.push(per_minute(
            "per-ip",
            RateLimitKey::ClientIp,
            1,
            3,
            RateLimitBackend::Local,
        ));
        cfg.routes[0].rate_limits = vec![0];
    })
    .await;
    for i in 0..3 {
        let resp = stack.client().get("/").await;
        assert_eq!(resp.status, 200, "request {i} is within the burst");
        assert_eq!(
            resp.header("ratelimit-policy"),
            Some(r#""per-ip";q=1;w=60"#)
        );
        assert!(
            resp.header("ratelimit")
                .unwrap()
                .starts_with(r#""per-ip";r="#)
        );
    }
    let resp = stack.client().get("/").await;
    assert_eq!(resp.status, 429);
    assert_eq!(resp.code(), "rate_limited");
    assert_eq!(resp.header("retry-after"), Some("60"));
    assert_eq!(resp.header("ratelimit"), Some(r#""per-ip";r=0;t=60"#));
    assert_eq!(
        stack.upstream.seen().len(),
        3,
        "the refused request never reached the upstream"
    );
}

#[tokio::test]
async fn api_keys_get_separate_buckets() {
    let stack = Stack::start(|cfg, _| {
        cfg.rate_limits.push(per_minute(
            "per-key",
            RateLimitKey::Header("x-api-key".into()),
            1,
            1,
            RateLimitBackend::Local,
        ));
        cfg.routes[0].rate_limits = vec![0];
    })
    .await;
    let c = stack.client();
    assert_eq!(c.send(with_key("alice")).await.status, 200);
    assert_eq!(c.send(with_key("alice")).await.status, 429);
    assert_eq!(c.send(with_key("bob")).await.status, 200);
}

#[tokio::test]
async fn client_certificate_subjects_get_separate_buckets() {
    let stack = Stack::start(|cfg, pki| {
        cfg.listeners[0].tls.client_auth =
            outscope_config::ClientAuth::Required { ca: pki.ca_ref() };
        cfg.rate_limits.push(per_minute(
            "per-cert",
            RateLimitKey::ClientCertSubject,
            1,
            1,
            RateLimitBackend::Local,
        ));
        cfg.routes[0].rate_limits = vec![0];
    })
    .await;
    let alice = stack.pki.client("alice", "alice");
    let bob = stack.pki.client("bob", "bob");
    assert_eq!(
        stack.client().client_cert(&alice).get("/").await.status,
        200
    );
    assert_eq!(
        stack.client().client_cert(&alice).get("/").await.status,
        429
    );
    assert_eq!(stack.client().client_cert(&bob).get("/").await.status, 200);
}

#[tokio::test]
async fn several_limits_apply_to_one_route_in_order() {
    let stack = Stack::start(|cfg, _| {
        cfg.rate_limits.push(per_minute(
            "per-key",
            RateLimitKey::Header("x-api-key".into()),
            1,
            5,
            RateLimitBackend::Local,
        ));
        cfg.rate_limits.push(per_minute(
            "whole-route",
            RateLimitKey::Route,
            1,
            2,
            RateLimitBackend::Local,
        ));
        cfg.routes[0].rate_limits = vec![0, 1];
    })
    .await;
    let c = stack.client();
    assert_eq!(c.send(with_key("a")).await.status, 200);
    assert_eq!(c.send(with_key("b")).await.status, 200);
    let resp = c.send(with_key("c")).await;
    assert_eq!(
        resp.status, 429,
        "the route-wide budget is spent whatever the key"
    );
    assert!(
        resp.header("ratelimit")
            .unwrap()
            .contains(r#""whole-route";r=0"#)
    );
}

#[tokio::test]
async fn two_proxies_share_one_budget_through_redis() {
    let redis = RedisServer::start();
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    let mut cfg = config(&pki, &upstream);
    cfg.redis = Some(redis_config(redis.url()));
    cfg.rate_limits.push(per_minute(
        "shared",
        RateLimitKey::Route,
        1,
        4,
        RateLimitBackend::Redis {
            on_error: OnRedisError::FailClosed,
        },
    ));
    cfg.routes[0].rate_limits = vec![0];
    let a = Proxy::start(cfg.clone()).await;
    let b = Proxy::start(cfg).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let proxy = if i % 2 == 0 { &a } else { &b };
        statuses.push(proxy.client(&pki).get("/").await.status);
    }
    assert_eq!(
        statuses,
        vec![200, 200, 200, 200, 429, 429],
        "four requests across both instances spend the shared burst"
    );
}

fn redis_config(url: &str) -> outscope_config::Redis {
    outscope_config::Redis {
        url: url.into(),
        cluster: false,
        username: None,
        password: None,
        key_prefix: format!("outscope-test-{}", rand_suffix()),
        key_secret: None,
        timeout: std::time::Duration::from_millis(200),
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

async fn after_redis_dies(on_error: OnRedisError) -> (Vec<u16>, String) {
    let mut redis = RedisServer::start();
    let stack = Stack::start(|cfg, _| {
        cfg.redis = Some(redis_config(redis.url()));
        cfg.rate_limits.push(per_minute(
            "shared",
            RateLimitKey::Route,
            1,
            2,
            RateLimitBackend::Redis { on_error },
        ));
        cfg.routes[0].rate_limits = vec![0];
    })
    .await;
    assert_eq!(
        stack.client().get("/").await.status,
        200,
        "Redis up: the shared limit decides"
    );
    redis.stop();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(stack.client().get("/").await.status);
    }
    let mut tcp = tokio::net::TcpStream::connect(stack.proxy.running.admin_addr)
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut metrics = String::new();
    tcp.read_to_string(&mut metrics).await.unwrap();
    (statuses, metrics)
}

#[tokio::test]
async fn redis_down_fail_open_allows_and_counts() {
    let (statuses, metrics) = after_redis_dies(OnRedisError::FailOpen).await;
    assert_eq!(statuses, vec![200; 4]);
    assert!(
        metrics
            .contains(r#"outscope_rate_limit_fallback_total{limit="shared",mode="fail_open"} 4"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"outscope_dependency_up{dependency="redis"} 0"#));
}

#[tokio::test]
async fn redis_down_fail_closed_refuses_with_503() {
    let (statuses, metrics) = after_redis_dies(OnRedisError::FailClosed).await;
    assert_eq!(statuses, vec![503; 4]);
    assert!(
        metrics
            .contains(r#"outscope_rate_limit_fallback_total{limit="shared",mode="fail_closed"} 4"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"outscope_requests_rejected_total{reason="rate_limiter_unavailable"} 4"#)
    );
}

#[tokio::test]
async fn redis_down_local_falls_back_to_a_per_instance_limit() {
    let (statuses, metrics) = after_redis_dies(OnRedisError::Local).await;
    assert_eq!(
        statuses,
        vec![200, 200, 429, 429],
        "the local limiter of the same policy takes over (burst 2)"
    );
    assert!(
        metrics.contains(r#"outscope_rate_limit_fallback_total{limit="shared",mode="local"} 4"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_reload_keeps_the_state_of_unchanged_limits() {
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    let mut cfg = config(&pki, &upstream);
    cfg.rate_limits.push(per_minute(
        "per-ip",
        RateLimitKey::ClientIp,
        1,
        1,
        RateLimitBackend::Local,
    ));
    cfg.routes[0].rate_limits = vec![0];
    let proxy = Proxy::start(cfg.clone()).await;
    assert_eq!(proxy.client(&pki).get("/").await.status, 200);
    proxy.running.reload(cfg.clone()).unwrap();
    assert_eq!(
        proxy.client(&pki).get("/").await.status,
        429,
        "the spent budget survives the reload"
    );
    let mut changed = cfg.clone();
    changed.rate_limits[0].burst = std::num::NonZeroU32::new(2).unwrap();
    proxy.running.reload(changed).unwrap();
    assert_eq!(
        proxy.client(&pki).get("/").await.status,
        200,
        "a changed limit starts afresh"
    );
}

#[tokio::test]
async fn a_key_secret_keys_the_shared_digests_and_must_be_long_enough() {
    let redis = RedisServer::start();
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    let secret = pki.path("ratelimit-key");
    std::fs::write(&secret, "a shared secret of more than sixteen bytes").unwrap();
    let mut cfg = config(&pki, &upstream);
    let mut redis_cfg = redis_config(redis.url());
    redis_cfg.key_secret = Some(outscope_config::SecretRef::File(secret.clone()));
    cfg.redis = Some(redis_cfg);
    cfg.rate_limits.push(per_minute(
        "shared",
        RateLimitKey::ClientIp,
        1,
        2,
        RateLimitBackend::Redis {
            on_error: OnRedisError::FailClosed,
        },
    ));
    cfg.routes[0].rate_limits = vec![0];
    let a = Proxy::start(cfg.clone()).await;
    let b = Proxy::start(cfg.clone()).await;
    let statuses = [
        a.client(&pki).get("/").await.status,
        b.client(&pki).get("/").await.status,
        a.client(&pki).get("/").await.status,
    ];
    assert_eq!(
        statuses,
        [200, 200, 429],
        "instances with the same key secret share one budget"
    );

    std::fs::write(&secret, "too short").unwrap();
    let refused = outscope::lifecycle::start(cfg)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("key_secret"),
        "a short key secret is refused at start: {refused}"
    );
}
