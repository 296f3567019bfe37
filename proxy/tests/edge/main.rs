//! Integration tests of the edge: every test starts real servers on 127.0.0.1:0 in-process
//! and talks to them over TLS.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod binary;
mod cards;
mod forwarding;
mod framing;
mod keys;
mod lifecycle;
mod limits;
mod ratelimit;
mod support;
mod tls;
mod vault;
