//! [`Metrics`]: every metric outscope exports, and the handles the proxy updates.
//!
//! Config-named dimensions (route, listener, limit, upstream, certificate) are bound
//! once per loaded config with the `bind_*` methods, which return handles in the order
//! of the names given; the proxy stores them next to the runtime config it swaps on
//! reload and indexes them by position. Recording through a handle is a few relaxed
//! atomic adds: no lock, no allocation, no string formatting.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::encode::{Collect, Encoder, Kind};
use crate::family::{CodeCounters, EnumCounters, Keyed};
use crate::labels::{
    self, FallbackMode, LabelEnum, Method, ReloadResult, STATUS_LABEL_COUNT, TlsErrorReason,
    UpstreamErrorKind,
};
use crate::primitives::{
    Counter, DURATION_BUCKETS, Gauge, Histogram, OVERHEAD_BUCKETS, SIZE_BUCKETS,
};

/// The `route` label of requests that matched no route (or ended before routing).
/// Config validation should reserve route names starting with `_`; a route configured
/// with exactly this name shares the series rather than duplicating it.
pub const UNMATCHED_ROUTE: &str = "_unmatched";

/// Static facts exported as `outscope_build_info{version,commit} 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: &'static str,
    /// The git commit, if the build knew it; the label is omitted otherwise.
    pub commit: Option<&'static str>,
}

/// The whole registry. Create one per process, share it as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    build: BuildInfo,
    unmatched: Arc<RouteSeries>,
    routes: Keyed<Box<str>, RouteSeries>,
    listeners: Keyed<Box<str>, ListenerSeries>,
    limits: Keyed<Box<str>, LimitSeries>,
    upstreams: Keyed<Box<str>, UpstreamSeries>,
    certificates: Keyed<(Box<str>, Box<str>), Gauge>,
    requests_rejected: CodeCounters,
    config_reloads: EnumCounters<ReloadResult>,
    config_last_reload_success: Gauge,
}

