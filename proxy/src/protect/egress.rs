//! Phase 9: the last line. The exact request about to leave (path, query, every header,
//! the body) is scanned once more; any card number left means the request is refused.
//! This is not the main mechanism: when it fires, something upstream of it has a bug.

use std::ops::Range;

use http::{HeaderMap, Uri};
use outscope_scanner::{Finding, Mode, Scanner};

use outscope_config::Inspection;

use super::head::scan_both;
use super::media::Media;
use crate::errors::ProxyError;

/// Refuses the request if any card number or track remains, outside the route's
/// allow-listed places and shapes.
pub fn check(
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    media: Option<&Media>,
    policy: &Inspection,
) -> Result<(), ProxyError> {
    let shape = |bytes: &[u8], f: &Finding| policy.allows_shape(bytes, &f.span);
    let path = uri.path().as_bytes();
    if has_card(&scan_both(path), |f| {
        policy.allows_key_path("path") || shape(path, f)
    }) {
        return Err(ProxyError::EgressBlocked);
    }
    if let Some(q) = uri.query()
        && has_card(&scan_both(q.as_bytes()), |f| {
            f.key_path
                .as_deref()
                .is_some_and(|k| policy.allows_key_path(&format!("query:{k}")))
                || shape(q.as_bytes(), f)
        })
    {
        return Err(ProxyError::EgressBlocked);
    }
    for (name, value) in headers {
        let place = format!("header:{}", name.as_str());
        let value = value.as_bytes();
        if has_card(&scan_both(value), |f| {
            policy.allows_key_path(&place) || shape(value, f)
        }) {
            return Err(ProxyError::EgressBlocked);
        }
    }
    let structured = match media {
        Some(Media::Json) if !policy.allow_key_paths.is_empty() || raw_may_miss_in_json(body) => {
            Scanner::new(Mode::Json).scan(body)
        }
        Some(Media::Form) => Scanner::new(Mode::Form).scan(body),
        _ => Vec::new(),
    };
    let allowed_spans: Vec<Range<usize>> = structured
        .iter()
        .filter(|f| {
            f.key_path
                .as_deref()
                .is_some_and(|k| policy.allows_key_path(k))
        })
        .map(|f| f.span.clone())
        .collect();
    let exempt = |f: &Finding| {
        shape(body, f)
            || allowed_spans
                .iter()
                .any(|a| a.start < f.span.end && f.span.start < a.end)
    };
    if has_card(&structured, exempt) || has_card(&Scanner::new(Mode::Raw).scan(body), exempt) {
        return Err(ProxyError::EgressBlocked);
    }
    Ok(())
}

/// Whether a JSON body holds something only the JSON reader can turn into digits: a
/// backslash (`\u0034` escapes, nested documents) or an exponent after a digit (`4242e3`
/// appends zeros the raw reader would not see). Anything else the raw reader reads the
/// same way, so the JSON rescan is skipped.
fn raw_may_miss_in_json(body: &[u8]) -> bool {
    memchr::memchr(b'\\', body).is_some()
        || memchr::memchr2_iter(b'e', b'E', body).any(|i| is_exponent(body, i))
}

/// Whether the `e` at `i` is the exponent of a number: digits (and a point) before it that
/// start at a token boundary, a digit (after an optional sign) after it. Letters before the
/// digits (`tok_6E1`, hex fingerprints) make it part of a word, not a number.
fn is_exponent(body: &[u8], i: usize) -> bool {
    let after = match body.get(i + 1) {
        Some(b'+' | b'-') => body.get(i + 2),
        other => other,
    };
    if !after.is_some_and(u8::is_ascii_digit) {
        return false;
    }
    let mut j = i;
    while j > 0 && (body[j - 1].is_ascii_digit() || body[j - 1] == b'.') {
        j -= 1;
    }
    j < i
        && (j == 0
            || matches!(
                body[j - 1],
                b':' | b',' | b'[' | b' ' | b'\t' | b'\n' | b'\r' | b'-' | b'"'
            ))
}

