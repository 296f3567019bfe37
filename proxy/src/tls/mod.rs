//! TLS: the client-facing TLS 1.3 server configuration (SNI, ALPN, mTLS) and the TLS
//! client configuration for `https://` upstreams.

pub mod client;
pub mod server;
pub mod x509;

use std::sync::Arc;

use outscope_config::SecretRef;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::secrets::{self, Resolved, SecretError};

/// Why TLS material could not be loaded. Names files/references, never key bytes.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{reference}: no PEM certificate found")]
    NoCertificate { reference: String },
    #[error("{reference}: no usable PEM private key found")]
    NoKey { reference: String },
    #[error("{reference}: private key does not match the certificate or is unsupported")]
    KeyMismatch { reference: String },
    #[error("{reference}: no usable CA certificate found")]
    BadCa { reference: String },
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(String),
}

/// Classifies a failed server handshake for `outscope_tls_handshake_errors_total{reason}`.
pub fn handshake_failure(err: &std::io::Error) -> outscope_telemetry::TlsErrorReason {
    use outscope_telemetry::TlsErrorReason as R;
    use rustls::{Error as E, PeerIncompatible as P};
    if err.kind() == std::io::ErrorKind::UnexpectedEof {
        return R::Eof;
    }
    match err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(E::PeerIncompatible(
            P::SupportedVersionsExtensionRequired
            | P::Tls12NotOffered
            | P::Tls12NotOfferedOrEnabled,
        )) => R::ProtocolVersion,
        Some(E::PeerIncompatible(_)) => R::Incompatible,
        Some(E::NoApplicationProtocol) => R::NoApplicationProtocol,
        Some(E::InvalidCertificate(_)) => R::BadCertificate,
        Some(E::NoCertificatesPresented) => R::CertificateRequired,
        Some(_) => R::Other,
        None => R::Io,
    }
}

/// The crypto provider every TLS config in outscope uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A PEM certificate chain, from the secrets read for this runtime.
pub fn load_chain(
    reference: &SecretRef,
    secrets: &Resolved,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = secrets.get(reference)?;
    let chain: Vec<_> = CertificateDer::pem_slice_iter(pem.expose())
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            reference: secrets::describe(reference),
        });
    }
    Ok(chain)
}

/// A PEM private key (PKCS#8, PKCS#1 or SEC1), from the secrets read for this runtime.
pub fn load_key(
    reference: &SecretRef,
    secrets: &Resolved,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = secrets.get(reference)?;
    PrivateKeyDer::from_pem_slice(pem.expose()).map_err(|_| TlsError::NoKey {
        reference: secrets::describe(reference),
    })
}

/// Loads a certificate and its key, checking that they belong together.
pub fn load_certified_key(
    cert: &SecretRef,
    key: &SecretRef,
    provider: &CryptoProvider,
    secrets: &Resolved,
) -> Result<CertifiedKey, TlsError> {
    let chain = load_chain(cert, secrets)?;
    let key_der = load_key(key, secrets)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|_| TlsError::KeyMismatch {
            reference: secrets::describe(key),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified.keys_match().map_err(|_| TlsError::KeyMismatch {
        reference: secrets::describe(key),
    })?;
    Ok(certified)
}

/// A root store from a PEM CA bundle.
pub fn load_roots(
    reference: &SecretRef,
    secrets: &Resolved,
) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in load_chain(reference, secrets)? {
        roots.add(cert).map_err(|_| TlsError::BadCa {
            reference: secrets::describe(reference),
        })?;
    }
    Ok(roots)
}
