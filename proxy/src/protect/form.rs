//! Finding card data in a form-urlencoded body: configured card fields (`card[number]`,
//! `card[cvc]`, ...) and built-in detection over every key and value.

use std::ops::Range;

use outscope_config::{CardRule, Inspection};
use outscope_inspect::form::{self, Pair};
use outscope_scanner::{Finding, Scanner};
use zeroize::Zeroizing;

use super::builtin;
use super::json::{exactly_one_pan, parse_combined_expiry};
use super::plan::{Action, CardParts, Plan, Render, Syntax};
use crate::errors::ProxyError;

/// Plans every edit for a form body.
pub fn plan(body: &[u8], policy: &Inspection, scanner: &Scanner) -> Result<Plan, ProxyError> {
    let pairs = form::pairs(body);
    let keys = decoded_keys(body, &pairs)?;
    let mut plan = Plan::default();
    for rule in &policy.cards {
        if let Some(prefix) = rule.form_prefix.as_deref() {
            card_fields(body, &pairs, &keys, prefix, rule, &mut plan)?;
        }
    }
    let findings = scanner.scan(body);
    refuse_duplicates(&keys, &findings)?;
    builtin::plan_findings(
        body,
        &findings,
        policy,
        &mut plan,
        |_| Syntax::Bare,
        |_| b"",
    );
    Ok(plan)
}

fn decoded_keys(body: &[u8], pairs: &[Pair]) -> Result<Vec<Zeroizing<Vec<u8>>>, ProxyError> {
    pairs
        .iter()
        .map(|p| {
            form::decode(&body[p.key.clone()])
                .map_err(|_| ProxyError::Unparseable("invalid percent-encoding"))
        })
        .collect()
}

/// A parameter holding card data that appears twice: which one the backend reads is
/// unknowable.
fn refuse_duplicates(keys: &[Zeroizing<Vec<u8>>], findings: &[Finding]) -> Result<(), ProxyError> {
    for f in findings {
        let Some(key) = f.key_path.as_deref() else {
            continue;
        };
        if keys
            .iter()
            .filter(|k| k.as_slice() == key.as_bytes())
            .count()
            > 1
        {
            return Err(ProxyError::Ambiguous(
                "duplicate form parameters holding card data",
            ));
        }
    }
    Ok(())
}

/// The range that removes a pair together with one adjoining `&`.
pub fn removal(body: &[u8], whole: &Range<usize>) -> Range<usize> {
    if body.get(whole.end) == Some(&b'&') {
        whole.start..whole.end + 1
    } else if whole.start > 0 && body.get(whole.start - 1) == Some(&b'&') {
        whole.start - 1..whole.end
    } else {
        whole.clone()
    }
}

fn card_fields(
    body: &[u8],
    pairs: &[Pair],
    keys: &[Zeroizing<Vec<u8>>],
    prefix: &str,
    rule: &CardRule,
    plan: &mut Plan,
) -> Result<(), ProxyError> {
    let find = |field: &str| -> Result<Option<usize>, ProxyError> {
        let want = format!("{prefix}[{field}]");
        let mut hits = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.as_slice() == want.as_bytes())
            .map(|(i, _)| i);
        let first = hits.next();
        if hits.next().is_some() {
            return Err(ProxyError::Ambiguous("duplicate card form parameters"));
        }
        Ok(first)
    };
    let value = |i: usize| -> Result<Zeroizing<Vec<u8>>, ProxyError> {
        form::decode(&body[pairs[i].value.clone()])
            .map_err(|_| ProxyError::Unparseable("invalid percent-encoding"))
    };
    let f = &rule.fields;
    let Some(number_at) = find(&f.number)? else {
        return Ok(());
    };
    let pan = exactly_one_pan(&value(number_at)?)?;
    let num = |i: Option<usize>| -> Result<Option<u32>, ProxyError> {
        Ok(match i {
            Some(i) => std::str::from_utf8(&value(i)?)
                .ok()
                .and_then(|t| t.trim().parse().ok()),
            None => None,
        })
    };
    let mut exp_month = num(find(&f.exp_month)?)?.and_then(|v| u8::try_from(v).ok());
    let mut exp_year = num(find(&f.exp_year)?)?.and_then(|v| u16::try_from(v).ok());
    if let Some(i) = find(&f.exp)?
        && let Some((m, y)) = parse_combined_expiry(&value(i)?)
    {
        exp_month = Some(m);
        exp_year = Some(y);
    }
    let cvc = find(&f.cvc)?.map(value).transpose()?;
    let name = find(&f.name)?.map(value).transpose()?;
    for field in [&f.exp_month, &f.exp_year, &f.exp, &f.cvc, &f.name] {
        if let Some(i) = find(field)? {
            plan.push(
                removal(body, &pairs[i].whole),
                Action::Blank(b""),
                format!("{prefix}[{field}]"),
            );
        }
    }
    let parts = Box::new(CardParts {
        number: pan,
        exp_month,
        exp_year,
        cvc,
        name,
    });
    let render = Render::FormPairs {
        prefix: prefix.to_owned(),
    };
    plan.push(
        pairs[number_at].whole.clone(),
        Action::Card {
            parts,
            render,
            output: rule.output.clone(),
        },
        format!("{prefix}[{}]", f.number),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::removal;

    #[test]
    fn removing_a_pair_takes_one_ampersand() {
        let body = b"a=1&b=2&c=3";
        assert_eq!(removal(body, &(4..7)), 4..8);
        assert_eq!(removal(body, &(8..11)), 7..11);
        assert_eq!(removal(b"a=1", &(0..3)), 0..3);
    }
}
