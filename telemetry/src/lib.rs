//! outscope's observability: a Prometheus metrics registry, readiness state, the
//! admin HTTP server (`/livez`, `/readyz`, `/metrics`) and log setup with the access log.
//!
//! # Metrics
//! [`Metrics`] lists every metric outscope exports (text format 0.0.4, see
//! [`encode`]). All label values come from bounded sets: enums in [`labels`], the
//! proxy's static error codes, or names from the validated config bound at load time.
//! No label value is ever taken from request data.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `outscope_build_info` | gauge (=1) | `version`, `commit` (if known) |
//! | `outscope_requests_total` | counter | `route`, `method`, `status` |
//! | `outscope_request_duration_seconds` | histogram | `route` |
//! | `outscope_request_overhead_seconds` | histogram | `route` |
//! | `outscope_request_body_bytes` | histogram | `route` |
//! | `outscope_response_body_bytes` | histogram | `route` |
//! | `outscope_connections_active` | gauge | `listener` |
//! | `outscope_connections_total` | counter | `listener` |
//! | `outscope_tls_handshake_errors_total` | counter | `listener`, `reason` |
//! | `outscope_tls_certificate_expiry_timestamp_seconds` | gauge | `listener`, `server_name` |
//! | `outscope_rate_limited_total` | counter | `limit` |
//! | `outscope_rate_limit_fallback_total` | counter | `limit`, `mode` |
//! | `outscope_upstream_errors_total` | counter | `upstream`, `kind` |
//! | `outscope_requests_rejected_total` | counter | `reason` |
//! | `outscope_config_reloads_total` | counter | `result` |
//! | `outscope_config_last_reload_success_timestamp_seconds` | gauge | |
//! | `outscope_draining` | gauge (0/1) | |
//! | `outscope_dependency_up` | gauge (0/1) | `dependency` |
//! | `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`, `process_threads`, `process_start_time_seconds` | standard | |
//!
//! `route` is a configured route name or `_unmatched`; `method` is one of the nine
//! standard methods or `OTHER`; `status` is the exact code for the common codes in
//! [`labels::EXACT_STATUS_CODES`], otherwise its class (`4xx`). `outscope_draining` and
//! `outscope_dependency_up` are read from [`Health`] at scrape time, the `process_*`
//! metrics from `/proc/self` (Linux; omitted elsewhere). Later crates add families
//! through [`Collect`] and [`AdminState::with_collector`].
//!
//! Certificate expiry is exported as the notAfter **timestamp**, the Prometheus idiom
//! for "when" (a value that does not change between scrapes; "time left" is computed
//! at query time). Alert with
//! `outscope_tls_certificate_expiry_timestamp_seconds - time() < 14 * 86400`.
//!
//! ```
//! use std::time::Duration;
//! use outscope_telemetry::{BuildInfo, Method, Metrics};
//!
//! let metrics = Metrics::new(BuildInfo { version: "0.1.0", commit: None }, &["no_route"]);
//! // At config load (and again on every reload): one handle per route, by position.
//! let routes = metrics.bind_routes(["payments", "refunds"]);
//! // Per request, at the end of the driver: index by the matched route's position (or
//! // use `metrics.unmatched_route()`); no lookup, no allocation, no formatting.
//! let method = Method::from_http(&http::Method::POST);
//! routes[0].record(method, 201, Duration::from_millis(3), 512, 128);
//! assert_eq!(routes[0].requests(Method::Post, 201), 1);
//! // A request that ended with an error is also counted by its stable code.
//! metrics.unmatched_route().record(Method::Get, 404, Duration::from_micros(80), 0, 40);
//! metrics.reject("no_route");
//! ```
//!
//! Wiring at start-up (the proxy's `main`), with the admin server on its own listener:
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::SystemTime;
//! use outscope_telemetry::{
//!     AdminState, BuildInfo, Health, LogFormat, Metrics, Requirement, init_logging, serve_admin,
//! };
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let log = init_logging("info", LogFormat::Json)?; // keep `log` to change the level on SIGHUP
//! let metrics = Arc::new(Metrics::new(
//!     BuildInfo { version: env!("CARGO_PKG_VERSION"), commit: option_env!("OUTSCOPE_COMMIT") },
//!     &["no_route", "body_too_large", "rate_limited"], // every ProxyError::code()
//! ));
//! metrics.config_loaded(SystemTime::now());
//! let health = Arc::new(Health::new());
//! let redis = health.register("redis", Requirement::Required);
//! redis.set_up();
//!
//! let admin = tokio::net::TcpListener::bind("127.0.0.1:9090").await?;
//! let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(serve_admin(admin, AdminState::new(metrics, health.clone()), async {
//!     let _ = stop_rx.await;
//! }));
//! // SIGTERM: readiness goes 503 first, the admin server stops last.
//! health.start_draining();
//! let _ = stop_tx.send(());
//! server.await?;
//! # drop(log);
//! # Ok(())
//! # }
//! ```
//!
//! # Logs
//! [`init_logging`] installs a JSON or text subscriber. [`AccessLog`] is the access log
//! record: listener, route, normalised method, path **without** query string or
//! fragment, status, body sizes, duration, request id, peer IP, TLS version, ALPN and
//! the decision code. It never carries bodies, query strings, header values other than
//! the request id, or card data; long digit runs in the path and request id are masked
//! as defence in depth ([`logging::scrub`]).

pub mod admin;
pub mod encode;
pub mod family;
pub mod health;
pub mod labels;
pub mod logging;
pub mod metrics;
pub mod primitives;
pub mod process;

pub use admin::{AdminState, serve_admin};
pub use encode::Collect;
pub use health::{Check, Health, Readiness, Requirement};
pub use labels::{FallbackMode, Method, ReloadResult, TlsErrorReason, UpstreamErrorKind};
pub use logging::{AccessLog, LogFormat, LogHandle, LoggingError, init_logging};
pub use metrics::{
    BuildInfo, CertificateExpiry, ConnectionGuard, LimitMetrics, ListenerMetrics, Metrics,
    RouteMetrics, UNMATCHED_ROUTE, UpstreamMetrics,
};
