//! What a check decided, and which path decided it.

use std::time::Duration;

/// The outcome of one rate-limit check. Never a bare boolean: the proxy needs the numbers
/// for the response headers and [`DecidedBy`] for its fallback metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let the request through.
    Allowed {
        /// Requests this key may still send right now (after this one).
        remaining: u32,
        /// Time until the key's bucket is full again.
        reset: Duration,
        decided_by: DecidedBy,
    },
    /// Refuse the request (429, or 503 when [`DecidedBy::FallbackClosed`]).
    Limited {
        /// Time until one more request would be allowed.
        retry_after: Duration,
        /// Time until the key's bucket is full again.
        reset: Duration,
        decided_by: DecidedBy,
    },
}

/// Which path produced a [`Decision`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecidedBy {
    /// The per-instance limiter of a `local` policy.
    Local,
    /// The shared GCRA script in Redis.
    Redis,
    /// Redis failed and `on_redis_error = "fail_open"`: allowed without counting.
    FallbackOpen,
    /// Redis failed and `on_redis_error = "fail_closed"`: refused.
    FallbackClosed,
    /// Redis failed and `on_redis_error = "local"`: a per-instance limiter decided.
    FallbackLocal,
}

impl DecidedBy {
    /// Stable lower-case name for metric labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Redis => "redis",
            Self::FallbackOpen => "fallback_open",
            Self::FallbackClosed => "fallback_closed",
            Self::FallbackLocal => "fallback_local",
        }
    }

    /// Whether Redis failed for this decision (the proxy counts these).
    pub fn is_fallback(self) -> bool {
        matches!(
            self,
            Self::FallbackOpen | Self::FallbackClosed | Self::FallbackLocal
        )
    }
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }

    pub fn decided_by(&self) -> DecidedBy {
        match *self {
            Self::Allowed { decided_by, .. } | Self::Limited { decided_by, .. } => decided_by,
        }
    }

    /// Time until the bucket is full again.
    pub fn reset(&self) -> Duration {
        match *self {
            Self::Allowed { reset, .. } | Self::Limited { reset, .. } => reset,
        }
    }

    /// Requests still available now (0 when limited).
    pub fn remaining(&self) -> u32 {
        match *self {
            Self::Allowed { remaining, .. } => remaining,
            Self::Limited { .. } => 0,
        }
    }

    /// Time until one more request would be allowed (`None` when allowed).
    pub fn retry_after(&self) -> Option<Duration> {
        match *self {
            Self::Allowed { .. } => None,
            Self::Limited { retry_after, .. } => Some(retry_after),
        }
    }
}
