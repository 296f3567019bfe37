//! `fields` and `output` of a card rule: the names read from the card object and the
//! names written in its place. Names are distinct within each table, defaults included.

use crate::model::{CardFields, CardOutput};
use crate::report::KeyPath;
use crate::sections::{At, Cx};
use crate::walk::Node;

/// One name in `fields` or `output`: where it was set (`None`: its default) and its key.
struct Name {
    key: &'static str,
    value: String,
    at: Option<At>,
}

pub(crate) fn fields(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<CardFields> {
    let mut t = node.table(cx)?;
    let d = CardFields::default();
    let mut names = Vec::new();
    let mut ok = true;
    for (key, default) in [
        ("number", d.number),
        ("exp_month", d.exp_month),
        ("exp_year", d.exp_year),
        ("exp", d.exp),
        ("cvc", d.cvc),
        ("name", d.name),
    ] {
        match t.get(key) {
            Some(node) => match field_name(cx, &node) {
                Some(value) => names.push(Name {
                    key,
                    value,
                    at: Some(node.at()),
                }),
                None => ok = false,
            },
            None => names.push(Name {
                key,
                value: default,
                at: None,
            }),
        }
    }
    t.finish(cx);
    let refs: Vec<&Name> = names.iter().collect();
    ok &= distinct(cx, &node.path, &refs);
    if !ok {
        return None;
    }
    let mut values = names.into_iter().map(|n| n.value);
    let mut next = || values.next().unwrap_or_default();
    Some(CardFields {
        number: next(),
        exp_month: next(),
        exp_year: next(),
        exp: next(),
        cvc: next(),
        name: next(),
    })
}

pub(crate) fn output(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<CardOutput> {
    let mut t = node.table(cx)?;
    let d = CardOutput::default();
    let token = match t.get("token") {
        Some(node) if node.value.get_ref().is_bool() => {
            node.report(cx, "must be a field name: the token is always written");
            None
        }
        Some(node) => field_name(cx, &node).map(|value| Name {
            key: "token",
            value,
            at: Some(node.at()),
        }),
        None => Some(Name {
            key: "token",
            value: d.token,
            at: None,
        }),
    };
    // `Some(None)`: left out; `None`: a problem was reported.
    let mut read = |cx: &mut Cx<'_>, key: &'static str, default: Option<String>| match t.get(key) {
        Some(node) => output_name(cx, &node).map(|name| {
            name.map(|value| Name {
                key,
                value,
                at: Some(node.at()),
            })
        }),
        None => Some(default.map(|value| Name {
            key,
            value,
            at: None,
        })),
    };
    let last4 = read(cx, "last4", d.last4);
    let brand = read(cx, "brand", d.brand);
    let exp_month = read(cx, "exp_month", d.exp_month);
    let exp_year = read(cx, "exp_year", d.exp_year);
    let fingerprint = read(cx, "fingerprint", d.fingerprint);
    t.finish(cx);
    let optional = [&last4, &brand, &exp_month, &exp_year, &fingerprint];
    let written: Vec<&Name> = token
        .iter()
        .chain(optional.into_iter().filter_map(|n| n.as_ref()?.as_ref()))
        .collect();
    let distinct = distinct(cx, &node.path, &written);
    let value = |name: Option<Option<Name>>| name.map(|n| n.map(|n| n.value));
    let output = CardOutput {
        token: token?.value,
        last4: value(last4)?,
        brand: value(brand)?,
        exp_month: value(exp_month)?,
        exp_year: value(exp_year)?,
        fingerprint: value(fingerprint)?,
    };
    distinct.then_some(output)
}

/// A field name in a card object: not empty, and usable in a form key (`card[<name>]`).
fn field_name(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<String> {
    let text = node.str(cx)?;
    let ok = !text.is_empty()
        && !text
            .chars()
            .any(|c| matches!(c, '[' | ']') || c.is_control());
    if !ok {
        node.report(
            cx,
            "must be a field name: not empty, without `[`, `]` or control characters",
        );
        return None;
    }
    Some(text.to_owned())
}

/// An output field name, or `false` to leave the field out.
fn output_name(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<Option<String>> {
    if node.value.get_ref().is_bool() {
        if node.bool(cx)? {
            node.report(
                cx,
                "expected a field name, or false to leave this field out",
            );
            return None;
        }
        return Some(None);
    }
    if node.value.get_ref().as_str() == Some("") {
        node.report(cx, "must not be empty; write false to leave this field out");
        return None;
    }
    field_name(cx, node).map(Some)
}

/// Reports each name used twice, at the one that was written (a default cannot be moved).
fn distinct(cx: &mut Cx<'_>, table: &KeyPath, names: &[&Name]) -> bool {
    let mut ok = true;
    for (i, later) in names.iter().enumerate() {
        let Some(earlier) = names[..i].iter().find(|n| n.value == later.value) else {
            continue;
        };
        ok = false;
        match (&later.at, &earlier.at) {
            (Some(at), _) => {
                let message = format!(
                    "same name as {}{}",
                    table.key(earlier.key),
                    if earlier.at.is_none() {
                        " (its default)"
                    } else {
                        ""
                    }
                );
                at.report(cx, message);
            }
            (None, Some(at)) => {
                let message = format!("same name as the default of {}", table.key(later.key));
                at.report(cx, message);
            }
            (None, None) => {}
        }
    }
    ok
}
