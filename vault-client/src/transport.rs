//! One HTTP exchange with Vault, retried with backoff while Vault is unavailable.
//!
//! Retry rules: transport errors, timeouts, 429 and 5xx are retried up to
//! `max_attempts`; a 4xx never is. A call that may change state when repeated (rotating a
//! key, writing a KV version) is retried only when Vault surely did not act on it: the
//! connection was never made, or Vault answered 429 or 503.

use std::time::Duration;

use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::ServerName;
use zeroize::Zeroizing;

use crate::backoff::Backoff;
use crate::body::SecretBody;
use crate::connector::Connector;
use crate::error::{Error, Kind, summarize_server_errors};
use crate::secret::SecretString;
use crate::tls::{self, Trust};

/// Larger responses are refused: no Vault answer this client asks for comes near it.
const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Whether a call may be sent again after Vault may have acted on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Reads, logins, encrypt/decrypt: repeating them changes nothing that matters.
    Idempotent,
    /// Writes and rotations: repeat only when Vault surely did not act.
    UnlessActedOn,
}

/// One call: `method /v1/path`, an optional token and JSON body.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) path: &'a str,
    pub(crate) token: Option<&'a SecretString>,
    pub(crate) body: Option<Zeroizing<Vec<u8>>>,
    pub(crate) retry: Retry,
}

/// The parsed `VAULT_ADDR`.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    https: bool,
    host: String,
    port: u16,
    origin: String,
}

impl Endpoint {
    pub(crate) fn parse(addr: &str) -> Result<Self, Error> {
        // The address is not echoed: a mistyped one may carry credentials.
        let bad = |why: &str| Error::config(format!("the Vault address (VAULT_ADDR): {why}"));
        let uri: http::Uri = addr.trim().parse().map_err(|_| bad("not a URL"))?;
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(bad("credentials in the address are not supported"));
        }
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?;
        if !uri.path().trim_end_matches('/').is_empty() || uri.query().is_some() {
            return Err(bad("give the server's origin only, without a path"));
        }
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let origin = match host.contains(':') {
            true => format!("{}://[{host}]:{port}", uri.scheme_str().unwrap_or("https")),
            false => format!("{}://{host}:{port}", uri.scheme_str().unwrap_or("https")),
        };
        Ok(Self {
            https,
            host,
            port,
            origin,
        })
    }

    #[cfg(test)]
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }
}

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub(crate) struct TransportConfig {
    pub(crate) endpoint: Endpoint,
    pub(crate) trust: Trust,
    pub(crate) tls_server_name: Option<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
}

pub(crate) struct Transport {
    client: Client<Connector, SecretBody>,
    origin: String,
    namespace: Option<HeaderValue>,
    request_timeout: Duration,
    max_attempts: u32,
    backoff: Backoff,
}

/// What one attempt came to.
enum Attempt {
    Done(Zeroizing<Vec<u8>>),
    /// Worth another attempt; `acted_on` says whether Vault may have processed it.
    Transient {
        cause: String,
        acted_on: bool,
    },
    Failed(Error),
}

impl Transport {
    pub(crate) fn new(config: TransportConfig) -> Result<Self, Error> {
        let endpoint = &config.endpoint;
        let tls = match endpoint.https {
            false => None,
            true => {
                let name = config.tls_server_name.as_deref().unwrap_or(&endpoint.host);
                let name = ServerName::try_from(name.to_owned())
                    .map_err(|_| Error::config(format!("TLS server name {name:?} is invalid")))?;
                let connector =
                    tokio_rustls::TlsConnector::from(tls::client_config(&config.trust)?);
                Some((connector, name))
            }
        };
        let namespace =
            match config.namespace.as_deref().filter(|n| !n.is_empty()) {
                None => None,
                Some(ns) => Some(HeaderValue::from_str(ns).map_err(|_| {
                    Error::config("the Vault namespace is not a valid header value")
                })?),
            };
        let connector = Connector::new(&endpoint.host, endpoint.port, config.connect_timeout, tls);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Ok(Self {
            client,
            origin: endpoint.origin.clone(),
            namespace,
            request_timeout: config.request_timeout,
            max_attempts: config.max_attempts.max(1),
            backoff: config.backoff,
        })
    }

    /// Sends the call until it succeeds, fails for good, or the attempts run out. Returns
    /// the 2xx response body (empty for 204).
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Zeroizing<Vec<u8>>, Error> {
        let mut attempt = 0;
        loop {
            let (cause, acted_on) = match self.attempt(&call).await {
                Attempt::Done(body) => return Ok(body),
                Attempt::Failed(err) => return Err(err),
                Attempt::Transient { cause, acted_on } => (cause, acted_on),
            };
            attempt += 1;
            let may_repeat = call.retry == Retry::Idempotent || !acted_on;
            if attempt >= self.max_attempts || !may_repeat {
                let tries = if attempt == 1 { "attempt" } else { "attempts" };
                return Err(Error::new(
                    Kind::Unavailable,
                    format!(
                        "vault {} /v1/{}: unavailable after {attempt} {tries}: {cause}",
                        call.method, call.path
                    ),
                ));
            }
            tokio::time::sleep(self.backoff.next_delay(attempt - 1)).await;
        }
    }

