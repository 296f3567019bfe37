//! outscope's own vault: random tokens, the PAN sealed with AES-256-GCM (token and key id
//! as associated data), same card to same token through a keyed HMAC index. The CVC, the
//! expiry and the cardholder name are never stored.
//!
//! Two ways to hold the encryption keys: a static key ring ([`KeyRing`], record v1), or
//! envelope encryption with data keys from Vault transit ([`DataKeys`], record v2). With
//! both, new records are sealed by envelope and the key ring still opens older ones;
//! [`LocalVault::rewrap_page`] moves them (and records under retired transit key
//! versions) to the current data key.

mod envelope;
mod keys;
mod record;
mod rewrap;
mod store;
mod token;

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::card::{CardInput, Pan};
use crate::error::{RejectCode, SetupError, TokenizeError, UnavailableCause};
use crate::result::TokenResult;
pub use envelope::{CurrentKey, DataKeys, KeyError, KeyStats, TransitVersions};
use keys::DecryptError;
pub use keys::KeyRing;
use record::Record;
pub use rewrap::{RewrapError, RewrapPage};
pub use store::{MEMORY_MAX_RECORDS, RedisStoreOptions, StoreOptions};
pub use token::TokenFormat;

/// Attempts to find an unused token (only aliases of short cards can plausibly collide).
const TOKEN_ATTEMPTS: usize = 16;

/// Settings for [`LocalVault::new`].
#[derive(Debug)]
pub struct LocalOptions {
    /// The fingerprint key, and the static encryption keys (if any).
    pub keys: KeyRing,
    pub format: TokenFormat,
    pub store: StoreOptions,
    /// Envelope encryption: new records are sealed with these data keys instead of the
    /// key ring's first key.
    pub envelope: Option<Arc<DataKeys>>,
}

impl LocalOptions {
    /// Random `tok_` tokens in memory, sealed with the key ring.
    pub fn new(keys: KeyRing) -> LocalOptions {
        LocalOptions {
            keys,
            format: TokenFormat::Random,
            store: StoreOptions::Memory,
            envelope: None,
        }
    }
}

/// The local vault. Cheap to clone; clones share keys and store.
#[derive(Clone)]
pub struct LocalVault {
    inner: Arc<Inner>,
}

struct Inner {
    keys: KeyRing,
    envelope: Option<Arc<DataKeys>>,
    format: TokenFormat,
    store: store::Store,
}

impl LocalVault {
    /// A vault on a memory store of `limit` records (tests of a full store).
    #[cfg(test)]
    fn with_memory_limit(keys: KeyRing, limit: usize) -> LocalVault {
        LocalVault {
            inner: Arc::new(Inner {
                keys,
                envelope: None,
                format: TokenFormat::Random,
                store: store::Store::Memory(store::MemoryStore::with_limit(limit)),
            }),
        }
    }

    /// Builds the vault; a Redis store connects on first use (so it starts while Redis
    /// is down, and each call fails closed until it is back).
    pub fn new(options: LocalOptions) -> Result<LocalVault, SetupError> {
        Ok(LocalVault {
            inner: Arc::new(Inner {
                keys: options.keys,
                envelope: options.envelope,
                format: options.format,
                store: store::Store::new(options.store)?,
            }),
        })
    }

    /// Whether the store answers, for readiness: `Unavailable` while Redis is down.
    pub async fn ping(&self) -> Result<(), TokenizeError> {
        self.inner.store.ping().await
    }

    /// The token for this card: the one it already has in this store, or a new one.
    pub async fn tokenize(&self, card: CardInput) -> Result<TokenResult, TokenizeError> {
        card.validate()?;
        let pan = card.number.expose();
        let index = hex(&self.inner.keys.mac(b"outscope-index-v1\0", pan));
        let token = match self.inner.store.token_for(&index).await? {
            Some(token) => token,
            None => self.create(&card.number, &index).await?,
        };
        Ok(TokenResult {
            token,
            last4: card.number.last4(),
            brand: brand_of(&card.number).to_owned(),
            exp_month: card.exp_month,
            exp_year: card.exp_year_full(),
            fingerprint: Some(self.fingerprint(&card.number)),
        })
    }

    /// The card number behind `token` (tooling and tests; the proxy never calls this).
    pub async fn detokenize(&self, token: &str) -> Result<Pan, TokenizeError> {
        let unknown = TokenizeError::Rejected {
            code: RejectCode::UnknownToken,
        };
        if !token::plausible(token) {
            return Err(unknown);
        }
        let record = self.inner.store.record(token).await?.ok_or(unknown)?;
        let plain = self.open(token, &record).await?;
        Pan::parse(&plain).map_err(|_| TokenizeError::unavailable(UnavailableCause::StoreCorrupt))
    }

    /// The envelope data keys, when the vault uses them (rotation and metrics).
    pub fn data_keys(&self) -> Option<&Arc<DataKeys>> {
        self.inner.envelope.as_ref()
    }

