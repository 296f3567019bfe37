//! Card data in the request head: the path, the query string and every header value.
//! A head is scanned as text and as form-encoded (so percent-encoded digits are seen).

use outscope_config::Inspection;
use outscope_scanner::{Finding, Mode, Scanner};

use super::builtin;
use super::plan::{Plan, Syntax};

/// Findings of both readers, without overlaps (the first reader's win).
pub fn scan_both(bytes: &[u8]) -> Vec<Finding> {
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
    builtin::plan_findings(&findings, policy, &mut plan, |_| Syntax::Bare, |_| b"");
    plan
}
