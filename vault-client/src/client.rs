//! The client: authenticated calls, raw API access, path encoding and answer parsing. The
//! token it holds lives in [`crate::session`].

use std::sync::{Arc, Mutex};

use http::Method;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::auth::{Auth, to_secret_json};
use crate::builder::ClientBuilder;
use crate::clock::Clock;
use crate::error::Error;
use crate::token::TokenState;
use crate::transport::{Call, Retry, Transport, TransportConfig};

/// A Vault / OpenBao client. Cheap to clone; clones share the connection pool and token.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) transport: Transport,
    pub(crate) auth: Auth,
    pub(crate) clock: Arc<dyn Clock>,
    /// The current token; see [`crate::session`] for its life.
    pub(crate) state: Mutex<Option<TokenState>>,
    /// Held while logging in or renewing, so concurrent callers do it once.
    pub(crate) token_change: tokio::sync::Mutex<()>,
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
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("auth", &self.inner.auth)
            .field("token", &self.token_info())
            .finish_non_exhaustive()
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
}
