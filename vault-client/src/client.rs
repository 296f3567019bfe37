//! The client: holds the token, logs in and renews, and makes authenticated calls.

use std::sync::{Arc, Mutex, MutexGuard};

use http::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::auth::{Auth, LoginStep, to_secret_json};
use crate::builder::ClientBuilder;
use crate::clock::Clock;
use crate::error::{Error, Kind};
use crate::secret::SecretString;
use crate::token::{Action, Renewal, TokenInfo, TokenState, due};
use crate::transport::{Call, Retry, Transport, TransportConfig};

/// A Vault / OpenBao client. Cheap to clone; clones share the connection pool and token.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    auth: Auth,
    clock: Arc<dyn Clock>,
    state: Mutex<Option<TokenState>>,
    /// Held while logging in or renewing, so concurrent callers do it once.
    token_change: tokio::sync::Mutex<()>,
}

impl Client {
    /// Settings for a client of the server at `addr`.
    pub fn builder(addr: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(addr)
    }

    /// A client configured by the standard environment variables; see
    /// [`ClientBuilder::from_env`]. Needs `VAULT_TOKEN` (or `BAO_TOKEN`); for another auth
    /// method use `ClientBuilder::from_env()?.auth(..).build()`.
    pub fn from_env() -> Result<Self, Error> {
        ClientBuilder::from_env()?.build()
    }

    pub(crate) fn from_parts(
        transport: TransportConfig,
        auth: Auth,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        Ok(Self {
            inner: Arc::new(Inner {
                transport: Transport::new(transport)?,
                auth,
                clock,
                state: Mutex::new(None),
                token_change: tokio::sync::Mutex::new(()),
            }),
        })
    }

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

    /// Reads any API path (`sys/mounts`, `auth/approle/role/x/role-id`) as JSON. For setup
    /// and tooling: the answer is not held in zeroizing memory, so read secrets with the
    /// typed calls ([`kv2`](Self::kv2), [`transit`](Self::transit)).
    pub async fn read_raw(&self, path: &str) -> Result<serde_json::Value, Error> {
        self.json(Method::GET, &checked_path(path)?, None, Retry::Idempotent)
            .await
    }

    /// Writes JSON to any API path (enabling an engine, creating a role); the answer as
    /// JSON (`null` for 204). Same caveat as [`read_raw`](Self::read_raw). Retried only
    /// when Vault surely did not act on it.
    pub async fn write_raw(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, Error> {
        let body = to_secret_json(body)?;
        self.json(
            Method::POST,
            &checked_path(path)?,
            Some(body),
            Retry::UnlessActedOn,
        )
        .await
    }

    /// Deletes an API path.
    pub async fn delete_raw(&self, path: &str) -> Result<(), Error> {
        self.call(
            Method::DELETE,
            &checked_path(path)?,
            None,
            Retry::Idempotent,
        )
        .await
        .map(drop)
    }

    /// An authenticated call returning JSON; an empty (204) body reads as `null`.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Zeroizing<Vec<u8>>>,
        retry: Retry,
    ) -> Result<T, Error> {
        let label = format!("vault {method} /v1/{path}");
        let answer = self.call(method, path, body, retry).await?;
        parse(&label, &answer)
    }

    /// An authenticated call. A refused token is replaced once (by logging in again) when
    /// the auth method allows it.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Zeroizing<Vec<u8>>>,
        retry: Retry,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let (token, generation) = self.token().await?;
        let call = Call {
            method: method.clone(),
            path,
            token: Some(&token),
            body: body.clone(),
            retry,
        };
        match self.inner.transport.send(call).await {
            Err(err) if err.is_permission_denied() && self.inner.auth.can_log_in_again() => {
                if self.lookup(&token).await.is_ok() {
                    // The token is fine; its policy does not allow this call. A new login
                    // would get the same policy (and leave one more token behind).
                    return Err(err);
                }
                let token = self.replace_token(generation).await?;
                let call = Call {
                    method,
                    path,
                    token: Some(&token),
                    body,
                    retry,
                };
                self.inner.transport.send(call).await
            }
            other => other,
        }
    }

    /// The token to call with, logging in first when there is none or it expired.
    async fn token(&self) -> Result<(Arc<SecretString>, u64), Error> {
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
    async fn replace_token(&self, refused: u64) -> Result<Arc<SecretString>, Error> {
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
    async fn lookup(&self, token: &SecretString) -> Result<Lookup, Error> {
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

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("auth", &self.inner.auth)
            .field("token", &self.token_info())
            .finish_non_exhaustive()
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

/// Parses a 2xx answer. The message names where the shape broke, never the content (serde's
/// own messages quote the offending value, which may be a secret).
pub(crate) fn parse<T: DeserializeOwned>(label: &str, answer: &[u8]) -> Result<T, Error> {
    let answer = if answer.is_empty() {
        &b"null"[..]
    } else {
        answer
    };
    serde_json::from_slice(answer).map_err(|e| {
        Error::protocol(format!(
            "{label}: unexpected answer ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// Percent-encodes an API path, refusing empty, `.` and `..` segments (which Vault's
/// router would resolve into another mount).
pub(crate) fn checked_path(path: &str) -> Result<String, Error> {
    let path = path.trim_matches('/');
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(Error::config(format!(
                "API path {path:?}: empty, '.' or '..' segment"
            )));
        }
        if i > 0 {
            out.push('/');
        }
        for byte in segment.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(char::from(byte));
                }
                _ => out.push_str(&format!("%{byte:02X}")),
            }
        }
    }
    Ok(out)
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
struct Lookup {
    #[serde(default)]
    ttl: u64,
    #[serde(default)]
    renewable: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_per_segment_and_cannot_climb_out_of_a_mount() {
        assert_eq!(
            checked_path("/secret/data/app/db/").unwrap(),
            "secret/data/app/db"
        );
        assert_eq!(
            checked_path("kv/data/a b/ü").unwrap(),
            "kv/data/a%20b/%C3%BC"
        );
        assert_eq!(
            checked_path("kv/data/x?version=1").unwrap(),
            "kv/data/x%3Fversion%3D1"
        );
        for bad in ["", "kv//x", "kv/data/../../sys/seal", "kv/./x"] {
            assert!(checked_path(bad).unwrap_err().is_config(), "{bad}");
        }
    }

    #[test]
    fn parse_errors_never_quote_the_answer() {
        let answer = br#"{"auth":{"client_token":{"x":1},"lease_duration":"hvs.secret"}}"#;
        let err = parse::<LoginEnvelope>("vault login", answer).err().unwrap();
        assert!(!err.to_string().contains("hvs.secret"), "{err}");
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
