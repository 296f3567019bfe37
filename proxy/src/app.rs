//! The long-lived state shared by every connection: the runtime in effect (swapped whole
//! on reload), readiness, connection accounting, rate limiters and telemetry.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use http::{Method, Request, StatusCode, Version};
use outscope_telemetry::{
    AccessLog, BuildInfo, Check, ConnectionGuard, Health, Metrics, Requirement,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::errors::ProxyError;
use crate::runtime::Runtime;
use crate::server::ConnInfo;

/// Shared proxy state.
pub struct App {
    runtime: ArcSwap<Runtime>,
    connections: Arc<Semaphore>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// Readiness of the Redis that shared rate limits use (reported, not required).
    redis: Check,
    /// Card-data metrics (exported through the admin listener).
    pub cards: Arc<crate::protect::metrics::CardMetrics>,
}

/// What the pipeline reports about a finished request.
pub struct Finished<'a> {
    pub route: Option<usize>,
    pub method: &'a Method,
    pub path: &'a str,
    pub version: Version,
    pub status: StatusCode,
    pub error: Option<&'static str>,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub request_id: &'a str,
    pub elapsed: Duration,
    /// How long the upstream took to answer with a response head (None: not forwarded).
    pub upstream_wait: Option<Duration>,
}

/// The registry every outscope process starts with.
pub fn new_metrics() -> Arc<Metrics> {
    let build = BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        commit: option_env!("OUTSCOPE_COMMIT"),
    };
    Arc::new(Metrics::new(build, ProxyError::CODES))
}

impl App {
    pub fn new(runtime: Runtime, metrics: Arc<Metrics>, health: Arc<Health>) -> Arc<Self> {
        let max = runtime.config.limits.max_connections;
        runtime.publish_certificates(&metrics);
        metrics.config_loaded(SystemTime::now());
        let redis = health.register("redis", Requirement::Optional);
        if runtime.config.redis.is_none() {
            redis.set_up();
        }
        Arc::new(Self {
            cards: Arc::default(),
            redis,
            runtime: ArcSwap::from_pointee(runtime),
            connections: Arc::new(Semaphore::new(max)),
            metrics,
            health,
        })
    }

    /// The runtime in effect now. Requests hold on to the one they started with.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// Installs a new runtime; requests already running finish on the old one.
    pub fn install(&self, runtime: Runtime) {
        runtime.publish_certificates(&self.metrics);
        self.runtime.store(Arc::new(runtime));
        self.metrics.reload_succeeded(SystemTime::now());
    }

    pub fn draining(&self) -> bool {
        self.health.is_draining()
    }

