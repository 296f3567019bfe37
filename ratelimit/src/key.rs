//! Rate-limit keys are digested before they are stored, locally or in Redis.
//!
//! Keys carry user-controlled content: an API key is a credential, a certificate subject
//! can be long and personal. Neither is kept: every key becomes a fixed-size 128-bit digest
//! (HMAC-SHA-256 with a secret, or domain-separated SHA-256 without one), which also bounds
//! the memory one key costs and the length of a Redis key.

use ring::{digest, hmac, rand};

/// Bytes of digest kept: 128 bits make accidental collisions (two clients sharing one
/// bucket) negligible at any realistic key count.
const DIGEST_LEN: usize = 16;
/// Domain separation for the unkeyed form, so our digests are not plain SHA-256 of a key.
const UNKEYED_CONTEXT: &[u8] = b"outscope-ratelimit-key-v1\0";
/// Shortest secret accepted for the keyed form.
pub const MIN_SECRET_LEN: usize = 16;

/// Turns a raw key (IP, API key, subject, route) into a [`KeyDigest`].
#[derive(Clone)]
pub struct KeyHasher {
    hmac: Option<hmac::Key>,
}

/// A fixed-size digest of a rate-limit key: the only form a key is stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest([u8; DIGEST_LEN]);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyHasherError {
    #[error("rate-limit key secret must be at least {MIN_SECRET_LEN} bytes")]
    SecretTooShort,
    #[error("the system random generator failed")]
    Random,
}

impl KeyHasher {
    /// HMAC-SHA-256 with `secret`. Every instance sharing a Redis must use the same secret.
    /// Without the secret, a digest in Redis cannot be tested against guessed keys.
    pub fn keyed(secret: &[u8]) -> Result<Self, KeyHasherError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(KeyHasherError::SecretTooShort);
        }
        Ok(Self {
            hmac: Some(hmac::Key::new(hmac::HMAC_SHA256, secret)),
        })
    }

    /// HMAC-SHA-256 with a random per-process secret: right for per-instance limiters,
    /// whose digests never leave the process.
    pub fn random() -> Result<Self, KeyHasherError> {
        let rng = rand::SystemRandom::new();
        let key =
            hmac::Key::generate(hmac::HMAC_SHA256, &rng).map_err(|_| KeyHasherError::Random)?;
        Ok(Self { hmac: Some(key) })
    }

    /// Domain-separated SHA-256, no secret. Keys stay unreadable, but a low-entropy key
    /// (an IPv4 address) can be found by trying them all; prefer [`KeyHasher::keyed`].
    pub fn unkeyed() -> Self {
        Self { hmac: None }
    }

    pub fn digest(&self, key: &[u8]) -> KeyDigest {
        let mut out = [0u8; DIGEST_LEN];
        match &self.hmac {
            Some(secret) => out.copy_from_slice(&hmac::sign(secret, key).as_ref()[..DIGEST_LEN]),
            None => {
                let mut ctx = digest::Context::new(&digest::SHA256);
                ctx.update(UNKEYED_CONTEXT);
                ctx.update(key);
                out.copy_from_slice(&ctx.finish().as_ref()[..DIGEST_LEN]);
            }
        }
        KeyDigest(out)
    }
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.hmac.is_some() {
            "hmac-sha256"
        } else {
            "sha256"
        };
        f.debug_struct("KeyHasher")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

impl KeyDigest {
    /// Lower-case hex, 32 characters.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(DIGEST_LEN * 2);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const API_KEY: &[u8] = b"sk_live_51HxSecretApiKeyValue";

    #[test]
    fn a_digest_does_not_contain_the_key() {
        for hasher in [KeyHasher::unkeyed(), KeyHasher::keyed(&[7; 32]).unwrap()] {
            let hex = hasher.digest(API_KEY).to_hex();
            assert_eq!(hex.len(), 32);
            assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(!hex.contains("sk_live"));
        }
    }

    #[test]
    fn same_key_same_digest_different_keys_differ() {
        let hasher = KeyHasher::keyed(&[1; 32]).unwrap();
        assert_eq!(hasher.digest(b"10.0.0.1"), hasher.digest(b"10.0.0.1"));
        assert_ne!(hasher.digest(b"10.0.0.1"), hasher.digest(b"10.0.0.2"));
    }

    #[test]
    fn the_secret_changes_the_digest() {
        let a = KeyHasher::keyed(&[1; 32]).unwrap().digest(API_KEY);
        let b = KeyHasher::keyed(&[2; 32]).unwrap().digest(API_KEY);
        assert_ne!(a, b);
        assert_ne!(a, KeyHasher::unkeyed().digest(API_KEY));
    }

    #[test]
    fn unkeyed_is_domain_separated_sha256() {
        let plain = digest::digest(&digest::SHA256, API_KEY);
        assert_ne!(
            &KeyHasher::unkeyed().digest(API_KEY).0[..],
            &plain.as_ref()[..DIGEST_LEN]
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(
            KeyHasher::keyed(b"short").err(),
            Some(KeyHasherError::SecretTooShort)
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let text = format!(
            "{:?}",
            KeyHasher::keyed(b"0123456789abcdef-secret").unwrap()
        );
        assert!(!text.contains("secret"), "{text}");
    }
}
