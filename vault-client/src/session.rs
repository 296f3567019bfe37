//! The token's life: logging in, looking up, renewing, replacing a refused token.

use std::sync::{Arc, MutexGuard};

use http::Method;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::auth::LoginStep;
use crate::client::{Client, parse};
use crate::error::{Error, Kind};
use crate::secret::SecretString;
use crate::token::{Action, Renewal, TokenInfo, TokenState, due};
use crate::transport::{Call, Retry};

impl Client {
    /// Logs in now (for a token method: looks the token up), replacing any current token.
    pub async fn login(&self) -> Result<TokenInfo, Error> {
        let _guard = self.inner.token_change.lock().await;
        Ok(self.log_in_locked().await?.info())
    }

    /// The current token's lifetime, if the client has logged in.
    pub fn token_info(&self) -> Option<TokenInfo> {
        self.state().as_ref().map(TokenState::info)
    }

    /// Keeps the token alive: logs in when there is no token, renews it once two thirds of
    /// its TTL have passed, and logs in again when Vault refuses the renewal or the token
    /// reached its max TTL. Time comes from the builder's clock. Call it on a timer (at
    /// [`Renewal::next_check`]) or use [`spawn_renewal`](Self::spawn_renewal).
    ///
    /// An unavailable Vault leaves the current token in place and returns the error: the
    /// token stays usable until it expires, so try again later.
    pub async fn renew_if_needed(&self) -> Result<Renewal, Error> {
        let _guard = self.inner.token_change.lock().await;
        let now = self.inner.clock.now();
        let current = self.state().clone();
        match due(current.as_ref(), now) {
            Action::NotDue { renew_at } => Ok(Renewal::NotDue { renew_at }),
            Action::NeverExpires => Ok(Renewal::NeverExpires),
            Action::Login => self.logged_in().await,
            Action::Replace { expires_at } if !self.inner.auth.can_log_in_again() => {
                Ok(Renewal::Expiring { expires_at })
            }
            Action::Replace { .. } => self.logged_in().await,
            Action::Renew => match current {
                Some(state) => self.renew(state).await,
                None => self.logged_in().await,
            },
        }
    }

    /// Runs [`renew_if_needed`](Self::renew_if_needed) in a background task until the
    /// handle is dropped, sleeping in real time until each next check (and backing off
    /// after errors). Tests drive `renew_if_needed` with a manual clock instead.
    pub fn spawn_renewal(&self) -> RenewalTask {
        let client = self.clone();
        let task = tokio::spawn(async move {
            let retry = crate::Backoff::default();
            let mut failures = 0u32;
            loop {
                let wait = match client.renew_if_needed().await {
                    Ok(renewal) => {
                        failures = 0;
                        match renewal.next_check() {
                            Some(at) => at.saturating_duration_since(client.inner.clock.now()),
                            None => return,
                        }
                    }
                    Err(_) => {
                        failures = failures.saturating_add(1);
                        retry.next_delay(failures)
                    }
                };
                tokio::time::sleep(wait.max(std::time::Duration::from_millis(10))).await;
            }
        });
        RenewalTask(task)
    }

    /// Revokes the client's own token (on shutdown) and forgets it.
    pub async fn revoke_self(&self) -> Result<(), Error> {
        let Some(state) = self.state().clone() else {
            return Ok(());
        };
        let call = Call {
            method: Method::POST,
            path: "auth/token/revoke-self",
            token: Some(&state.token),
            body: None,
            retry: Retry::Idempotent,
        };
        self.inner.transport.send(call).await?;
        *self.state() = None;
        Ok(())
    }

    /// The token to call with, logging in first when there is none or it expired.
    pub(crate) async fn token(&self) -> Result<(Arc<SecretString>, u64), Error> {
        let now = self.inner.clock.now();
        if let Some(state) = self.state().as_ref()
            && !state.is_expired(now)
        {
            return Ok((state.token.clone(), state.generation));
        }
        let _guard = self.inner.token_change.lock().await;
        if let Some(state) = self.state().as_ref()
            && !state.is_expired(now)
        {
            return Ok((state.token.clone(), state.generation));
        }
        let state = self.log_in_locked().await?;
        Ok((state.token, state.generation))
    }

    /// Logs in again unless another caller already replaced the refused token.
    pub(crate) async fn replace_token(&self, refused: u64) -> Result<Arc<SecretString>, Error> {
        let _guard = self.inner.token_change.lock().await;
        if let Some(state) = self.state().as_ref()
            && state.generation != refused
        {
            return Ok(state.token.clone());
        }
        Ok(self.log_in_locked().await?.token)
    }

