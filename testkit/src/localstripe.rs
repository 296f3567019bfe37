//! `localstripe` (a fake of Stripe's test-mode API) on a free port.

use crate::probe::http_status;
use crate::process::{Recipe, ServiceProcess};

const RECIPE: Recipe<'static> = Recipe {
    name: "localstripe",
    program: "localstripe",
    install_hint: "pip install localstripe",
    needs_next_port: false,
    // localstripe binds `[::]:PORT` (all interfaces, dual-stack); it has no bind option.
    binds_all_interfaces: true,
};

/// A private localstripe with an empty store; killed on drop.
pub struct LocalStripe {
    process: ServiceProcess,
    url: String,
}

impl LocalStripe {
    /// Starts `localstripe --port P --from-scratch` and waits until it answers HTTP.
    /// Panics with an install hint when `localstripe` is missing.
    pub fn start() -> Self {
        let process = ServiceProcess::start(
            &RECIPE,
            // --from-scratch: do not load the state another run left in /tmp.
            |port, _dir| {
                vec![
                    "--port".to_owned(),
                    port.to_string(),
                    "--from-scratch".to_owned(),
                ]
            },
            // Any HTTP answer (401 without a key) means the server is up.
            |port| http_status(port, "/v1/customers").is_some(),
        );
        let url = format!("http://127.0.0.1:{}", process.port());
        Self { process, url }
    }

    /// `http://127.0.0.1:PORT`; use it as the Stripe API base (`/v1/...`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.process.port()
    }

    pub fn is_running(&mut self) -> bool {
        self.process.is_running() && http_status(self.port(), "/v1/customers").is_some()
    }

    /// Kills the server now (SIGKILL).
    pub fn stop(&mut self) {
        self.process.stop();
    }

    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

impl std::fmt::Debug for LocalStripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStripe")
            .field("url", &self.url)
            .finish()
    }
}
