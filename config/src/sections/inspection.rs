//! `[routes.inspection]`: what a route does about card data. Enforcing is the default;
//! `shadow` and `off` let card data reach the backend, so they need a written
//! acknowledgement on the same table.

use crate::allow::Shape;
use crate::model::{BodyType, Encoding, FileParts, Inspection, InspectionMode, OnDetected};
use crate::sections::read::{check, one_of, or_default, positive};
use crate::sections::{At, Cx, cards};
use crate::walk::{Node, Table};

/// The exact phrase `acknowledge` must hold for `mode = "shadow"` or `"off"`.
pub(crate) const ACKNOWLEDGEMENT: &str = "card data reaches the backend";

/// The parser recurses once per level; deeper documents are refused, not parsed.
const MAX_JSON_DEPTH: usize = 512;

const MODES: &[(&str, InspectionMode)] = &[
    ("enforce", InspectionMode::Enforce),
    ("shadow", InspectionMode::Shadow),
    ("off", InspectionMode::Off),
];
const ON_DETECTED: &[(&str, OnDetected)] = &[
    ("tokenize", OnDetected::Tokenize),
    ("mask", OnDetected::Mask),
    ("reject", OnDetected::Reject),
];
const BODY_TYPES: &[(&str, BodyType)] = &[
    ("json", BodyType::Json),
    ("form", BodyType::Form),
    ("multipart", BodyType::Multipart),
    ("text", BodyType::Text),
];
const ENCODINGS: &[(&str, Encoding)] = &[
    ("gzip", Encoding::Gzip),
    ("deflate", Encoding::Deflate),
    ("br", Encoding::Br),
    ("zstd", Encoding::Zstd),
];
const FILE_PARTS: &[(&str, FileParts)] =
    &[("scan", FileParts::Scan), ("reject", FileParts::Reject)];

/// A route's policy, and where it asks for a tokenizer (a card rule or
/// `on_detected = "tokenize"`), unless inspection is off.
pub(crate) struct Policy {
    pub(crate) inspection: Inspection,
    pub(crate) tokenizes: Option<At>,
}

pub(crate) fn inspection(cx: &mut Cx<'_>, node: Option<&Node<'_, '_>>) -> Option<Policy> {
    let Some(node) = node else {
        return Some(Policy {
            inspection: Inspection::default(),
            tokenizes: None,
        });
    };
    let mut t = node.table(cx)?;
    let d = Inspection::default();
    let mode = or_default(cx, &mut t, "mode", d.mode, |cx, node| {
        one_of(cx, node, MODES)
    });
    let acknowledged = acknowledge(cx, &mut t, mode);
    let on_detected_node = t.get("on_detected");
    let on_detected = match &on_detected_node {
        Some(node) => one_of(cx, node, ON_DETECTED),
        None => Some(d.on_detected),
    };
    let content_types = or_default(cx, &mut t, "content_types", d.content_types, |cx, node| {
        let empty = "must list at least one of \"json\", \"form\", \"multipart\", \"text\"";
        words(cx, node, BODY_TYPES, Some(empty))
    });
    let encodings = or_default(cx, &mut t, "encodings", d.encodings, |cx, node| {
        words(cx, node, ENCODINGS, None)
    });
    let cards_node = t.get("cards");
    let cards = match &cards_node {
        Some(node) => cards::cards(cx, node, content_types.as_deref()),
        None => Some(Vec::new()),
    };
    let allow_key_paths = or_default(cx, &mut t, "allow_key_paths", Vec::new(), key_paths);
    let allow_shapes = or_default(cx, &mut t, "allow_shapes", Vec::new(), shapes);
    let max_decompressed_bytes = or_default(
        cx,
        &mut t,
        "max_decompressed_bytes",
        d.max_decompressed_bytes,
        positive,
    );
    let max_decompression_ratio = or_default(
        cx,
        &mut t,
        "max_decompression_ratio",
        d.max_decompression_ratio,
        ratio,
    );
    let max_json_depth = or_default(cx, &mut t, "max_json_depth", d.max_json_depth, json_depth);
    let max_multipart_parts = or_default(
        cx,
        &mut t,
        "max_multipart_parts",
        d.max_multipart_parts,
        positive,
    );
    let file_parts = or_default(cx, &mut t, "file_parts", d.file_parts, |cx, node| {
        one_of(cx, node, FILE_PARTS)
    });
    t.finish(cx);
    let inspection = Inspection {
        mode: mode?,
        on_detected: on_detected?,
        cards: cards?,
        allow_key_paths: allow_key_paths?,
        allow_shapes: allow_shapes?,
        content_types: content_types?,
        encodings: encodings?,
        max_decompressed_bytes: max_decompressed_bytes?,
        max_decompression_ratio: max_decompression_ratio?,
        max_json_depth: max_json_depth?,
        max_multipart_parts: max_multipart_parts?,
        file_parts: file_parts?,
    };
    acknowledged?;
    let tokenizes = match (&on_detected_node, cards_node.as_ref()) {
        _ if inspection.mode == InspectionMode::Off => None,
        (Some(node), _) if inspection.on_detected == OnDetected::Tokenize => Some(node.at()),
        (_, Some(node)) if !inspection.cards.is_empty() => Some(node.at()),
        _ => None,
    };
    Some(Policy {
        inspection,
        tokenizes,
    })
}

