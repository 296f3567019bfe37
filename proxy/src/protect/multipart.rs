//! Finding card data in `multipart/form-data`: every region is read (preamble, part
//! headers including filenames, part bodies, epilogue); JSON parts as JSON, parts whose
//! name says CVV are blanked, configured card fields (`card[number]` parts) tokenized.

use std::ops::Range;

use outscope_config::{FileParts, Inspection};
use outscope_inspect::multipart;
use outscope_scanner::{Field, Kind, Mode, Scanner};

use super::plan::{Action, CardParts, Plan, Render};
use super::{json, text};
use crate::errors::ProxyError;

pub fn plan(body: &[u8], boundary: &str, policy: &Inspection) -> Result<Plan, ProxyError> {
    let m = multipart::parse(body, boundary, policy.max_multipart_parts)
        .map_err(|e| ProxyError::Unparseable(e.0))?;
    if policy.file_parts == FileParts::Reject && m.parts.iter().any(|p| p.filename.is_some()) {
        return Err(ProxyError::UnsupportedMedia("file uploads"));
    }
    let mut plan = Plan::default();
    card_parts(body, &m, policy, &mut plan)?;
    let raw = Scanner::new(Mode::Raw);
    let json_scanner = Scanner::new(Mode::Json);
    let mut regions: Vec<Range<usize>> = vec![m.preamble.clone(), m.epilogue.clone()];
    regions.extend(m.parts.iter().map(|p| p.headers.clone()));
    for region in regions {
        merge(
            &mut plan,
            text::plan(&body[region.clone()], policy, &raw)?,
            region.start,
        );
    }
    for part in &m.parts {
        let slice = &body[part.body.clone()];
        if part.name.as_deref().is_some_and(names_a_cvv) {
            if !plan.covers(&part.body) {
                plan.push(
                    part.body.clone(),
                    Action::Blank(b""),
                    part.name.clone().unwrap_or_default(),
                );
            }
            continue;
        }
        let sub = match part.content_type.as_deref() {
            Some(ct) if ct == "application/json" || ct.ends_with("+json") => {
                json::plan(slice, policy, &json_scanner)?
            }
            _ => text::plan(slice, policy, &raw)?,
        };
        merge(&mut plan, sub, part.body.start);
    }
    Ok(plan)
}

/// Whether a field name is a CVV's, as the scanner's key-name rules judge it.
fn names_a_cvv(name: &str) -> bool {
    let probe = format!(
        "{}=1",
        String::from_utf8_lossy(&outscope_inspect::form::encode(name.as_bytes()))
    );
    Scanner::new(Mode::Form)
        .scan(probe.as_bytes())
        .iter()
        .any(|f| f.kind == Kind::Field(Field::Cvv))
}

/// Adds a region's edits, shifted to body offsets, skipping those inside planned edits.
fn merge(plan: &mut Plan, sub: Plan, offset: usize) {
    plan.allowed += sub.allowed;
    for mut edit in sub.edits {
        edit.span = edit.span.start + offset..edit.span.end + offset;
        if !plan.covers(&edit.span) {
            plan.edits.push(edit);
        }
    }
}

/// Configured card fields as parts: the number part's body becomes the token, the other
/// card parts' bodies are emptied.
fn card_parts(
    body: &[u8],
    m: &multipart::Multipart,
    policy: &Inspection,
    plan: &mut Plan,
) -> Result<(), ProxyError> {
    for rule in &policy.cards {
        let Some(prefix) = rule.form_prefix.as_deref() else {
            continue;
        };
        let f = &rule.fields;
        let find = |field: &str| -> Result<Option<&multipart::Part>, ProxyError> {
            let want = format!("{prefix}[{field}]");
            let mut hits = m
                .parts
                .iter()
                .filter(|p| p.name.as_deref() == Some(want.as_str()));
            let first = hits.next();
            if hits.next().is_some() {
                return Err(ProxyError::Ambiguous("duplicate card parts"));
            }
            Ok(first)
        };
        let Some(number) = find(&f.number)? else {
            continue;
        };
        let pan = json::exactly_one_pan(&body[number.body.clone()])?;
        let text_of = |p: Option<&multipart::Part>| {
            p.map(|p| zeroize::Zeroizing::new(body[p.body.clone()].to_vec()))
        };
        let num = |p: Option<&multipart::Part>| -> Option<u32> {
            p.and_then(|p| std::str::from_utf8(&body[p.body.clone()]).ok())
                .and_then(|t| t.trim().parse().ok())
        };
        let mut exp_month = num(find(&f.exp_month)?).and_then(|v| u8::try_from(v).ok());
        let mut exp_year = num(find(&f.exp_year)?).and_then(|v| u16::try_from(v).ok());
        if let Some(p) = find(&f.exp)?
            && let Some((mo, y)) = json::parse_combined_expiry(&body[p.body.clone()])
        {
            exp_month = Some(mo);
            exp_year = Some(y);
        }
        let cvc = text_of(find(&f.cvc)?);
        let name = text_of(find(&f.name)?);
        if let Some(p) = find(&f.cvc)? {
            plan.push(
                p.body.clone(),
                Action::Blank(b""),
                format!("{prefix}[{}]", f.cvc),
            );
        }
        let parts = Box::new(CardParts {
            number: pan,
            exp_month,
            exp_year,
            cvc,
            name,
        });
        let mut output = rule.output.clone();
        // A part can hold one value: the token.
        (
            output.last4,
            output.brand,
            output.exp_month,
            output.exp_year,
            output.fingerprint,
        ) = (None, None, None, None, None);
        plan.push(
            number.body.clone(),
            Action::Card {
                parts,
                render: Render::TokenOnly,
                output,
            },
            format!("{prefix}[{}]", f.number),
        );
    }
    Ok(())
}
