//! TLS client configuration for `https://` upstreams: web PKI roots or a configured CA,
//! optional client certificate (mTLS to the backend).

use std::sync::Arc;

use outscope_config::UpstreamTls;
use rustls::ClientConfig;

use super::{TlsError, load_chain, load_key, load_roots, provider};
use crate::secrets::Resolved;

/// Builds the client config for one upstream.
pub fn build(tls: &UpstreamTls, secrets: &Resolved) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = match &tls.ca {
        Some(ca) => load_roots(ca, secrets)?,
        None => rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match &tls.client_cert {
        Some(cc) => builder
            .with_client_auth_cert(load_chain(&cc.cert, secrets)?, load_key(&cc.key, secrets)?)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
