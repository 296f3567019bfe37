//! Finding card data in a JSON body: configured card objects (by JSONPath) and built-in
//! detection everywhere else (the scanner's JSON mode), planned as byte-exact edits.

use std::ops::Range;

use outscope_config::{CardRule, Inspection};
use outscope_inspect::json::{self, Doc, Kind, NodeId};
use outscope_inspect::jsonpath::{Path, SelectError, key_is};
use outscope_scanner::{Finding, Mode, Scanner};
use zeroize::Zeroizing;

use super::builtin;
use super::plan::{Action, CardParts, Plan, Render, Syntax};
use crate::errors::ProxyError;

/// Plans every edit for a JSON body.
pub fn plan(body: &[u8], policy: &Inspection, scanner: &Scanner) -> Result<Plan, ProxyError> {
    let limits = json::JsonLimits {
        max_depth: policy.max_json_depth,
        ..json::JsonLimits::default()
    };
    let doc = json::parse(body, limits).map_err(|e| ProxyError::Unparseable(e.reason))?;
    let mut plan = Plan::default();
    for rule in &policy.cards {
        let Some(path) = rule.json_path.as_deref() else {
            continue;
        };
        let path = Path::parse(path).map_err(|_| ProxyError::Unparseable("invalid card path"))?;
        let objects = path
            .select(&doc, body)
            .map_err(|SelectError::DuplicateKey| {
                ProxyError::Ambiguous("duplicate JSON keys on the path to card data")
            })?;
        for id in objects {
            card_object(&doc, body, id, rule, &mut plan)?;
        }
    }
    let findings = scan_outside_card_objects(body, &plan, scanner);
    refuse_duplicates_around(&doc, body, &findings, &plan)?;
    let blank = |span: &Range<usize>| -> &'static [u8] {
        if body.get(span.start) == Some(&b'"') {
            b"\"\""
        } else {
            b"null"
        }
    };
    builtin::plan_findings(
        body,
        &findings,
        policy,
        &mut plan,
        |span| number_syntax(&doc, span),
        blank,
    );
    Ok(plan)
}

/// Built-in detection over the body with every planned card object blanked to an empty
/// object of the same length (`{` spaces `}`): the document stays valid JSON with every
/// other byte at its offset, and the scanner does not walk card data whose whole object is
/// already replaced (findings inside it would be dropped as covered anyway). The copy is
/// wiped on drop.
fn scan_outside_card_objects(body: &[u8], plan: &Plan, scanner: &Scanner) -> Vec<Finding> {
    if plan.is_empty() {
        return scanner.scan(body);
    }
    let mut blanked = Zeroizing::new(body.to_vec());
    for edit in &plan.edits {
        let Some(object) = blanked.get_mut(edit.span.clone()) else {
            return scanner.scan(body);
        };
        match object {
            [b'{', inner @ .., b'}'] => inner.fill(b' '),
            _ => return scanner.scan(body),
        }
    }
    scanner.scan(&blanked)
}

/// A card number in place of a JSON number becomes a JSON string.
fn number_syntax(doc: &Doc, span: &Range<usize>) -> Syntax {
    let is_number = doc
        .nodes
        .iter()
        .any(|n| n.kind == Kind::Number && n.span.start <= span.start && span.end <= n.span.end);
    if is_number {
        Syntax::JsonString
    } else {
        Syntax::Bare
    }
}

