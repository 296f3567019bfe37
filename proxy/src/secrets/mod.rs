//! Secrets: every [`SecretRef`] of a configuration (`file://`, `env://`, `vault://`) read
//! into [`Secret`] bytes before a runtime is built.
//!
//! ```text
//! Config ──collect──▶ [Wanted {key path, reference}] ──Resolver::resolve (async)──▶ Resolved
//!                                                         file, env: read now          │
//!                                                         vault: one KV read per path  ▼
//!                                                                            Runtime::build (sync)
//! ```
//!
//! - Values live in [`Secret`] (no `Debug`, no `Display`, zeroized on drop). Errors,
//!   logs and metrics name the key path and the reference, never a value.
//! - A refresh reads everything again; a reference that cannot be read keeps its last good
//!   value (from the [`Resolved`] in effect) and is reported as a failure. Only a reference
//!   that was never read is fatal (start, or a reload that adds it).

mod collect;
pub mod metrics;
mod resolve;
mod vault;

pub use collect::{Wanted, collect, tokenizer_refs};
pub use metrics::{RefreshResult, SecretMetrics};
pub use resolve::{
    Outcome, Reason, ResolveError, ResolveErrors, Resolved, Resolver, VaultState, resolve_now,
};

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

/// Why a secret could not be used. Names the reference, never the content.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read {reference}: {kind}")]
    Io {
        reference: String,
        kind: std::io::ErrorKind,
    },
    #[error("environment variable named by {reference} is not set or not UTF-8")]
    MissingEnv { reference: String },
    #[error("{reference} was not read before the runtime was built")]
    NotResolved { reference: String },
}

/// Reads a `file://` or `env://` reference now. A `vault://` reference is refused: Vault
/// is read by [`Resolver`], asynchronously, before a runtime is built.
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
        SecretRef::Vault { .. } => Err(SecretError::NotResolved {
            reference: describe(reference),
        }),
    }
}

/// The reference as an operator wrote it (safe to log: it is a location, not a value).
pub fn describe(reference: &SecretRef) -> String {
    reference.to_string()
}