impl Metrics {
    /// `reject_codes` is the complete list of stable error codes the proxy can answer
    /// with (`outscope_requests_rejected_total{reason}`); other codes count as `other`.
    pub fn new(build: BuildInfo, reject_codes: &'static [&'static str]) -> Self {
        Self {
            build,
            unmatched: Arc::default(),
            routes: Keyed::default(),
            listeners: Keyed::default(),
            limits: Keyed::default(),
            upstreams: Keyed::default(),
            certificates: Keyed::default(),
            requests_rejected: CodeCounters::new(reject_codes),
            config_reloads: EnumCounters::default(),
            config_last_reload_success: Gauge::default(),
        }
    }

    /// Handles for the configured routes, in the given order; routes no longer
    /// configured stop being exported.
    pub fn bind_routes<'n>(&self, names: impl IntoIterator<Item = &'n str>) -> Vec<RouteMetrics> {
        let names: Vec<&str> = names.into_iter().collect();
        let mut bound = self
            .routes
            .bind(
                names
                    .iter()
                    .filter(|n| **n != UNMATCHED_ROUTE)
                    .map(|n| Box::from(*n)),
            )
            .into_iter();
        names
            .iter()
            .filter_map(|n| match *n == UNMATCHED_ROUTE {
                true => Some(Arc::clone(&self.unmatched)),
                false => bound.next(),
            })
            .map(RouteMetrics)
            .collect()
    }

    /// The series for requests that matched no route.
    pub fn unmatched_route(&self) -> RouteMetrics {
        RouteMetrics(Arc::clone(&self.unmatched))
    }

    pub fn bind_listeners<'n>(
        &self,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Vec<ListenerMetrics> {
        let handles = self.listeners.bind(names.into_iter().map(Box::from));
        handles.into_iter().map(ListenerMetrics).collect()
    }

    pub fn bind_limits<'n>(&self, names: impl IntoIterator<Item = &'n str>) -> Vec<LimitMetrics> {
        let handles = self.limits.bind(names.into_iter().map(Box::from));
        handles.into_iter().map(LimitMetrics).collect()
    }

    pub fn bind_upstreams<'n>(
        &self,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Vec<UpstreamMetrics> {
        let handles = self.upstreams.bind(names.into_iter().map(Box::from));
        handles.into_iter().map(UpstreamMetrics).collect()
    }

    /// Replaces the exported certificate set (call at start-up and on every cert load).
    pub fn set_certificates<'n>(&self, certs: impl IntoIterator<Item = CertificateExpiry<'n>>) {
        let certs: Vec<_> = certs.into_iter().collect();
        let keys = certs
            .iter()
            .map(|c| (Box::from(c.listener), Box::from(c.server_name)));
        let gauges = self.certificates.bind(keys);
        for (g, c) in gauges.iter().zip(&certs) {
            g.set(unix_seconds(c.not_after));
        }
    }

    /// Counts a request answered with a stable error code (`ProxyError::code()`).
    pub fn reject(&self, code: &str) {
        self.requests_rejected.inc(code);
    }

    /// The config the process started with was loaded at `at` (sets the timestamp
    /// without counting a reload).
    pub fn config_loaded(&self, at: SystemTime) {
        self.config_last_reload_success.set(unix_seconds(at));
    }

    pub fn reload_succeeded(&self, at: SystemTime) {
        self.config_reloads.inc(ReloadResult::Success);
        self.config_last_reload_success.set(unix_seconds(at));
    }

    pub fn reload_failed(&self) {
        self.config_reloads.inc(ReloadResult::Failure);
    }

    /// Appends every family to `enc`, in a fixed order (same as [`Collect::collect`]).
    pub fn encode(&self, enc: &mut Encoder<'_>) {
        self.encode_build_info(enc);
        self.encode_routes(enc);
        self.encode_listeners(enc);
        self.encode_certificates(enc);
        self.encode_limits(enc);
        self.encode_misc(enc);
    }

    fn encode_build_info(&self, enc: &mut Encoder<'_>) {
        let name = "outscope_build_info";
        enc.family(
            name,
            "Build information; the value is always 1.",
            Kind::Gauge,
        );
        let mut labels = vec![("version", self.build.version)];
        labels.extend(self.build.commit.map(|c| ("commit", c)));
        enc.sample_u64(name, &labels, 1);
    }

    fn route_snapshot(&self) -> Vec<(Box<str>, Arc<RouteSeries>)> {
        let mut all = vec![(Box::from(UNMATCHED_ROUTE), Arc::clone(&self.unmatched))];
        all.extend(self.routes.snapshot());
        all
    }

    fn encode_routes(&self, enc: &mut Encoder<'_>) {
        let routes = self.route_snapshot();
        let name = "outscope_requests_total";
        enc.family(
            name,
            "Requests answered, by route, method and status.",
            Kind::Counter,
        );
        for (route, s) in &routes {
            for m in Method::ALL {
                for (st, label) in labels::STATUS_LABELS.iter().enumerate() {
                    let n = s.requests[cell(*m, st)].get();
                    if n > 0 {
                        let l = [
                            ("route", &**route),
                            ("method", m.as_str()),
                            ("status", label),
                        ];
                        enc.sample_u64(name, &l, n);
                    }
                }
            }
        }
        let hists: [(&str, &str, PickHistogram); 4] = [
            (
                "outscope_request_duration_seconds",
                "Time from the request head received to the response head sent.",
                |s| &s.duration,
            ),
            (
                "outscope_request_overhead_seconds",
                "outscope's own time in forwarded requests: the duration less the wait for \
                 the upstream's response head (tokenizer calls included).",
                |s| &s.overhead,
            ),
            (
                "outscope_request_body_bytes",
                "Request body sizes received.",
                |s| &s.request_bytes,
            ),
            (
                "outscope_response_body_bytes",
                "Response body sizes sent.",
                |s| &s.response_bytes,
            ),
        ];
        for (name, help, pick) in hists {
            enc.family(name, help, Kind::Histogram);
            for (route, s) in &routes {
                enc.histogram(name, &[("route", route)], pick(s));
            }
        }
    }

    fn encode_listeners(&self, enc: &mut Encoder<'_>) {
        let ls = self.listeners.snapshot();
        let name = "outscope_connections_active";
        enc.family(name, "Client connections currently open.", Kind::Gauge);
        for (l, s) in &ls {
            enc.sample_f64(name, &[("listener", l)], s.connections_active.get());
        }
        let name = "outscope_connections_total";
        enc.family(name, "Client connections accepted.", Kind::Counter);
        for (l, s) in &ls {
            enc.sample_u64(name, &[("listener", l)], s.connections_total.get());
        }
        let name = "outscope_tls_handshake_errors_total";
        enc.family(
            name,
            "TLS handshakes that failed, by reason.",
            Kind::Counter,
        );
        for (l, s) in &ls {
            for (reason, n) in s.tls_handshake_errors.iter() {
                let lbl = [("listener", &**l), (TlsErrorReason::LABEL, reason)];
                enc.sample_u64(name, &lbl, n);
            }
        }
    }

    fn encode_certificates(&self, enc: &mut Encoder<'_>) {
        let name = "outscope_tls_certificate_expiry_timestamp_seconds";
        let help = "The notAfter time of each served certificate, as a Unix timestamp.";
        enc.family(name, help, Kind::Gauge);
        for ((l, sn), g) in self.certificates.snapshot() {
            enc.sample_f64(name, &[("listener", &l), ("server_name", &sn)], g.get());
        }
    }

    fn encode_limits(&self, enc: &mut Encoder<'_>) {
        let ls = self.limits.snapshot();
        let name = "outscope_rate_limited_total";
        enc.family(name, "Requests refused by a rate limit.", Kind::Counter);
        for (l, s) in &ls {
            enc.sample_u64(name, &[("limit", l)], s.rate_limited.get());
        }
        let name = "outscope_rate_limit_fallback_total";
        let help = "Rate-limit decisions taken without Redis, by on_redis_error mode.";
        enc.family(name, help, Kind::Counter);
        for (l, s) in &ls {
            for (mode, n) in s.fallback.iter() {
                enc.sample_u64(name, &[("limit", &**l), (FallbackMode::LABEL, mode)], n);
            }
        }
        let name = "outscope_upstream_errors_total";
        enc.family(
            name,
            "Failed requests to upstreams, by kind.",
            Kind::Counter,
        );
        for (u, s) in self.upstreams.snapshot() {
            for (kind, n) in s.errors.iter() {
                enc.sample_u64(
                    name,
                    &[("upstream", &u), (UpstreamErrorKind::LABEL, kind)],
                    n,
                );
            }
        }
    }

    fn encode_misc(&self, enc: &mut Encoder<'_>) {
        let name = "outscope_requests_rejected_total";
        enc.family(
            name,
            "Requests answered with an error, by error code.",
            Kind::Counter,
        );
        for (code, n) in self.requests_rejected.iter() {
            enc.sample_u64(name, &[("reason", code)], n);
        }
        let name = "outscope_config_reloads_total";
        enc.family(name, "Config reload attempts, by result.", Kind::Counter);
        for (result, n) in self.config_reloads.iter() {
            enc.sample_u64(name, &[(ReloadResult::LABEL, result)], n);
        }
        let name = "outscope_config_last_reload_success_timestamp_seconds";
        let help = "When the running config was loaded, as a Unix timestamp.";
        enc.family(name, help, Kind::Gauge);
        enc.sample_f64(name, &[], self.config_last_reload_success.get());
    }
}

