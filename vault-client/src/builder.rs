//! Building a [`Client`]: the address, TLS trust, namespace, auth, timeouts and retries,
//! by hand or from the standard `VAULT_*` environment variables.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Auth;
use crate::backoff::Backoff;
use crate::client::Client;
use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::secret::SecretString;
use crate::tls::Trust;
use crate::transport::{Endpoint, TransportConfig};

/// The Vault CLI's default address.
pub const DEFAULT_ADDR: &str = "https://127.0.0.1:8200";

/// Settings for a [`Client`]. Start from [`Client::builder`] or [`ClientBuilder::from_env`].
pub struct ClientBuilder {
    addr: String,
    trust: Trust,
    tls_server_name: Option<String>,
    namespace: Option<String>,
    auth: Option<Auth>,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_attempts: u32,
    backoff: Backoff,
    clock: Arc<dyn Clock>,
}

impl ClientBuilder {
    /// A client of the server at `addr` (`https://vault.internal:8200`), trusting the web
    /// PKI roots, 5 s to connect, 30 s per request, 3 attempts.
    pub fn new(addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            trust: Trust::default(),
            tls_server_name: None,
            namespace: None,
            auth: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_attempts: 3,
            backoff: Backoff::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Reads the standard variables (each also under its `BAO_` name, which OpenBao's CLI
    /// uses): `VAULT_ADDR` (default [`DEFAULT_ADDR`]), `VAULT_CACERT` (a PEM bundle),
    /// `VAULT_CAPATH` (a directory of PEM files), `VAULT_TLS_SERVER_NAME`,
    /// `VAULT_NAMESPACE`, `VAULT_MAX_RETRIES` and `VAULT_TOKEN` (which sets
    /// [`Auth::token`]). `VAULT_SKIP_VERIFY` is refused: name the CA instead.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables looked up by `lookup`.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let var = |name: &str| {
            let bao = name.replacen("VAULT_", "BAO_", 1);
            lookup(name)
                .or_else(|| lookup(&bao))
                .filter(|value| !value.trim().is_empty())
        };
        if let Some(skip) = var("VAULT_SKIP_VERIFY")
            && !matches!(skip.trim(), "0" | "false" | "FALSE" | "False")
        {
            return Err(Error::config(
                "VAULT_SKIP_VERIFY is not supported: name the CA with VAULT_CACERT",
            ));
        }
        let mut builder = Self::new(var("VAULT_ADDR").unwrap_or_else(|| DEFAULT_ADDR.to_owned()));
        builder.trust.ca_cert = var("VAULT_CACERT").map(PathBuf::from);
        builder.trust.ca_path = var("VAULT_CAPATH").map(PathBuf::from);
        builder.tls_server_name = var("VAULT_TLS_SERVER_NAME");
        builder.namespace = var("VAULT_NAMESPACE");
        if let Some(retries) = var("VAULT_MAX_RETRIES") {
            let retries: u32 = retries.trim().parse().map_err(|_| {
                Error::config("VAULT_MAX_RETRIES must be a non-negative whole number")
            })?;
            builder.max_attempts = retries.saturating_add(1);
        }
        if let Some(token) = var("VAULT_TOKEN") {
            builder.auth = Some(Auth::token(SecretString::from(token.trim())));
        }
        Ok(builder)
    }

    /// How to log in. Required, unless `VAULT_TOKEN` set it.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Trusts only the CA certificates in this PEM file (`VAULT_CACERT`).
    pub fn ca_cert(mut self, pem_file: impl Into<PathBuf>) -> Self {
        self.trust.ca_cert = Some(pem_file.into());
        self
    }

