//! A throw-away PKI for tests: one CA, server certificates for chosen names, client
//! certificates, all written as PEM files into a fresh directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use outscope_config::SecretRef;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

pub struct Pki {
    pub dir: PathBuf,
    ca_params: CertificateParams,
    ca_key: KeyPair,
    pub ca_pem: String,
}

/// A certificate and key on disk.
pub struct Pair {
    pub cert: SecretRef,
    pub key: SecretRef,
    pub cert_pem: String,
    pub key_pem: String,
}

fn fresh_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "outscope-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Pki {
    pub fn new(ca_name: &str) -> Self {
        let dir = fresh_dir();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, ca_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca_pem = params.clone().self_signed(&ca_key).unwrap().pem();
        std::fs::write(dir.join("ca.pem"), &ca_pem).unwrap();
        Self {
            dir,
            ca_params: params,
            ca_key,
            ca_pem,
        }
    }

    pub fn ca_ref(&self) -> SecretRef {
        SecretRef::File(self.dir.join("ca.pem"))
    }

    /// A server certificate for `names`, signed by this CA.
    pub fn server(&self, file_stem: &str, names: &[&str]) -> Pair {
        let params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        self.issue(file_stem, params)
    }

    /// A client certificate with common name `cn`, signed by this CA.
    pub fn client(&self, file_stem: &str, cn: &str) -> Pair {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(file_stem, params)
    }

    fn issue(&self, file_stem: &str, params: CertificateParams) -> Pair {
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let cert_path = self.dir.join(format!("{file_stem}.crt"));
        let key_path = self.dir.join(format!("{file_stem}.key"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        Pair {
            cert: SecretRef::File(cert_path),
            key: SecretRef::File(key_path),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