    async fn attempt(&self, call: &Call<'_>) -> Attempt {
        let request = match self.request(call) {
            Ok(request) => request,
            Err(err) => return Attempt::Failed(err),
        };
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            let body = read_capped(response.into_body()).await?;
            Ok::<_, ExchangeError>((status, body))
        };
        match tokio::time::timeout(self.request_timeout, exchange).await {
            Err(_) => Attempt::Transient {
                cause: format!("no answer within {:?}", self.request_timeout),
                acted_on: true,
            },
            Ok(Err(ExchangeError::Client(err))) => transport_failure(call, err),
            Ok(Err(ExchangeError::Body(cause))) => Attempt::Transient {
                cause,
                acted_on: true,
            },
            Ok(Err(ExchangeError::TooLarge)) => Attempt::Failed(Error::protocol(format!(
                "vault {} /v1/{}: response larger than {MAX_RESPONSE_BYTES} bytes",
                call.method, call.path
            ))),
            Ok(Ok((status, body))) => classify(call, status, body),
        }
    }

    fn request(&self, call: &Call<'_>) -> Result<Request<SecretBody>, Error> {
        let uri = format!("{}/v1/{}", self.origin, call.path);
        let mut builder = Request::builder()
            .method(call.method.clone())
            .uri(uri)
            .header("x-vault-request", "true");
        if let Some(token) = call.token {
            let mut value = HeaderValue::from_str(token.expose())
                .map_err(|_| Error::config("the Vault token holds characters a header cannot"))?;
            value.set_sensitive(true);
            builder = builder.header("x-vault-token", value);
        }
        if let Some(namespace) = &self.namespace {
            builder = builder.header("x-vault-namespace", namespace.clone());
        }
        if call.body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        builder
            .body(SecretBody::new(call.body.clone()))
            .map_err(|_| Error::config(format!("invalid API path /v1/{}", call.path)))
    }
}

enum ExchangeError {
    Client(hyper_util::client::legacy::Error),
    Body(String),
    TooLarge,
}

impl From<hyper_util::client::legacy::Error> for ExchangeError {
    fn from(err: hyper_util::client::legacy::Error) -> Self {
        Self::Client(err)
    }
}

/// Collects the body into a buffer that is wiped on drop, refusing oversized answers.
async fn read_capped(mut body: hyper::body::Incoming) -> Result<Zeroizing<Vec<u8>>, ExchangeError> {
    let mut out = Zeroizing::new(Vec::new());
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ExchangeError::Body(format!("reading the response: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > MAX_RESPONSE_BYTES {
                return Err(ExchangeError::TooLarge);
            }
            if out.capacity() < out.len() + data.len() {
                // Grow by hand so no unwiped copy is left behind by a reallocation.
                let mut bigger = Zeroizing::new(Vec::with_capacity((out.len() + data.len()) * 2));
                bigger.extend_from_slice(&out);
                out = bigger;
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

fn transport_failure(call: &Call<'_>, err: hyper_util::client::legacy::Error) -> Attempt {
    if let Some(tls) = tls_cause(&err) {
        return Attempt::Failed(
            Error::new(
                Kind::Tls,
                format!(
                    "vault {} /v1/{}: TLS handshake failed: {tls}",
                    call.method, call.path
                ),
            )
            .with_source(err),
        );
    }
    let acted_on = !err.is_connect();
    let cause = match std::error::Error::source(&err) {
        Some(inner) => format!("{err}: {inner}"),
        None => err.to_string(),
    };
    Attempt::Transient { cause, acted_on }
}

/// The rustls error under a connect failure, when the handshake is what failed.
fn tls_cause(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(err);
    while let Some(current) = next {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            return Some(tls.to_string());
        }
        next = current.source();
    }
    None
}

#[derive(serde::Deserialize, Default)]
struct ServerErrors {
    #[serde(default)]
    errors: Vec<String>,
}

fn classify(call: &Call<'_>, status: StatusCode, body: Zeroizing<Vec<u8>>) -> Attempt {
    if status.is_success() {
        return Attempt::Done(body);
    }
    let errors = serde_json::from_slice::<ServerErrors>(&body).unwrap_or_default();
    let detail = summarize_server_errors(&errors.errors);
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    };
    let message = format!("vault {} /v1/{}: {status}{detail}", call.method, call.path);
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        let acted_on = !matches!(status.as_u16(), 429 | 503);
        return Attempt::Transient {
            cause: format!("{status}{detail}"),
            acted_on,
        };
    }
    let kind = match status {
        StatusCode::NOT_FOUND => Kind::NotFound,
        StatusCode::FORBIDDEN => Kind::PermissionDenied,
        _ => Kind::Rejected,
    };
    Attempt::Failed(Error::new(kind, message).with_status(status.as_u16()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_origins() {
        let e = Endpoint::parse("https://vault.example.com").unwrap();
        assert_eq!(
            (e.https, e.host.as_str(), e.port),
            (true, "vault.example.com", 443)
        );
        assert_eq!(e.origin(), "https://vault.example.com:443");
        let e = Endpoint::parse("http://127.0.0.1:8200/").unwrap();
        assert_eq!(e.origin(), "http://127.0.0.1:8200");
        let e = Endpoint::parse("http://[::1]:8200").unwrap();
        assert_eq!((e.host.as_str(), e.origin()), ("::1", "http://[::1]:8200"));
        for bad in [
            "vault:8200",
            "unix:///run/vault.sock",
            "https://v/x",
            "",
            "ftp://v",
        ] {
            assert!(Endpoint::parse(bad).unwrap_err().is_config(), "{bad}");
        }
        let err = Endpoint::parse("https://admin:hunter2@vault:8200").unwrap_err();
        assert!(err.is_config());
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
