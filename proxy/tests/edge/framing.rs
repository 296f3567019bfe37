//! Request smuggling shapes: each is refused with a JSON 400 (or hyper's own 400 for what
//! it cannot parse), the connection is closed, and nothing reaches the upstream.

use std::time::Duration;

use crate::support::*;

async fn refused(stack: &Stack, raw: &[u8]) -> String {
    let reply = stack.client().raw(raw, Duration::from_secs(5)).await;
    assert_eq!(
        reply.status(),
        400,
        "expected 400 for {:?}, got {}",
        String::from_utf8_lossy(raw),
        reply.text
    );
    assert!(
        reply.closed,
        "the connection must be closed after a framing error"
    );
    reply.text
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused() {
    let stack = Stack::start(|_, _| {}).await;
    refused(&stack, b"POST / HTTP/1.1\r\nhost: localhost\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n").await;
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn duplicate_content_length_is_refused() {
    let stack = Stack::start(|_, _| {}).await;
    refused(
        &stack,
        b"POST / HTTP/1.1\r\nhost: localhost\r\ncontent-length: 4\r\ncontent-length: 4\r\n\r\nabcd",
    )
    .await;
    refused(
        &stack,
        b"POST / HTTP/1.1\r\nhost: localhost\r\ncontent-length: 4, 4\r\n\r\nabcd",
    )
    .await;
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn signed_or_non_numeric_content_length_is_refused() {
    let stack = Stack::start(|_, _| {}).await;
    refused(
        &stack,
        b"POST / HTTP/1.1\r\nhost: localhost\r\ncontent-length: +4\r\n\r\nabcd",
    )
    .await;
    refused(
        &stack,
        b"POST / HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0x4\r\n\r\nabcd",
    )
    .await;
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn transfer_encodings_other_than_chunked_are_refused() {
    let stack = Stack::start(|_, _| {}).await;
    refused(
        &stack,
        b"POST / HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    refused(&stack, b"POST / HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\ntransfer-encoding: identity\r\n\r\n0\r\n\r\n").await;
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn invalid_chunking_is_refused() {
    let stack = Stack::start(|_, _| {}).await;
    refused(&stack, b"POST / HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n").await;
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn obs_fold_is_refused() {
    let stack = Stack::start(|_, _| {}).await;
    refused(
        &stack,
        b"GET / HTTP/1.1\r\nhost: localhost\r\nx-folded: a\r\n b\r\n\r\n",
    )
    .await;
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn missing_or_duplicate_host_is_refused() {
    let stack = Stack::start(|_, _| {}).await;
    let reply = stack
        .client()
        .raw(
            b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(reply.status(), 400, "{}", reply.text);
    let reply = stack
        .client()
        .raw(
            b"GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\nconnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(reply.status(), 400, "{}", reply.text);
    assert!(stack.upstream.seen().is_empty());
}
