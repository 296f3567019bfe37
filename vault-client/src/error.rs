//! The crate's one error type: opaque, classified by question (`is_not_found()`, ...).
//!
//! Messages name the method, the API path and the status, plus Vault's own error strings
//! (truncated). They never carry a token, a request body or a response body.

use std::fmt;

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error from the Vault client.
#[derive(thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: Kind,
    status: Option<u16>,
    message: String,
    #[source]
    source: Option<Source>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// 404, or a KV version that was deleted or destroyed.
    NotFound,
    /// 403: the token is invalid, revoked, expired or lacks a policy.
    PermissionDenied,
    /// Transport failure, timeout, 429 or 5xx (sealed, standby, overloaded), after retries.
    Unavailable,
    /// Any other 4xx: the request itself was wrong.
    Rejected,
    /// The client's own configuration: address, CA file, credentials file, backoff.
    Config,
    /// The TLS handshake failed (an unknown CA, a wrong name): not retried.
    Tls,
    /// A 2xx response this client could not understand.
    Protocol,
}

impl Error {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(Kind::Config, message)
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Self::new(Kind::Protocol, message)
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub(crate) fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// The path or the requested version does not exist (HTTP 404).
    pub fn is_not_found(&self) -> bool {
        self.kind == Kind::NotFound
    }

    /// Vault refused the token (HTTP 403): revoked, expired, or no policy allows the call.
    pub fn is_permission_denied(&self) -> bool {
        self.kind == Kind::PermissionDenied
    }

    /// Vault could not be reached or answered 429/5xx, after the bounded retries. Worth
    /// trying again later; keep using the last good secrets meanwhile.
    pub fn is_unavailable(&self) -> bool {
        self.kind == Kind::Unavailable
    }

    /// The client's configuration is wrong (address, CA file, credentials, backoff).
    pub fn is_config(&self) -> bool {
        self.kind == Kind::Config
    }

    /// The TLS handshake failed: the server's certificate is not trusted or not valid for
    /// the address.
    pub fn is_tls(&self) -> bool {
        self.kind == Kind::Tls
    }

    /// The HTTP status Vault answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        self.status
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

/// Vault's `{"errors": [...]}` strings, made safe for a message: at most three, each cut at
/// 200 characters, control characters dropped.
pub(crate) fn summarize_server_errors(errors: &[String]) -> String {
    let mut out = Vec::new();
    for error in errors.iter().take(3) {
        let clean: String = error
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        if !clean.is_empty() {
            out.push(clean);
        }
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_cut_and_cleaned() {
        let long = "x".repeat(500);
        let errors = vec![
            "permission denied\n".to_owned(),
            long,
            "c".into(),
            "d".into(),
        ];
        let summary = summarize_server_errors(&errors);
        assert!(summary.starts_with("permission denied; xxx"));
        assert!(!summary.contains('\n'));
        assert!(!summary.contains("; d"));
        assert!(summary.len() < 240);
    }
}
