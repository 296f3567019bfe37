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
    pub runtime: Runtime,
    pub log: Log,
    pub request_id: RequestId,
    pub forwarding: Forwarding,
    pub redis: Option<Redis>,
    pub rate_limits: Vec<RateLimit>,
    pub upstreams: Vec<Upstream>,
    pub routes: Vec<Route>,
    /// Present whenever a route tokenizes (card rules or `on_detected = "tokenize"`, with
    /// inspection not `off`); the parser refuses a config that tokenizes without one.
    pub tokenizer: Option<Tokenizer>,
    /// Where `vault://` references are read (`[vault]`). Present whenever any reference is
    /// a `vault://` one; the parser refuses such a reference without it.
    pub vault: Option<Vault>,
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

/// The Vault / OpenBao server `vault://` references are read from (`[vault]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Vault {
    /// `https://host[:port]` (or `http://` to a loopback host). None: the `VAULT_ADDR` (or
    /// `BAO_ADDR`) environment variable at run time; outscope refuses to start without one.
    pub address: Option<String>,
    /// Sent as `X-Vault-Namespace` (Vault Enterprise, OpenBao namespaces).
    pub namespace: Option<String>,
    /// PEM bundle of the CAs to trust instead of the web PKI roots (a file; read by the
    /// Vault client at every connection setup).
    pub ca: Option<PathBuf>,
    pub auth: VaultAuth,
    /// How often every secret is read again (rotations take effect within this).
    pub refresh_interval: Duration,
    /// Deadline of one request to Vault.
    pub timeout: Duration,
}

