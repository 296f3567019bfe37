//! The Stripe tokenizer: one `POST /v1/payment_methods` (or `/v1/tokens`) per card over a
//! pooled HTTP/1.1 client, with a per-attempt timeout, bounded retries that reuse one
//! `Idempotency-Key` (connection errors, 429 and 5xx only; never another 4xx; never when
//! Stripe answers `Stripe-Should-Retry: false`), jittered backoff, and a circuit breaker.
//!
//! Stripe replays the saved answer of a key, 500s included, once an endpoint started
//! executing; a retry helps with failures in front of it (connection errors, 502/503
//! from its edge) and with 429. Timeouts are not retried: the attempt used its budget.

mod connector;
mod wire;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::Rng;
use rustls_pki_types::CertificateDer;
use zeroize::Zeroizing;

use crate::card::CardInput;
use crate::circuit::{CircuitBreaker, CircuitOptions, CircuitState};
use crate::clock::{Clock, SystemClock};
use crate::error::{SetupError, TokenizeError, UnavailableCause};
use crate::result::TokenResult;
use crate::secret::{SecretString, zeroizing_bytes};
use connector::Connector;

/// Largest Stripe answer we read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Which Stripe object to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/payment_methods` with `type=card`: a `pm_...` id.
    PaymentMethods,
    /// `POST /v1/tokens`: a `tok_...` id (legacy Charges API).
    Tokens,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::PaymentMethods => "/v1/payment_methods",
            Endpoint::Tokens => "/v1/tokens",
        }
    }
}

/// How retries are spaced: attempt `n` (from 1) waits a random time between half and all
/// of `min(max_delay, base_delay * 2^(n-1))`, or the server's `Retry-After` when longer
/// (a `Retry-After` beyond `max_delay` ends the retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOptions {
    /// Retries after the first attempt (0: none).
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            max_retries: 2,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

/// Settings for [`StripeTokenizer::new`]. A call takes at most
/// `(retry.max_retries + 1) * timeout` plus the backoff delays.
pub struct StripeOptions {
    /// `https://api.stripe.com`, or `http://127.0.0.1:PORT` (plain HTTP is refused unless
    /// the host is a loopback address: tests against localstripe).
    pub api_base: String,
    /// `sk_...` or `rk_...`; resolved by the caller from its reference.
    pub secret_key: SecretString,
    pub endpoint: Endpoint,
    /// Deadline for one attempt (connect, send, read the answer).
    pub timeout: Duration,
    /// Deadline for TCP connect and TLS handshake (within `timeout`).
    pub connect_timeout: Duration,
    pub retry: RetryOptions,
    pub circuit: CircuitOptions,
    /// Sent as `Stripe-Version` when set.
    pub stripe_version: Option<String>,
    /// Trusted in addition to the webpki roots (an egress proxy's CA; tests).
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl StripeOptions {
    /// Defaults: PaymentMethods, 5 s timeout, 2 s connect timeout, 2 retries, breaker
    /// opening after 5 failures for 10 s.
    pub fn new(api_base: &str, secret_key: SecretString) -> StripeOptions {
        StripeOptions {
            api_base: api_base.to_owned(),
            secret_key,
            endpoint: Endpoint::PaymentMethods,
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            retry: RetryOptions::default(),
            circuit: CircuitOptions::default(),
            stripe_version: None,
            extra_roots: Vec::new(),
        }
    }
}

impl std::fmt::Debug for StripeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeOptions")
            .field("api_base", &self.api_base)
            .field("secret_key", &"<redacted>")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("circuit", &self.circuit)
            .finish_non_exhaustive()
    }
}

/// A Stripe tokenizer. Cheap to clone; clones share the connection pool and breaker.
#[derive(Clone)]
pub struct StripeTokenizer {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client<Connector, Full<Bytes>>,
    uri: Uri,
    endpoint: Endpoint,
    /// `Bearer sk_...`, marked sensitive, over a buffer wiped on drop.
    authorization: HeaderValue,
    stripe_version: Option<HeaderValue>,
    timeout: Duration,
    retry: RetryOptions,
    breaker: CircuitBreaker,
}

impl StripeTokenizer {
    pub fn new(options: StripeOptions) -> Result<StripeTokenizer, SetupError> {
        StripeTokenizer::with_clock(options, Arc::new(SystemClock))
    }

