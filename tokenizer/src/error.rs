//! Errors. Every message is our own fixed text: no card data, no key, no text from a
//! provider or a parser (those can echo their input).

use std::time::Duration;

/// Why card input could not be parsed. Says what is wrong, never which digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("card number must have 12 to 19 digits")]
    PanLength,
    #[error("card number must be ASCII digits only")]
    PanNotDigits,
    #[error("card number fails the Luhn check")]
    PanLuhn,
    #[error("card verification code must be 3 or 4 digits")]
    Cvc,
    #[error("expiry month must be 1 to 12")]
    ExpMonth,
    #[error("expiry year must be two digits or 2000 to 2199")]
    ExpYear,
    #[error("cardholder name is too long or holds control characters")]
    HolderName,
}

/// Why a tokenize (or detokenize) call failed. Map it to a response with
/// [`TokenizeError::kind`]; fail closed in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenizeError {
    /// The provider or store could not be reached or answered with a server error or a
    /// rate limit (after the retries). Suggested answer: 503 with `Retry-After`.
    #[error("tokenizer unavailable: {cause}")]
    Unavailable {
        cause: UnavailableCause,
        /// From the provider's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// No answer within the per-request timeout. Suggested answer: 504 or 503.
    #[error("tokenizer timed out after {0:?}")]
    Timeout(Duration),
    /// The provider refused this card (the request will fail the same way if repeated).
    /// Suggested answer: 422 (or 402 for `card_declined`) with the code.
    #[error("card rejected by the tokenizer: {code}")]
    Rejected { code: RejectCode },
    /// Our configuration is wrong (bad API key, wrong `api_base`, missing vault key).
    /// Suggested answer: 500 or 502, and an alert.
    #[error("tokenizer misconfigured: {0}")]
    Misconfigured(&'static str),
    /// Recent failures opened the circuit breaker; nothing was sent.
    /// Suggested answer: 503 with `Retry-After`.
    #[error("tokenizer circuit open; retry in {retry_after:?}")]
    CircuitOpen { retry_after: Duration },
    /// The card input itself is invalid (checked before anything is sent).
    #[error("invalid card input: {0}")]
    InvalidCard(#[from] CardError),
}

/// A coarse class of [`TokenizeError`], for metric labels and response mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Unavailable,
    Timeout,
    Rejected,
    Misconfigured,
    CircuitOpen,
    InvalidCard,
}

impl ErrorKind {
    /// A stable lowercase name: `unavailable`, `timeout`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Misconfigured => "misconfigured",
            ErrorKind::CircuitOpen => "circuit_open",
            ErrorKind::InvalidCard => "invalid_card",
        }
    }
}

impl TokenizeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            TokenizeError::Unavailable { .. } => ErrorKind::Unavailable,
            TokenizeError::Timeout(_) => ErrorKind::Timeout,
            TokenizeError::Rejected { .. } => ErrorKind::Rejected,
            TokenizeError::Misconfigured(_) => ErrorKind::Misconfigured,
            TokenizeError::CircuitOpen { .. } => ErrorKind::CircuitOpen,
            TokenizeError::InvalidCard(_) => ErrorKind::InvalidCard,
        }
    }

    /// How long the client should wait before trying again, when known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TokenizeError::Unavailable { retry_after, .. } => *retry_after,
            TokenizeError::CircuitOpen { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// Whether the tokenizer's health is at fault (these count for the circuit breaker):
    /// unavailable and timeout; not a rejected card or our own configuration.
    pub fn is_provider_failure(&self) -> bool {
        matches!(
            self,
            TokenizeError::Unavailable { .. } | TokenizeError::Timeout(_)
        )
    }

    /// `Unavailable` with this cause and no `Retry-After`.
    pub fn unavailable(cause: UnavailableCause) -> TokenizeError {
        TokenizeError::Unavailable {
            cause,
            retry_after: None,
        }
    }
}

