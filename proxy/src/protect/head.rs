//! Card data in the request head: the path, the query string and every header value.
//! A head is scanned as text and as form-encoded (so percent-encoded digits are seen).

use outscope_config::Inspection;
use outscope_scanner::{Finding, Mode, Scanner};

use super::builtin;
use super::plan::{Plan, Syntax};

/// True when `bytes` cannot hold a card number in any spelling the scanner reads: fewer
/// than 12 ASCII digits, and nothing that can encode a digit otherwise (`%` escapes, `\`
/// escapes, `&#` references, non-ASCII characters). Most header values pass this test and
/// skip the scanners; the scanner still decides everything else.
pub fn cannot_hold_a_card(bytes: &[u8]) -> bool {
    bytes.iter().filter(|b| b.is_ascii_digit()).count() < 12
        && !bytes
            .iter()
            .any(|&b| b == b'%' || b == b'\\' || b == b'&' || b >= 0x80)
}

/// Findings of both readers, without overlaps (the first reader's win).
pub fn scan_both(bytes: &[u8]) -> Vec<Finding> {
    if cannot_hold_a_card(bytes) {
        return Vec::new();
    }
    let mut out = Scanner::new(Mode::Raw).scan(bytes);
    for f in Scanner::new(Mode::Form).scan(bytes) {
        if !out
            .iter()
            .any(|g| g.span.start < f.span.end && f.span.start < g.span.end)
        {
            out.push(f);
        }
    }
    out
}

/// Plans edits over one head component (`place` names it: `path`, `query`,
/// `header:<name>`), keeping only card numbers and tracks (key-name fields mean nothing
/// in a header).
pub fn plan(bytes: &[u8], place: &str, policy: &Inspection) -> Plan {
    let findings: Vec<Finding> = scan_both(bytes)
        .into_iter()
        .filter(|f| f.pan().is_some())
        .map(|mut f| {
            f.key_path = Some(match f.key_path.take() {
                Some(k) if place == "query" => format!("query:{k}"),
                _ => place.to_owned(),
            });
            f
        })
        .collect();
    let mut plan = Plan::default();
    builtin::plan_findings(
        bytes,
        &findings,
        policy,
        &mut plan,
        |_| Syntax::Bare,
        |_| b"",
    );
    plan
}

#[cfg(test)]
mod tests {
    use super::{cannot_hold_a_card, scan_both};

    #[test]
    fn the_shortcut_only_skips_values_without_enough_digit_characters() {
        assert!(cannot_hold_a_card(b"application/json"));
        assert!(cannot_hold_a_card(b"Mozilla/5.0 (X11; Linux x86_64)"));
        assert!(
            !cannot_hold_a_card(b"Mozilla/5.0 (X11; Linux x86_64) 1234567890"),
            "12 digits in all, even far apart: the scanner decides"
        );
        assert!(!cannot_hold_a_card(b"4242424242424242"));
        assert!(
            !cannot_hold_a_card(b"4242%204242"),
            "percent escapes can spell digits"
        );
        assert!(
            !cannot_hold_a_card("４２４２".as_bytes()),
            "non-ASCII digits"
        );
        assert!(!cannot_hold_a_card(b"\\u0034"), "JSON escapes");
        assert_eq!(scan_both(b"4242 4242 4242 4242").len(), 1);
        assert_eq!(
            scan_both("pan=４２４２４２４２４２４２４２４２".as_bytes()).len(),
            1
        );
    }
}
