//! Reload and drain.

use std::time::Duration;

use outscope_config::PathMatch;

use crate::support::*;

#[tokio::test]
async fn a_good_reload_takes_effect_for_new_requests() {
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    let cfg = config(&pki, &upstream);
    let proxy = Proxy::start(cfg.clone()).await;
    assert_eq!(proxy.client(&pki).get("/before").await.status, 200);
    let mut next = cfg.clone();
    next.routes = vec![route("only-v2", PathMatch::Prefix("/v2".into()), 0)];
    proxy.running.reload(next).unwrap();
    assert_eq!(proxy.client(&pki).get("/before").await.status, 404);
    assert_eq!(proxy.client(&pki).get("/v2/x").await.status, 200);
}

#[tokio::test]
async fn a_bad_reload_keeps_the_running_configuration() {
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    let cfg = config(&pki, &upstream);
    let proxy = Proxy::start(cfg.clone()).await;
    let mut broken = cfg.clone();
    broken.listeners[0].tls.certificates[0].key =
        outscope_config::SecretRef::File(pki.path("missing.key"));
    broken.routes = vec![route("only-v2", PathMatch::Prefix("/v2".into()), 0)];
    let err = proxy.running.reload(broken).unwrap_err();
    assert!(err.to_string().contains("missing.key"), "{err}");
    assert_eq!(proxy.client(&pki).get("/still-served").await.status, 200);
    let mut moved = cfg.clone();
    moved.listeners[0].address = "127.0.0.1:1".parse().unwrap();
    assert!(
        proxy.running.reload(moved).is_err(),
        "listeners cannot move on reload"
    );
    let mut fewer_threads = cfg.clone();
    fewer_threads.runtime.worker_threads = Some(1);
    let err = proxy.running.reload(fewer_threads).unwrap_err();
    assert!(err.to_string().contains("runtime.worker_threads"), "{err}");
    assert_eq!(proxy.client(&pki).get("/still-served").await.status, 200);
}

#[tokio::test]
async fn drain_finishes_the_request_in_flight_then_stops() {
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    upstream.behave(Behaviour::Delay(Duration::from_millis(500)));
    let mut cfg = config(&pki, &upstream);
    cfg.shutdown.drain_delay = Duration::from_millis(50);
    let proxy = Proxy::start(cfg).await;
    let client = proxy.client(&pki);
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move { client.get("/slow").await }
    });
    // Wait until the request has reached the upstream.
    while upstream.seen().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let app = proxy.running.app.clone();
    let clean = proxy.running.shutdown().await;
    assert!(app.draining());
    assert!(clean, "every connection finished within drain_timeout");
    assert_eq!(
        in_flight.await.unwrap().status,
        200,
        "the request in flight completed"
    );
    assert!(
        client.connect().await.is_err(),
        "no new connections after the drain"
    );
}

#[tokio::test]
async fn rotated_certificates_are_served_after_a_reload_without_dropping_connections() {
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    let cfg = config(&pki, &upstream);
    let proxy = Proxy::start(cfg.clone()).await;
    let client = proxy.client(&pki);
    let leaf = |tls: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>| {
        tls.get_ref().1.peer_certificates().unwrap()[0].clone()
    };
    let mut old_conn = client.connect().await.unwrap();
    let before = leaf(&old_conn);

    // Write a new certificate over the same files and reload.
    let rotated = pki.server("server", &["localhost", "api.test"]);
    let mut next = cfg.clone();
    next.listeners[0].tls.certificates[0].cert = rotated.cert;
    next.listeners[0].tls.certificates[0].key = rotated.key;
    proxy.running.reload(next).unwrap();

    let fresh = client.connect().await.unwrap();
    assert_ne!(
        leaf(&fresh),
        before,
        "new connections get the rotated certificate"
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    old_conn
        .write_all(b"GET /old HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    old_conn.read_to_string(&mut reply).await.unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 200"),
        "the connection opened before the reload still works: {reply}"
    );
}