    /// As [`StripeTokenizer::new`], with the breaker's clock injected (tests).
    pub fn with_clock(
        options: StripeOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<StripeTokenizer, SetupError> {
        let base = ApiBase::parse(&options.api_base)?;
        let connector = Connector::new(
            &base.host,
            base.port,
            options.connect_timeout,
            base.tls,
            &options.extra_roots,
        )?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build(connector);
        let uri: Uri = format!("{}{}", base.origin, options.endpoint.path())
            .parse()
            .map_err(|_| SetupError::ApiBase)?;
        let stripe_version = match &options.stripe_version {
            Some(v) => Some(HeaderValue::from_str(v).map_err(|_| SetupError::ApiBase)?),
            None => None,
        };
        Ok(StripeTokenizer {
            inner: Arc::new(Inner {
                client,
                uri,
                endpoint: options.endpoint,
                authorization: authorization(&options.secret_key)?,
                stripe_version,
                timeout: options.timeout,
                retry: options.retry,
                breaker: CircuitBreaker::new(options.circuit, clock),
            }),
        })
    }

    /// The breaker's state (for readiness and metrics).
    pub fn circuit_state(&self) -> CircuitState {
        self.inner.breaker.state()
    }

    /// Creates the PaymentMethod or Token for `card`. The card is wiped when this returns.
    pub async fn tokenize(&self, card: CardInput) -> Result<TokenResult, TokenizeError> {
        card.validate()?;
        let permit = self
            .inner
            .breaker
            .acquire()
            .map_err(|retry_after| TokenizeError::CircuitOpen { retry_after })?;
        let body = zeroizing_bytes(wire::form_body(self.inner.endpoint, &card));
        drop(card);
        let result = self.send_with_retries(body).await;
        permit.record(!matches!(&result, Err(e) if e.is_provider_failure()));
        result
    }

    async fn send_with_retries(&self, body: Bytes) -> Result<TokenResult, TokenizeError> {
        let idempotency_key = idempotency_key();
        let retry = self.inner.retry;
        let mut attempt = 0;
        loop {
            let (result, should_retry) = self.send_once(&body, &idempotency_key).await;
            let Err(err) = &result else { return result };
            // Stripe says when a retry cannot help (e.g. a saved 500 replayed for the key).
            if attempt >= retry.max_retries || !retryable(err) || should_retry == Some(false) {
                return result;
            }
            attempt += 1;
            let delay = backoff(retry, attempt);
            let delay = match err.retry_after() {
                Some(wanted) if wanted > retry.max_delay => return result,
                Some(wanted) => wanted.max(delay),
                None => delay,
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt, and Stripe's `Stripe-Should-Retry` answer when it gave one.
    async fn send_once(&self, body: &Bytes, idempotency_key: &HeaderValue) -> Attempt {
        let inner = &self.inner;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(inner.uri.clone())
            .header(AUTHORIZATION, inner.authorization.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(
                USER_AGENT,
                concat!("outscope-tokenizer/", env!("CARGO_PKG_VERSION")),
            )
            .header("Idempotency-Key", idempotency_key.clone());
        if let Some(version) = &inner.stripe_version {
            request = request.header("Stripe-Version", version.clone());
        }
        let Ok(request) = request.body(Full::new(body.clone())) else {
            let err = TokenizeError::Misconfigured("could not build the Stripe request");
            return (Err(err), None);
        };
        let mut should_retry = None;
        let exchange = async {
            let response = inner.client.request(request).await.map_err(|e| {
                TokenizeError::unavailable(if e.is_connect() {
                    UnavailableCause::Connect
                } else {
                    UnavailableCause::Transport
                })
            })?;
            let status = response.status().as_u16();
            let retry_after = wire::parse_retry_after(response.headers().get(RETRY_AFTER));
            should_retry = match response.headers().get("stripe-should-retry") {
                Some(v) if v == "true" => Some(true),
                Some(v) if v == "false" => Some(false),
                _ => None,
            };
            let collected = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|_| TokenizeError::unavailable(UnavailableCause::Transport))?
                .to_bytes();
            if (200..300).contains(&status) {
                wire::parse_created(&collected)
            } else {
                Err(wire::classify_status(status, &collected, retry_after))
            }
        };
        let result = tokio::time::timeout(inner.timeout, exchange)
            .await
            .unwrap_or(Err(TokenizeError::Timeout(inner.timeout)));
        (result, should_retry)
    }
}

type Attempt = (Result<TokenResult, TokenizeError>, Option<bool>);

impl std::fmt::Debug for StripeTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeTokenizer")
            .field("uri", &self.inner.uri)
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

/// Retried: connection failures, 429 and 5xx (unless Stripe answered
/// `Stripe-Should-Retry: false`). Not retried: timeouts (the attempt used its whole
/// budget), any other 4xx, our own errors.
fn retryable(err: &TokenizeError) -> bool {
    matches!(
        err,
        TokenizeError::Unavailable {
            cause: UnavailableCause::Connect
                | UnavailableCause::Transport
                | UnavailableCause::RateLimited
                | UnavailableCause::ServerError(_),
            ..
        }
    )
}

fn backoff(retry: RetryOptions, attempt: u32) -> Duration {
    let exp = retry
        .base_delay
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let cap = exp.min(retry.max_delay);
    let half = cap / 2;
    let jitter_nanos =
        rand::rng().random_range(0..=half.as_nanos().min(u128::from(u64::MAX)) as u64);
    half + Duration::from_nanos(jitter_nanos)
}

/// 32 random hex characters, one per tokenize call (shared by its retries).
fn idempotency_key() -> HeaderValue {
    let bytes: [u8; 16] = rand::rng().random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("outscope-{hex}"))
        .unwrap_or_else(|_| HeaderValue::from_static("outscope-invalid"))
}

fn authorization(key: &SecretString) -> Result<HeaderValue, SetupError> {
    let key = key.expose();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SetupError::SecretKey);
    }
    let mut buffer = Zeroizing::new(Vec::with_capacity(7 + key.len()));
    buffer.extend_from_slice(b"Bearer ");
    buffer.extend_from_slice(key.as_bytes());
    let mut value = HeaderValue::from_maybe_shared(zeroizing_bytes(buffer))
        .map_err(|_| SetupError::SecretKey)?;
    value.set_sensitive(true);
    Ok(value)
}

/// A parsed `api_base`.
struct ApiBase {
    /// `scheme://host[:port]`, for request URIs.
    origin: String,
    host: String,
    port: u16,
    tls: bool,
}

impl ApiBase {
    fn parse(api_base: &str) -> Result<ApiBase, SetupError> {
        let uri: Uri = api_base
            .trim_end_matches('/')
            .parse()
            .map_err(|_| SetupError::ApiBase)?;
        let authority = uri.authority().ok_or(SetupError::ApiBase)?;
        if authority.as_str().contains('@')
            || uri.query().is_some()
            || !matches!(uri.path(), "" | "/")
        {
            return Err(SetupError::ApiBase);
        }
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(SetupError::ApiBase),
        };
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if !tls && !is_loopback(&host) {
            return Err(SetupError::InsecureApiBase);
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(ApiBase {
            origin: format!("{}://{}", if tls { "https" } else { "http" }, authority),
            host,
            port,
            tls,
        })
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_base_is_https_or_loopback_http() {
        assert!(ApiBase::parse("https://api.stripe.com").is_ok());
        assert!(ApiBase::parse("http://127.0.0.1:8420/").is_ok());
        assert!(ApiBase::parse("http://[::1]:8420").is_ok());
        assert_eq!(
            ApiBase::parse("http://api.stripe.com")
                .err()
                .map(|e| e.to_string()),
            Some(SetupError::InsecureApiBase.to_string())
        );
        assert!(ApiBase::parse("https://user:pw@api.stripe.com").is_err());
        assert!(ApiBase::parse("https://api.stripe.com/v1").is_err());
        assert!(ApiBase::parse("ftp://api.stripe.com").is_err());
    }

    #[test]
    fn backoff_stays_within_half_and_full_of_the_capped_exponential() {
        let retry = RetryOptions {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
        };
        for _ in 0..100 {
            let first = backoff(retry, 1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = backoff(retry, 3);
            assert!(third >= Duration::from_millis(150) && third <= Duration::from_millis(300));
        }
    }

    #[test]
    fn only_outages_are_retried() {
        let unavailable = |cause| TokenizeError::unavailable(cause);
        assert!(retryable(&unavailable(UnavailableCause::Connect)));
        assert!(retryable(&unavailable(UnavailableCause::ServerError(503))));
        assert!(retryable(&unavailable(UnavailableCause::RateLimited)));
        assert!(!retryable(&unavailable(UnavailableCause::BadResponse)));
        assert!(!retryable(&TokenizeError::Timeout(Duration::from_secs(1))));
        assert!(!retryable(&TokenizeError::Misconfigured("x")));
    }
}