    /// Trusts only the CA certificates in the PEM files of this directory (`VAULT_CAPATH`).
    pub fn ca_path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.trust.ca_path = Some(dir.into());
        self
    }

    /// The name to verify the server's certificate against, when it is not the address's
    /// host (`VAULT_TLS_SERVER_NAME`).
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.tls_server_name = Some(name.into());
        self
    }

    /// The Vault Enterprise / OpenBao namespace sent with every call (`VAULT_NAMESPACE`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The deadline of one attempt, from sending the request to the last body byte.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Attempts per call while Vault is unavailable (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The clock token renewal is timed by (a [`ManualClock`](crate::ManualClock) in tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the settings and builds the client. Does not contact Vault: the first call
    /// (or [`Client::login`]) logs in.
    pub fn build(self) -> Result<Client, Error> {
        let auth = self.auth.ok_or_else(|| {
            Error::config("no Vault authentication configured (set VAULT_TOKEN or an auth method)")
        })?;
        let transport = TransportConfig {
            endpoint: Endpoint::parse(&self.addr)?,
            trust: self.trust,
            tls_server_name: self.tls_server_name,
            namespace: self.namespace,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
        };
        Client::from_parts(transport, auth, self.clock)
    }
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("addr", &self.addr)
            .field("trust", &self.trust)
            .field("namespace", &self.namespace)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_standard_variables_configure_the_client() {
        let builder = ClientBuilder::from_env_with(env(&[
            ("VAULT_ADDR", "https://vault.internal:8200"),
            ("VAULT_CACERT", "/etc/vault/ca.pem"),
            ("VAULT_NAMESPACE", "payments"),
            ("VAULT_TOKEN", "hvs.abc\n"),
            ("VAULT_MAX_RETRIES", "4"),
        ]))
        .unwrap();
        assert_eq!(builder.addr, "https://vault.internal:8200");
        assert_eq!(
            builder.trust.ca_cert,
            Some(PathBuf::from("/etc/vault/ca.pem"))
        );
        assert_eq!(builder.namespace.as_deref(), Some("payments"));
        assert_eq!(builder.max_attempts, 5);
        assert!(builder.auth.is_some());
        let shown = format!("{builder:?}");
        assert!(!shown.contains("hvs.abc"), "{shown}");
    }

    #[test]
    fn openbao_names_work_and_vault_names_win() {
        let builder = ClientBuilder::from_env_with(env(&[
            ("BAO_ADDR", "http://127.0.0.1:8200"),
            ("BAO_TOKEN", "s.bao"),
            ("VAULT_NAMESPACE", "a"),
            ("BAO_NAMESPACE", "b"),
        ]))
        .unwrap();
        assert_eq!(builder.addr, "http://127.0.0.1:8200");
        assert!(builder.auth.is_some());
        assert_eq!(builder.namespace.as_deref(), Some("a"));
    }

    #[test]
    fn without_variables_the_cli_default_address_is_used_and_auth_is_required() {
        let builder = ClientBuilder::from_env_with(env(&[])).unwrap();
        assert_eq!(builder.addr, DEFAULT_ADDR);
        let err = builder.build().unwrap_err();
        assert!(
            err.is_config() && err.to_string().contains("VAULT_TOKEN"),
            "{err}"
        );
    }

    #[test]
    fn skipping_tls_verification_is_refused() {
        let err = ClientBuilder::from_env_with(env(&[("VAULT_SKIP_VERIFY", "true")]))
            .err()
            .unwrap();
        assert!(err.is_config());
        assert!(ClientBuilder::from_env_with(env(&[("VAULT_SKIP_VERIFY", "false")])).is_ok());
    }

    #[test]
    fn a_bad_retry_count_or_ca_file_is_a_config_error() {
        let err = ClientBuilder::from_env_with(env(&[("VAULT_MAX_RETRIES", "many")]))
            .err()
            .unwrap();
        assert!(err.is_config());
        let err = ClientBuilder::new("https://vault.internal")
            .auth(Auth::token("t".into()))
            .ca_cert("/nonexistent/ca.pem")
            .build()
            .err()
            .unwrap();
        assert!(
            err.is_config() && err.to_string().contains("/nonexistent/ca.pem"),
            "{err}"
        );
    }
}
