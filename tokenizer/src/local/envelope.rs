//! Envelope encryption for the local vault: data keys made by a Vault / OpenBao transit key.
//!
//! ```text
//! transit key (key-encrypting key, versioned, never leaves Vault)
//!   │ datakey/plaintext: a fresh 256-bit data key, plaintext + wrapped (`vault:vN:...`)
//!   ▼
//! data key: plaintext in memory only (zeroized), wrapped copy in every record it sealed
//!   │ AES-256-GCM, token and key id as associated data
//!   ▼
//! PAN ciphertext (Redis or memory)
//! ```
//!
//! One data key seals new cards until [`DataKeys::rotate`] fetches the next one (the proxy
//! calls it at start, every `data_key_rotation`, on SIGHUP, and when
//! [`DataKeys::check_versions`] finds the transit key rotated). A failed rotation keeps the
//! current key, unless the transit key's `min_decryption_version` has retired the version
//! that wraps it: then nothing is sealed (new cards fail closed) until a new key is fetched,
//! because a record sealed under it could never be opened by another instance. A record
//! names its data key by id and carries it wrapped: a record whose key is not in memory is
//! opened after one transit `decrypt` of the wrapped key, which is then kept in a small
//! bounded cache (wiped when evicted).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Instant, SystemTime};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use vault_client::{Client, Transit};
use zeroize::Zeroizing;

use super::keys::NONCE_LEN;
use crate::error::{TokenizeError, UnavailableCause};

/// Unwrapped data keys kept in memory besides the current one (each is 32 bytes; records
/// under older keys are rare once `outscope vault rewrap` has run).
const UNWRAPPED_KEYS: usize = 64;
const DATA_KEY_BITS: u32 = 256;

/// The data keys of one transit key: the current one (seals new records) and a bounded
/// cache of unwrapped older ones. Shared by every clone of a vault built with it, and kept
/// by the proxy across reloads while the transit settings stay the same.
pub struct DataKeys {
    transit: Transit,
    mount: String,
    key: String,
    current: RwLock<Option<Arc<DataKey>>>,
    cache: Mutex<VecDeque<Arc<DataKey>>>,
    /// One fetch at a time (timer and SIGHUP may coincide).
    rotating: tokio::sync::Mutex<()>,
    /// The transit key's versions as last read ([`check_versions`](Self::check_versions),
    /// or the version of a key just fetched); 0 until known.
    latest_version: AtomicU64,
    min_decryption_version: AtomicU64,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    rotations_ok: AtomicU64,
    rotations_failed: AtomicU64,
    unwraps_ok: AtomicU64,
    unwraps_failed: AtomicU64,
    version_checks_ok: AtomicU64,
    version_checks_failed: AtomicU64,
}

/// Counters and the current key, for metrics and logs. Never key material.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyStats {
    pub rotations_ok: u64,
    pub rotations_failed: u64,
    /// Transit `decrypt` calls for wrapped data keys not in memory.
    pub unwraps_ok: u64,
    pub unwraps_failed: u64,
    /// Reads of the transit key's versions (`keys/<key>`).
    pub version_checks_ok: u64,
    pub version_checks_failed: u64,
    /// The transit key's latest version as last seen (0: not known yet).
    pub latest_version: u64,
    /// The transit key's `min_decryption_version` as last seen (0: not known yet).
    pub min_decryption_version: u64,
    pub current: Option<CurrentKey>,
}

impl KeyStats {
    /// Whether the current data key is wrapped by an older transit key version than the
    /// latest one seen (or there is none): time to fetch a new one.
    pub fn behind_transit(&self) -> bool {
        self.current
            .as_ref()
            .is_none_or(|k| k.version < self.latest_version)
    }

    /// Whether there is a current data key and it is behind the transit key (or retired).
    pub fn has_key_behind(&self) -> bool {
        self.current.is_some() && (self.behind_transit() || self.retired())
    }

    /// Whether the current data key's transit version is retired (below
    /// `min_decryption_version`): it must not seal anything more.
    pub fn retired(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|k| k.version < self.min_decryption_version)
    }
}

/// A transit key's versions, from `keys/<key>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitVersions {
    pub latest: u64,
    /// Ciphertexts under older versions can no longer be decrypted.
    pub min_decryption: u64,
}

