//! Transit: encryption as a service, data keys for envelope encryption, key rotation.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::auth::to_secret_json;
use crate::client::{Client, checked_path};
use crate::error::Error;
use crate::secret::{SecretBytes, SecretString};
use crate::transport::Retry;

/// A transit secrets engine mounted at one path. Get it from [`Client::transit`].
#[derive(Clone, Debug)]
pub struct Transit {
    client: Client,
    mount: String,
}

/// A transit ciphertext (`vault:v<N>:...`) and the key version that made it. Not secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ciphertext {
    pub ciphertext: String,
    pub key_version: u64,
}

/// A fresh data key: use `plaintext` in memory, store `ciphertext` beside the data.
#[derive(Debug)]
pub struct DataKey {
    /// The raw key bytes (zeroized on drop, redacted in `Debug`).
    pub plaintext: SecretBytes,
    /// The key wrapped by the named transit key; [`Transit::decrypt`] unwraps it.
    pub ciphertext: Ciphertext,
}

/// What rotation needs to know about a transit key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KeyInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub key_type: String,
    pub latest_version: u64,
    /// Ciphertexts older than this version can no longer be decrypted.
    pub min_decryption_version: u64,
    /// 0 means "the latest version".
    #[serde(default)]
    pub min_encryption_version: u64,
    #[serde(default)]
    pub deletion_allowed: bool,
}

impl Client {
    /// The transit engine mounted at `mount` (usually `transit`).
    pub fn transit(&self, mount: &str) -> Transit {
        Transit {
            client: self.clone(),
            mount: mount.trim_matches('/').to_owned(),
        }
    }
}

impl Transit {
    /// Creates the named key (`aes256-gcm96`, `chacha20-poly1305`, ...). Creating an
    /// existing key changes nothing.
    pub async fn create_key(&self, name: &str, key_type: &str) -> Result<(), Error> {
        let body = to_secret_json(&serde_json::json!({ "type": key_type }))?;
        let api = self.api(&["keys", name])?;
        self.client
            .call(Method::POST, &api, Some(body), Retry::Idempotent)
            .await
            .map(drop)
    }

    /// Encrypts `plaintext` with the latest version of the named key.
    pub async fn encrypt(&self, name: &str, plaintext: &[u8]) -> Result<Ciphertext, Error> {
        let encoded = encode(plaintext);
        let body = to_secret_json(&EncryptBody {
            plaintext: &encoded,
        })?;
        let api = self.api(&["encrypt", name])?;
        let answer: Envelope<CiphertextData> = self
            .client
            .json(Method::POST, &api, Some(body), Retry::Idempotent)
            .await?;
        Ok(answer.data.into_ciphertext())
    }

    /// Decrypts a ciphertext made by the named key (any version from
    /// `min_decryption_version` on).
    pub async fn decrypt(&self, name: &str, ciphertext: &str) -> Result<SecretBytes, Error> {
        let body = to_secret_json(&CiphertextBody { ciphertext })?;
        let api = self.api(&["decrypt", name])?;
        let answer: Envelope<PlaintextData> = self
            .client
            .json(Method::POST, &api, Some(body), Retry::Idempotent)
            .await?;
        decode(&answer.data.plaintext)
    }

    /// Re-encrypts a ciphertext under the key's latest version without revealing the
    /// plaintext to the caller (for re-wrapping stored data keys after a rotation).
    pub async fn rewrap(&self, name: &str, ciphertext: &str) -> Result<Ciphertext, Error> {
        let body = to_secret_json(&CiphertextBody { ciphertext })?;
        let api = self.api(&["rewrap", name])?;
        let answer: Envelope<CiphertextData> = self
            .client
            .json(Method::POST, &api, Some(body), Retry::Idempotent)
            .await?;
        Ok(answer.data.into_ciphertext())
    }

