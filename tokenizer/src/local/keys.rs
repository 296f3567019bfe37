//! Vault keys: AES-256-GCM keys by id (the first is current; the others still decrypt)
//! and the HMAC-SHA-256 key behind same-card-same-token.
//!
//! The key file format is documented on [`KeyRing`].

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{KeyFileError, SetupError};

const FINGERPRINT_ID: &str = "fingerprint";
pub(crate) const NONCE_LEN: usize = 12;

/// The vault's keys. No `Debug` beyond key ids; key bytes are wiped on drop.
///
/// # Key file format
///
/// UTF-8 text, one key per line, `id:base64` where base64 (standard alphabet, padded)
/// decodes to exactly 32 bytes. Blank lines and lines starting with `#` are ignored.
///
/// ```text
/// # outscope local vault keys
/// fingerprint:q1Yl0m...=   # HMAC key: never change it within a store
/// k2026b:8h3K...=          # current encryption key (the first one)
/// k2026a:Zm9v...=          # older key: still decrypts tokens made with it
/// ```
///
/// `fingerprint` is reserved for the HMAC key and must appear exactly once. Every other
/// line is an encryption key; ids are 1 to 32 characters of `[A-Za-z0-9_.-]`, unique.
/// Rotate by adding a new line first; keep old lines while tokens made with them exist.
/// Changing the fingerprint key makes the store issue new tokens for cards it already holds.
/// Generate a line with `printf 'k1:%s\n' "$(head -c32 /dev/urandom | base64)"`.
pub struct KeyRing {
    /// In file order: `keys[0]` encrypts.
    keys: Vec<(String, Aes256Gcm)>,
    fingerprint: Zeroizing<[u8; 32]>,
}

impl KeyRing {
    /// Reads a key file (see the module docs for the format).
    pub fn from_file(path: &Path) -> Result<KeyRing, SetupError> {
        let text = std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(|e| SetupError::KeyFile(KeyFileError::Read(e.kind())))?;
        KeyRing::parse(&text)
    }

    /// Parses key file text. Errors give line numbers, never content.
    pub fn parse(text: &str) -> Result<KeyRing, SetupError> {
        KeyRing::parse_lines(text, None).map_err(SetupError::KeyFile)
    }

    /// Encryption keys (`id:base64` lines, no `fingerprint:` line) and the fingerprint
    /// key (base64 of 32 bytes) from separate secrets, as the config references them.
    pub fn parse_separate(keys: &str, fingerprint_key: &str) -> Result<KeyRing, SetupError> {
        let fingerprint = decode_key(fingerprint_key.trim())
            .ok_or(SetupError::KeyFile(KeyFileError::FingerprintKey))?;
        KeyRing::parse_lines(keys, Some(fingerprint)).map_err(SetupError::KeyFile)
    }

    /// The fingerprint key alone (base64 of 32 bytes), for a vault whose records are all
    /// sealed with envelope data keys ([`DataKeys`](super::DataKeys)).
    pub fn fingerprint_only(fingerprint_key: &str) -> Result<KeyRing, SetupError> {
        let fingerprint = decode_key(fingerprint_key.trim())
            .ok_or(SetupError::KeyFile(KeyFileError::FingerprintKey))?;
        Ok(KeyRing {
            keys: Vec::new(),
            fingerprint,
        })
    }

    fn parse_lines(
        text: &str,
        given_fingerprint: Option<Zeroizing<[u8; 32]>>,
    ) -> Result<KeyRing, KeyFileError> {
        let separate = given_fingerprint.is_some();
        let mut keys: Vec<(String, Aes256Gcm)> = Vec::new();
        let mut fingerprint = given_fingerprint;
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, material) = line.split_once(':').ok_or(KeyFileError::Syntax(number))?;
            let id = id.trim();
            // An optional trailing `# comment` after the key.
            let material = material.split('#').next().unwrap_or("").trim();
            if !valid_id(id) {
                return Err(KeyFileError::KeyId(number));
            }
            let bytes = decode_key(material).ok_or(KeyFileError::KeyMaterial(number))?;
            if id == FINGERPRINT_ID {
                if separate {
                    return Err(KeyFileError::FingerprintInKeys(number));
                }
                if fingerprint.replace(bytes).is_some() {
                    return Err(KeyFileError::Duplicate(number));
                }
            } else if keys.iter().any(|(known, _)| known == id) {
                return Err(KeyFileError::Duplicate(number));
            } else {
                let cipher = Aes256Gcm::new_from_slice(bytes.as_slice())
                    .map_err(|_| KeyFileError::KeyMaterial(number))?;
                keys.push((id.to_owned(), cipher));
            }
        }
        let fingerprint = fingerprint.ok_or(KeyFileError::NoFingerprintKey)?;
        if keys.is_empty() {
            return Err(KeyFileError::NoEncryptionKey);
        }
        Ok(KeyRing { keys, fingerprint })
    }

    /// A fresh key file line `id:base64` (for tooling and tests).
    pub fn generate_line(id: &str) -> Zeroizing<String> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut_slice());
        let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(*bytes));
        Zeroizing::new(format!("{id}:{}", encoded.as_str()))
    }

    /// Key ids in file order (the first is current); empty for
    /// [`fingerprint_only`](Self::fingerprint_only).
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// Keyed HMAC-SHA-256 of `domain || digits`.
    pub(crate) fn mac(&self, domain: &[u8], digits: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(self.fingerprint.as_slice()) else {
            return [0; 32];
        };
        mac.update(domain);
        mac.update(digits);
        mac.finalize().into_bytes().into()
    }

    /// Encrypts with the current key: `(key id, nonce || ciphertext)`; `None` without one.
    pub(crate) fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Option<(&str, Vec<u8>)> {
        let (id, cipher) = self.keys.first()?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = associated_data(id, aad);
        let payload = Payload {
            msg: plaintext,
            aad: &aad,
        };
        let ciphertext = cipher.encrypt(Nonce::from_slice(&nonce), payload).ok()?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Some((id, sealed))
    }

    /// Decrypts `nonce || ciphertext` sealed under key `id`.
    pub(crate) fn decrypt(
        &self,
        id: &str,
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(known, _)| known == id)
            .ok_or(DecryptError::UnknownKey)?;
        if sealed.len() < NONCE_LEN {
            return Err(DecryptError::Corrupt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let aad = associated_data(id, aad);
        let payload = Payload {
            msg: ciphertext,
            aad: &aad,
        };
        cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map(Zeroizing::new)
            .map_err(|_| DecryptError::Corrupt)
    }
}

