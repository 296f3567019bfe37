//! Log setup and the access log record.
//!
//! [`AccessLog`] is the only way the proxy logs a request. It carries method, route,
//! status, sizes, timing, the request id and connection facts, and **never** bodies,
//! query strings, header values other than the request id, or card data. As defence in
//! depth (the scanner and the pipeline are the real control), the path loses its query
//! and fragment and any long digit run in it or in the request id is masked before the
//! record is emitted; see [`scrub`].

use std::io::{self, IsTerminal};
use std::net::IpAddr;
use std::time::Duration;

use tracing::Dispatch;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

use crate::labels::{LabelEnum, Method};

/// The tracing target of access log events (filter with `access=info`).
pub const ACCESS_TARGET: &str = "access";

/// Output format of all logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, event fields flattened to the top level (for Loki).
    Json,
    /// Human-readable lines without colour codes unless stdout is a terminal.
    Text,
}

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The directive (a log level, never a secret) and why it was refused.
    #[error("invalid log level directive {directive:?}: {reason}")]
    InvalidLevel { directive: String, reason: String },
    #[error("a global log subscriber is already installed")]
    AlreadyInitialised,
    #[error("the log subscriber is gone; the level cannot change")]
    SubscriberGone,
}

/// Changes the level of the installed subscriber (on config reload).
pub struct LogHandle {
    reload: Box<dyn Fn(EnvFilter) -> Result<(), LoggingError> + Send + Sync>,
}

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHandle").finish_non_exhaustive()
    }
}

impl LogHandle {
    /// Validates `level` like [`init_logging`] and swaps the filter; on error the old
    /// filter stays.
    pub fn set_level(&self, level: &str) -> Result<(), LoggingError> {
        (self.reload)(parse_filter(level)?)
    }
}

/// Installs the global subscriber writing to stdout. `level` is an `EnvFilter`
/// directive such as `info` or `outscope=debug,info`. Also routes `log` records
/// (rustls uses `log`) into tracing. The handle changes the level later.
pub fn init_logging(level: &str, format: LogFormat) -> Result<LogHandle, LoggingError> {
    let ansi = io::stdout().is_terminal();
    let (dispatch, handle) = build_dispatch(level, format, io::stdout, ansi)?;
    dispatch
        .try_init()
        .map_err(|_| LoggingError::AlreadyInitialised)?;
    Ok(handle)
}

/// The subscriber [`init_logging`] installs, writing to `writer` instead; for tests
/// (with `tracing::dispatcher::with_default`) and embedders.
pub fn build_dispatch<W>(
    level: &str,
    format: LogFormat,
    writer: W,
    ansi: bool,
) -> Result<(Dispatch, LogHandle), LoggingError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = parse_filter(level)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    Ok(match format {
        LogFormat::Json => {
            let builder = builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            (
                Dispatch::new(builder.finish()),
                log_handle(move |f| handle.reload(f)),
            )
        }
        LogFormat::Text => {
            let builder = builder.with_ansi(ansi).with_filter_reloading();
            let handle = builder.reload_handle();
            (
                Dispatch::new(builder.finish()),
                log_handle(move |f| handle.reload(f)),
            )
        }
    })
}

fn log_handle<F>(reload: F) -> LogHandle
where
    F: Fn(EnvFilter) -> Result<(), tracing_subscriber::reload::Error> + Send + Sync + 'static,
{
    LogHandle {
        reload: Box::new(move |f| reload(f).map_err(|_| LoggingError::SubscriberGone)),
    }
}

/// An `EnvFilter`, stricter than its own parser: a directive without `=` must be a level
/// name (`EnvFilter` would read `inof` as "only the target `inof`", silencing every
/// other log line).
fn parse_filter(level: &str) -> Result<EnvFilter, LoggingError> {
    let invalid = |reason: String| LoggingError::InvalidLevel {
        directive: level.to_owned(),
        reason,
    };
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    for d in level.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if !d.contains('=') && !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(d)) {
            return Err(invalid(format!(
                "{d:?} is not one of {}",
                LEVELS.join(", ")
            )));
        }
    }
    EnvFilter::builder()
        .parse(level)
        .map_err(|e| invalid(e.to_string()))
}

/// One finished request, as the proxy saw it. Emit with [`AccessLog::emit`].
#[derive(Debug, Clone)]
pub struct AccessLog<'a> {
    pub listener: &'a str,
    /// The matched route's configured name, `None` if none matched.
    pub route: Option<&'a str>,
    pub method: Method,
    /// The request path. Anything from `?` or `#` on is dropped when emitted.
    pub path: &'a str,
    pub status: u16,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub duration: Duration,
    pub request_id: &'a str,
    pub peer_ip: IpAddr,
    /// e.g. `TLSv1_3`; `None` for plaintext.
    pub tls_version: Option<&'static str>,
    /// The negotiated ALPN protocol (`h2`, `http/1.1`).
    pub alpn: Option<&'static str>,
    /// `forwarded`, or the error code the request ended with.
    pub decision: &'static str,
}

impl AccessLog<'_> {
    /// One `info` event with target [`ACCESS_TARGET`] and message `request`.
    pub fn emit(&self) {
        let path = scrub::path(self.path);
        let request_id = scrub::request_id(self.request_id);
        tracing::info!(
            target: ACCESS_TARGET,
            listener = self.listener,
            route = self.route,
            method = self.method.as_str(),
            path = &*path,
            status = self.status,
            request_bytes = self.request_bytes,
            response_bytes = self.response_bytes,
            duration_seconds = self.duration.as_secs_f64(),
            request_id = &*request_id,
            peer_ip = %self.peer_ip,
            tls_version = self.tls_version,
            alpn = self.alpn,
            decision = self.decision,
            "request"
        );
    }
}