    /// Whether new cards can be sealed now: always with a static key ring; with envelope
    /// encryption, once a data key is in memory and its transit version is not retired.
    pub fn can_seal(&self) -> bool {
        self.inner
            .envelope
            .as_ref()
            .is_none_or(|keys| keys.can_seal())
    }

    /// The plaintext of a stored record (v1: static key ring; v2: its data key, unwrapped
    /// through transit unless in memory).
    async fn open(&self, token: &str, stored: &[u8]) -> Result<Zeroizing<Vec<u8>>, TokenizeError> {
        let corrupt = || TokenizeError::unavailable(UnavailableCause::StoreCorrupt);
        match record::decode(stored).ok_or_else(corrupt)? {
            Record::Static { key_id, sealed } => self
                .inner
                .keys
                .decrypt(key_id, sealed, token.as_bytes())
                .map_err(|e| match e {
                    DecryptError::UnknownKey => TokenizeError::Misconfigured(
                        "no key in the key file has this token's key id",
                    ),
                    DecryptError::Corrupt => corrupt(),
                }),
            Record::Envelope {
                key_id,
                wrapped,
                sealed,
            } => {
                let keys = self.inner.envelope.as_ref().ok_or(TokenizeError::Misconfigured(
                    "this token was sealed with a Vault transit data key; set tokenizer.transit_key",
                ))?;
                let key = keys.key_for(key_id, wrapped).await?;
                key.open(sealed, token.as_bytes()).ok_or_else(corrupt)
            }
        }
    }

    /// Seals the PAN under a fresh token, then links the index to it. When another
    /// instance linked the same card first, our record is removed and its token wins.
    async fn create(&self, pan: &Pan, index: &str) -> Result<String, TokenizeError> {
        let store = &self.inner.store;
        for _ in 0..TOKEN_ATTEMPTS {
            let last4 = pan.last4();
            let token = token::generate(self.inner.format, pan.len(), last4.as_bytes());
            let record = self.seal(pan.expose(), &token)?;
            if !store.insert_record(&token, &record).await? {
                continue;
            }
            let winner = store.link(index, &token).await?;
            if winner != token {
                store.remove_record(&token).await?;
            }
            return Ok(winner);
        }
        Err(TokenizeError::unavailable(UnavailableCause::StoreCorrupt))
    }

    /// The record for `plaintext` under `token`: with envelope encryption, sealed by the
    /// current data key (none in memory, or its transit version retired: `Unavailable`,
    /// cause `NoDataKey`); otherwise by the key ring's first key.
    fn seal(&self, plaintext: &[u8], token: &str) -> Result<Vec<u8>, TokenizeError> {
        let failed = || TokenizeError::Misconfigured("vault encryption failed");
        match &self.inner.envelope {
            Some(keys) => {
                let key = keys
                    .sealing()
                    .ok_or(TokenizeError::unavailable(UnavailableCause::NoDataKey))?;
                let sealed = key.seal(plaintext, token.as_bytes()).ok_or_else(failed)?;
                record::encode_envelope(&key.id, &key.wrapped, &sealed).ok_or_else(failed)
            }
            None => {
                let (key_id, sealed) = self
                    .inner
                    .keys
                    .encrypt(plaintext, token.as_bytes())
                    .ok_or_else(failed)?;
                record::encode_static(key_id, &sealed).ok_or_else(failed)
            }
        }
    }

    /// 16 hex characters of a keyed HMAC: the same card gives the same value in every
    /// store sharing the fingerprint key; unusable without that key.
    fn fingerprint(&self, pan: &Pan) -> String {
        let mac = self
            .inner
            .keys
            .mac(b"outscope-fingerprint-v1\0", pan.expose());
        hex(&mac[..8])
    }
}

impl std::fmt::Debug for LocalVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalVault")
            .field("keys", &self.inner.keys)
            .field("envelope", &self.inner.envelope)
            .field("format", &self.inner.format)
            .finish_non_exhaustive()
    }
}

/// The brand from the scanner's IIN table (the one place that decides what a PAN is).
fn brand_of(pan: &Pan) -> &'static str {
    outscope_scanner::card_brand(pan.expose()).map_or("unknown", |b| b.name())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeyRing {
        let text = format!(
            "{}\n{}\n",
            KeyRing::generate_line("fingerprint").as_str(),
            KeyRing::generate_line("k1").as_str()
        );
        KeyRing::parse(&text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn card(number: &str) -> CardInput {
        match Pan::parse(number.as_bytes()) {
            Ok(pan) => CardInput::new(pan),
            Err(e) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn a_full_memory_store_fails_closed_for_new_cards_only() {
        let vault = LocalVault::with_memory_limit(keys(), 1);
        let known = vault.tokenize(card("4242424242424242")).await;
        assert!(known.is_ok());
        let new = vault.tokenize(card("5555555555554444")).await;
        assert_eq!(
            new.err(),
            Some(TokenizeError::unavailable(UnavailableCause::StoreFull))
        );
        assert!(vault.tokenize(card("4242424242424242")).await.is_ok());
    }
}