/// The data key that seals new records: its id, the transit key version that wrapped it,
/// and when it was fetched (wall clock for metrics, monotonic clock for schedules). Safe
/// to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentKey {
    pub id: String,
    pub version: u64,
    pub created: SystemTime,
    pub fetched: Instant,
}

/// Why a data key could not be fetched. Our own text; never Vault's answer body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("Vault transit is unavailable")]
    Unavailable,
    #[error("the transit key does not exist")]
    NotFound,
    #[error("Vault denied the transit request (policy or login)")]
    PermissionDenied,
    #[error("Vault refused the transit request")]
    Refused,
    #[error("Vault transit answered with a data key that is not 256 bits")]
    BadKey,
}

impl KeyError {
    fn from_vault(error: &vault_client::Error) -> KeyError {
        if error.is_unavailable() {
            KeyError::Unavailable
        } else if error.is_not_found() {
            KeyError::NotFound
        } else if error.is_permission_denied() {
            KeyError::PermissionDenied
        } else {
            KeyError::Refused
        }
    }

    /// A stable lowercase name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyError::Unavailable => "unavailable",
            KeyError::NotFound => "not_found",
            KeyError::PermissionDenied => "permission_denied",
            KeyError::Refused => "refused",
            KeyError::BadKey => "bad_key",
        }
    }
}

impl DataKeys {
    /// Data keys from the transit key `key` mounted at `mount`, through `client`. Nothing
    /// is fetched yet: call [`rotate`](Self::rotate).
    pub fn new(client: &Client, mount: &str, key: &str) -> DataKeys {
        DataKeys {
            transit: client.transit(mount),
            mount: mount.trim_matches('/').to_owned(),
            key: key.to_owned(),
            current: RwLock::new(None),
            cache: Mutex::new(VecDeque::new()),
            rotating: tokio::sync::Mutex::new(()),
            latest_version: AtomicU64::new(0),
            min_decryption_version: AtomicU64::new(0),
            counters: Counters::default(),
        }
    }

    /// `mount/key`, for logs.
    pub fn transit_key(&self) -> String {
        format!("{}/{}", self.mount, self.key)
    }