pub mod scrub {
    //! Defence-in-depth scrubbing of the two free-text access log fields.
    //!
    //! Not a PAN detector (that is the scanner's job): it masks every digit of any run
    //! of [`MASK_RUN`] or more digits, where punctuation and separators between digits
    //! do not end a run (`4111-1111-1111-1111` and `4111/1111/1111/1111` are one run)
    //! and letters do. A `%XX` escape of a digit counts as a digit, and so does a `%XX`
    //! escape of a non-ASCII byte (full-width and other Unicode digits arrive that way).
    //! Non-ASCII characters that are numeric count as digits. Control characters become
    //! `?`.

    use std::borrow::Cow;

    /// Digit runs this long or longer are masked (the shortest PANs have 12 digits).
    pub const MASK_RUN: usize = 12;
    /// Paths are cut to this many bytes (on a character boundary) after masking, so a
    /// cut never leaves a shortened, unmasked digit run.
    pub const MAX_PATH: usize = 512;
    /// Request ids are cut to this many bytes, after masking.
    pub const MAX_REQUEST_ID: usize = 128;

    /// The path without query or fragment, masked and truncated.
    pub fn path(raw: &str) -> Cow<'_, str> {
        let end = raw.find(['?', '#']).unwrap_or(raw.len());
        truncate(mask(&raw[..end]), MAX_PATH)
    }

    pub fn request_id(raw: &str) -> Cow<'_, str> {
        truncate(mask(raw), MAX_REQUEST_ID)
    }

    fn truncate(s: Cow<'_, str>, max: usize) -> Cow<'_, str> {
        if s.len() <= max {
            return s;
        }
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        match s {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..end]),
            Cow::Owned(mut o) => {
                o.truncate(end);
                Cow::Owned(o)
            }
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Class {
        Digit,
        Letter,
        Separator,
    }

    /// Splits `s` into units: a `%XX` escape or one character.
    fn units(s: &str) -> Vec<(usize, usize, Class)> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < s.len() {
            if let Some(v) = escape_at(b, i) {
                let class = match v {
                    b'0'..=b'9' | 0x80..=0xff => Class::Digit,
                    b'a'..=b'z' | b'A'..=b'Z' => Class::Letter,
                    _ => Class::Separator,
                };
                out.push((i, 3, class));
                i += 3;
                continue;
            }
            let Some(c) = s[i..].chars().next() else {
                break;
            };
            let class = if c.is_numeric() {
                Class::Digit
            } else if c.is_alphabetic() {
                Class::Letter
            } else {
                Class::Separator
            };
            out.push((i, c.len_utf8(), class));
            i += c.len_utf8();
        }
        out
    }

    fn escape_at(b: &[u8], i: usize) -> Option<u8> {
        if b.get(i) != Some(&b'%') {
            return None;
        }
        let hi = (*b.get(i + 1)? as char).to_digit(16)?;
        let lo = (*b.get(i + 2)? as char).to_digit(16)?;
        u8::try_from(hi * 16 + lo).ok()
    }

    fn mask(s: &str) -> Cow<'_, str> {
        let units = units(s);
        let mut masked = vec![false; units.len()];
        let mut run: Vec<usize> = Vec::new();
        for (idx, u) in units
            .iter()
            .enumerate()
            .chain([(units.len(), &(0, 0, Class::Letter))])
        {
            match u.2 {
                Class::Digit => run.push(idx),
                Class::Separator => {}
                Class::Letter => {
                    if run.len() >= MASK_RUN {
                        run.iter().for_each(|&d| masked[d] = true);
                    }
                    run.clear();
                }
            }
        }
        let has_control = s.chars().any(char::is_control);
        if !masked.contains(&true) && !has_control {
            return Cow::Borrowed(s);
        }
        let mut out = String::with_capacity(s.len());
        for ((start, len, _), m) in units.iter().zip(masked) {
            match m {
                true => out.push('*'),
                false => {
                    for c in s[*start..start + len].chars() {
                        out.push(if c.is_control() { '?' } else { c });
                    }
                }
            }
        }
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn runs_of_eleven_digits_stay_and_twelve_are_masked() {
        assert_eq!(scrub::path("/a/12345678901"), "/a/12345678901");
        assert_eq!(scrub::path("/a/123456789012"), "/a/************");
        assert_eq!(scrub::path("/a/123456-abc-789012"), "/a/123456-abc-789012");
    }

    #[test]
    fn malformed_escapes_are_plain_characters() {
        assert_eq!(scrub::path("/%G1/%4/%"), "/%G1/%4/%");
        assert_eq!(scrub::path("/%2D%2d"), "/%2D%2d");
    }

    #[test]
    fn truncation_happens_after_masking_and_on_a_char_boundary() {
        let long = format!("/{}{}", "a".repeat(scrub::MAX_PATH - 8), "4111111111111111");
        let got = scrub::path(&long);
        assert_eq!(got.len(), scrub::MAX_PATH);
        assert!(
            got.ends_with("*******"),
            "no digit of the cut run is visible: {got}"
        );
        let wide = format!("/{}", "é".repeat(scrub::MAX_PATH));
        let got = scrub::path(&wide);
        assert!(got.len() <= scrub::MAX_PATH && got.len() >= scrub::MAX_PATH - 1);
        let id = "x".repeat(1000);
        assert_eq!(scrub::request_id(&id).len(), scrub::MAX_REQUEST_ID);
    }

    #[test]
    fn only_the_query_is_removed_from_a_clean_path() {
        assert_eq!(scrub::path("/v1/charges"), "/v1/charges");
        assert_eq!(scrub::path("?a=1"), "");
        assert_eq!(scrub::path("/x#y?z"), "/x");
    }
}
