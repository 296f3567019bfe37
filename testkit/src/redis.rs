//! `redis-server` on a free loopback port, no persistence.

use crate::probe::redis_ping;
use crate::process::{Recipe, ServiceProcess};

const RECIPE: Recipe<'static> = Recipe {
    name: "redis-server",
    program: "redis-server",
    install_hint: "apt-get install -y redis-server",
    needs_next_port: false,
    binds_all_interfaces: false,
};

/// A private `redis-server` (no RDB, no AOF) on `127.0.0.1:PORT`; killed on drop.
/// The arguments every test `redis-server` gets: loopback only, on `port`, in `dir`, with
/// nothing persisted.
pub(crate) fn server_args(port: u16, dir: &std::path::Path) -> Vec<String> {
    let (port, dir) = (port.to_string(), dir.display().to_string());
    [
        "--port",
        &port,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        &dir,
    ]
    .map(str::to_owned)
    .to_vec()
}

pub struct RedisServer {
    process: ServiceProcess,
    url: String,
}

impl RedisServer {
    /// Starts the server and waits until it answers `PING`. Panics with an install hint
    /// when `redis-server` is missing, or with its log when it does not come up.
    pub fn start() -> Self {
        let process = ServiceProcess::start(
            &RECIPE,
            |port, dir| {
                let mut args = server_args(port, dir);
                args.extend(["--protected-mode", "yes"].map(str::to_owned));
                args
            },
            redis_ping,
        );
        let url = format!("redis://127.0.0.1:{}", process.port());
        Self { process, url }
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// Whether the server is still running and answering `PING`.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running() && redis_ping(self.port())
    }

    /// Kills the server now (SIGKILL), e.g. to test behaviour when Redis goes away.
    /// Returns once the process is reaped, so the port refuses connections afterwards.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts the server again on the same port, empty (no persistence), e.g. to test that
    /// clients recover after an outage.
    pub fn restart(&mut self) {
        self.process.restart();
    }

    /// The tail of the server's log, for assertion messages.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("url", &self.url)
            .finish()
    }
}
