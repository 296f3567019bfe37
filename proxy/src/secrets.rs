//! Resolves [`SecretRef`]s (`file://`, `env://`) into [`Secret`] bytes.
//!
//! `vault://` references are resolved by the Vault integration; until it lands they are
//! reported as unsupported, naming the reference, never a value.

use outscope_config::SecretRef;
use zeroize::Zeroizing;

/// Secret bytes (a private key, a password). No `Debug`, no `Display`; wiped on drop.
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

/// Why a secret could not be read. Names the reference, never the content.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read {reference}: {kind}")]
    Io {
        reference: String,
        kind: std::io::ErrorKind,
    },
    #[error("environment variable named by {reference} is not set or not UTF-8")]
    MissingEnv { reference: String },
    #[error("{reference}: vault references are not supported yet")]
    Unsupported { reference: String },
}

/// Reads the secret a reference points at.
pub fn resolve(reference: &SecretRef) -> Result<Secret, SecretError> {
    match reference {
        SecretRef::File(path) => {
            std::fs::read(path)
                .map(Secret::new)
                .map_err(|e| SecretError::Io {
                    reference: describe(reference),
                    kind: e.kind(),
                })
        }
        SecretRef::Env(name) => std::env::var(name)
            .map(|v| Secret::new(v.into_bytes()))
            .map_err(|_| SecretError::MissingEnv {
                reference: describe(reference),
            }),
        SecretRef::Vault { .. } => Err(SecretError::Unsupported {
            reference: describe(reference),
        }),
    }
}

/// The reference as an operator wrote it (safe to log: it is a location, not a value).
pub fn describe(reference: &SecretRef) -> String {
    match reference {
        SecretRef::File(path) => format!("file://{}", path.display()),
        SecretRef::Env(name) => format!("env://{name}"),
        SecretRef::Vault { mount, path, key } => format!("vault://{mount}/{path}#{key}"),
    }
}
