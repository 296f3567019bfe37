//! Protective limits: body and header sizes, slow clients, idle connections, connection
//! count. Timeouts are set short so each test waits a fraction of a second.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::support::*;

#[tokio::test]
async fn declared_oversized_body_is_refused_before_reading() {
    let stack = Stack::start(|cfg, _| cfg.routes[0].max_body_bytes = 16).await;
    let reply = stack
        .client()
        .raw(
            b"POST / HTTP/1.1\r\nhost: localhost\r\ncontent-length: 17\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(reply.status(), 413, "{}", reply.text);
    assert!(reply.text.contains("body_too_large"));
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_refused() {
    let stack = Stack::start(|cfg, _| cfg.routes[0].max_body_bytes = 16).await;
    let reply = stack
        .client()
        .raw(b"POST / HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n1\r\nX\r\n0\r\n\r\n", Duration::from_secs(5))
        .await;
    assert_eq!(reply.status(), 413, "{}", reply.text);
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let stack = Stack::start(|cfg, _| cfg.limits.max_header_bytes = 1024).await;
    let big = "v".repeat(2000);
    let mut req = request("GET", "/", "localhost", Default::default());
    req.headers_mut().insert("x-big", big.parse().unwrap());
    let resp = stack.client().send(req).await;
    assert_eq!(resp.status, 431);
    assert_eq!(resp.code(), "headers_too_large");
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn slowloris_headers_are_cut_off() {
    let stack =
        Stack::start(|cfg, _| cfg.limits.header_read_timeout = Duration::from_millis(300)).await;
    let reply = stack
        .client()
        .raw(
            b"GET / HTTP/1.1\r\nhost: localhost\r\nx-slow: ",
            Duration::from_secs(5),
        )
        .await;
    assert!(
        reply.closed,
        "a connection that never finishes its head must be closed"
    );
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn slow_bodies_are_cut_off() {
    let stack =
        Stack::start(|cfg, _| cfg.limits.body_read_timeout = Duration::from_millis(300)).await;
    let reply = stack
        .client()
        .raw(
            b"POST / HTTP/1.1\r\nhost: localhost\r\ncontent-length: 100\r\n\r\nonly-part",
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(reply.status(), 408, "{}", reply.text);
    assert!(reply.text.contains("body_timeout"));
    assert!(reply.closed);
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let stack = Stack::start(|cfg, _| cfg.limits.idle_timeout = Duration::from_millis(300)).await;
    let reply = stack
        .client()
        .raw(
            b"GET /once HTTP/1.1\r\nhost: localhost\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(reply.status(), 200, "{}", reply.text);
    assert!(
        reply.closed,
        "the idle connection must be closed by the proxy"
    );
}

#[tokio::test]
async fn connections_over_the_limit_are_refused() {
    let stack = Stack::start(|cfg, _| cfg.limits.max_connections = 1).await;
    let mut first = stack.client().connect().await.unwrap();
    let second = stack
        .client()
        .try_send(request("GET", "/", "localhost", Default::default()))
        .await;
    assert!(
        second.is_err(),
        "a second connection must be refused while the first is open"
    );
    first.shutdown().await.unwrap();
    drop(first);
    let mut ok = false;
    for _ in 0..50 {
        if stack
            .client()
            .try_send(request("GET", "/", "localhost", Default::default()))
            .await
            .is_ok()
        {
            ok = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "after the first connection closes, a new one is served");
}