/// Why the tokenizer was unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum UnavailableCause {
    #[error("could not connect")]
    Connect,
    #[error("connection failed during the request")]
    Transport,
    #[error("provider answered with a server error ({0})")]
    ServerError(u16),
    #[error("provider rate limited us")]
    RateLimited,
    #[error("provider answered with an unexpected status ({0})")]
    UnexpectedStatus(u16),
    #[error("provider answered with a response we could not read")]
    BadResponse,
    #[error("token store unreachable")]
    Store,
    #[error("token store is full")]
    StoreFull,
    #[error("token store holds a record we could not read")]
    StoreCorrupt,
    /// Envelope encryption: no data key that may seal (Vault transit has not answered
    /// since start, or the current key's transit version was retired by
    /// `min_decryption_version` and no newer key could be fetched yet), so new cards cannot
    /// be sealed.
    #[error("no data key: Vault transit has not provided a usable one")]
    NoDataKey,
    /// Envelope encryption: Vault transit was unreachable when a record's data key had to
    /// be unwrapped.
    #[error("Vault transit unreachable")]
    KeyService,
}

/// A safe code for a card the provider refused. Never the provider's free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectCode {
    CardDeclined,
    InvalidNumber,
    IncorrectNumber,
    InvalidExpiryMonth,
    InvalidExpiryYear,
    ExpiredCard,
    InvalidCvc,
    IncorrectCvc,
    ProcessingError,
    /// Any other 4xx the provider gave for this request.
    InvalidRequest,
    /// Detokenize: the token is not in the store.
    UnknownToken,
}

impl RejectCode {
    /// Stripe's code name (`card_declined`, `invalid_number`, ...), safe to show a client.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::CardDeclined => "card_declined",
            RejectCode::InvalidNumber => "invalid_number",
            RejectCode::IncorrectNumber => "incorrect_number",
            RejectCode::InvalidExpiryMonth => "invalid_expiry_month",
            RejectCode::InvalidExpiryYear => "invalid_expiry_year",
            RejectCode::ExpiredCard => "expired_card",
            RejectCode::InvalidCvc => "invalid_cvc",
            RejectCode::IncorrectCvc => "incorrect_cvc",
            RejectCode::ProcessingError => "processing_error",
            RejectCode::InvalidRequest => "invalid_request",
            RejectCode::UnknownToken => "unknown_token",
        }
    }

    /// Maps a provider's code; anything unknown becomes [`RejectCode::InvalidRequest`].
    pub fn from_stripe(code: &str) -> RejectCode {
        match code {
            "card_declined" => RejectCode::CardDeclined,
            "invalid_number" => RejectCode::InvalidNumber,
            "incorrect_number" => RejectCode::IncorrectNumber,
            "invalid_expiry_month" => RejectCode::InvalidExpiryMonth,
            "invalid_expiry_year" => RejectCode::InvalidExpiryYear,
            "expired_card" => RejectCode::ExpiredCard,
            "invalid_cvc" => RejectCode::InvalidCvc,
            "incorrect_cvc" => RejectCode::IncorrectCvc,
            "processing_error" => RejectCode::ProcessingError,
            _ => RejectCode::InvalidRequest,
        }
    }
}

impl std::fmt::Display for RejectCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a tokenizer could not be built from its options. Names the problem, never a
/// secret (keys, passwords in URLs) or a key file line's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error("stripe api_base is not an absolute http(s) URL without path, query or credentials")]
    ApiBase,
    #[error("stripe api_base must use https (http only for a loopback address)")]
    InsecureApiBase,
    #[error("stripe secret key is empty or holds characters a header cannot carry")]
    SecretKey,
    #[error("TLS setup failed")]
    Tls,
    #[error("vault key file: {0}")]
    KeyFile(KeyFileError),
    #[error("redis URL is not valid")]
    RedisUrl,
    #[error("redis key prefix must be 1 to 64 characters of [A-Za-z0-9_.-]")]
    RedisPrefix,
}

/// A problem in a vault key file, located by line number (never the line's content).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read the file ({0:?})")]
    Read(std::io::ErrorKind),
    #[error("line {0}: expected `id:base64`")]
    Syntax(usize),
    #[error("line {0}: key id must be 1 to 32 characters of [A-Za-z0-9_.-]")]
    KeyId(usize),
    #[error("line {0}: key is not base64 of exactly 32 bytes")]
    KeyMaterial(usize),
    #[error("line {0}: key id already used on an earlier line")]
    Duplicate(usize),
    #[error("line {0}: the fingerprint key is configured separately; remove this line")]
    FingerprintInKeys(usize),
    #[error("fingerprint key is not base64 of exactly 32 bytes")]
    FingerprintKey,
    #[error("no `fingerprint:` line (the HMAC key for same-card-same-token)")]
    NoFingerprintKey,
    #[error("no encryption key (every line but `fingerprint:` is one; the first is current)")]
    NoEncryptionKey,
}
