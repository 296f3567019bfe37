//! `[[routes.inspection.cards]]`: structured card objects, found by JSONPath in JSON
//! bodies and by field prefix in forms and multipart, each replaced as a whole by the
//! token result.
//!
//! JSONPaths are checked by the same parser the proxy runs (`outscope-inspect`), so a path
//! accepted here is a path the proxy can follow.

use outscope_inspect::jsonpath::Path;

use crate::model::{BodyType, CardFields, CardOutput, CardRule};
use crate::report::KeyPath;
use crate::sections::read::{optional, or_default, tables};
use crate::sections::{At, Cx};
use crate::walk::{Node, Table};

/// Rules seen so far in one route: two rules selecting the same objects is a mistake.
#[derive(Default)]
struct Seen {
    paths: Vec<(Path, KeyPath)>,
    prefixes: Vec<(String, KeyPath)>,
}

/// `accepts`: the route's content types, when valid (a rule for a body type the route
/// refuses would never apply).
pub(crate) fn cards(
    cx: &mut Cx<'_>,
    node: &Node<'_, '_>,
    accepts: Option<&[BodyType]>,
) -> Option<Vec<CardRule>> {
    let mut seen = Seen::default();
    let rules: Vec<Option<CardRule>> = tables(cx, node)
        .into_iter()
        .map(|t| card(cx, t, accepts, &mut seen))
        .collect();
    rules.into_iter().collect()
}

fn card(
    cx: &mut Cx<'_>,
    mut t: Table<'_, '_>,
    accepts: Option<&[BodyType]>,
    seen: &mut Seen,
) -> Option<CardRule> {
    let never = |types: &[BodyType]| accepts.is_some_and(|a| !types.iter().any(|b| a.contains(b)));
    let json_path = optional(cx, &mut t, "json_path", |cx, node| {
        let text = node.str(cx)?;
        let path = match Path::parse(text) {
            Ok(path) => path,
            Err(e) => {
                let message = format!(
                    "must be a JSONPath such as \"$.payment.card\" or \"$.items[*].card\" \
                     (steps: .name, ['name'], [n], [*]): {e}"
                );
                node.report(cx, message);
                return None;
            }
        };
        if never(&[BodyType::Json]) {
            node.report(cx, "never applies: content_types does not include \"json\"");
            return None;
        }
        if let Some((_, first)) = seen.paths.iter().find(|(p, _)| *p == path) {
            node.report(cx, format!("selects the same objects as {first}"));
            return None;
        }
        seen.paths.push((path, node.path.clone()));
        Some(text.to_owned())
    });
    let form_prefix = optional(cx, &mut t, "form_prefix", |cx, node| {
        let text = node.str(cx)?;
        if let Err(rule) = form_prefix(text) {
            node.report(cx, rule);
            return None;
        }
        if never(&[BodyType::Form, BodyType::Multipart]) {
            let message =
                "never applies: content_types includes neither \"form\" nor \"multipart\"";
            node.report(cx, message);
            return None;
        }
        if let Some((_, first)) = seen.prefixes.iter().find(|(p, _)| p == text) {
            node.report(cx, format!("selects the same fields as {first}"));
            return None;
        }
        seen.prefixes.push((text.to_owned(), node.path.clone()));
        Some(text.to_owned())
    });
    if let (Some(None), Some(None)) = (&json_path, &form_prefix) {
        let message = "missing required key: set json_path (JSON bodies), form_prefix \
                       (forms and multipart) or both";
        t.missing(cx, "json_path", message);
    }
    let fields = or_default(cx, &mut t, "fields", CardFields::default(), fields);
    let output = or_default(cx, &mut t, "output", CardOutput::default(), output);
    t.finish(cx);
    let (json_path, form_prefix) = (json_path?, form_prefix?);
    if json_path.is_none() && form_prefix.is_none() {
        return None;
    }
    Some(CardRule {
        json_path,
        form_prefix,
        fields: fields?,
        output: output?,
    })
}

/// `card` (for `card[number]`) or a nested prefix such as `payment_method_data[card]`.
fn form_prefix(text: &str) -> Result<(), &'static str> {
    const RULE: &str = "must be a form field prefix such as \"card\" or \
                        \"payment_method_data[card]\" (no empty segment, `&`, `=` or \
                        control characters)";
    let segment_ok = |s: &str| {
        !s.is_empty()
            && !s
                .chars()
                .any(|c| matches!(c, '[' | ']' | '&' | '=') || c.is_control())
    };
    let (head, mut rest) = text.find('[').map_or((text, ""), |i| text.split_at(i));
    if !segment_ok(head) {
        return Err(RULE);
    }
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or(RULE)?;
        let (segment, after) = inner.split_once(']').ok_or(RULE)?;
        if !segment_ok(segment) {
            return Err(RULE);
        }
        rest = after;
    }
    Ok(())
}

/// One name in `fields` or `output`: where it was set (`None`: its default) and its key.
struct Name {
    key: &'static str,
    value: String,
    at: Option<At>,
}

fn fields(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<CardFields> {
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

fn output(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<CardOutput> {
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