/// Plans the replacement of one configured card object.
fn card_object(
    doc: &Doc,
    body: &[u8],
    id: NodeId,
    rule: &CardRule,
    plan: &mut Plan,
) -> Result<(), ProxyError> {
    let Some(node) = doc.node(id) else {
        return Ok(());
    };
    if !doc.is_object(id) {
        return Ok(());
    }
    let members = doc.members(id);
    let f = &rule.fields;
    let card_keys = [
        &f.number,
        &f.exp_month,
        &f.exp_year,
        &f.exp,
        &f.cvc,
        &f.name,
    ];
    let value_of = |name: &str| -> Result<Option<NodeId>, ProxyError> {
        let mut found = members
            .iter()
            .filter(|(k, _)| key_is(body, k.clone(), name));
        let first = found.next().map(|(_, v)| *v);
        if found.next().is_some() {
            return Err(ProxyError::Ambiguous("duplicate keys in a card object"));
        }
        Ok(first)
    };
    let Some(number_node) = value_of(&f.number)? else {
        // No number: not a card object we can tokenize; built-in detection still runs.
        return Ok(());
    };
    let number = text_of(doc, body, number_node).ok_or(ProxyError::CardRefused(
        "the card number is not a string or number",
    ))?;
    let pan = exactly_one_pan(&number)?;
    let (mut exp_month, mut exp_year) = (None, None);
    if let Some(n) = value_of(&f.exp_month)? {
        exp_month = text_of(doc, body, n)
            .and_then(|t| parse_num(&t))
            .and_then(|v| u8::try_from(v).ok());
    }
    if let Some(n) = value_of(&f.exp_year)? {
        exp_year = text_of(doc, body, n)
            .and_then(|t| parse_num(&t))
            .and_then(|v| u16::try_from(v).ok());
    }
    if let Some(n) = value_of(&f.exp)?
        && let Some((m, y)) = text_of(doc, body, n).and_then(|t| parse_combined_expiry(&t))
    {
        exp_month = Some(m);
        exp_year = Some(y);
    }
    let cvc = value_of(&f.cvc)?.and_then(|n| text_of(doc, body, n));
    let name = value_of(&f.name)?.and_then(|n| text_of(doc, body, n));
    let keep: Vec<Range<usize>> = members
        .iter()
        .filter(|(k, _)| !card_keys.iter().any(|c| key_is(body, k.clone(), c)))
        .filter_map(|(k, v)| Some(k.start..doc.node(*v)?.span.end))
        .collect();
    let parts = Box::new(CardParts {
        number: pan,
        exp_month,
        exp_year,
        cvc,
        name,
    });
    let place = rule.json_path.clone().unwrap_or_default();
    plan.push(
        node.span.clone(),
        Action::Card {
            parts,
            render: Render::JsonObject { keep },
            output: rule.output.clone(),
        },
        place,
    );
    Ok(())
}

/// The decoded text of a string or number node.
fn text_of(doc: &Doc, body: &[u8], id: NodeId) -> Option<Zeroizing<Vec<u8>>> {
    let node = doc.node(id)?;
    let raw = body.get(node.span.clone())?;
    match node.kind {
        Kind::String => Some(json::decode_string(raw)),
        Kind::Number => Some(Zeroizing::new(raw.to_vec())),
        _ => None,
    }
}

/// The card number of a configured field: the scanner must find exactly one PAN in it.
pub fn exactly_one_pan(text: &[u8]) -> Result<outscope_scanner::PanDigits, ProxyError> {
    let findings = Scanner::new(Mode::Raw).scan(text);
    let mut pans = findings.iter().filter_map(Finding::pan);
    match (pans.next(), pans.next()) {
        (Some(pan), None) => Ok(pan.digits().clone()),
        _ => Err(ProxyError::CardRefused("the card number is not valid")),
    }
}

fn parse_num(text: &[u8]) -> Option<u32> {
    let t = std::str::from_utf8(text).ok()?.trim();
    (!t.is_empty() && t.len() <= 4).then_some(())?;
    t.parse().ok()
}

/// `MM/YY`, `MM/YYYY`, `MM-YY`, `MMYY`.
pub fn parse_combined_expiry(text: &[u8]) -> Option<(u8, u16)> {
    let t = std::str::from_utf8(text).ok()?.trim();
    let (m, y) = match t.split_once(['/', '-']) {
        Some((m, y)) => (m.trim(), y.trim()),
        None if t.len() == 4 => (&t[..2], &t[2..]),
        None => return None,
    };
    let month: u8 = m.parse().ok()?;
    let year: u16 = y.parse().ok()?;
    let year = match y.len() {
        2 => 2000 + year,
        4 => year,
        _ => return None,
    };
    (1..=12).contains(&month).then_some((month, year))
}

