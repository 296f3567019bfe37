//! The client-facing TLS server configuration: TLS 1.3 only, ALPN, certificates chosen by
//! SNI, optional or required client certificates.

use std::collections::HashMap;
use std::sync::Arc;

use outscope_config::{Alpn, ClientAuth, ListenerTls};
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;

use super::{TlsError, load_certified_key, load_roots, provider, x509};
use crate::secrets::Resolved;

/// A loaded certificate with what the metrics need to know about it.
pub struct LoadedCert {
    /// The configured server names ("" for a default-only certificate).
    pub server_names: Vec<String>,
    /// Not-after of the leaf, as Unix seconds (None if the DER could not be read).
    pub not_after: Option<i64>,
}

/// A listener's TLS server config plus facts about its certificates.
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    pub certs: Vec<LoadedCert>,
}

/// Builds the rustls server config for one listener. TLS 1.2 and older are not offered, so
/// such clients get a `protocol_version` alert.
pub fn build(tls: &ListenerTls, secrets: &Resolved) -> Result<ServerTls, TlsError> {
    let provider = provider();
    let mut resolver = SniResolver::default();
    let mut certs = Vec::new();
    for cert in &tls.certificates {
        let key = Arc::new(load_certified_key(
            &cert.cert, &cert.key, &provider, secrets,
        )?);
        let not_after = key
            .end_entity_cert()
            .ok()
            .and_then(|c| x509::not_after(c.as_ref()));
        certs.push(LoadedCert {
            server_names: cert.server_names.clone(),
            not_after,
        });
        resolver.add(&cert.server_names, key);
    }
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match &tls.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Optional { ca } | ClientAuth::Required { ca } => {
            let roots = Arc::new(load_roots(ca, secrets)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let verifier = if matches!(tls.client_auth, ClientAuth::Optional { .. }) {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::Verifier(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = tls
        .alpn
        .iter()
        .map(|a| match a {
            Alpn::H2 => b"h2".to_vec(),
            Alpn::Http11 => b"http/1.1".to_vec(),
        })
        .collect();
    config.ignore_client_order = true;
    Ok(ServerTls {
        config: Arc::new(config),
        certs,
    })
}

/// Picks a certificate by SNI: exact name, then `*.parent` wildcard, then the first
/// configured certificate.
#[derive(Debug, Default)]
struct SniResolver {
    default: Option<Arc<CertifiedKey>>,
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the parent domain of the wildcard (`*.example.com` -> `example.com`).
    wildcard: HashMap<String, Arc<CertifiedKey>>,
}

impl SniResolver {
    fn add(&mut self, names: &[String], key: Arc<CertifiedKey>) {
        if self.default.is_none() {
            self.default = Some(key.clone());
        }
        for name in names {
            let name = name.to_ascii_lowercase();
            match name.strip_prefix("*.") {
                Some(parent) => self
                    .wildcard
                    .entry(parent.to_owned())
                    .or_insert_with(|| key.clone()),
                None => self.exact.entry(name).or_insert_with(|| key.clone()),
            };
        }
    }

    fn find(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = sni.map(str::to_ascii_lowercase) else {
            return self.default.clone();
        };
        if let Some(key) = self.exact.get(&name) {
            return Some(key.clone());
        }
        if let Some((_, parent)) = name.split_once('.')
            && let Some(key) = self.wildcard.get(parent)
        {
            return Some(key.clone());
        }
        self.default.clone()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.find(hello.server_name())
    }
}