    /// A new random data key of `bits` (128, 256 or 512), in plaintext and wrapped by the
    /// named key (`datakey/plaintext/<name>`).
    pub async fn data_key(&self, name: &str, bits: u32) -> Result<DataKey, Error> {
        if !matches!(bits, 128 | 256 | 512) {
            return Err(Error::config(format!(
                "transit data key: {bits} bits; use 128, 256 or 512"
            )));
        }
        let body = to_secret_json(&serde_json::json!({ "bits": bits }))?;
        let api = self.api(&["datakey", "plaintext", name])?;
        let answer: Envelope<DataKeyData> = self
            .client
            .json(Method::POST, &api, Some(body), Retry::Idempotent)
            .await?;
        let data = answer.data;
        Ok(DataKey {
            plaintext: decode(&data.plaintext)?,
            ciphertext: CiphertextData {
                ciphertext: data.ciphertext,
                key_version: data.key_version,
            }
            .into_ciphertext(),
        })
    }

    /// Versions of the named key.
    pub async fn key_info(&self, name: &str) -> Result<KeyInfo, Error> {
        let api = self.api(&["keys", name])?;
        let answer: Envelope<KeyInfo> = self
            .client
            .json(Method::GET, &api, None, Retry::Idempotent)
            .await?;
        Ok(answer.data)
    }

    /// Adds a new version to the named key; new encryptions use it. Not retried once
    /// Vault may have acted, so one call rotates at most once.
    pub async fn rotate(&self, name: &str) -> Result<(), Error> {
        let api = self.api(&["keys", name, "rotate"])?;
        self.client
            .call(Method::POST, &api, None, Retry::UnlessActedOn)
            .await
            .map(drop)
    }

    /// Stops decryption of ciphertexts older than `version` (after a completed rewrap).
    pub async fn set_min_decryption_version(&self, name: &str, version: u64) -> Result<(), Error> {
        let body = to_secret_json(&serde_json::json!({ "min_decryption_version": version }))?;
        let api = self.api(&["keys", name, "config"])?;
        self.client
            .call(Method::POST, &api, Some(body), Retry::Idempotent)
            .await
            .map(drop)
    }

    fn api(&self, parts: &[&str]) -> Result<String, Error> {
        let mut path = self.mount.clone();
        for part in parts {
            path.push('/');
            path.push_str(part);
        }
        checked_path(&path)
    }
}

fn encode(plaintext: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(plaintext.len().div_ceil(3) * 4));
    STANDARD.encode_string(plaintext, &mut out);
    out
}

fn decode(encoded: &SecretString) -> Result<SecretBytes, Error> {
    let mut out = Zeroizing::new(Vec::with_capacity(encoded.len() / 4 * 3 + 3));
    STANDARD
        .decode_vec(encoded.expose(), &mut out)
        .map_err(|_| Error::protocol("transit: the plaintext in the answer is not base64"))?;
    Ok(SecretBytes::new(std::mem::take(&mut *out)))
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Serialize)]
struct EncryptBody<'a> {
    plaintext: &'a str,
}

#[derive(Serialize)]
struct CiphertextBody<'a> {
    ciphertext: &'a str,
}

#[derive(Deserialize)]
struct CiphertextData {
    ciphertext: String,
    #[serde(default)]
    key_version: u64,
}

impl CiphertextData {
    /// Older servers omit `key_version`; the `vault:v<N>:` prefix says it too.
    fn into_ciphertext(self) -> Ciphertext {
        let from_prefix = || {
            let rest = self.ciphertext.strip_prefix("vault:v")?;
            rest.split(':').next()?.parse().ok()
        };
        let key_version = match self.key_version {
            0 => from_prefix().unwrap_or(0),
            v => v,
        };
        Ciphertext {
            key_version,
            ciphertext: self.ciphertext,
        }
    }
}

#[derive(Deserialize)]
struct PlaintextData {
    plaintext: SecretString,
}

#[derive(Deserialize)]
struct DataKeyData {
    plaintext: SecretString,
    ciphertext: String,
    #[serde(default)]
    key_version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_through_zeroizing_buffers() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37) as u8).collect();
            let encoded = encode(&bytes);
            let decoded = decode(&SecretString::from(encoded.as_str())).unwrap();
            assert_eq!(decoded.expose(), &bytes[..]);
        }
        let err = decode(&SecretString::from("not base64!")).unwrap_err();
        assert!(!err.to_string().contains("not base64!"), "{err}");
    }

    #[test]
    fn the_key_version_falls_back_to_the_ciphertext_prefix() {
        let c = CiphertextData {
            ciphertext: "vault:v7:abc".into(),
            key_version: 0,
        };
        assert_eq!(c.into_ciphertext().key_version, 7);
    }
}
