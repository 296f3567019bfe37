//! The Vault client `[vault]` describes, and its token renewal.

use std::time::Duration;

use outscope_config::{SecretRef, Vault, VaultAuth};
use vault_client::{Auth, Client, ClientBuilder, RenewalTask, SecretString};

/// Longest TCP + TLS setup towards Vault (within `timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client for one `[vault]` section; its token is renewed in the background until the
/// session is dropped.
pub(crate) struct VaultSession {
    pub(crate) settings: Vault,
    pub(crate) client: Client,
    _renewal: RenewalTask,
}

impl VaultSession {
    /// Builds the client (no call to Vault yet; the first read logs in). Errors say what
    /// is wrong with the settings, never a credential.
    pub(crate) fn start(settings: &Vault) -> Result<Self, String> {
        let client = client(settings)?;
        let renewal = client.spawn_renewal();
        Ok(Self {
            settings: settings.clone(),
            client,
            _renewal: renewal,
        })
    }
}

/// The standard `VAULT_*` / `BAO_*` variables are the defaults (address, CA, namespace,
/// retries); the `[vault]` keys win over them.
fn client(settings: &Vault) -> Result<Client, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let address = settings
        .address
        .clone()
        .or_else(|| env("VAULT_ADDR"))
        .or_else(|| env("BAO_ADDR"))
        .ok_or("no address: set vault.address or VAULT_ADDR (BAO_ADDR)")?;
    check_address(&address)?;
    let lookup = |name: &str| {
        if name == "VAULT_ADDR" {
            Some(address.clone())
        } else {
            env(name)
        }
    };
    let mut builder = ClientBuilder::from_env_with(lookup)
        .map_err(|e| e.to_string())?
        .request_timeout(settings.timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(settings.timeout))
        .auth(auth(&settings.auth)?);
    if let Some(namespace) = &settings.namespace {
        builder = builder.namespace(namespace);
    }
    if let Some(ca) = &settings.ca {
        builder = builder.ca_cert(ca);
    }
    builder.build().map_err(|e| e.to_string())
}

fn auth(auth: &VaultAuth) -> Result<Auth, String> {
    Ok(match auth {
        VaultAuth::Token {
            token: SecretRef::Env(name),
        } => {
            let value = std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("vault.auth.token: env://{name} is not set"))?;
            Auth::token(SecretString::from(value.trim()))
        }
        VaultAuth::Token {
            token: SecretRef::File(path),
        } => Auth::token_file(path),
        VaultAuth::Token { .. } => {
            return Err("vault.auth.token must be an env:// or file:// reference".into());
        }
        VaultAuth::AppRole {
            mount,
            role_id,
            secret_id,
        } => Auth::app_role(role_id, secret_id).at_mount(mount),
        VaultAuth::Kubernetes { mount, role, jwt } => Auth::kubernetes(role, jwt).at_mount(mount),
    })
}

/// `https://`, or `http://` only to a loopback host: a token is never sent in clear text
/// over a network (the rule `vault.address` follows, applied to `VAULT_ADDR` too).
fn check_address(address: &str) -> Result<(), String> {
    let uri: http::Uri = address
        .parse()
        .map_err(|_| "the Vault address is not a URL".to_owned())?;
    let host = uri.host().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if loopback => Ok(()),
        _ => Err("the Vault address must be https:// (http:// only to a loopback host)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::check_address;

    #[test]
    fn addresses_from_the_environment_follow_the_config_rule() {
        assert!(check_address("https://vault.internal:8200").is_ok());
        assert!(check_address("http://127.0.0.1:8200").is_ok());
        assert!(check_address("http://[::1]:8200").is_ok());
        assert!(check_address("http://vault.internal:8200").is_err());
        assert!(check_address("vault.internal:8200").is_err());
    }
}
