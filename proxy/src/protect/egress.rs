//! Phase 9: the last line. The exact request about to leave (path, query, every header,
//! the body) is scanned once more; any card number left means the request is refused.
//! This is not the main mechanism: when it fires, something upstream of it has a bug.

use std::ops::Range;

use http::{HeaderMap, Uri};
use outscope_scanner::{Finding, Mode, Scanner};

use super::head::scan_both;
use super::media::Media;
use crate::errors::ProxyError;

/// Refuses the request if any card number or track remains, outside the route's
/// allow-listed places.
pub fn check(
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    media: Option<&Media>,
    allow: &[String],
) -> Result<(), ProxyError> {
    let allowed = |place: &str| allow.iter().any(|a| a == place);
    if has_card(&scan_both(uri.path().as_bytes()), |_| allowed("path")) {
        return Err(ProxyError::EgressBlocked);
    }
    if let Some(q) = uri.query()
        && has_card(&scan_both(q.as_bytes()), |f| {
            f.key_path
                .as_deref()
                .is_some_and(|k| allowed(&format!("query:{k}")))
        })
    {
        return Err(ProxyError::EgressBlocked);
    }
    for (name, value) in headers {
        let place = format!("header:{}", name.as_str());
        if has_card(&scan_both(value.as_bytes()), |_| allowed(&place)) {
            return Err(ProxyError::EgressBlocked);
        }
    }
    let structured = match media {
        Some(Media::Json) => Scanner::new(Mode::Json).scan(body),
        Some(Media::Form) => Scanner::new(Mode::Form).scan(body),
        _ => Vec::new(),
    };
    let allowed_spans: Vec<Range<usize>> = structured
        .iter()
        .filter(|f| f.key_path.as_deref().is_some_and(allowed))
        .map(|f| f.span.clone())
        .collect();
    let inside_allowed = |f: &Finding| {
        allowed_spans
            .iter()
            .any(|a| a.start < f.span.end && f.span.start < a.end)
    };
    if has_card(&structured, inside_allowed)
        || has_card(&Scanner::new(Mode::Raw).scan(body), inside_allowed)
    {
        return Err(ProxyError::EgressBlocked);
    }
    Ok(())
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

    #[test]
    fn a_card_anywhere_blocks() {
        let h = HeaderMap::new();
        assert!(check(&uri("/a/4242424242424242"), &h, b"", None, &[]).is_err());
        assert!(check(&uri("/a?n=4242%204242%204242%204242"), &h, b"", None, &[]).is_err());
        let mut hh = HeaderMap::new();
        hh.insert("x-note", "card 5555-5555-5555-4444".parse().unwrap());
        assert!(check(&uri("/"), &hh, b"", None, &[]).is_err());
        assert!(
            check(
                &uri("/"),
                &h,
                br#"{"n":"\u0034242424242424242"}"#,
                Some(&Media::Json),
                &[]
            )
            .is_err()
        );
        assert!(
            check(
                &uri("/"),
                &h,
                b"note=4242424242424242",
                Some(&Media::Text),
                &[]
            )
            .is_err()
        );
        assert!(
            check(
                &uri("/v1/orders?id=12"),
                &h,
                br#"{"token":"tok_abc","last4":"4242"}"#,
                Some(&Media::Json),
                &[]
            )
            .is_ok()
        );
    }

    #[test]
    fn allow_listed_places_pass() {
        let h = HeaderMap::new();
        let body = br#"{"order":{"reference":"4242424242424242"}}"#;
        assert!(check(&uri("/"), &h, body, Some(&Media::Json), &[]).is_err());
        assert!(
            check(
                &uri("/"),
                &h,
                body,
                Some(&Media::Json),
                &["order.reference".into()]
            )
            .is_ok()
        );
    }
}
