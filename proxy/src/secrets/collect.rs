//! Every secret reference a configuration holds, with the key path it was written at.
//!
//! `[vault]`'s own credentials are not listed: the Vault client reads those itself (again
//! at every login), and they can never be `vault://` references.

use outscope_config::{ClientAuth, Config, LocalStore, SecretRef, Tokenizer};

/// One reference and where the configuration holds it (`listeners[0].tls.certificates[1].key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub key_path: String,
    pub reference: SecretRef,
}

/// Every reference of `config`, in file order. The same reference may appear under
/// several key paths; it is read once.
pub fn collect(config: &Config) -> Vec<Wanted> {
    let mut out = Vec::new();
    let mut add = |key_path: String, reference: &SecretRef| {
        out.push(Wanted {
            key_path,
            reference: reference.clone(),
        });
    };
    for (i, l) in config.listeners.iter().enumerate() {
        for (j, c) in l.tls.certificates.iter().enumerate() {
            let at = format!("listeners[{i}].tls.certificates[{j}]");
            add(format!("{at}.cert"), &c.cert);
            add(format!("{at}.key"), &c.key);
        }
        if let ClientAuth::Optional { ca } | ClientAuth::Required { ca } = &l.tls.client_auth {
            add(format!("listeners[{i}].tls.client_ca"), ca);
        }
    }
    if let Some(password) = config.redis.as_ref().and_then(|r| r.password.as_ref()) {
        add("redis.password".to_owned(), password);
    }
    if let Some(key_secret) = config.redis.as_ref().and_then(|r| r.key_secret.as_ref()) {
        add("redis.key_secret".to_owned(), key_secret);
    }
    for (i, u) in config.upstreams.iter().enumerate() {
        let Some(tls) = &u.tls else { continue };
        if let Some(ca) = &tls.ca {
            add(format!("upstreams[{i}].tls.ca"), ca);
        }
        if let Some(cc) = &tls.client_cert {
            add(format!("upstreams[{i}].tls.client_cert"), &cc.cert);
            add(format!("upstreams[{i}].tls.client_key"), &cc.key);
        }
    }
    match &config.tokenizer {
        Some(Tokenizer::Stripe(s)) => {
            add("tokenizer.secret_key".to_owned(), &s.secret_key);
            if let Some(ca) = &s.ca {
                add("tokenizer.ca".to_owned(), ca);
            }
        }
        Some(Tokenizer::Local(l)) => {
            if let Some(keys) = &l.keys {
                add("tokenizer.keys".to_owned(), keys);
            }
            add("tokenizer.fingerprint_key".to_owned(), &l.fingerprint_key);
        }
        None => {}
    }
    out
}

/// The references the tokenizer is built from (its own, and the Redis password when the
/// local vault stores through Redis): when one of their values changes, the tokenizer is
/// built again.
pub fn tokenizer_refs(config: &Config) -> Vec<&SecretRef> {
    match &config.tokenizer {
        Some(Tokenizer::Stripe(s)) => std::iter::once(&s.secret_key).chain(&s.ca).collect(),
        Some(Tokenizer::Local(l)) => {
            let mut refs: Vec<&SecretRef> = l.keys.iter().collect();
            refs.push(&l.fingerprint_key);
            if l.store == LocalStore::Redis
                && let Some(password) = config.redis.as_ref().and_then(|r| r.password.as_ref())
            {
                refs.push(password);
            }
            refs
        }
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const CONFIG: &str = r#"
[[listeners]]
name = "public"
address = "127.0.0.1:8443"
[listeners.tls]
client_auth = "optional"
client_ca = "file:///etc/outscope/ca.pem"
[[listeners.tls.certificates]]
cert = "vault://secret/outscope/tls#cert"
key = "vault://secret/outscope/tls#key"

[redis]
url = "redis://127.0.0.1:6379/0"
password = "env://REDIS_PASSWORD"

[[upstreams]]
name = "api"
url = "https://127.0.0.1:9443"
[upstreams.tls]
client_cert = "file:///etc/outscope/client.crt"
client_key = "vault://secret/outscope/tls#key"

[[routes]]
name = "all"
path_prefix = "/"
upstream = "api"

[tokenizer]
kind = "stripe"
secret_key = "vault://secret/outscope/stripe#secret_key"

[vault]
[vault.auth]
method = "token"
token = "env://VAULT_TOKEN"
"#;

    #[test]
    fn every_reference_is_collected_with_its_key_path() {
        let config = outscope_config::parse(CONFIG, Path::new("/etc/outscope")).unwrap();
        let found: Vec<(String, String)> = collect(&config)
            .into_iter()
            .map(|w| (w.key_path, w.reference.to_string()))
            .collect();
        let expected = [
            (
                "listeners[0].tls.certificates[0].cert",
                "vault://secret/outscope/tls#cert",
            ),
            (
                "listeners[0].tls.certificates[0].key",
                "vault://secret/outscope/tls#key",
            ),
            ("listeners[0].tls.client_ca", "file:///etc/outscope/ca.pem"),
            ("redis.password", "env://REDIS_PASSWORD"),
            (
                "upstreams[0].tls.client_cert",
                "file:///etc/outscope/client.crt",
            ),
            (
                "upstreams[0].tls.client_key",
                "vault://secret/outscope/tls#key",
            ),
            (
                "tokenizer.secret_key",
                "vault://secret/outscope/stripe#secret_key",
            ),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        assert_eq!(found, expected);
        assert_eq!(
            tokenizer_refs(&config)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["vault://secret/outscope/stripe#secret_key"]
        );
    }
}
