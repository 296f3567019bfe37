//! Builds the tokenizer a configuration names, resolving its secret references.

use outscope_config::{
    Config, LocalStore, StripeObject, TokenFormat, Tokenizer as TokenizerConfig,
};
use outscope_tokenizer::{
    CircuitOptions, Endpoint, KeyRing, LocalOptions, LocalVault, RedisStoreOptions, SecretString,
    StoreOptions, StripeOptions, StripeTokenizer, Tokenizer,
};

use crate::secrets::{self, Resolved, SecretError};

/// Why the tokenizer could not be built. Names references, never values.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("tokenizer: {0}")]
    Secret(#[from] SecretError),
    #[error("tokenizer: {0}")]
    Setup(String),
    #[error("tokenizer: {0} is not UTF-8 text")]
    NotText(String),
}

fn text(
    reference: &outscope_config::SecretRef,
    secrets: &Resolved,
) -> Result<zeroize::Zeroizing<String>, TokenizerError> {
    let secret = secrets.get(reference)?;
    let s = std::str::from_utf8(secret.expose())
        .map_err(|_| TokenizerError::NotText(secrets::describe(reference)))?;
    Ok(zeroize::Zeroizing::new(s.trim().to_owned()))
}

/// What a tokenizer is built from: a configuration alone (its `file://` and `env://`
/// references are read now; tools and benchmarks), or a configuration with the secrets
/// read for its runtime (the proxy, which reads every reference, Vault too, first).
pub enum Input<'a> {
    ReadNow(&'a Config),
    Read(&'a Config, &'a Resolved),
}

impl<'a> From<&'a Config> for Input<'a> {
    fn from(config: &'a Config) -> Self {
        Input::ReadNow(config)
    }
}

impl<'a> From<(&'a Config, &'a Resolved)> for Input<'a> {
    fn from((config, secrets): (&'a Config, &'a Resolved)) -> Self {
        Input::Read(config, secrets)
    }
}

/// The configured tokenizer, if any.
pub fn build<'a>(input: impl Into<Input<'a>>) -> Result<Option<Tokenizer>, TokenizerError> {
    match input.into() {
        Input::Read(config, secrets) => build_with(config, secrets),
        Input::ReadNow(config) => {
            let secrets = Resolved::read_local(secrets::tokenizer_refs(config))?;
            build_with(config, &secrets)
        }
    }
}

fn build_with(config: &Config, secrets: &Resolved) -> Result<Option<Tokenizer>, TokenizerError> {
    let setup = |e: outscope_tokenizer::SetupError| TokenizerError::Setup(e.to_string());
    let Some(tokenizer) = &config.tokenizer else {
        return Ok(None);
    };
    Ok(Some(match tokenizer {
        TokenizerConfig::Stripe(s) => {
            let key = SecretString::new(text(&s.secret_key, secrets)?.to_string());
            let mut options = StripeOptions::new(&s.api_base, key);
            options.endpoint = match s.create {
                StripeObject::PaymentMethod => Endpoint::PaymentMethods,
                StripeObject::Token => Endpoint::Tokens,
            };
            options.timeout = s.timeout;
            options.connect_timeout = s.connect_timeout;
            if let Some(ca) = &s.ca {
                options.extra_roots = crate::tls::load_chain(ca, secrets)
                    .map_err(|e| TokenizerError::Setup(e.to_string()))?;
            }
            options.retry.max_retries = s.max_retries;
            options.circuit = CircuitOptions {
                failure_threshold: s.breaker_failures.max(1),
                cool_down: s.breaker_cool_down,
            };
            Tokenizer::Stripe(StripeTokenizer::new(options).map_err(setup)?)
        }
        TokenizerConfig::Local(l) => {
            let fingerprint = text(&l.fingerprint_key, secrets)?;
            let keys = match &l.keys {
                Some(keys) => KeyRing::parse_separate(&text(keys, secrets)?, &fingerprint),
                None => KeyRing::fingerprint_only(&fingerprint),
            }
            .map_err(setup)?;
            let envelope = match &l.envelope {
                None => None,
                Some(_) => Some(secrets.data_keys().cloned().ok_or_else(|| {
                    TokenizerError::Setup(
                        "transit_key: no Vault client for data keys (check [vault])".into(),
                    )
                })?),
            };
            let store = match l.store {
                LocalStore::Memory => StoreOptions::Memory,
                LocalStore::Redis => {
                    let redis = config.redis.as_ref().ok_or_else(|| {
                        TokenizerError::Setup("store = \"redis\" needs [redis]".into())
                    })?;
                    let mut options =
                        RedisStoreOptions::new(&redis.url, &format!("{}.vault", redis.key_prefix));
                    options.username = redis.username.clone();
                    options.password = match &redis.password {
                        Some(r) => Some(SecretString::new(text(r, secrets)?.to_string())),
                        None => None,
                    };
                    options.timeout = redis.timeout;
                    StoreOptions::Redis(options)
                }
            };
            let format = match l.token_format {
                TokenFormat::Random => outscope_tokenizer::TokenFormat::Random,
                TokenFormat::Alias => outscope_tokenizer::TokenFormat::Alias,
            };
            Tokenizer::Local(
                LocalVault::new(LocalOptions {
                    keys,
                    format,
                    store,
                    envelope,
                })
                .map_err(setup)?,
            )
        }
    }))
}