fn has_card(findings: &[Finding], exempt: impl Fn(&Finding) -> bool) -> bool {
    findings.iter().any(|f| f.pan().is_some() && !exempt(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    fn policy() -> Inspection {
        Inspection::default()
    }

    #[test]
    fn a_card_anywhere_blocks() {
        let h = HeaderMap::new();
        assert!(check(&uri("/a/4242424242424242"), &h, b"", None, &policy()).is_err());
        assert!(
            check(
                &uri("/a?n=4242%204242%204242%204242"),
                &h,
                b"",
                None,
                &policy()
            )
            .is_err()
        );
        let mut hh = HeaderMap::new();
        hh.insert("x-note", "card 5555-5555-5555-4444".parse().unwrap());
        assert!(check(&uri("/"), &hh, b"", None, &policy()).is_err());
        assert!(
            check(
                &uri("/"),
                &h,
                br#"{"n":"\u0034242424242424242"}"#,
                Some(&Media::Json),
                &policy()
            )
            .is_err()
        );
        assert!(
            check(
                &uri("/"),
                &h,
                b"note=4242424242424242",
                Some(&Media::Text),
                &policy()
            )
            .is_err()
        );
        assert!(
            check(
                &uri("/v1/orders?id=12"),
                &h,
                br#"{"token":"tok_abc","last4":"4242"}"#,
                Some(&Media::Json),
                &policy()
            )
            .is_ok()
        );
    }

    #[test]
    fn escapes_and_exponents_send_json_bodies_to_the_json_reader() {
        let h = HeaderMap::new();
        assert!(raw_may_miss_in_json(br#"{"n":"\u0034"}"#));
        assert!(raw_may_miss_in_json(br#"{"n":51051051051051e2}"#));
        assert!(!raw_may_miss_in_json(br#"{"e":"tok_abc","amount":1200}"#));
        assert!(!raw_may_miss_in_json(
            br#"{"t":"tok_P7p6E4f","fingerprint":"3fbf9e1d"}"#
        ));
        assert!(raw_may_miss_in_json(br#"[-5.1e2]"#));
        assert!(
            check(
                &uri("/"),
                &h,
                br#"{"n":51051051051051e2}"#,
                Some(&Media::Json),
                &policy()
            )
            .is_err()
        );
        assert!(
            check(
                &uri("/"),
                &h,
                br#"{"n":"\u0034\u0032\u0034\u0032424242424242"}"#,
                Some(&Media::Json),
                &policy()
            )
            .is_err()
        );
    }

    #[test]
    fn allow_listed_places_pass() {
        let h = HeaderMap::new();
        let body = br#"{"items":[{"ref":"4242424242424242"},{"ref":"5555555555554444"}]}"#;
        assert!(check(&uri("/"), &h, body, Some(&Media::Json), &policy()).is_err());
        let mut allow = policy();
        allow.allow_key_paths = vec!["items[*].ref".into()];
        assert!(check(&uri("/"), &h, body, Some(&Media::Json), &allow).is_ok());
        allow.allow_key_paths = vec!["items[0].ref".into()];
        assert!(check(&uri("/"), &h, body, Some(&Media::Json), &allow).is_err());
    }

    #[test]
    fn allow_listed_shapes_pass_wherever_they_are_and_only_exactly() {
        let mut allow = policy();
        allow.allow_shapes = vec![outscope_config::Shape::parse("ORD-################").unwrap()];
        let h = HeaderMap::new();
        let body = br#"{"note":"see ORD-4242424242424242"}"#;
        assert!(check(&uri("/"), &h, body, Some(&Media::Json), &policy()).is_err());
        assert!(check(&uri("/"), &h, body, Some(&Media::Json), &allow).is_ok());
        assert!(check(&uri("/o/ORD-4242424242424242"), &h, b"", None, &allow).is_ok());
        let mut hh = HeaderMap::new();
        hh.insert("x-order", "ORD-4242424242424242".parse().unwrap());
        assert!(check(&uri("/"), &hh, b"", None, &allow).is_ok());
        // The same digits without the shape, or beside an allowed one, still block.
        let mixed = br#"{"a":"ORD-4242424242424242","b":"5555555555554444"}"#;
        assert!(check(&uri("/"), &h, mixed, Some(&Media::Json), &allow).is_err());
        assert!(check(&uri("/o/4242424242424242"), &h, b"", None, &allow).is_err());
    }
}