/// `acknowledge` holds the exact phrase when `mode` lets card data through, and is absent
/// otherwise. `None` when a problem was reported.
fn acknowledge(cx: &mut Cx<'_>, t: &mut Table<'_, '_>, mode: Option<InspectionMode>) -> Option<()> {
    let node = t.get("acknowledge");
    match (mode?, node) {
        (InspectionMode::Enforce, None) => Some(()),
        (InspectionMode::Enforce, Some(node)) => {
            node.report(cx, "only applies with mode = \"shadow\" or \"off\"");
            None
        }
        (_, None) => {
            let message = format!(
                "missing required key: mode = \"shadow\" or \"off\" lets card data reach the backend; \
                 confirm with acknowledge = \"{ACKNOWLEDGEMENT}\""
            );
            t.missing(cx, "acknowledge", message);
            None
        }
        (_, Some(node)) => {
            let text = node.str(cx)?;
            if text == ACKNOWLEDGEMENT {
                return Some(());
            }
            node.report(cx, format!("must be exactly \"{ACKNOWLEDGEMENT}\""));
            None
        }
    }
}

/// Decoded size / encoded size: at least 2 (a compressed body is smaller than its content).
fn ratio(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<u32> {
    let ratio = positive::<u32>(cx, node)?;
    let rule = "must be at least 2 (a compressed body is smaller than its content)";
    check(cx, node, (ratio >= 2).then_some(ratio).ok_or(rule))
}

/// JSON nesting: 1 to [`MAX_JSON_DEPTH`].
fn json_depth(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<usize> {
    let depth = positive::<usize>(cx, node)?;
    let rule = "must be at most 512 (deeper documents are refused, never parsed)";
    check(
        cx,
        node,
        (depth <= MAX_JSON_DEPTH).then_some(depth).ok_or(rule),
    )
}

/// A list of known words, each at most once; `empty` is the message when an empty list
/// is refused (`None`: an empty list is allowed).
fn words<T: Copy + PartialEq>(
    cx: &mut Cx<'_>,
    node: &Node<'_, '_>,
    choices: &[(&str, T)],
    empty: Option<&str>,
) -> Option<Vec<T>> {
    let items = node.strings(cx)?;
    if let (true, Some(message)) = (items.is_empty(), empty) {
        node.report(cx, message);
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (item, _) in &items {
        match one_of(cx, item, choices) {
            Some(word) if out.contains(&word) => {
                item.report(cx, "listed twice");
                ok = false;
            }
            Some(word) => out.push(word),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Scanner key paths exempt from built-in detection: `order.reference`,
/// `items[0].sku`, or a form key such as `order[ref]`.
fn key_paths(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<Vec<String>> {
    let items = node.strings(cx)?;
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for (item, text) in &items {
        match check(cx, item, key_path(text)) {
            Some(()) if out.iter().any(|seen| seen == text) => {
                item.report(cx, "listed twice");
                ok = false;
            }
            Some(()) => out.push((*text).to_owned()),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Exact shapes of known false positives (see [`Shape`]).
fn shapes(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<Vec<Shape>> {
    let items = node.strings(cx)?;
    let mut out: Vec<Shape> = Vec::new();
    let mut ok = true;
    for (item, text) in &items {
        match check(cx, item, Shape::parse(text)) {
            Some(shape) if out.contains(&shape) => {
                item.report(cx, "listed twice");
                ok = false;
            }
            Some(shape) => out.push(shape),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn key_path(text: &str) -> Result<(), &'static str> {
    if text.is_empty() {
        return Err("must not be empty");
    }
    if text.starts_with('$') {
        return Err("is a key path as the scanner reports it (order.reference, \
                    items[0].sku, order[ref]), not a JSONPath: leave out the `$`");
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(())
}

/// Reports each route that tokenizes when there is no `[tokenizer]` section.
pub(crate) fn require_tokenizer(cx: &mut Cx<'_>, tokenizes: &[At], have_tokenizer: bool) {
    if have_tokenizer {
        return;
    }
    for at in tokenizes {
        at.report(
            cx,
            "this route tokenizes card data (card rules or on_detected = \"tokenize\"), \
             which needs a [tokenizer] section",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::key_path;

    #[test]
    fn key_paths_are_the_scanner_s_not_jsonpaths() {
        for good in ["order.reference", "items[0].sku", "order[ref]", "a b"] {
            assert!(key_path(good).is_ok(), "{good}");
        }
        for bad in ["", "$.order", "$", "a\tb"] {
            assert!(key_path(bad).is_err(), "{bad:?}");
        }
    }
}
