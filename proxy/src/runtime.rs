//! The runtime: everything a validated [`Config`] turns into (TLS configs, upstream
//! clients, route table). Built whole, swapped whole: a reload either installs a complete
//! new runtime or keeps the old one.

use std::sync::Arc;

use outscope_config::Config;
use outscope_telemetry::{
    CertificateExpiry, ListenerMetrics, Metrics, RouteMetrics, UpstreamMetrics,
};

use crate::forward::UpstreamClient;
use crate::limits::{self, ConfiguredLimit, LimitsError};
use crate::secrets::{Resolved, tokenizer_refs};
use crate::tls::TlsError;
use crate::tls::server::{ServerTls, build as build_server_tls};

/// One generation of configuration in effect.
pub struct Runtime {
    pub config: Arc<Config>,
    /// Parallel to `config.listeners`.
    pub listeners: Vec<ServerTls>,
    /// Parallel to `config.upstreams`.
    pub upstreams: Vec<UpstreamClient>,
    /// Metric handles, parallel to `config.routes`, `config.listeners`, `config.upstreams`.
    pub route_metrics: Vec<RouteMetrics>,
    pub listener_metrics: Vec<ListenerMetrics>,
    pub upstream_metrics: Vec<UpstreamMetrics>,
    /// Parallel to `config.rate_limits`.
    pub limits: Vec<Arc<ConfiguredLimit>>,
    /// The configured tokenizer (kept across reloads while its configuration and the
    /// values of its secrets are unchanged, so a circuit breaker and an in-memory vault
    /// survive a reload).
    pub tokenizer: Option<outscope_tokenizer::Tokenizer>,
    /// The secret values this runtime was built from: what a refresh compares against, and
    /// the last good values it keeps when a reference cannot be read.
    pub secrets: Arc<Resolved>,
    /// `request_id.header`, parsed once.
    pub request_id_header: http::HeaderName,
}

/// Why a configuration could not be put into effect.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("listener {listener}: {source}")]
    ListenerTls { listener: String, source: TlsError },
    #[error("upstream {upstream}: {source}")]
    UpstreamTls { upstream: String, source: TlsError },
    #[error(transparent)]
    Limits(#[from] LimitsError),
    #[error(transparent)]
    Tokenizer(#[from] crate::protect::TokenizerError),
}

impl Runtime {
    /// Builds every TLS config and client from `secrets` (every reference of `config`,
    /// read beforehand). Fails without side effects. `previous` is the generation being
    /// replaced: unchanged rate limits and an unchanged tokenizer keep their state.
    pub fn build(
        config: Arc<Config>,
        secrets: Arc<Resolved>,
        metrics: &Metrics,
        previous: Option<&Runtime>,
    ) -> Result<Self, BuildError> {
        let listeners = config
            .listeners
            .iter()
            .map(|l| {
                build_server_tls(&l.tls, &secrets).map_err(|source| BuildError::ListenerTls {
                    listener: l.name.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let upstreams = config
            .upstreams
            .iter()
            .map(|u| {
                UpstreamClient::new(u, &secrets).map_err(|source| BuildError::UpstreamTls {
                    upstream: u.name.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let route_metrics = metrics.bind_routes(config.routes.iter().map(|r| r.name.as_str()));
        let listener_metrics =
            metrics.bind_listeners(config.listeners.iter().map(|l| l.name.as_str()));
        let upstream_metrics =
            metrics.bind_upstreams(config.upstreams.iter().map(|u| u.name.as_str()));
        let (old_limits, old_redis) = match previous {
            // A rotated Redis password counts as a changed [redis]: shared limits reconnect.
            Some(p) if redis_secret_same(&config, &secrets, p) => {
                (p.limits.as_slice(), p.config.redis.as_ref())
            }
            Some(p) => (p.limits.as_slice(), None),
            None => (&[][..], None),
        };
        let limits = limits::build(&config, metrics, old_limits, old_redis, &secrets)?;
        let tokenizer = match previous {
            Some(p)
                if p.config.tokenizer == config.tokenizer
                    && p.config.redis == config.redis
                    && secrets.same_values(&p.secrets, tokenizer_refs(&config)) =>
            {
                p.tokenizer.clone()
            }
            _ => crate::protect::build_tokenizer((&*config, &*secrets))?,
        };
        let request_id_header = http::HeaderName::from_bytes(config.request_id.header.as_bytes())
            .unwrap_or(http::HeaderName::from_static("x-request-id"));
        Ok(Self {
            request_id_header,
            config,
            listeners,
            upstreams,
            route_metrics,
            listener_metrics,
            upstream_metrics,
            limits,
            tokenizer,
            secrets,
        })
    }

    /// Exports the not-after time of every loaded certificate.
    pub fn publish_certificates(&self, metrics: &Metrics) {
        let certs = self
            .config
            .listeners
            .iter()
            .zip(&self.listeners)
            .flat_map(|(l, tls)| {
                tls.certs.iter().filter_map(move |c| {
                    let secs = u64::try_from(c.not_after?).ok()?;
                    let not_after = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
                    let server_name = c.server_names.first().map_or("", String::as_str);
                    Some(CertificateExpiry {
                        listener: l.name.as_str(),
                        server_name,
                        not_after,
                    })
                })
            });
        metrics.set_certificates(certs);
    }
}

/// Whether the Redis password and key secret (if any) have the same values as in the
/// previous generation.
fn redis_secret_same(config: &Config, secrets: &Resolved, previous: &Runtime) -> bool {
    let refs = config
        .redis
        .iter()
        .flat_map(|r| r.password.iter().chain(r.key_secret.iter()));
    secrets.same_values(&previous.secrets, refs)
}