/// Selects one of a route's histograms.
type PickHistogram = fn(&RouteSeries) -> &Histogram;

impl Collect for Metrics {
    fn collect(&self, enc: &mut Encoder<'_>) {
        self.encode(enc);
    }
}

fn cell(m: Method, status_index: usize) -> usize {
    m.index() * STATUS_LABEL_COUNT + status_index
}

fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// Per-route series.
#[derive(Debug)]
pub struct RouteSeries {
    requests: Box<[Counter]>,
    duration: Histogram,
    overhead: Histogram,
    request_bytes: Histogram,
    response_bytes: Histogram,
}

impl Default for RouteSeries {
    fn default() -> Self {
        let cells = Method::ALL.len() * STATUS_LABEL_COUNT;
        Self {
            requests: (0..cells).map(|_| Counter::default()).collect(),
            duration: Histogram::new(DURATION_BUCKETS),
            overhead: Histogram::new(OVERHEAD_BUCKETS),
            request_bytes: Histogram::new(SIZE_BUCKETS),
            response_bytes: Histogram::new(SIZE_BUCKETS),
        }
    }
}

/// A route's handle. Cheap to clone; store one per configured route.
#[derive(Debug, Clone)]
pub struct RouteMetrics(Arc<RouteSeries>);

impl RouteMetrics {
    /// Records one finished request: counter, duration and both body sizes.
    pub fn record(
        &self,
        m: Method,
        status: u16,
        elapsed: Duration,
        req_bytes: u64,
        resp_bytes: u64,
    ) {
        self.count(m, status);
        self.0.duration.observe_duration(elapsed);
        self.0.request_bytes.observe(req_bytes as f64);
        self.0.response_bytes.observe(resp_bytes as f64);
    }