    /// Fetches a new data key (`datakey/plaintext`) and makes it current; the previous one
    /// stays in memory to open the records it sealed. On failure the current key (if any)
    /// stays in use. Counted either way.
    pub async fn rotate(&self) -> Result<CurrentKey, KeyError> {
        let _one = self.rotating.lock().await;
        match self.fetch().await {
            Ok(key) => {
                self.counters.rotations_ok.fetch_add(1, Ordering::Relaxed);
                self.latest_version
                    .fetch_max(key.version, Ordering::Relaxed);
                let info = key.info();
                let previous = self
                    .current
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .replace(key);
                if let Some(previous) = previous {
                    self.remember(previous);
                }
                Ok(info)
            }
            Err(e) => {
                self.counters
                    .rotations_failed
                    .fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Reads the transit key's versions (`read` on `keys/<key>`) and remembers them: a
    /// current data key wrapped by a version below `min_decryption_version` stops sealing
    /// at once ([`can_seal`](Self::can_seal) turns false), and one below the latest version
    /// shows in [`KeyStats::behind_transit`] (the caller then rotates). Counted either way.
    pub async fn check_versions(&self) -> Result<TransitVersions, KeyError> {
        match self.transit.key_info(&self.key).await {
            Ok(info) => {
                self.counters
                    .version_checks_ok
                    .fetch_add(1, Ordering::Relaxed);
                // Versions only grow; `fetch_max` keeps a newer one a concurrent fetch saw.
                self.latest_version
                    .fetch_max(info.latest_version, Ordering::Relaxed);
                self.min_decryption_version
                    .fetch_max(info.min_decryption_version, Ordering::Relaxed);
                Ok(TransitVersions {
                    latest: info.latest_version,
                    min_decryption: info.min_decryption_version,
                })
            }
            Err(e) => {
                self.counters
                    .version_checks_failed
                    .fetch_add(1, Ordering::Relaxed);
                Err(KeyError::from_vault(&e))
            }
        }
    }

    /// The transit key's latest version (what `outscope vault rewrap` moves records to).
    pub async fn latest_version(&self) -> Result<u64, KeyError> {
        self.check_versions().await.map(|v| v.latest)
    }

    pub fn stats(&self) -> KeyStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        KeyStats {
            rotations_ok: load(&self.counters.rotations_ok),
            rotations_failed: load(&self.counters.rotations_failed),
            unwraps_ok: load(&self.counters.unwraps_ok),
            unwraps_failed: load(&self.counters.unwraps_failed),
            version_checks_ok: load(&self.counters.version_checks_ok),
            version_checks_failed: load(&self.counters.version_checks_failed),
            latest_version: load(&self.latest_version),
            min_decryption_version: load(&self.min_decryption_version),
            current: self.current().map(|k| k.info()),
        }
    }

    /// Whether a data key is in memory (it may be retired: see [`can_seal`](Self::can_seal)).
    pub fn has_current(&self) -> bool {
        self.current().is_some()
    }

    /// Whether new cards can be sealed: a data key is in memory and its transit version is
    /// not retired by `min_decryption_version` (as last seen).
    pub fn can_seal(&self) -> bool {
        self.sealing().is_some()
    }

    /// The current data key, unless its transit version is retired.
    pub(crate) fn sealing(&self) -> Option<Arc<DataKey>> {
        let min = self.min_decryption_version.load(Ordering::Relaxed);
        self.current().filter(|k| k.version >= min)
    }

    pub(crate) fn current(&self) -> Option<Arc<DataKey>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The data key `id`, from memory or by unwrapping `wrapped` through transit.
    pub(crate) async fn key_for(
        &self,
        id: &str,
        wrapped: &str,
    ) -> Result<Arc<DataKey>, TokenizeError> {
        if let Some(key) = self.in_memory(id) {
            return Ok(key);
        }
        let corrupt = || TokenizeError::unavailable(UnavailableCause::StoreCorrupt);
        if key_id(wrapped) != id {
            return Err(corrupt());
        }
        let plain = match self.transit.decrypt(&self.key, wrapped).await {
            Ok(plain) => {
                self.counters.unwraps_ok.fetch_add(1, Ordering::Relaxed);
                plain
            }
            Err(e) => {
                self.counters.unwraps_failed.fetch_add(1, Ordering::Relaxed);
                return Err(if e.is_unavailable() {
                    TokenizeError::unavailable(UnavailableCause::KeyService)
                } else {
                    TokenizeError::Misconfigured(
                        "Vault refused to unwrap the record's data key (transit key, policy, \
                         or a retired key version)",
                    )
                });
            }
        };
        let version = version_of(wrapped).unwrap_or(0);
        let key = DataKey::new(plain.expose(), wrapped.to_owned(), version).ok_or_else(corrupt)?;
        let key = Arc::new(key);
        self.remember(key.clone());
        Ok(key)
    }

    async fn fetch(&self) -> Result<Arc<DataKey>, KeyError> {
        let made = self
            .transit
            .data_key(&self.key, DATA_KEY_BITS)
            .await
            .map_err(|e| KeyError::from_vault(&e))?;
        let wrapped = made.ciphertext;
        DataKey::new(
            made.plaintext.expose(),
            wrapped.ciphertext,
            wrapped.key_version,
        )
        .map(Arc::new)
        .ok_or(KeyError::BadKey)
    }

    fn in_memory(&self, id: &str) -> Option<Arc<DataKey>> {
        if let Some(current) = self.current().filter(|k| k.id == id) {
            return Some(current);
        }
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.iter().find(|k| k.id == id).cloned()
    }

    /// Keeps an unwrapped key; the oldest falls out (and is wiped once no call holds it).
    fn remember(&self, key: Arc<DataKey>) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.iter().any(|k| k.id == key.id) {
            return;
        }
        cache.push_back(key);
        while cache.len() > UNWRAPPED_KEYS {
            cache.pop_front();
        }
    }
}

impl std::fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKeys")
            .field("transit_key", &self.transit_key())
            .field("current", &self.current().map(|k| k.id.clone()))
            .finish_non_exhaustive()
    }
}

