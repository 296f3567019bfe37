//! The admin listener: liveness, readiness (also while draining), and metrics that follow
//! what the proxy did.

use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn metrics_count_requests_by_route_status_and_rejection_code() {
    let stack = Stack::start(|_, _| {}).await;
    let admin = stack.proxy.running.admin_addr;
    assert_eq!(stack.client().get("/ok").await.status, 200);
    assert_eq!(stack.client().get("/ok").await.status, 200);
    stack
        .client()
        .raw(
            b"GET http://evil.test/ HTTP/1.1\r\nhost: evil.test\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
    let (status, metrics) = admin_get(admin, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        sample(
            &metrics,
            r#"outscope_requests_total{route="all",method="GET",status="200"}"#
        ),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"outscope_requests_rejected_total{reason="absolute_target"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            r#"outscope_requests_total{route="_unmatched",method="GET",status="400"}"#
        ),
        Some(1.0)
    );
    assert!(metrics.contains("outscope_build_info{"));
    assert!(metrics.contains(r#"outscope_tls_certificate_expiry_timestamp_seconds{listener="public",server_name="localhost"}"#));
}

#[tokio::test]
async fn outscope_s_own_time_leaves_out_the_upstream_s_wait() {
    let stack = Stack::start(|_, _| {}).await;
    stack
        .upstream
        .behave(Behaviour::Delay(Duration::from_millis(300)));
    assert_eq!(stack.client().get("/slow").await.status, 200);
    stack
        .client()
        .raw(
            b"GET http://evil.test/ HTTP/1.1\r\nhost: evil.test\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
    let (_, metrics) = admin_get(stack.proxy.running.admin_addr, "/metrics").await;
    let series =
        |name: &str, route: &str| sample(&metrics, &format!("{name}{{route=\"{route}\"}}"));
    // The request took the upstream's 300 ms ...
    assert_eq!(
        series("outscope_request_duration_seconds_count", "all"),
        Some(1.0)
    );
    let total = series("outscope_request_duration_seconds_sum", "all").unwrap_or(0.0);
    assert!(total >= 0.3, "{metrics}");
    // ... of which outscope's own share is what is left (and well under it here).
    assert_eq!(
        series("outscope_request_overhead_seconds_count", "all"),
        Some(1.0)
    );
    let own = series("outscope_request_overhead_seconds_sum", "all").unwrap_or(f64::MAX);
    assert!(own < total - 0.29, "own {own} of total {total}");
    // A request never forwarded has no upstream wait to take out: it is not observed.
    assert_eq!(
        series("outscope_request_overhead_seconds_count", "_unmatched"),
        Some(0.0)
    );
}

#[tokio::test]
async fn refused_tls_handshakes_are_counted_by_reason() {
    let stack = Stack::start(|_, _| {}).await;
    assert!(stack.client().tls12_only().connect().await.is_err());
    let admin = stack.proxy.running.admin_addr;
    let mut count = None;
    for _ in 0..50 {
        let (_, metrics) = admin_get(admin, "/metrics").await;
        count = sample(
            &metrics,
            r#"outscope_tls_handshake_errors_total{listener="public",reason="protocol_version"}"#,
        );
        if count == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count, Some(1.0));
}

#[tokio::test]
async fn readiness_turns_503_while_draining() {
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    let mut cfg = config(&pki, &upstream);
    cfg.shutdown.drain_delay = Duration::from_millis(400);
    let proxy = Proxy::start(cfg).await;
    let admin = proxy.running.admin_addr;
    assert_eq!(admin_get(admin, "/livez").await.0, 200);
    assert_eq!(admin_get(admin, "/readyz").await.0, 200);
    let app = proxy.running.app.clone();
    let drain = tokio::spawn(proxy.running.shutdown());
    while !app.draining() {
        tokio::task::yield_now().await;
    }
    let (status, body) = admin_get(admin, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("draining"), "{body}");
    assert!(drain.await.unwrap());
}

#[tokio::test]
async fn reloads_are_counted() {
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    let cfg = config(&pki, &upstream);
    let proxy = Proxy::start(cfg.clone()).await;
    proxy.running.reload(cfg.clone()).unwrap();
    let mut bad = cfg.clone();
    bad.listeners[0].tls.certificates[0].cert =
        outscope_config::SecretRef::File(pki.path("nope.crt"));
    assert!(proxy.running.reload(bad).is_err());
    let (_, metrics) = admin_get(proxy.running.admin_addr, "/metrics").await;
    assert_eq!(
        sample(
            &metrics,
            r#"outscope_config_reloads_total{result="success"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"outscope_config_reloads_total{result="failure"}"#
        ),
        Some(1.0)
    );
}