/// Refuses a body where an object holding card data has the same key twice: which value
/// the backend would read is unknowable.
fn refuse_duplicates_around(
    doc: &Doc,
    body: &[u8],
    findings: &[Finding],
    plan: &Plan,
) -> Result<(), ProxyError> {
    // Objects holding a finding or a card object, and every object inside a card object
    // (built-in detection does not look inside those: see `scan_outside_card_objects`).
    let sensitive = |span: &Range<usize>| {
        findings
            .iter()
            .any(|f| span.start <= f.span.start && f.span.end <= span.end)
            || plan.edits.iter().any(|e| {
                (span.start <= e.span.start && e.span.end <= span.end)
                    || (e.span.start <= span.start && span.end <= e.span.end)
            })
    };
    for (id, node) in doc.nodes.iter().enumerate() {
        if !doc.is_object(id) {
            continue;
        }
        let members = doc.members(id);
        if members.len() < 2 || !sensitive(&node.span) {
            continue;
        }
        // Keys without escapes compare as they are; only escaped ones are decoded.
        let mut keys: Vec<std::borrow::Cow<'_, [u8]>> = members
            .iter()
            .filter_map(|(k, _)| body.get(k.clone()))
            .map(|token| match token.contains(&b'\\') {
                false => std::borrow::Cow::Borrowed(token.get(1..token.len() - 1).unwrap_or(&[])),
                true => std::borrow::Cow::Owned(json::decode_string(token).to_vec()),
            })
            .collect();
        keys.sort_unstable();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(ProxyError::Ambiguous(
                "duplicate JSON keys in an object holding card data",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_expiry_forms() {
        assert_eq!(parse_combined_expiry(b"12/30"), Some((12, 2030)));
        assert_eq!(parse_combined_expiry(b"01/2031"), Some((1, 2031)));
        assert_eq!(parse_combined_expiry(b"0729"), Some((7, 2029)));
        assert_eq!(parse_combined_expiry(b"13/30"), None);
        assert_eq!(parse_combined_expiry(b"12/3"), None);
    }

    #[test]
    fn blanking_card_objects_changes_no_finding_outside_them() {
        let card = r#"{"number":"4242424242424242","cvc":"123","exp":"12/30"}"#;
        let nested = r#"{"number":"5105105105105100","meta":{"n":"4000056655665556"}}"#;
        let body = format!(
            r#"{{"card":{card},"memo":"5555555555554444","cvv":"999","amount":12999,
            "items":[{{"card":{nested},"pan":378282246310005}}],"s":"\u0034242424242424242"}}"#
        );
        let body = body.as_bytes();
        let mut plan = Plan::default();
        for object in [card, nested] {
            let start = body
                .windows(object.len())
                .position(|w| w == object.as_bytes())
                .unwrap();
            plan.push(start..start + object.len(), Action::Blank(b""), "card");
        }
        let scanner = Scanner::new(Mode::Json);
        let outside = |f: &Finding| !plan.covers(&f.span);
        let describe = |fs: Vec<Finding>| -> Vec<_> {
            fs.into_iter()
                .filter(outside)
                .map(|f| (f.span, f.kind, f.key_path))
                .collect()
        };
        let full = describe(scanner.scan(body));
        let blanked = describe(scan_outside_card_objects(body, &plan, &scanner));
        assert_eq!(blanked, full);
        // The memo, the CVV, the bare number (also a field by its key name) and the
        // escaped one: found either way.
        assert_eq!(full.len(), 5, "{full:?}");
    }

    #[test]
    fn configured_numbers_must_be_one_valid_pan() {
        assert!(exactly_one_pan(b"4242 4242 4242 4242").is_ok());
        assert_eq!(
            exactly_one_pan(b"4242424242424241").err().map(|e| e.code()),
            Some("card_refused")
        );
        assert_eq!(
            exactly_one_pan(b"hello").err().map(|e| e.code()),
            Some("card_refused")
        );
    }
}
