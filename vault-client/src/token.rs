//! The token the client holds and when to renew it.
//!
//! A token is renewed once two thirds of its TTL have passed (Vault Agent's habit), which
//! leaves a third of the TTL to ride out an outage. When Vault refuses a renewal, or
//! renews only a sliver because the token reached its max TTL, the client logs in again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::secret::SecretString;

/// The current token and what Vault said about its lifetime.
#[derive(Clone)]
pub(crate) struct TokenState {
    pub(crate) token: Arc<SecretString>,
    pub(crate) obtained_at: Instant,
    /// `None`: the token never expires (a root token).
    pub(crate) ttl: Option<Duration>,
    pub(crate) renewable: bool,
    /// The TTL the token had right after login: renewals granting less than a third of it
    /// mean the token reached its max TTL.
    pub(crate) login_ttl: Option<Duration>,
    /// Counts token changes, so concurrent callers that saw the same refused token log in
    /// only once.
    pub(crate) generation: u64,
}

impl TokenState {
    pub(crate) fn expires_at(&self) -> Option<Instant> {
        self.ttl.map(|ttl| self.obtained_at + ttl)
    }

    pub(crate) fn renew_at(&self) -> Option<Instant> {
        self.ttl.map(|ttl| self.obtained_at + ttl * 2 / 3)
    }

    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        self.expires_at().is_some_and(|at| now >= at)
    }

    /// Whether a renewal that granted `ttl` leaves too little to keep the token.
    pub(crate) fn renewal_is_capped(&self, ttl: Duration) -> bool {
        self.login_ttl.is_some_and(|login| ttl < login / 3)
    }

    pub(crate) fn info(&self) -> TokenInfo {
        TokenInfo {
            ttl: self.ttl,
            renewable: self.renewable,
            expires_at: self.expires_at(),
            renew_at: self.renew_at(),
        }
    }
}

/// What is due for the token at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// No token yet, or it has expired.
    Login,
    NeverExpires,
    NotDue {
        renew_at: Instant,
    },
    Renew,
    /// Past the renewal point but not renewable: replace it by logging in, if possible.
    Replace {
        expires_at: Instant,
    },
}

pub(crate) fn due(state: Option<&TokenState>, now: Instant) -> Action {
    let Some(state) = state else {
        return Action::Login;
    };
    let (Some(renew_at), Some(expires_at)) = (state.renew_at(), state.expires_at()) else {
        return Action::NeverExpires;
    };
    if state.is_expired(now) {
        Action::Login
    } else if now < renew_at {
        Action::NotDue { renew_at }
    } else if state.renewable {
        Action::Renew
    } else {
        Action::Replace { expires_at }
    }
}

/// A token's lifetime, without the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenInfo {
    /// The TTL Vault granted at the last login or renewal; `None` for a token that never
    /// expires.
    pub ttl: Option<Duration>,
    pub renewable: bool,
    pub expires_at: Option<Instant>,
    /// When [`Client::renew_if_needed`](crate::Client::renew_if_needed) will act.
    pub renew_at: Option<Instant>,
}

/// What [`Client::renew_if_needed`](crate::Client::renew_if_needed) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Nothing to do before `renew_at`.
    NotDue { renew_at: Instant },
    /// The token never expires (a root token): nothing to renew, ever.
    NeverExpires,
    /// Vault extended the token by `ttl`.
    Renewed { ttl: Duration, renew_at: Instant },
    /// A new token came from logging in: the first login, a refused renewal, a token at its
    /// max TTL, or one that had expired.
    LoggedIn {
        ttl: Option<Duration>,
        renew_at: Option<Instant>,
    },
    /// The token is past its renewal point, cannot be renewed and cannot be replaced (a
    /// fixed, non-renewable token); it stops working at `expires_at`.
    Expiring { expires_at: Instant },
}

impl Renewal {
    /// When to call `renew_if_needed` again; `None` when never needed.
    pub fn next_check(&self) -> Option<Instant> {
        match *self {
            Self::NotDue { renew_at } | Self::Renewed { renew_at, .. } => Some(renew_at),
            Self::LoggedIn { renew_at, .. } => renew_at,
            Self::NeverExpires => None,
            Self::Expiring { expires_at } => Some(expires_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn state(at: Instant, ttl: Option<Duration>, renewable: bool) -> TokenState {
        TokenState {
            token: Arc::new(SecretString::from("t")),
            obtained_at: at,
            ttl,
            renewable,
            login_ttl: ttl,
            generation: 1,
        }
    }

    #[test]
    fn a_renewable_token_is_renewed_after_two_thirds_of_its_ttl() {
        let t0 = Instant::now();
        let token = state(t0, Some(60 * MIN), true);
        assert_eq!(
            due(Some(&token), t0),
            Action::NotDue {
                renew_at: t0 + 40 * MIN
            }
        );
        assert_eq!(
            due(Some(&token), t0 + 39 * MIN),
            Action::NotDue {
                renew_at: t0 + 40 * MIN
            }
        );
        assert_eq!(due(Some(&token), t0 + 40 * MIN), Action::Renew);
        assert_eq!(
            due(Some(&token), t0 + 60 * MIN),
            Action::Login,
            "expired: renewing is moot"
        );
    }

    #[test]
    fn no_token_means_login_and_a_root_token_never_needs_anything() {
        let t0 = Instant::now();
        assert_eq!(due(None, t0), Action::Login);
        let root = state(t0, None, false);
        assert_eq!(due(Some(&root), t0 + 10_000 * MIN), Action::NeverExpires);
    }

    #[test]
    fn a_non_renewable_token_past_its_renewal_point_is_to_be_replaced() {
        let t0 = Instant::now();
        let token = state(t0, Some(30 * MIN), false);
        assert_eq!(
            due(Some(&token), t0 + 25 * MIN),
            Action::Replace {
                expires_at: t0 + 30 * MIN
            }
        );
    }

    #[test]
    fn a_renewal_granting_under_a_third_of_the_login_ttl_means_max_ttl_was_reached() {
        let token = state(Instant::now(), Some(60 * MIN), true);
        assert!(!token.renewal_is_capped(60 * MIN));
        assert!(!token.renewal_is_capped(20 * MIN));
        assert!(token.renewal_is_capped(19 * MIN));
    }
}