pub(crate) enum DecryptError {
    UnknownKey,
    Corrupt,
}

/// Binds the ciphertext to its key id and token.
fn associated_data(key_id: &str, token: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(24 + key_id.len() + token.len());
    aad.extend_from_slice(b"outscope-vault-v1\0");
    aad.extend_from_slice(key_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(token);
    aad
}

fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn decode_key(material: &str) -> Option<Zeroizing<[u8; 32]>> {
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(material)
            .ok()?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if decoded.len() != 32 {
        return None;
    }
    key.copy_from_slice(&decoded);
    Some(key)
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.key_ids())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(lines: &[&str]) -> Result<KeyRing, SetupError> {
        KeyRing::parse(&lines.join("\n"))
    }

    #[test]
    fn errors_name_the_line_and_never_the_key() {
        let fp = KeyRing::generate_line("fingerprint");
        let bad = "k1:c2VjcmV0LXNlY3JldA==";
        let err = ring(&["# keys", &fp, bad]).unwrap_err();
        assert_eq!(err, SetupError::KeyFile(KeyFileError::KeyMaterial(3)));
        assert!(!err.to_string().contains("c2VjcmV0"));
        let k1 = KeyRing::generate_line("k1");
        assert_eq!(
            ring(&[&k1]).unwrap_err(),
            SetupError::KeyFile(KeyFileError::NoFingerprintKey)
        );
        assert_eq!(
            ring(&[&fp]).unwrap_err(),
            SetupError::KeyFile(KeyFileError::NoEncryptionKey)
        );
        assert_eq!(
            ring(&[&fp, &k1, &k1]).unwrap_err(),
            SetupError::KeyFile(KeyFileError::Duplicate(3))
        );
        assert_eq!(
            ring(&[&fp, "no colon"]).unwrap_err(),
            SetupError::KeyFile(KeyFileError::Syntax(2))
        );
    }

    #[test]
    fn the_fingerprint_key_can_come_from_its_own_secret() {
        let fp = KeyRing::generate_line("fingerprint");
        let (_, fp_material) = fp.split_once(':').unwrap();
        let k1 = KeyRing::generate_line("k1");
        let ring = KeyRing::parse_separate(&k1, fp_material).unwrap();
        assert_eq!(ring.key_ids(), ["k1"]);
        assert_eq!(
            KeyRing::parse_separate(&format!("{}\n{}", k1.as_str(), fp.as_str()), fp_material)
                .unwrap_err(),
            SetupError::KeyFile(KeyFileError::FingerprintInKeys(2))
        );
        assert_eq!(
            KeyRing::parse_separate(&k1, "c2hvcnQ=").unwrap_err(),
            SetupError::KeyFile(KeyFileError::FingerprintKey)
        );
        let whole = KeyRing::parse(&format!("{}\n{}", fp.as_str(), k1.as_str())).unwrap();
        assert_eq!(
            whole.mac(b"d", b"1"),
            ring.mac(b"d", b"1"),
            "same key, same MAC"
        );
    }

    #[test]
    fn the_first_key_encrypts_and_every_key_decrypts() {
        let fp = KeyRing::generate_line("fingerprint");
        let old = KeyRing::generate_line("old");
        let new = KeyRing::generate_line("new");
        let before = ring(&[&fp, &old]).unwrap();
        let (id, sealed) = before.encrypt(b"4242424242424242", b"tok_a").unwrap();
        assert_eq!(id, "old");
        let after = ring(&[&fp, &new, &old]).unwrap();
        assert_eq!(after.key_ids(), ["new", "old"]);
        let plain = after.decrypt("old", &sealed, b"tok_a").ok().unwrap();
        assert_eq!(plain.as_slice(), b"4242424242424242");
        assert!(
            after.decrypt("old", &sealed, b"tok_b").is_err(),
            "token is bound"
        );
        assert!(
            after.decrypt("new", &sealed, b"tok_a").is_err(),
            "key id is bound"
        );
    }
}
