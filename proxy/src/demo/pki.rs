//! The demo's throw-away PKI: a CA and a `localhost` certificate, the key kept in a private
//! temporary directory that is removed when the demo ends.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use outscope_config::SecretRef;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

pub struct DemoPki {
    pub ca_pem: String,
    dir: PathBuf,
}

impl DemoPki {
    pub fn generate() -> anyhow::Result<Self> {
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name
            .push(DnType::CommonName, "outscope demo CA (throw-away)");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate()?;
        let ca_pem = ca.clone().self_signed(&ca_key)?.pem();
        let leaf_key = KeyPair::generate()?;
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf.signed_by(&leaf_key, &Issuer::from_params(&ca, &ca_key))?;

        let dir = std::env::temp_dir().join(format!(
            "outscope-demo-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        write_private(&dir.join("server.crt"), leaf.pem().as_bytes())?;
        write_private(&dir.join("server.key"), leaf_key.serialize_pem().as_bytes())?;
        Ok(Self { ca_pem, dir })
    }

    pub fn cert_ref(&self) -> SecretRef {
        SecretRef::File(self.dir.join("server.crt"))
    }

    pub fn key_ref(&self) -> SecretRef {
        SecretRef::File(self.dir.join("server.key"))
    }

    /// Fresh local-vault keys (one data key, one fingerprint key), written next to the
    /// certificate: `(keys, fingerprint_key)` references.
    pub fn vault_keys(&self) -> anyhow::Result<(SecretRef, SecretRef)> {
        use base64::Engine;
        let b64 = |bytes: [u8; 32]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let keys = self.dir.join("vault-keys");
        let fingerprint = self.dir.join("vault-fingerprint");
        write_private(&keys, format!("demo1:{}\n", b64(rand::random())).as_bytes())?;
        write_private(
            &fingerprint,
            format!("{}\n", b64(rand::random())).as_bytes(),
        )?;
        Ok((SecretRef::File(keys), SecretRef::File(fingerprint)))
    }
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

impl Drop for DemoPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
