//! GCRA rate limiting for the proxy: per instance, or one budget shared through Redis.
//!
//! ```no_run
//! # use std::{num::NonZeroU32, time::Duration};
//! # use outscope_ratelimit::*;
//! # async fn demo() -> Result<(), SetupError> {
//! let policy = Policy {
//!     requests: NonZeroU32::new(100).unwrap(),
//!     per: Duration::from_secs(1),
//!     burst: NonZeroU32::new(20).unwrap(),
//! };
//! let per_ip = Limiter::Local(LocalLimiter::new(policy)?);
//! match per_ip.check(b"203.0.113.7").await {
//!     Decision::Allowed { .. } => { /* continue */ }
//!     Decision::Limited { retry_after, .. } => { /* 429 + headers::render(..) */ }
//! }
//! # Ok(()) }
//! ```
//!
//! # Algorithm
//! GCRA (the "generic cell rate algorithm", a leaky bucket stored as one timestamp per key):
//! with emission interval `T = per / requests` and tolerance `tau = T * (burst - 1)`, a
//! request at `now` conforms when `now >= TAT - tau`, and then `TAT = max(TAT, now) + T`.
//! One number per key, no background refill, exact for any request spacing.
//!
//! # Local mode
//! [`LocalLimiter`] is governor's keyed limiter. The clock is a type parameter: `QuantaClock`
//! in production, `FakeRelativeClock` in tests, which advance time by hand; no test sleeps.
//! Memory is bounded by sweeping keys whose bucket is full again (see [`local`]).
//!
//! # Shared mode and why it is built this way
//! [`SharedLimiter`] runs one Lua script per check (`gcra.lua`), the same arithmetic as
//! governor:
//! - **Atomic**: read-decide-write of the TAT happens inside Redis, so N instances can never
//!   both spend the last token. A client-side `GET` + `SET` would race; `WATCH`/`MULTI`
//!   would need retries under contention.
//! - **Redis' clock**: the script reads `TIME` itself, so instances whose clocks disagree
//!   still share one budget (one clock decides). The cost is that a Redis failover to a
//!   replica with a skewed clock shifts the budgets once; acceptable for rate limiting.
//! - **One key per check, Cluster-ready**: the key is `{prefix:name:digest}`, all of it a
//!   hash tag, and the script only touches `KEYS[1]`, so it runs on any cluster node owning
//!   the slot. Keys expire (`PX`) exactly when the bucket is full again, so idle keys cost
//!   nothing.
//! - **EVALSHA**: the script is sent by hash; on `NOSCRIPT` (restart, failover,
//!   `SCRIPT FLUSH`) it is loaded and the call retried once.
//! - **Digested keys**: user-controlled keys (API keys, certificate subjects) are never
//!   stored: the key is a 128-bit HMAC-SHA-256 (or SHA-256) digest ([`KeyHasher`]), which
//!   also bounds key length. Names and prefixes are sanitised to `[A-Za-z0-9_.-]`.
//! - **Bounded**: every check has a deadline (connecting included). On error or timeout,
//!   [`OnRedisError`] decides: allow, refuse, or ask a per-instance limiter of the same
//!   policy. The [`Decision`] says which path decided ([`DecidedBy`]) so the proxy can count
//!   fallbacks. Errors name a failure class only, never keys, URLs or credentials.
//!
//! All instances must give a limit name the same policy: the stored TAT is read with the
//! caller's `T` and `burst`, so during a rollout that changes a policy each instance applies
//! its own numbers to the shared state (briefly too strict or too lax, never stuck).
//!
//! Considered and not chosen: a Redis module (`CL.THROTTLE`) needs a non-standard server;
//! a token bucket with two fields needs more writes for the same result; client-side time
//! breaks the shared budget when instance clocks skew.
//!
//! # Headers
//! [`headers`] renders `RateLimit-Policy`, `RateLimit` and `Retry-After` from decisions.

mod decision;
mod error;
pub mod headers;
mod key;
mod limiter;
pub mod local;
mod policy;
mod shared;

pub use decision::{DecidedBy, Decision};
pub use error::{RedisError, SetupError};
pub use governor::clock::{FakeRelativeClock, QuantaClock};
pub use key::{KeyDigest, KeyHasher, KeyHasherError, MIN_SECRET_LEN};
pub use limiter::Limiter;
pub use local::LocalLimiter;
pub use policy::{Policy, PolicyError};
pub use shared::{OnRedisError, RedisBackend, RedisOptions, SharedLimiter};