    async fn logged_in(&self) -> Result<Renewal, Error> {
        let state = self.log_in_locked().await?;
        Ok(Renewal::LoggedIn {
            ttl: state.ttl,
            renew_at: state.renew_at(),
        })
    }

    async fn renew(&self, state: TokenState) -> Result<Renewal, Error> {
        let now = self.inner.clock.now();
        let call = Call {
            method: Method::POST,
            path: "auth/token/renew-self",
            token: Some(&state.token),
            body: Some(Zeroizing::new(b"{}".to_vec())),
            retry: Retry::Idempotent,
        };
        let answer = match self.inner.transport.send(call).await {
            Ok(answer) => answer,
            Err(err) if err.kind() == Kind::Unavailable => return Err(err),
            Err(_) if self.inner.auth.can_log_in_again() => return self.logged_in().await,
            Err(err) => return Err(err),
        };
        let grant: AuthEnvelope = parse("vault renew-self", &answer)?;
        let ttl = std::time::Duration::from_secs(grant.auth.lease_duration);
        if state.renewal_is_capped(ttl) && self.inner.auth.can_log_in_again() {
            return self.logged_in().await;
        }
        let renewed = TokenState {
            obtained_at: now,
            ttl: (!ttl.is_zero()).then_some(ttl),
            renewable: grant.auth.renewable,
            ..state
        };
        let renew_at = renewed.renew_at();
        *self.state() = Some(renewed);
        Ok(match renew_at {
            Some(renew_at) => Renewal::Renewed { ttl, renew_at },
            None => Renewal::NeverExpires,
        })
    }

    /// Logs in with the configured method; the caller holds `token_change`.
    async fn log_in_locked(&self) -> Result<TokenState, Error> {
        let now = self.inner.clock.now();
        let (token, lease_secs, renewable) = match self.inner.auth.login_step()? {
            LoginStep::Token(token) => {
                let lookup = self.lookup(&token).await?;
                (token, lookup.ttl, lookup.renewable)
            }
            LoginStep::Call { path, body } => {
                let call = Call {
                    method: Method::POST,
                    path: &path,
                    token: None,
                    body: Some(body),
                    retry: Retry::Idempotent,
                };
                let answer = self.inner.transport.send(call).await?;
                let login: LoginEnvelope = parse(&format!("vault login at {path}"), &answer)?;
                let auth = login.auth;
                (auth.client_token, auth.lease_duration, auth.renewable)
            }
        };
        let ttl = (lease_secs > 0).then(|| std::time::Duration::from_secs(lease_secs));
        let mut slot = self.state();
        let generation = slot.as_ref().map_or(0, |s| s.generation) + 1;
        let state = TokenState {
            token: Arc::new(token),
            obtained_at: now,
            ttl,
            renewable,
            login_ttl: ttl,
            generation,
        };
        *slot = Some(state.clone());
        Ok(state)
    }

    /// What Vault knows about a token; fails when the token is no longer valid.
    pub(crate) async fn lookup(&self, token: &SecretString) -> Result<Lookup, Error> {
        let call = Call {
            method: Method::GET,
            path: "auth/token/lookup-self",
            token: Some(token),
            body: None,
            retry: Retry::Idempotent,
        };
        let answer = self.inner.transport.send(call).await?;
        let lookup: LookupEnvelope = parse("vault token lookup-self", &answer)?;
        Ok(lookup.data)
    }

    fn state(&self) -> MutexGuard<'_, Option<TokenState>> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The background renewal started by [`Client::spawn_renewal`]; stops when dropped.
#[derive(Debug)]
pub struct RenewalTask(tokio::task::JoinHandle<()>);

impl Drop for RenewalTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Deserialize)]
struct LoginEnvelope {
    auth: LoginAuth,
}

#[derive(Deserialize)]
struct LoginAuth {
    client_token: SecretString,
    #[serde(default)]
    lease_duration: u64,
    #[serde(default)]
    renewable: bool,
}

#[derive(Deserialize)]
struct AuthEnvelope {
    auth: Grant,
}

#[derive(Deserialize)]
struct Grant {
    #[serde(default)]
    lease_duration: u64,
    #[serde(default)]
    renewable: bool,
}

#[derive(Deserialize)]
struct LookupEnvelope {
    data: Lookup,
}

#[derive(Deserialize)]
pub(crate) struct Lookup {
    #[serde(default)]
    ttl: u64,
    #[serde(default)]
    renewable: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_never_quote_the_answer() {
        let answer = br#"{"auth":{"client_token":{"x":1},"lease_duration":"hvs.secret"}}"#;
        let err = parse::<LoginEnvelope>("vault login", answer).err().unwrap();
        assert!(!err.to_string().contains("hvs.secret"), "{err}");
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
