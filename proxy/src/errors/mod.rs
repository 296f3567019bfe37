//! The proxy's error vocabulary. Every way a request can end early is a [`ProxyError`];
//! [`respond`] is the one place that turns them into HTTP responses.

pub mod respond;

use std::time::Duration;

/// Why a request was not forwarded (or its response not relayed).
///
/// Variants carry no request content: no header values, no paths, no bodies. Their
/// `Display` is the client-facing message.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no route matches this request")]
    NoRoute,
    #[error("request target must be in origin form")]
    AbsoluteTarget,
    #[error("CONNECT is not supported")]
    Connect,
    #[error("protocol upgrade is not allowed on this route")]
    UpgradeRefused,
    #[error("ambiguous or invalid message framing: {0}")]
    BadFraming(&'static str),
    #[error("malformed request: {0}")]
    BadRequest(&'static str),
    #[error("request headers exceed the configured limits")]
    HeadersTooLarge,
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge { limit: u64 },
    #[error("request body was not received in time")]
    BodyTimeout,
    #[error("request body could not be read")]
    BodyRead,
    #[error("rate limit exceeded")]
    RateLimited {
        retry_after: Duration,
        /// Pre-rendered `RateLimit-Policy` / `RateLimit` header values.
        headers: Vec<(http::HeaderName, http::HeaderValue)>,
    },
    #[error("rate limiter unavailable")]
    RateLimiterUnavailable,
    #[error("upstream could not be reached")]
    UpstreamConnect,
    #[error("upstream did not answer in time")]
    UpstreamTimeout,
    #[error("upstream returned an invalid response")]
    UpstreamProtocol,
    #[error("the proxy is shutting down")]
    ShuttingDown,
    #[error("{0} is not accepted on this route")]
    UnsupportedMedia(&'static str),
    #[error("request body could not be decoded: {0}")]
    Undecodable(&'static str),
    #[error("decoded request body exceeds the limits")]
    DecodedTooLarge,
    #[error("request body could not be parsed: {0}")]
    Unparseable(&'static str),
    #[error("ambiguous request: {0}")]
    Ambiguous(&'static str),
    #[error("card data is not accepted here: {0}")]
    CardDataRejected(&'static str),
    #[error("the card was refused: {0}")]
    CardRefused(&'static str),
    #[error("card data cannot be tokenized right now")]
    TokenizerUnavailable { retry_after: Option<Duration> },
    #[error("the tokenizer failed")]
    TokenizerFailed,
    #[error("the request was blocked before reaching the backend")]
    EgressBlocked,
}

impl ProxyError {
    /// Every code [`ProxyError::code`] can return (the bounded label set of
    /// `outscope_requests_rejected_total{reason}`).
    pub const CODES: &'static [&'static str] = &[
        "no_route",
        "absolute_target",
        "connect_refused",
        "upgrade_refused",
        "bad_framing",
        "bad_request",
        "headers_too_large",
        "body_too_large",
        "body_timeout",
        "body_read_error",
        "rate_limited",
        "rate_limiter_unavailable",
        "upstream_unreachable",
        "upstream_timeout",
        "upstream_protocol_error",
        "shutting_down",
        "unsupported_media",
        "undecodable_body",
        "decoded_body_too_large",
        "unparseable_body",
        "ambiguous_request",
        "card_data_rejected",
        "card_refused",
        "tokenizer_unavailable",
        "tokenizer_failed",
        "egress_blocked",
    ];

    /// The stable, machine-readable code clients and dashboards key on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoRoute => "no_route",
            Self::AbsoluteTarget => "absolute_target",
            Self::Connect => "connect_refused",
            Self::UpgradeRefused => "upgrade_refused",
            Self::BadFraming(_) => "bad_framing",
            Self::BadRequest(_) => "bad_request",
            Self::HeadersTooLarge => "headers_too_large",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::BodyRead => "body_read_error",
            Self::RateLimited { .. } => "rate_limited",
            Self::RateLimiterUnavailable => "rate_limiter_unavailable",
            Self::UpstreamConnect => "upstream_unreachable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamProtocol => "upstream_protocol_error",
            Self::ShuttingDown => "shutting_down",
            Self::UnsupportedMedia(_) => "unsupported_media",
            Self::Undecodable(_) => "undecodable_body",
            Self::DecodedTooLarge => "decoded_body_too_large",
            Self::Unparseable(_) => "unparseable_body",
            Self::Ambiguous(_) => "ambiguous_request",
            Self::CardDataRejected(_) => "card_data_rejected",
            Self::CardRefused(_) => "card_refused",
            Self::TokenizerUnavailable { .. } => "tokenizer_unavailable",
            Self::TokenizerFailed => "tokenizer_failed",
            Self::EgressBlocked => "egress_blocked",
        }
    }

    /// Whether the client connection must be closed after the response (framing is no
    /// longer trustworthy).
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            Self::BadFraming(_)
                | Self::BodyTimeout
                | Self::BodyRead
                | Self::BodyTooLarge { .. }
                | Self::UpgradeRefused
        )
    }
}