    /// A permit for one more client connection, if under `max_connections`.
    pub fn connection_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.connections.clone().try_acquire_owned().ok()
    }

    /// Waits until every connection has closed, or `deadline` passes. True when all closed.
    pub async fn connections_closed(&self, max: usize, deadline: Duration) -> bool {
        let all = u32::try_from(max).unwrap_or(u32::MAX);
        tokio::time::timeout(deadline, self.connections.acquire_many(all))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    pub fn connection_refused(&self, listener: usize) {
        let rt = self.runtime();
        let name = rt
            .config
            .listeners
            .get(listener)
            .map_or("", |l| l.name.as_str());
        tracing::warn!(
            listener = name,
            reason = "max_connections",
            "connection refused"
        );
    }

    pub fn handshake_failed(&self, listener: usize, err: Option<&std::io::Error>) {
        let reason = err.map_or(
            outscope_telemetry::TlsErrorReason::Timeout,
            crate::tls::handshake_failure,
        );
        if let Some(m) = self.runtime().listener_metrics.get(listener) {
            m.tls_handshake_failed(reason);
        }
    }

    /// Counts an open connection until the guard drops.
    pub fn connection_opened(&self, listener: usize) -> Option<ConnectionGuard> {
        self.runtime()
            .listener_metrics
            .get(listener)
            .map(|m| m.connection_opened())
    }

    /// Phase 3: applies the route's rate limits in order; returns the headers to add.
    pub async fn rate_limit<B>(
        &self,
        rt: &Runtime,
        conn: &ConnInfo,
        route: &outscope_config::Route,
        req: &Request<B>,
    ) -> Result<Option<outscope_ratelimit::headers::RateLimitHeaders>, ProxyError> {
        let source = crate::limits::KeySource {
            client_ip: crate::forward::headers::client_ip(
                conn.peer.ip(),
                req.headers(),
                &rt.config.forwarding.trusted_proxies,
            ),
            headers: req.headers(),
            client_cert_subject: conn.client_cert_subject.as_deref(),
            route: &route.name,
        };
        crate::limits::apply(&rt.limits, route, &source, &self.redis).await
    }

    /// The audit event and card metrics of a finished request. Places, brands and last4
    /// only: never a card number.
    pub fn audit(
        &self,
        rt: &Runtime,
        route: Option<usize>,
        request_id: &str,
        audit: &[crate::protect::Audited],
        let_through: crate::protect::LetThrough,
        error: Option<&'static str>,
    ) {
        let route_name = route
            .and_then(|i| rt.config.routes.get(i))
            .map_or("", |r| r.name.as_str());
        let tokenizer = rt.tokenizer.as_ref().map_or("none", |t| t.name());
        match error {
            Some("egress_blocked") => {
                self.cards.egress_blocked(route_name);
                tracing::error!(target: "audit", route = route_name, request_id, "egress check blocked a request: card data remained after rewriting");
            }
            Some("tokenizer_unavailable") => self.cards.tokenizer_error(tokenizer, "unavailable"),
            Some("tokenizer_failed") => self.cards.tokenizer_error(tokenizer, "failed"),
            Some("card_refused") => self.cards.tokenizer_error(tokenizer, "refused"),
            _ => {}
        }
        let crate::protect::LetThrough { shadowed, allowed } = let_through;
        if shadowed > 0 {
            self.cards
                .card_data(route_name, "shadowed", shadowed as u64);
            tracing::warn!(target: "audit", route = route_name, request_id, findings = shadowed, "shadow mode: card data was forwarded to the backend");
        }
        if allowed > 0 {
            self.cards.card_data(route_name, "allowed", allowed as u64);
            tracing::info!(target: "audit", route = route_name, request_id, findings = allowed, "allow-listed numbers (allow_key_paths, allow_shapes) were forwarded");
        }
        // Also when the request failed after its cards were tokenized (upstream down,
        // egress check): the tokens exist at the tokenizer, so the record must too.
        if audit.is_empty() {
            return;
        }
        for action in ["tokenized", "masked", "removed"] {
            let n = audit.iter().filter(|a| a.action == action).count() as u64;
            if n > 0 {
                self.cards.card_data(route_name, action, n);
            }
        }
        let places: Vec<&str> = audit.iter().map(|a| a.place.as_str()).collect();
        let actions: Vec<&str> = audit.iter().map(|a| a.action).collect();
        let brands: Vec<&str> = audit.iter().map(|a| a.brand.as_str()).collect();
        let last4: Vec<&str> = audit.iter().map(|a| a.last4.as_str()).collect();
        tracing::info!(
            target: "audit",
            route = route_name,
            request_id,
            tokenizer,
            places = ?places,
            actions = ?actions,
            brands = ?brands,
            last4 = ?last4,
            outcome = error.unwrap_or("forwarded"),
            "card data protected"
        );
    }

    /// Counts an upstream failure.
    pub fn upstream_failed(&self, rt: &Runtime, upstream: usize, err: &ProxyError) {
        use outscope_telemetry::UpstreamErrorKind as K;
        let kind = match err {
            ProxyError::UpstreamConnect => K::Connect,
            ProxyError::UpstreamTimeout => K::Timeout,
            ProxyError::UpstreamProtocol => K::Protocol,
            _ => K::Other,
        };
        if let Some(m) = rt.upstream_metrics.get(upstream) {
            m.error(kind);
        }
    }

    /// Phase 11: access log and metrics for a finished request.
    pub fn record(&self, rt: &Runtime, conn: &ConnInfo, done: Finished<'_>) {
        let method = outscope_telemetry::Method::from_http(done.method);
        let status = done.status.as_u16();
        let route = done
            .route
            .and_then(|i| rt.route_metrics.get(i).cloned())
            .unwrap_or_else(|| self.metrics.unmatched_route());
        route.record(
            method,
            status,
            done.elapsed,
            done.request_bytes,
            done.response_bytes,
        );
        if let Some(wait) = done.upstream_wait {
            route.overhead(done.elapsed.saturating_sub(wait));
        }
        if let Some(code) = done.error {
            self.metrics.reject(code);
        }
        if !rt.config.log.access_log {
            return;
        }
        AccessLog {
            listener: rt
                .config
                .listeners
                .get(conn.listener)
                .map_or("", |l| l.name.as_str()),
            route: done
                .route
                .and_then(|i| rt.config.routes.get(i))
                .map(|r| r.name.as_str()),
            method,
            path: done.path,
            status,
            request_bytes: done.request_bytes,
            response_bytes: done.response_bytes,
            duration: done.elapsed,
            request_id: done.request_id,
            peer_ip: conn.peer.ip(),
            tls_version: Some("TLSv1_3"),
            alpn: match done.version {
                Version::HTTP_2 => Some("h2"),
                _ => Some("http/1.1"),
            },
            decision: done.error.unwrap_or("forwarded"),
        }
        .emit();
    }
}