/// One data key: its cipher (the AES-256 key schedule and GHASH key, built once from the
/// plaintext key, boxed, wiped on drop, no `Debug`), its wrapped form and id. The raw key
/// bytes are not kept: they stay in the zeroizing buffer Vault's answer was read into,
/// which is dropped once the cipher is built.
pub(crate) struct DataKey {
    pub(crate) id: String,
    /// `vault:vN:...`, stored in every record this key seals.
    pub(crate) wrapped: String,
    /// The transit key version that wrapped it.
    pub(crate) version: u64,
    created: SystemTime,
    fetched: Instant,
    cipher: Box<Aes256Gcm>,
}

impl DataKey {
    /// `None` unless `plaintext` is 32 bytes. One cipher per data key, reused by every
    /// seal and open (no per-card copies of the key schedule).
    fn new(plaintext: &[u8], wrapped: String, version: u64) -> Option<DataKey> {
        if plaintext.len() != 32 {
            return None;
        }
        let cipher = Box::new(Aes256Gcm::new_from_slice(plaintext).ok()?);
        Some(DataKey {
            id: key_id(&wrapped),
            wrapped,
            version,
            created: SystemTime::now(),
            fetched: Instant::now(),
            cipher,
        })
    }

    fn info(&self) -> CurrentKey {
        CurrentKey {
            id: self.id.clone(),
            version: self.version,
            created: self.created,
            fetched: self.fetched,
        }
    }

    /// `nonce || ciphertext` of `plaintext`, bound to this key's id and the token.
    pub(crate) fn seal(&self, plaintext: &[u8], token: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = associated_data(&self.id, token);
        let payload = Payload {
            msg: plaintext,
            aad: &aad,
        };
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .ok()?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Some(sealed)
    }

    pub(crate) fn open(&self, sealed: &[u8], token: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let aad = associated_data(&self.id, token);
        let payload = Payload {
            msg: ciphertext,
            aad: &aad,
        };
        self.cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .ok()
            .map(Zeroizing::new)
    }
}

/// `dk_` and 16 hex characters of SHA-256 over the wrapped key: the same wrapped key
/// always has the same id, and an id that does not match its wrapped key is refused.
pub(crate) fn key_id(wrapped: &str) -> String {
    let digest = Sha256::digest(wrapped.as_bytes());
    let mut id = String::from("dk_");
    id.push_str(&super::hex(&digest[..8]));
    id
}

/// `N` of a `vault:vN:...` ciphertext.
pub(crate) fn version_of(wrapped: &str) -> Option<u64> {
    wrapped
        .strip_prefix("vault:v")?
        .split(':')
        .next()?
        .parse()
        .ok()
}

/// Binds the ciphertext to its data key id and token (a different domain from the static
/// key ring's, so a record cannot be passed off as the other kind).
fn associated_data(key_id: &str, token: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(24 + key_id.len() + token.len());
    aad.extend_from_slice(b"outscope-vault-v2\0");
    aad.extend_from_slice(key_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(token);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(wrapped: &str) -> DataKey {
        DataKey::new(&[7u8; 32], wrapped.to_owned(), 3).unwrap_or_else(|| panic!("32 bytes"))
    }

    #[test]
    fn sealed_records_are_bound_to_their_key_and_token() {
        let a = key("vault:v3:aaaa");
        let sealed = a.seal(b"4242424242424242", b"tok_a").unwrap_or_default();
        let opened = a.open(&sealed, b"tok_a");
        assert_eq!(
            opened.as_deref().map(Vec::as_slice),
            Some(&b"4242424242424242"[..])
        );
        assert!(a.open(&sealed, b"tok_b").is_none(), "token is bound");
        let same_bytes_other_id = key("vault:v3:bbbb");
        assert!(
            same_bytes_other_id.open(&sealed, b"tok_a").is_none(),
            "key id is bound"
        );
    }

    #[test]
    fn ids_come_from_the_wrapped_key_and_versions_from_its_prefix() {
        let id = key_id("vault:v2:abc");
        assert_eq!(id.len(), 19);
        assert!(id.starts_with("dk_"));
        assert_eq!(id, key_id("vault:v2:abc"));
        assert_ne!(id, key_id("vault:v2:abd"));
        assert_eq!(version_of("vault:v12:xyz"), Some(12));
        assert_eq!(version_of("vault:x:xyz"), None);
        assert!(DataKey::new(&[0u8; 16], "vault:v1:x".into(), 1).is_none());
    }
}
