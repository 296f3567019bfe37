//! Starting, reloading and draining the proxy. The binary drives these from signals
//! (SIGHUP, SIGTERM); tests drive them directly.

use std::net::SocketAddr;
use std::sync::Arc;

use outscope_config::Config;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::App;
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
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("listeners cannot be added, removed or moved by a reload; restart to change them")]
    ListenersChanged,
}

/// A started proxy.
pub struct Running {
    pub app: Arc<App>,
    /// Bound addresses, parallel to the configured listeners (port 0 resolved).
    pub listen_addrs: Vec<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Builds the runtime (all certificates loaded, all clients built), binds every listener,
/// and starts accepting. Nothing is bound unless everything could be built.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let config = Arc::new(config);
    let runtime = Runtime::build(config.clone())?;
    let mut listeners = Vec::new();
    for l in &config.listeners {
        let socket = TcpListener::bind(l.address)
            .await
            .map_err(|source| StartError::Bind {
                name: l.name.clone(),
                address: l.address,
                source,
            })?;
        listeners.push(socket);
    }
    let app = App::new(runtime);
    let (stop, stop_rx) = watch::channel(false);
    let mut listen_addrs = Vec::new();
    let mut tasks = Vec::new();
    for (index, socket) in listeners.into_iter().enumerate() {
        listen_addrs.push(socket.local_addr().map_err(|source| StartError::Bind {
            name: config.listeners[index].name.clone(),
            address: config.listeners[index].address,
            source,
        })?);
        tasks.push(tokio::spawn(server::accept_loop(
            app.clone(),
            index,
            socket,
            stop_rx.clone(),
        )));
    }
    Ok(Running {
        app,
        listen_addrs,
        stop,
        tasks,
    })
}

impl Running {
    /// Puts a new validated configuration into effect, or keeps the old one and says why.
    pub fn reload(&self, config: Config) -> Result<(), ReloadError> {
        let current = self.app.runtime();
        let same_listeners = current.config.listeners.len() == config.listeners.len()
            && current
                .config
                .listeners
                .iter()
                .zip(&config.listeners)
                .all(|(a, b)| a.name == b.name && a.address == b.address);
        if !same_listeners {
            return Err(ReloadError::ListenersChanged);
        }
        let runtime = Runtime::build(Arc::new(config))?;
        self.app.install(runtime);
        Ok(())
    }

    /// Drains and stops: readiness turns false, after `drain_delay` the listeners close and
    /// connections are asked to finish, and after at most `drain_timeout` the rest are
    /// dropped. Returns whether every connection finished in time.
    pub async fn shutdown(self) -> bool {
        let shutdown = self.app.runtime().config.shutdown.clone();
        let max = self.app.runtime().config.limits.max_connections;
        self.app.start_draining();
        tokio::time::sleep(shutdown.drain_delay).await;
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.app
            .connections_closed(max, shutdown.drain_timeout)
            .await
    }
}
