//! Starting, reloading and draining the proxy. The binary drives these from signals
//! (SIGHUP, SIGTERM); tests drive them directly.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use outscope_config::Config;
use outscope_telemetry::{AdminState, Health};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{self, App};
use crate::runtime::{BuildError, Runtime};
use crate::server;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot listen on {address} ({name}): {source}")]
    Bind {
        name: String,
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// Why a reload was refused (the old configuration stays in effect).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("invalid configuration: {0} problem(s), first: {1}")]
    Invalid(usize, String),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(
        "listeners and the admin address cannot be added, removed or moved by a reload; restart to change them"
    )]
    ListenersChanged,
}

/// A started proxy.
pub struct Running {
    pub app: Arc<App>,
    /// Bound addresses, parallel to the configured listeners (port 0 resolved).
    pub listen_addrs: Vec<SocketAddr>,
    /// The bound admin address.
    pub admin_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

async fn bind(name: &str, address: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind {
            name: name.to_owned(),
            address,
            source,
        })
}

/// Builds the runtime (all certificates loaded, all clients built), binds every listener
/// and the admin address, and starts serving. Nothing is bound unless everything could be
/// built.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let config = Arc::new(config);
    let metrics = app::new_metrics();
    let runtime = Runtime::build(config.clone(), &metrics, None)?;
    let mut listeners = Vec::new();
    for l in &config.listeners {
        listeners.push(bind(&l.name, l.address).await?);
    }
    let admin = bind("admin", config.admin.address).await?;
    let admin_addr = admin.local_addr().map_err(|source| StartError::Bind {
        name: "admin".into(),
        address: config.admin.address,
        source,
    })?;
    let health = Arc::new(Health::new());
    let app = App::new(runtime, metrics, health);
    let (stop, stop_rx) = watch::channel(false);
    let mut listen_addrs = Vec::new();
    let mut tasks = Vec::new();
    for (index, socket) in listeners.into_iter().enumerate() {
        let l = &config.listeners[index];
        let addr = socket.local_addr().map_err(|source| StartError::Bind {
            name: l.name.clone(),
            address: l.address,
            source,
        })?;
        listen_addrs.push(addr);
        tasks.push(tokio::spawn(server::accept_loop(
            app.clone(),
            index,
            socket,
            stop_rx.clone(),
        )));
    }
    let admin_state =
        AdminState::new(app.metrics.clone(), app.health.clone()).with_collector(app.cards.clone());
    let mut admin_stop = stop_rx.clone();
    let admin_task = tokio::spawn(outscope_telemetry::serve_admin(
        admin,
        admin_state,
        async move {
            let _ = admin_stop.wait_for(|stop| *stop).await;
        },
    ));
    tasks.push(admin_task);
    Ok(Running {
        app,
        listen_addrs,
        admin_addr,
        stop,
        tasks,
    })
}

impl Running {
    /// Puts a new validated configuration into effect, or keeps the old one and says why.
    /// Either outcome is counted in `outscope_config_reloads_total`.
    pub fn reload(&self, config: Config) -> Result<(), ReloadError> {
        let result = self.try_reload(config);
        if result.is_err() {
            self.app.metrics.reload_failed();
        }
        result
    }

    /// Reads, validates and applies the configuration file at `path` (SIGHUP).
    pub fn reload_file(&self, path: &Path) -> Result<(), ReloadError> {
        match outscope_config::load_with(path, &outscope_config::Checks::ALL) {
            Ok(config) => self.reload(config),
            Err(problems) => {
                self.app.metrics.reload_failed();
                let first = problems
                    .0
                    .first()
                    .map(|p| format!("{}: {}", p.key_path, p.message))
                    .unwrap_or_default();
                Err(ReloadError::Invalid(problems.0.len(), first))
            }
        }
    }

    fn try_reload(&self, config: Config) -> Result<(), ReloadError> {
        let current = self.app.runtime();
        let same_listeners = current.config.admin.address == config.admin.address
            && current.config.listeners.len() == config.listeners.len()
            && current
                .config
                .listeners
                .iter()
                .zip(&config.listeners)
                .all(|(a, b)| a.name == b.name && a.address == b.address);
        if !same_listeners {
            return Err(ReloadError::ListenersChanged);
        }
        let runtime = Runtime::build(Arc::new(config), &self.app.metrics, Some(&current))?;
        self.app.install(runtime);
        Ok(())
    }

    /// Drains and stops: readiness turns false, after `drain_delay` the listeners close and
    /// connections are asked to finish, and after at most `drain_timeout` the rest are
    /// dropped. Returns whether every connection finished in time.
    pub async fn shutdown(self) -> bool {
        let config = self.app.runtime().config.clone();
        self.app.health.start_draining();
        tokio::time::sleep(config.shutdown.drain_delay).await;
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.app
            .connections_closed(config.limits.max_connections, config.shutdown.drain_timeout)
            .await
    }
}
