//! rustls client configuration: the web PKI roots, or the CA bundle an operator names
//! (`VAULT_CACERT`, a PEM file) or a directory of PEM files (`VAULT_CAPATH`).

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::Error;

/// Where trusted CA certificates come from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trust {
    pub(crate) ca_cert: Option<std::path::PathBuf>,
    pub(crate) ca_path: Option<std::path::PathBuf>,
}

pub(crate) fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, Error> {
    let roots = roots(trust)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn roots(trust: &Trust) -> Result<RootCertStore, Error> {
    if trust.ca_cert.is_none() && trust.ca_path.is_none() {
        return Ok(RootCertStore::from_iter(
            webpki_roots::TLS_SERVER_ROOTS.iter().cloned(),
        ));
    }
    let mut roots = RootCertStore::empty();
    if let Some(file) = &trust.ca_cert {
        add_pem_file(&mut roots, file)?;
    }
    if let Some(dir) = &trust.ca_path {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::config(format!("CA directory {}: {e}", dir.display())))?;
        let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for file in files.iter().filter(|f| f.is_file()) {
            add_pem_file(&mut roots, file)?;
        }
    }
    if roots.is_empty() {
        return Err(Error::config(
            "TLS: the configured CA files hold no certificate",
        ));
    }
    Ok(roots)
}

fn add_pem_file(roots: &mut RootCertStore, file: &Path) -> Result<(), Error> {
    let bad = |e: &dyn std::fmt::Display| Error::config(format!("CA file {}: {e}", file.display()));
    let pem = std::fs::read(file).map_err(|e| bad(&e))?;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad(&e))?;
        roots.add(cert).map_err(|e| bad(&e))?;
    }
    Ok(())
}
