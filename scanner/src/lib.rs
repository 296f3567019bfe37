//! outscope-scanner: finds card numbers (PAN), track data and card fields (CVV, expiry,
//! cardholder) in bytes. Pure: no I/O, no async, no logging. See `DESIGN.md`.
//!
//! ```
//! use outscope_scanner::{scan, Kind, Mode};
//! let body = br#"{"card":{"number":"4242 4242 4242 4242","cvc":"123"}}"#;
//! let findings = scan(body, Mode::Json);
//! assert_eq!(findings[0].kind, Kind::Pan);
//! assert_eq!(findings[0].key_path.as_deref(), Some("card.number"));
//! assert_eq!(&body[findings[0].span.clone()], b"4242 4242 4242 4242");
//! ```

mod chars;
mod core;
mod finding;
mod form;
mod iin;
mod json;
mod keys;
#[cfg(target_arch = "x86_64")]
mod keyvec;
pub mod oracle;
mod prefilter;
mod raw;
mod simd;
mod utf8;

pub use finding::{Brand, Field, Finding, How, Kind, Pan, PanDigits, SecretBytes};
pub use simd::{Isa, available_isas, detected_isa};

/// How to read the input.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Mode {
    /// Text, XML, logs, headers: UTF-8 digits and separators.
    Raw,
    /// JSON: strings decoded, numbers normalized, key paths, sensitive keys, nested JSON.
    Json,
    /// `application/x-www-form-urlencoded` bodies and query strings.
    Form,
}

/// The exact JSON machine resumes at the first token that ends after this many bytes before
/// the prefilter's first flag. The flag is a run's first byte, or the start of a 64-byte
/// block holding the key end, backslash or exponent it found (or the byte before the
/// block, for a key ending there); whatever begins earlier, the token holding that byte
/// ends after it, so one byte suffices.
const JSON_RESUME_MARGIN: usize = 1;

/// A scanner for one mode, using one instruction set.
#[derive(Clone, Copy, Debug)]
pub struct Scanner {
    mode: Mode,
    isa: Isa,
}

impl Scanner {
    /// A scanner using the best instruction set of this CPU.
    pub fn new(mode: Mode) -> Scanner {
        Scanner {
            mode,
            isa: detected_isa(),
        }
    }

    /// A scanner forced to `isa` (for tests and benchmarks); `None` if the CPU lacks it.
    pub fn with_isa(mode: Mode, isa: Isa) -> Option<Scanner> {
        available_isas()
            .contains(&isa)
            .then_some(Scanner { mode, isa })
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Scans a whole input. Findings are in the order they were completed.
    pub fn scan(&self, input: &[u8]) -> Vec<Finding> {
        let mut out = Vec::new();
        if self.mode == Mode::Json {
            // Only the part from the first place the prefilter flags needs the exact
            // machine; it resumes there with the key path a structural walk rebuilt.
            let Some(flag) = prefilter::json_first_flag(self.isa, input) else {
                return out;
            };
            let (machine, start) =
                json::Json::resumed(self.isa, input, flag.saturating_sub(JSON_RESUME_MARGIN))
                    .unwrap_or_else(|| (json::Json::new(self.isa), 0));
            let mut stream = Stream {
                inner: Inner::Json(Box::new(machine)),
            };
            stream.feed(input.get(start..).unwrap_or(&[]), &mut out);
            stream.finish(&mut out);
            return out;
        }
        let mut stream = self.stream();
        stream.feed(input, &mut out);
        stream.finish(&mut out);
        out
    }

    /// A streaming scan: feed chunks in order; results never depend on chunk boundaries.
    pub fn stream(&self) -> Stream {
        let inner = match self.mode {
            Mode::Raw => Inner::Raw(Box::new(raw::Raw::new(self.isa))),
            Mode::Json => Inner::Json(Box::new(json::Json::new(self.isa))),
            Mode::Form => Inner::Form(Box::default()),
        };
        Stream { inner }
    }
}

enum Inner {
    Raw(Box<raw::Raw>),
    Json(Box<json::Json>),
    Form(Box<form::Form>),
}

/// A scan over a sequence of chunks. Spans are offsets in the whole stream.
pub struct Stream {
    inner: Inner,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stream { .. }")
    }
}