/// How outscope logs in to Vault. Credentials are references, never literals.
#[derive(Debug, Clone, PartialEq)]
pub enum VaultAuth {
    /// A token from an `env://` variable (read once) or a `file://` (read again whenever
    /// Vault refuses the current token). Never a `vault://` reference.
    Token { token: SecretRef },
    /// AppRole login at `auth/<mount>`; role id and secret id files are read at every login.
    AppRole {
        mount: String,
        role_id: PathBuf,
        secret_id: PathBuf,
    },
    /// Kubernetes login at `auth/<mount>` as `role` with the service-account token file.
    Kubernetes {
        mount: String,
        role: String,
        jwt: PathBuf,
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

/// The async runtime (`[runtime]`). Read at start only: a reload that changes it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Runtime {
    /// Threads serving connections. `None`: one per CPU the process may use. `1` runs a
    /// single-threaded scheduler (no work stealing), the cheapest per request when the
    /// process is given one core.
    pub worker_threads: Option<usize>,
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
    /// `redis://host:port/db` without credentials; with `cluster`, one node (a seed).
    pub url: String,
    /// A Redis Cluster (shared rate limits only; the local vault's store needs one node).
    pub cluster: bool,
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    pub key_prefix: String,
    /// Per-command deadline; past it the command counts as a Redis error.
    pub timeout: Duration,
    /// HMAC key for rate-limit keys stored in Redis (client IPs, API keys, certificate
    /// subjects are stored only as keyed digests). Every instance sharing the Redis must use
    /// the same. None: unkeyed SHA-256 digests (an IPv4 address can then be recovered from
    /// its digest by trying them all).
    pub key_secret: Option<SecretRef>,
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
    /// The CA bundle (PEM) that verifies the upstream, replacing the bundled web PKI roots.
    /// None: the bundled web PKI roots.
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
    /// Card-data handling for this route.
    pub inspection: Inspection,
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

/// How card numbers become tokens (`[tokenizer]`). Required when any route tokenizes.
#[derive(Debug, Clone, PartialEq)]
pub enum Tokenizer {
    Stripe(StripeTokenizer),
    Local(LocalTokenizer),
}

/// Stripe's API (or a compatible one such as localstripe in tests).
#[derive(Debug, Clone, PartialEq)]
pub struct StripeTokenizer {
    /// `https://api.stripe.com` by default; `http://` only for loopback test servers.
    /// Lower-case scheme and host, no trailing slash (endpoint paths are appended).
    pub api_base: String,
    /// The secret key (`sk_...`), by reference.
    pub secret_key: SecretRef,
    pub create: StripeObject,
    /// Per-attempt deadline (connect, send, read the answer).
    pub timeout: Duration,
    /// Deadline for TCP connect and TLS handshake, within `timeout`.
    pub connect_timeout: Duration,
    /// Extra attempts on connection errors, 429 and 5xx (same idempotency key).
    pub max_retries: u32,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open before a probe.
    pub breaker_cool_down: Duration,
    /// Extra CA to trust (PEM), e.g. an egress proxy's. None: the bundled web PKI roots.
    pub ca: Option<SecretRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripeObject {
    /// `POST /v1/payment_methods` (`pm_...`).
    PaymentMethod,
    /// `POST /v1/tokens` (`tok_...`).
    Token,
}

/// outscope's own vault: AES-256-GCM ciphertexts, HMAC fingerprints.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalTokenizer {
    /// Static data-encryption keys (`keyid:base64` lines; the first is current). With
    /// `envelope` they only decrypt records made before it was turned on. At least one of
    /// `keys` and `envelope` is set.
    pub keys: Option<SecretRef>,
    /// The HMAC key that makes the same card map to the same token.
    pub fingerprint_key: SecretRef,
    pub store: LocalStore,
    pub token_format: TokenFormat,
    /// Envelope encryption: data keys from Vault transit (`transit_key`).
    pub envelope: Option<Envelope>,
}

/// Data keys for the local vault from a Vault / OpenBao transit key
/// (`datakey/plaintext`); the key-encrypting key never leaves Vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Where the transit engine is mounted (`transit`).
    pub mount: String,
    /// The transit key's name.
    pub key: String,
    /// How long one data key encrypts new cards before a new one is fetched.
    pub rotation: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalStore {
    /// Per instance, lost on restart (demo, tests).
    Memory,
    /// Shared by instances through `[redis]` (ciphertexts only).
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFormat {
    /// `tok_` + random base62.
    Random,
    /// Same length as the PAN, keeps last4, deliberately fails Luhn.
    Alias,
}

/// What a route does about card data (`[routes.inspection]`). Always on unless a route
/// says otherwise loudly.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    pub mode: InspectionMode,
    /// What built-in detection does with a card number outside configured card fields.
    pub on_detected: OnDetected,
    /// Configured card objects (structured fields), tokenized as a whole.
    pub cards: Vec<CardRule>,
    /// Scanner key paths (e.g. `order.reference`, `items[*].sku`) where built-in detection
    /// does not apply (known false positives). Configured card fields are never exempt.
    pub allow_key_paths: Vec<String>,
    /// Exact shapes (`ORD-################`) of known false positives, anywhere.
    pub allow_shapes: Vec<crate::allow::Shape>,
    /// Body types accepted; anything else is 415.
    pub content_types: Vec<BodyType>,
    /// `Content-Encoding`s accepted (decoded before inspection); anything else is 415.
    /// May be empty: then only unencoded bodies are accepted.
    pub encodings: Vec<Encoding>,
    pub max_decompressed_bytes: u64,
    /// Decoded size / encoded size above which a body is refused (bomb). At least 2.
    pub max_decompression_ratio: u32,
    /// 1 to 512 (the JSON parser recurses once per level).
    pub max_json_depth: usize,
    pub max_multipart_parts: usize,
    /// Multipart parts with a filename.
    pub file_parts: FileParts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectionMode {
    /// Find, tokenize/mask/reject, egress check. The default.
    Enforce,
    /// Only report and count; card data reaches the backend. Needs an explicit
    /// acknowledgement in the config; never the default.
    Shadow,
    /// No inspection at all (benchmarks, non-payment routes). Needs the same acknowledgement.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDetected {
    /// Replace the digits in place with a token.
    Tokenize,
    /// Keep BIN6 and last4 around fixed characters that can never pass Luhn.
    Mask,
    /// Answer 422.
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    Json,
    Form,
    Multipart,
    /// `text/*`, XML and anything else read as text (raw mode).
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gzip,
    Deflate,
    Br,
    Zstd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileParts {
    /// Scanned like any other part.
    Scan,
    /// A request with a file part is refused.
    Reject,
}

/// A structured card object in requests, replaced as a whole by the token result.
#[derive(Debug, Clone, PartialEq)]
pub struct CardRule {
    /// JSON: where the card object is (`$.payment.card`, `$.items[*].card`), validated
    /// JSONPath subset (`.name`, `['name']`, `[n]`, `[*]`).
    pub json_path: Option<String>,
    /// Forms and multipart: the field prefix (`card` for `card[number]`, `card[cvc]`, ...;
    /// may be nested: `payment_method_data[card]`). At least one of the two is set.
    pub form_prefix: Option<String>,
    /// Field names inside the object (distinct, non-empty, no `[` or `]`).
    pub fields: CardFields,
    /// Field names written in its place (None: left out; the written ones are distinct).
    pub output: CardOutput,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardFields {
    pub number: String,
    pub exp_month: String,
    pub exp_year: String,
    /// A combined `MM/YY` or `MM/YYYY` field.
    pub exp: String,
    pub cvc: String,
    pub name: String,
}

impl Default for CardFields {
    fn default() -> Self {
        Self {
            number: "number".into(),
            exp_month: "exp_month".into(),
            exp_year: "exp_year".into(),
            exp: "exp".into(),
            cvc: "cvc".into(),
            name: "name".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardOutput {
    pub token: String,
    pub last4: Option<String>,
    pub brand: Option<String>,
    pub exp_month: Option<String>,
    pub exp_year: Option<String>,
    pub fingerprint: Option<String>,
}

impl Default for CardOutput {
    fn default() -> Self {
        Self {
            token: "token".into(),
            last4: Some("last4".into()),
            brand: Some("brand".into()),
            exp_month: Some("exp_month".into()),
            exp_year: Some("exp_year".into()),
            fingerprint: Some("fingerprint".into()),
        }
    }
}

impl Inspection {
    /// Whether a found card number at this key path (or place: `path`, `query:<key>`,
    /// `header:<name>`) is an allow-listed false positive.
    pub fn allows_key_path(&self, key: &str) -> bool {
        self.allow_key_paths
            .iter()
            .any(|pattern| crate::allow::key_path_matches(pattern, key))
    }

    /// Whether a found card number at `span` of `haystack` sits inside an allow-listed
    /// shape.
    pub fn allows_shape(&self, haystack: &[u8], span: &std::ops::Range<usize>) -> bool {
        self.allow_shapes.iter().any(|s| s.covers(haystack, span))
    }
}

impl Default for Inspection {
    /// Enforce, reject detected card numbers (safe without a tokenizer), every body type
    /// and encoding, conservative limits.
    fn default() -> Self {
        Self {
            mode: InspectionMode::Enforce,
            on_detected: OnDetected::Reject,
            cards: Vec::new(),
            allow_key_paths: Vec::new(),
            allow_shapes: Vec::new(),
            content_types: vec![
                BodyType::Json,
                BodyType::Form,
                BodyType::Multipart,
                BodyType::Text,
            ],
            encodings: vec![
                Encoding::Gzip,
                Encoding::Deflate,
                Encoding::Br,
                Encoding::Zstd,
            ],
            max_decompressed_bytes: 8 * 1024 * 1024,
            max_decompression_ratio: 100,
            max_json_depth: 64,
            max_multipart_parts: 64,
            file_parts: FileParts::Scan,
        }
    }
}
