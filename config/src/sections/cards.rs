//! `[[routes.inspection.cards]]`: structured card objects, found by JSONPath in JSON
//! bodies and by field prefix in forms and multipart, each replaced as a whole by the
//! token result.
//!
//! JSONPaths are checked by the same parser the proxy runs (`outscope-inspect`), so a path
//! accepted here is a path the proxy can follow.

use outscope_inspect::jsonpath::Path;

use crate::model::{BodyType, CardFields, CardOutput, CardRule};
use crate::report::KeyPath;
use crate::sections::Cx;
use crate::sections::card_names::{fields, output};
use crate::sections::read::{optional, or_default, tables};
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
    let refused =
        |types: &[BodyType]| accepts.is_some_and(|a| !types.iter().any(|b| a.contains(b)));
    let no_json = refused(&[BodyType::Json]);
    let no_form = refused(&[BodyType::Form, BodyType::Multipart]);
    let json_path = optional(cx, &mut t, "json_path", |cx, node| {
        json_path(cx, node, no_json, &mut seen.paths)
    });
    let form_prefix = optional(cx, &mut t, "form_prefix", |cx, node| {
        prefix(cx, node, no_form, &mut seen.prefixes)
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

/// A JSONPath the proxy's parser accepts, on a route that takes JSON, selecting objects
/// no earlier rule selects.
fn json_path(
    cx: &mut Cx<'_>,
    node: &Node<'_, '_>,
    no_json: bool,
    seen: &mut Vec<(Path, KeyPath)>,
) -> Option<String> {
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
    if no_json {
        node.report(cx, "never applies: content_types does not include \"json\"");
        return None;
    }
    if let Some((_, first)) = seen.iter().find(|(p, _)| *p == path) {
        node.report(cx, format!("selects the same objects as {first}"));
        return None;
    }
    seen.push((path, node.path.clone()));
    Some(text.to_owned())
}

/// A form prefix, on a route that takes forms or multipart, used by no earlier rule.
fn prefix(
    cx: &mut Cx<'_>,
    node: &Node<'_, '_>,
    no_form: bool,
    seen: &mut Vec<(String, KeyPath)>,
) -> Option<String> {
    let text = node.str(cx)?;
    if let Err(rule) = form_prefix(text) {
        node.report(cx, rule);
        return None;
    }
    if no_form {
        let message = "never applies: content_types includes neither \"form\" nor \"multipart\"";
        node.report(cx, message);
        return None;
    }
    if let Some((_, first)) = seen.iter().find(|(p, _)| p == text) {
        node.report(cx, format!("selects the same fields as {first}"));
        return None;
    }
    seen.push((text.to_owned(), node.path.clone()));
    Some(text.to_owned())
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

#[cfg(test)]
mod tests {
    use super::form_prefix;

    #[test]
    fn form_prefixes_are_a_name_and_bracketed_segments() {
        for good in [
            "card",
            "payment_method_data[card]",
            "a[b][c]",
            "card details",
        ] {
            assert!(form_prefix(good).is_ok(), "{good}");
        }
        for bad in [
            "", "[card]", "card[]", "card[", "card]", "card[a]b", "a&b", "a=b", "a[b=c]", "a\nb",
        ] {
            assert!(form_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
