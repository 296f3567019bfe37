//! The runtime: everything a validated [`Config`] turns into (TLS configs, upstream
//! clients, route table). Built whole, swapped whole: a reload either installs a complete
//! new runtime or keeps the old one.

use std::sync::Arc;

use outscope_config::Config;

use crate::forward::UpstreamClient;
use crate::tls::TlsError;
use crate::tls::server::{ServerTls, build as build_server_tls};

/// One generation of configuration in effect.
pub struct Runtime {
    pub config: Arc<Config>,
    /// Parallel to `config.listeners`.
    pub listeners: Vec<ServerTls>,
    /// Parallel to `config.upstreams`.
    pub upstreams: Vec<UpstreamClient>,
}

/// Why a configuration could not be put into effect.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("listener {listener}: {source}")]
    ListenerTls { listener: String, source: TlsError },
    #[error("upstream {upstream}: {source}")]
    UpstreamTls { upstream: String, source: TlsError },
}

impl Runtime {
    /// Loads every certificate and key and builds every client. Fails without side effects.
    pub fn build(config: Arc<Config>) -> Result<Self, BuildError> {
        let listeners = config
            .listeners
            .iter()
            .map(|l| {
                build_server_tls(&l.tls).map_err(|source| BuildError::ListenerTls {
                    listener: l.name.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let upstreams = config
            .upstreams
            .iter()
            .map(|u| {
                UpstreamClient::new(u).map_err(|source| BuildError::UpstreamTls {
                    upstream: u.name.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            config,
            listeners,
            upstreams,
        })
    }
}