impl Stream {
    /// Scans the next chunk, appending completed findings to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Finding>) {
        match &mut self.inner {
            Inner::Raw(m) => m.feed(chunk, out),
            Inner::Json(m) => m.feed(chunk, out),
            Inner::Form(m) => m.feed(chunk, out),
        }
    }

    /// Ends the stream, appending the last findings.
    pub fn finish(&mut self, out: &mut Vec<Finding>) {
        match &mut self.inner {
            Inner::Raw(m) => m.finish(out),
            Inner::Json(m) => m.finish(out),
            Inner::Form(m) => m.finish(out),
        }
    }

    /// JSON mode: the offset of the first syntax error, after which the rest of the input
    /// was scanned in raw mode (`None` in other modes, or for valid JSON so far).
    pub fn json_error(&self) -> Option<usize> {
        match &self.inner {
            Inner::Json(m) => m.error_at,
            _ => None,
        }
    }
}

/// For tests: a JSON-mode scan that hands every byte to the exact machine one at a time,
/// past every multi-byte fast path of [`Stream::feed`] (plain keys, skipped strings,
/// number and digit-run loops): the reference those fast paths are checked against.
#[doc(hidden)]
pub fn json_scan_bytewise(input: &[u8], isa: Isa) -> Vec<Finding> {
    let mut machine = json::Json::new(isa);
    let mut out = Vec::new();
    for (i, &b) in input.iter().enumerate() {
        machine.byte(b, i, i + 1, 0, &mut out);
    }
    machine.finish_bytes(input.len(), &mut out);
    out
}

/// Diagnostics for tests and benches: where [`Scanner::scan`] starts the exact JSON machine
/// on `input` (`None`: nowhere, the prefilter found nothing; `Some(0)`: from the start).
#[doc(hidden)]
pub fn json_exact_from(input: &[u8]) -> Option<usize> {
    let isa = detected_isa();
    let flag = prefilter::json_first_flag(isa, input)?;
    Some(
        json::Json::resumed(isa, input, flag.saturating_sub(JSON_RESUME_MARGIN))
            .map_or(0, |(_, at)| at),
    )
}

/// Diagnostics for benches: would the JSON fast path hand `input` to the exact machine?
#[doc(hidden)]
pub fn json_needs_exact(input: &[u8]) -> bool {
    prefilter::json_needs_exact(detected_isa(), input)
}

/// Scans `input` in `mode` with the best instruction set of this CPU.
pub fn scan(input: &[u8], mode: Mode) -> Vec<Finding> {
    Scanner::new(mode).scan(input)
}

/// True when `input` holds a PAN or track data (fields by key name do not count).
pub fn contains_pan(input: &[u8], mode: Mode) -> bool {
    scan(input, mode).iter().any(|f| f.pan().is_some())
}

/// The cheapest egress check: false guarantees that no mode finds a PAN or track data in
/// `input` (no run of 12 digit-like bytes, no escape that could hide one). True means
/// "run [`contains_pan`]".
pub fn might_contain_pan(input: &[u8]) -> bool {
    let isa = detected_isa();
    prefilter::next_flag(isa, input, 0, 0, None).is_some()
        || memchr::memchr3(b'\\', b'%', b'+', input).is_some()
        || prefilter::json_needs_exact(isa, input)
}

/// The brand of a card number given as its ASCII digits, when they pass Luhn and match the
/// IIN table (the check every PAN finding passed); `None` otherwise. For callers that
/// already hold exactly one number, without scanning.
pub fn card_brand(digits: &[u8]) -> Option<Brand> {
    // Digit values of a card number: wiped on every return path.
    let mut values = zeroize::Zeroizing::new([0u8; 19]);
    let slot = values.get_mut(..digits.len())?;
    for (v, &b) in slot.iter_mut().zip(digits) {
        *v = b.checked_sub(b'0').filter(|d| *d <= 9)?;
    }
    iin::validate(slot)
}

#[cfg(test)]
mod card_brand_tests {
    use super::{Brand, card_brand};

    #[test]
    fn a_valid_number_has_its_brand_and_anything_else_none() {
        assert_eq!(card_brand(b"4242424242424242"), Some(Brand::Visa));
        assert_eq!(card_brand(b"5555555555554444"), Some(Brand::Mastercard));
        assert_eq!(card_brand(b"378282246310005"), Some(Brand::Amex));
        for bad in [
            &b"4242424242424241"[..],
            b"4242 4242 4242 4242",
            b"42424242",
            b"",
            b"42424242424242424242",
        ] {
            assert_eq!(card_brand(bad), None);
        }
    }
}
