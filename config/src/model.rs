//! The validated runtime configuration.
//!
//! Everything here has been checked: addresses parse, names are unique, references between
//! sections (route -> upstream, route -> rate limit) are resolved to indices, durations are
//! positive and limits are non-zero. The proxy never re-validates these types.
//!
//! Secrets never appear here as values: only as [`SecretRef`]s, which the proxy resolves.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listeners: Vec<Listener>,
    pub admin: Admin,
    pub limits: Limits,
    pub shutdown: Shutdown,
    pub log: Log,
    pub request_id: RequestId,
    pub forwarding: Forwarding,
    pub redis: Option<Redis>,
    pub rate_limits: Vec<RateLimit>,
    pub upstreams: Vec<Upstream>,
    pub routes: Vec<Route>,
}

/// Where a secret (key, certificate, password) is read from. Never the secret itself.
///
/// `Display` prints the reference (`file:///etc/x.pem`, `env://NAME`), which is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretRef {
    /// `file:///absolute/path` (or `file://relative/path`, relative to the config file).
    File(PathBuf),
    /// `env://NAME`
    Env(String),
    /// `vault://<mount>/<path>#<key>` (KV v2); resolved by the Vault integration.
    Vault {
        mount: String,
        path: String,
        key: String,
    },
}

/// A TLS listener. Every client-facing listener terminates TLS 1.3; there is no plaintext mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub name: String,
    pub address: SocketAddr,
    pub tls: ListenerTls,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListenerTls {
    /// At least one. The first is the default when SNI is absent or matches none.
    pub certificates: Vec<Certificate>,
    pub client_auth: ClientAuth,
    /// ALPN protocols offered, in preference order (default `["h2", "http/1.1"]`).
    pub alpn: Vec<Alpn>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    H2,
    Http11,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    /// PEM certificate chain.
    pub cert: SecretRef,
    /// PEM private key.
    pub key: SecretRef,
    /// SNI names this certificate serves (lower-case; `*.example.com` wildcards allowed).
    /// Empty: only used as the default.
    pub server_names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientAuth {
    None,
    /// Clients may present a certificate signed by `ca`; those that do are verified.
    Optional {
        ca: SecretRef,
    },
    /// Clients must present a certificate signed by `ca`.
    Required {
        ca: SecretRef,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Admin {
    pub address: SocketAddr,
}

/// Protective limits. All on by default; routes may lower or raise `max_body_bytes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_body_bytes: u64,
    /// Time allowed to receive a complete request head (slowloris).
    pub header_read_timeout: Duration,
    /// Time allowed to receive a complete request body (slow bodies).
    pub body_read_timeout: Duration,
    /// Keep-alive idle time before the connection is closed.
    pub idle_timeout: Duration,
    /// TLS handshake deadline.
    pub handshake_timeout: Duration,
    /// Open client connections across all listeners.
    pub max_connections: usize,
    pub h2_max_concurrent_streams: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Shutdown {
    /// After SIGTERM, time spent reporting not-ready before the listeners close.
    /// May be zero (the one duration that may).
    pub drain_delay: Duration,
    /// Then, the most time in-flight requests get before the process exits.
    pub drain_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Log {
    /// A tracing `EnvFilter` directive, e.g. `info` or `outscope=debug,info`.
    pub level: String,
    pub format: LogFormat,
    pub access_log: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RequestId {
    /// Lower-case header name (default `x-request-id`).
    pub header: String,
    /// Keep a well-formed incoming id instead of generating one.
    pub trust_incoming: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Forwarding {
    /// Peers whose `X-Forwarded-For` is believed when finding the client IP.
    pub trusted_proxies: Vec<IpNet>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Redis {
    /// `redis://host:port/db` without credentials.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    pub key_prefix: String,
    /// Per-command deadline; past it the command counts as a Redis error.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    pub name: String,
    pub key: RateLimitKey,
    /// Sustained rate: `requests` per `per`.
    pub requests: NonZeroU32,
    pub per: Duration,
    /// Requests allowed at once above the sustained rate (GCRA burst). At least 1.
    pub burst: NonZeroU32,
    pub backend: RateLimitBackend,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimitKey {
    ClientIp,
    /// Lower-case header name, e.g. `x-api-key`. Requests without it share one bucket.
    Header(String),
    ClientCertSubject,
    Route,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitBackend {
    Local,
    Redis { on_error: OnRedisError },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRedisError {
    /// Allow the request, count it.
    FailOpen,
    /// Refuse the request with 503, count it.
    FailClosed,
    /// Decide with a per-instance limiter of the same policy, count it.
    Local,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    pub name: String,
    pub url: UpstreamUrl,
    pub connect_timeout: Duration,
    /// Time to the response head.
    pub request_timeout: Duration,
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
    /// Present iff the URL scheme is `https`.
    pub tls: Option<UpstreamTls>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    pub https: bool,
    /// Lower-case DNS name or IP address; IPv6 literals without brackets (`::1`).
    pub host: String,
    pub port: u16,
    /// Prefix prepended to forwarded paths, without trailing slash ("" for none).
    pub base_path: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamTls {
    /// Extra CA to trust (PEM). None: the bundled web PKI roots.
    pub ca: Option<SecretRef>,
    pub client_cert: Option<ClientCert>,
    /// SNI / verification name; defaults to the URL host.
    pub server_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientCert {
    pub cert: SecretRef,
    pub key: SecretRef,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub name: String,
    /// None: any host.
    pub host: Option<HostMatch>,
    /// Upper-case method names. Empty: any method.
    pub methods: Vec<String>,
    pub path: PathMatch,
    /// Index into [`Config::upstreams`].
    pub upstream: usize,
    /// Indices into [`Config::rate_limits`], applied in order.
    pub rate_limits: Vec<usize>,
    pub host_header: HostHeader,
    /// Allow `Upgrade` (e.g. WebSocket) on this route. Off by default.
    pub allow_upgrade: bool,
    /// Effective limit (route override or the global one).
    pub max_body_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// Lower-case exact host, port ignored.
    Exact(String),
    /// `*.example.com`: stored as `.example.com`; matches any sub-domain, not the apex.
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// Matches the path itself and anything below it at a `/` boundary
    /// (`/v1` matches `/v1`, `/v1/x`, not `/v10`). `/` matches everything. Stored without
    /// a trailing slash (`/v1/` in the file becomes `/v1`), except `/` itself.
    Prefix(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostHeader {
    /// Forward the client's Host.
    Preserve,
    /// Use the upstream URL's authority.
    Upstream,
    /// Use this value (`host` or `host:port`, lower-case, validated).
    Set(String),
}