    /// outscope's own time in a forwarded request: the duration less the wait for the
    /// upstream's response head (`outscope_request_overhead_seconds`).
    pub fn overhead(&self, own: Duration) {
        self.0.overhead.observe_duration(own);
    }

    /// Only `outscope_requests_total` (for answers with no meaningful duration or size).
    pub fn count(&self, m: Method, status: u16) {
        if let Some(c) = self.0.requests.get(cell(m, labels::status_index(status))) {
            c.inc();
        }
    }

    /// The current `outscope_requests_total` value for one label set (tests, debugging).
    pub fn requests(&self, m: Method, status: u16) -> u64 {
        let c = self.0.requests.get(cell(m, labels::status_index(status)));
        c.map_or(0, Counter::get)
    }
}

#[derive(Debug, Default)]
pub struct ListenerSeries {
    connections_total: Counter,
    connections_active: Gauge,
    tls_handshake_errors: EnumCounters<TlsErrorReason>,
}

/// A listener's handle.
#[derive(Debug, Clone)]
pub struct ListenerMetrics(Arc<ListenerSeries>);

impl ListenerMetrics {
    /// Counts an accepted connection; it stays in `outscope_connections_active` until
    /// the guard drops.
    pub fn connection_opened(&self) -> ConnectionGuard {
        self.0.connections_total.inc();
        self.0.connections_active.inc();
        ConnectionGuard(Arc::clone(&self.0))
    }

    pub fn tls_handshake_failed(&self, reason: TlsErrorReason) {
        self.0.tls_handshake_errors.inc(reason);
    }

    pub fn connections_active(&self) -> f64 {
        self.0.connections_active.get()
    }
}

/// Decrements `outscope_connections_active` when dropped.
#[derive(Debug)]
pub struct ConnectionGuard(Arc<ListenerSeries>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections_active.dec();
    }
}

#[derive(Debug, Default)]
pub struct LimitSeries {
    rate_limited: Counter,
    fallback: EnumCounters<FallbackMode>,
}

/// A configured rate limit's handle.
#[derive(Debug, Clone)]
pub struct LimitMetrics(Arc<LimitSeries>);

impl LimitMetrics {
    pub fn limited(&self) {
        self.0.rate_limited.inc();
    }

    /// Redis failed and the limit decided by `mode` instead.
    pub fn fallback(&self, mode: FallbackMode) {
        self.0.fallback.inc(mode);
    }
}

#[derive(Debug, Default)]
pub struct UpstreamSeries {
    errors: EnumCounters<UpstreamErrorKind>,
}

/// An upstream's handle.
#[derive(Debug, Clone)]
pub struct UpstreamMetrics(Arc<UpstreamSeries>);

impl UpstreamMetrics {
    pub fn error(&self, kind: UpstreamErrorKind) {
        self.0.errors.inc(kind);
    }
}

/// One served certificate, for [`Metrics::set_certificates`].
#[derive(Debug, Clone, Copy)]
pub struct CertificateExpiry<'a> {
    pub listener: &'a str,
    /// The configured SNI name the certificate is served for.
    pub server_name: &'a str,
    pub not_after: SystemTime,
}
