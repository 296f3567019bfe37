//! TOML syntax errors, reported by location with our own wording.
//!
//! toml's messages are mostly fixed grammar descriptions, but a few embed parsed text, which
//! could be a secret. So a message is passed on only when it is one of the known fixed
//! descriptions; anything else becomes a generic one.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::report::KeyPath;

/// Descriptions toml 0.9 reports that quote no input.
const KNOWN: &[&str] = &[
    "duplicate key",
    "`_` may only go between digits",
    "cannot recurse further; max recursion depth met",
    "carriage return must be followed by newline",
    "extra `=`",
    "extra assignment between key-value pairs",
    "extra comma in array",
    "extra comma in inline table",
    "integers with a radix cannot be signed",
    "invalid basic string",
    "invalid comment character",
    "invalid inline table element",
    "invalid key-value pair",
    "invalid multi-line basic string",
    "invalid unquoted key",
    "invalid value",
    "key with no value",
    "keys cannot be multi-line basic strings",
    "keys cannot be multi-line literal strings",
    "missing array opening",
    "missing assignment between key-value pairs",
    "missing comma between array elements",
    "missing comma between key-value pairs",
    "missing comment start",
    "missing escaped value",
    "missing inline table opening",
    "missing key for inline table element",
    "missing opening quote",
    "missing table open",
    "missing value for key",
    "missing value",
    "radix must be lowercase",
    "redundant integer number prefix",
    "redundant numeric sign",
    "string values must be quoted",
    "too few unicode value digits",
    "unclosed array table",
    "unclosed array",
    "unclosed inline table",
    "unclosed table",
    "unexpected `=` in array",
    "unexpected content between comment and newline",
    "unexpected content",
    "unexpected key or value",
    "unexpected leading zero",
    "unexpected sign",
    "unquoted keys cannot be empty",
    "cannot extend value of type array with a dotted key",
    "cannot extend value of type inline table with a dotted key",
    "recursion limit",
];

/// The deepest key whose key or value covers `offset` in the partly parsed document, so a
/// syntax error inside `methods = ["GET",,]` is reported at `routes[0].methods`. Root when
/// nothing covers it (the parser dropped the broken part).
pub(crate) fn key_path_at(doc: &DeTable<'_>, offset: usize) -> KeyPath {
    deepest(doc, &KeyPath::root(), offset).unwrap_or_else(KeyPath::root)
}

fn deepest(table: &DeTable<'_>, path: &KeyPath, offset: usize) -> Option<KeyPath> {
    table.iter().find_map(|(key, value)| {
        let path = path.key(key.get_ref());
        let inside = deeper(value, &path, offset);
        let covers = key.span().contains(&offset) || value.span().contains(&offset);
        inside.or_else(|| covers.then_some(path))
    })
}

fn deeper(value: &Spanned<DeValue<'_>>, path: &KeyPath, offset: usize) -> Option<KeyPath> {
    match value.get_ref() {
        DeValue::Table(table) => deepest(table, path, offset),
        DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let path = path.index(i);
            let inside = deeper(item, &path, offset);
            inside.or_else(|| item.span().contains(&offset).then_some(path))
        }),
        _ => None,
    }
}

/// Our message for one of toml's.
pub(crate) fn message(toml_message: &str) -> String {
    let description = toml_message
        .split(", expected")
        .next()
        .unwrap_or_default()
        .trim();
    let type_word = description
        .strip_prefix("cannot extend value of type ")
        .and_then(|rest| rest.strip_suffix(" with a dotted key"));
    let known = KNOWN.contains(&description)
        || type_word.is_some_and(|w| {
            ["string", "integer", "float", "boolean", "datetime", "table"].contains(&w)
        });
    if known {
        format!("invalid TOML: {description}")
    } else {
        "invalid TOML syntax".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::message;

    #[test]
    fn known_descriptions_pass_and_unknown_text_does_not() {
        assert_eq!(message("duplicate key"), "invalid TOML: duplicate key");
        assert_eq!(
            message("unclosed table, expected `]`"),
            "invalid TOML: unclosed table"
        );
        assert_eq!(
            message("failed to parse sk_live_secret"),
            "invalid TOML syntax"
        );
    }
}
