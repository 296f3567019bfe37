//! Errors. None of them carries key contents, URLs or credentials.

use std::time::Duration;

use crate::{KeyHasherError, PolicyError};

/// A limiter cannot be built from what it was given.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    KeyHasher(#[from] KeyHasherError),
    /// The Redis URL is not usable (the URL is not repeated: it may hold a password).
    #[error("redis url is invalid ({kind})")]
    RedisUrl { kind: String },
}

/// One shared-mode check failed. The message names the failure class only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedisError {
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis request failed ({kind})")]
    Failed { kind: String },
    #[error("redis rate-limit script returned an unexpected reply")]
    BadReply,
    /// Not tried: an earlier failure paused Redis (`pause_after_error`).
    #[error("redis skipped after a recent failure")]
    Paused,
}

impl RedisError {
    /// `deadline` is reported when the client's own connect or response timeout fired.
    pub(crate) fn from_redis(err: &redis::RedisError, deadline: Duration) -> Self {
        if err.is_timeout() {
            return Self::Timeout(deadline);
        }
        // `kind()` is a fixed category (IoError, ResponseError, ...); the full message is
        // not used because server replies may quote arguments.
        Self::Failed {
            kind: format!("{:?}", err.kind()),
        }
    }
}
