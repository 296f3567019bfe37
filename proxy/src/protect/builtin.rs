//! Built-in detection: every card number, track and CVV the scanner finds outside the
//! configured card objects becomes an edit. What the edit does (token, mask, refusal) is
//! the route's `on_detected`, applied when the plan is carried out.

use std::ops::Range;

use outscope_config::Inspection;
use outscope_scanner::{Field, Finding, Kind};
use zeroize::Zeroizing;

use super::plan::{Action, Plan, Syntax};

/// Adds an edit for every finding (spans into `bytes`) not already inside a planned edit
/// and not allow-listed (counted in `plan.allowed` instead). `syntax` says how a token is
/// written at a span; `blank` what replaces a CVV value.
pub fn plan_findings(
    bytes: &[u8],
    findings: &[Finding],
    policy: &Inspection,
    plan: &mut Plan,
    syntax: impl Fn(&Range<usize>) -> Syntax,
    blank: impl Fn(&Range<usize>) -> &'static [u8],
) {
    for f in findings {
        if plan.covers(&f.span) {
            continue;
        }
        let place = f.key_path.clone().unwrap_or_else(|| "body".into());
        match f.kind {
            Kind::Pan | Kind::Track1 | Kind::Track2 => {
                let allowed = f.kind == Kind::Pan
                    && (f
                        .key_path
                        .as_deref()
                        .is_some_and(|k| policy.allows_key_path(k))
                        || policy.allows_shape(bytes, &f.span));
                let Some(pan) = f.pan() else { continue };
                if allowed {
                    plan.allowed += 1;
                    continue;
                }
                let cvc = sibling_cvv(findings, f);
                let expiry = sibling_expiry(findings, f);
                let action = Action::Pan {
                    pan: pan.digits().clone(),
                    syntax: syntax(&f.span),
                    cvc,
                    expiry,
                };
                plan.push(f.span.clone(), action, place);
            }
            Kind::Field(Field::Cvv) => {
                plan.push(f.span.clone(), Action::Blank(blank(&f.span)), place)
            }
            Kind::Field(_) => {}
        }
    }
}

/// The CVV found next to a card number (same parent key path), for the tokenizer.
fn sibling_cvv(findings: &[Finding], pan: &Finding) -> Option<Zeroizing<Vec<u8>>> {
    let parent = parent(pan.key_path.as_deref()?)?;
    findings
        .iter()
        .filter(|f| f.kind == Kind::Field(Field::Cvv))
        .find(|f| f.key_path.as_deref().and_then(parent_of) == Some(parent))
        .and_then(|f| f.value())
        .map(|v| Zeroizing::new(v.expose().to_vec()))
}

/// The expiry found next to a card number: `…month` and `…year` fields, or one combined
/// `MM/YY` field (a tokenizer such as Stripe needs it to create a card).
fn sibling_expiry(findings: &[Finding], pan: &Finding) -> Option<(u8, u16)> {
    let parent = parent(pan.key_path.as_deref()?)?;
    let (mut month, mut year) = (None, None);
    for f in findings
        .iter()
        .filter(|f| f.kind == Kind::Field(Field::Expiry))
    {
        let Some(key) = f.key_path.as_deref() else {
            continue;
        };
        if parent_of(key) != Some(parent) {
            continue;
        }
        let Some(value) = f.value().map(|v| v.expose()) else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        let number = || {
            std::str::from_utf8(value)
                .ok()
                .and_then(|t| t.trim().parse::<u16>().ok())
        };
        if key.contains("month") {
            month = number().and_then(|m| u8::try_from(m).ok());
        } else if key.contains("year") {
            year = number().map(|y| if y < 100 { 2000 + y } else { y });
        } else if let Some((m, y)) = super::json::parse_combined_expiry(value) {
            (month, year) = (Some(m), Some(y));
        }
    }
    Some((month?, year?)).filter(|(m, _)| (1..=12).contains(m))
}

fn parent(path: &str) -> Option<&str> {
    parent_of(path)
}

/// `card.cvc` → `card`; `card[cvc]` → `card`; a top-level key → "".
fn parent_of(path: &str) -> Option<&str> {
    if let Some(stripped) = path.strip_suffix(']')
        && let Some(open) = stripped.rfind('[')
    {
        return Some(&path[..open]);
    }
    Some(path.rfind('.').map_or("", |dot| &path[..dot]))
}

#[cfg(test)]
mod tests {
    use super::parent_of;

    #[test]
    fn expiry_next_to_a_card_number_goes_with_it() {
        use outscope_scanner::{Mode, Scanner};
        let body = br#"{"card":{"pan":"4242424242424242","exp_month":"07","exp_year":29},"other":{"exp":"01/31"}}"#;
        let findings = Scanner::new(Mode::Json).scan(body);
        let pan = findings.iter().find(|f| f.pan().is_some()).expect("a PAN");
        assert_eq!(super::sibling_expiry(&findings, pan), Some((7, 2029)));
        let combined = br#"{"card":{"pan":"4242424242424242","expiry":"12/30"}}"#;
        let findings = Scanner::new(Mode::Json).scan(combined);
        let pan = findings.iter().find(|f| f.pan().is_some()).expect("a PAN");
        assert_eq!(super::sibling_expiry(&findings, pan), Some((12, 2030)));
    }

    #[test]
    fn parents_of_key_paths() {
        assert_eq!(parent_of("card.cvc"), Some("card"));
        assert_eq!(parent_of("items[2].card.number"), Some("items[2].card"));
        assert_eq!(parent_of("card[cvc]"), Some("card"));
        assert_eq!(parent_of("cvc"), Some(""));
    }
}
