//! Bounded label vocabularies.
//!
//! Every label value outscope exports comes from one of three places, all bounded:
//! - an enum in this module ([`Method`], [`LabelEnum`] implementors, the status table);
//! - a `&'static str` list fixed at compile time (the proxy's error codes);
//! - a name from the validated config (route, listener, limit, upstream, server name),
//!   bound when the config is loaded, never per request.
//!
//! Nothing here turns raw request bytes into a label value: unknown methods become
//! `OTHER`, unknown status codes their class.

/// A closed set of label values, indexable for array-backed series.
pub trait LabelEnum: Copy + 'static {
    /// The label name, e.g. `reason`.
    const LABEL: &'static str;
    /// Every value, in index order.
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
    fn index(self) -> usize;
}

macro_rules! label_enum {
    (
        $(#[$meta:meta])*
        $name:ident, label = $label:literal, { $( $(#[$vmeta:meta])* $variant:ident => $value:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $( $(#[$vmeta])* $variant ),+ }

        impl LabelEnum for $name {
            const LABEL: &'static str = $label;
            const ALL: &'static [Self] = &[ $( Self::$variant ),+ ];
            fn as_str(self) -> &'static str {
                match self { $( Self::$variant => $value ),+ }
            }
            fn index(self) -> usize {
                self as usize
            }
        }
    };
}

label_enum! {
    /// The request method, normalised: extension methods are `OTHER`.
    Method, label = "method", {
        Get => "GET",
        Head => "HEAD",
        Post => "POST",
        Put => "PUT",
        Delete => "DELETE",
        Connect => "CONNECT",
        Options => "OPTIONS",
        Trace => "TRACE",
        Patch => "PATCH",
        Other => "OTHER",
    }
}

impl Method {
    pub fn from_http(m: &http::Method) -> Self {
        use http::Method as M;
        let known = [
            (M::GET, Self::Get),
            (M::HEAD, Self::Head),
            (M::POST, Self::Post),
            (M::PUT, Self::Put),
            (M::DELETE, Self::Delete),
            (M::CONNECT, Self::Connect),
            (M::OPTIONS, Self::Options),
            (M::TRACE, Self::Trace),
            (M::PATCH, Self::Patch),
        ];
        known
            .into_iter()
            .find(|(k, _)| k == m)
            .map_or(Self::Other, |(_, v)| v)
    }

    /// Case-sensitive, as methods are (RFC 9110 §9.1): `get` is `OTHER`.
    pub fn from_bytes(m: &[u8]) -> Self {
        match m {
            b"GET" => Self::Get,
            b"HEAD" => Self::Head,
            b"POST" => Self::Post,
            b"PUT" => Self::Put,
            b"DELETE" => Self::Delete,
            b"CONNECT" => Self::Connect,
            b"OPTIONS" => Self::Options,
            b"TRACE" => Self::Trace,
            b"PATCH" => Self::Patch,
            _ => Self::Other,
        }
    }
}

label_enum! {
    /// Why a TLS handshake failed (`outscope_tls_handshake_errors_total{reason}`).
    TlsErrorReason, label = "reason", {
        /// The client offered only TLS 1.2 or older.
        ProtocolVersion => "protocol_version",
        /// No common cipher suite, group or signature scheme.
        Incompatible => "incompatible",
        /// SNI named no configured certificate.
        UnrecognisedName => "unrecognised_name",
        /// No ALPN protocol in common.
        NoApplicationProtocol => "no_application_protocol",
        /// The client certificate was invalid, expired or untrusted.
        BadCertificate => "bad_certificate",
        /// A client certificate was required and none was sent.
        CertificateRequired => "certificate_required",
        /// The handshake deadline passed.
        Timeout => "timeout",
        /// The peer closed the connection mid-handshake.
        Eof => "eof",
        Io => "io",
        Other => "other",
    }
}

label_enum! {
    /// How a request to an upstream failed (`outscope_upstream_errors_total{kind}`).
    UpstreamErrorKind, label = "kind", {
        Connect => "connect",
        Tls => "tls",
        Timeout => "timeout",
        /// The connection was reset or closed before a complete response.
        Reset => "reset",
        /// The upstream sent an invalid response.
        Protocol => "protocol",
        Other => "other",
    }
}

label_enum! {
    /// What a Redis-backed limit did when Redis failed
    /// (`outscope_rate_limit_fallback_total{mode}`); mirrors `on_redis_error`.
    FallbackMode, label = "mode", {
        FailOpen => "fail_open",
        FailClosed => "fail_closed",
        Local => "local",
    }
}

label_enum! {
    /// The outcome of a config reload (`outscope_config_reloads_total{result}`).
    ReloadResult, label = "result", {
        Success => "success",
        Failure => "failure",
    }
}

/// Status codes exported exactly; any other code is exported as its class (`4xx`).
pub const EXACT_STATUS_CODES: &[u16] = &[
    200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 408, 409, 411,
    413, 414, 415, 421, 422, 429, 431, 500, 501, 502, 503, 504,
];

const CLASS_LABELS: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const OTHER_STATUS: &str = "other";

/// Number of distinct `status` label values: exact codes, five classes and `other`.
pub const STATUS_LABEL_COUNT: usize = EXACT_STATUS_CODES.len() + CLASS_LABELS.len() + 1;

/// Every `status` label value in index order.
pub static STATUS_LABELS: [&str; STATUS_LABEL_COUNT] = status_labels();

const STATUS_INDEX: [u8; 600] = status_index_table();

/// The index of a status code's label in [`STATUS_LABELS`]; total over `u16`.
pub fn status_index(code: u16) -> usize {
    match STATUS_INDEX.get(usize::from(code)) {
        Some(&i) => usize::from(i),
        None => STATUS_LABEL_COUNT - 1,
    }
}

/// The `status` label value for a code: itself if listed in [`EXACT_STATUS_CODES`], else
/// its class (`1xx`..`5xx`), else `other`.
pub fn status_label(code: u16) -> &'static str {
    STATUS_LABELS[status_index(code)]
}

const fn status_index_table() -> [u8; 600] {
    let other = (STATUS_LABEL_COUNT - 1) as u8;
    let mut table = [other; 600];
    let mut code = 100;
    while code < 600 {
        table[code] = (EXACT_STATUS_CODES.len() + code / 100 - 1) as u8;
        code += 1;
    }
    let mut i = 0;
    while i < EXACT_STATUS_CODES.len() {
        table[EXACT_STATUS_CODES[i] as usize] = i as u8;
        i += 1;
    }
    table
}

const fn status_labels() -> [&'static str; STATUS_LABEL_COUNT] {
    let mut out = [OTHER_STATUS; STATUS_LABEL_COUNT];
    let mut i = 0;
    while i < EXACT_STATUS_CODES.len() {
        out[i] = EXACT_CODE_STRINGS[i];
        i += 1;
    }
    let mut c = 0;
    while c < CLASS_LABELS.len() {
        out[EXACT_STATUS_CODES.len() + c] = CLASS_LABELS[c];
        c += 1;
    }
    out
}

/// Decimal strings of [`EXACT_STATUS_CODES`], same order (a unit test keeps them in step).
const EXACT_CODE_STRINGS: [&str; EXACT_STATUS_CODES.len()] = [
    "200", "201", "202", "204", "206", "301", "302", "303", "304", "307", "308", "400", "401",
    "403", "404", "405", "408", "409", "411", "413", "414", "415", "421", "422", "429", "431",
    "500", "501", "502", "503", "504",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn exact_code_strings_match_the_codes() {
        for (code, s) in EXACT_STATUS_CODES.iter().zip(EXACT_CODE_STRINGS) {
            assert_eq!(code.to_string(), s);
        }
    }

    #[test]
    fn every_u16_maps_into_the_bounded_status_set() {
        let mut seen = HashSet::new();
        for code in 0..=u16::MAX {
            seen.insert(status_label(code));
        }
        assert_eq!(seen.len(), STATUS_LABEL_COUNT);
        let all: HashSet<_> = STATUS_LABELS.iter().copied().collect();
        assert_eq!(seen, all);
    }

    #[test]
    fn status_labels_pick_exact_then_class_then_other() {
        assert_eq!(status_label(200), "200");
        assert_eq!(status_label(429), "429");
        assert_eq!(status_label(299), "2xx");
        assert_eq!(status_label(101), "1xx");
        assert_eq!(status_label(418), "4xx");
        assert_eq!(status_label(599), "5xx");
        assert_eq!(status_label(99), "other");
        assert_eq!(status_label(600), "other");
        assert_eq!(status_label(u16::MAX), "other");
    }

    #[test]
    fn methods_outside_the_standard_set_are_other() {
        assert_eq!(Method::from_bytes(b"GET"), Method::Get);
        assert_eq!(Method::from_bytes(b"get"), Method::Other);
        assert_eq!(Method::from_bytes(b"PROPFIND"), Method::Other);
        assert_eq!(Method::from_bytes(b"4111111111111111"), Method::Other);
        assert_eq!(Method::from_bytes(b""), Method::Other);
        let ext = http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(Method::from_http(&ext), Method::Other);
        assert_eq!(Method::from_http(&http::Method::PATCH), Method::Patch);
    }

    #[test]
    fn label_enum_indexes_match_all_order() {
        fn check<E: LabelEnum + std::fmt::Debug + PartialEq>() {
            for (i, v) in E::ALL.iter().enumerate() {
                assert_eq!(v.index(), i, "{v:?}");
            }
            let names: HashSet<_> = E::ALL.iter().map(|v| v.as_str()).collect();
            assert_eq!(
                names.len(),
                E::ALL.len(),
                "duplicate label value in {}",
                E::LABEL
            );
        }
        check::<Method>();
        check::<TlsErrorReason>();
        check::<UpstreamErrorKind>();
        check::<FallbackMode>();
        check::<ReloadResult>();
    }
}
