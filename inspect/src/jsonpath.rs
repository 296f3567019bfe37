//! The JSONPath subset routes use to name card objects: `$`, `.name`, `['name']`, `[n]`
//! and `[*]` (e.g. `$.payment.card`, `$.items[*].card`, `$['billing details'].card`).

use crate::json::{Doc, Kind, NodeId, decode_string};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
    AnyIndex,
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub steps: Vec<Step>,
}

/// Why a path expression is invalid (for config validation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathError(pub &'static str);

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for PathError {}

/// Why a selection could not be made safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectError {
    /// An object on the path has the same key twice: which one the backend reads is
    /// unknowable, so the request must be refused.
    DuplicateKey,
}

impl Path {
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let rest = text
            .strip_prefix('$')
            .ok_or(PathError("a path starts with '$'"))?;
        let mut steps = Vec::new();
        let mut s = rest;
        while !s.is_empty() {
            if let Some(after) = s.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let name = &after[..end];
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(PathError(
                        "a '.name' step needs letters, digits, '_' or '-' (use ['name'] otherwise)",
                    ));
                }
                steps.push(Step::Key(name.to_owned()));
                s = &after[end..];
            } else if let Some(after) = s.strip_prefix("['") {
                let end = after
                    .find("']")
                    .ok_or(PathError("unterminated ['name'] step"))?;
                steps.push(Step::Key(after[..end].to_owned()));
                s = &after[end + 2..];
            } else if let Some(after) = s.strip_prefix("[*]") {
                steps.push(Step::AnyIndex);
                s = after;
            } else if let Some(after) = s.strip_prefix('[') {
                let end = after.find(']').ok_or(PathError("unterminated [n] step"))?;
                let n = after[..end]
                    .parse()
                    .map_err(|_| PathError("[n] needs a non-negative integer"))?;
                steps.push(Step::Index(n));
                s = &after[end + 1..];
            } else {
                return Err(PathError("expected '.', '[' after a step"));
            }
        }
        Ok(Path { steps })
    }

    /// Every node the path selects, in document order.
    pub fn select(&self, doc: &Doc, input: &[u8]) -> Result<Vec<NodeId>, SelectError> {
        let mut current = vec![doc.root()];
        for step in &self.steps {
            let mut next = Vec::new();
            for id in current {
                match (step, doc.node(id).map(|n| &n.kind)) {
                    (Step::Key(name), Some(Kind::Object { .. })) => {
                        let mut found = doc
                            .members(id)
                            .iter()
                            .filter(|(k, _)| key_is(input, k.clone(), name));
                        if let Some((_, v)) = found.next() {
                            if found.next().is_some() {
                                return Err(SelectError::DuplicateKey);
                            }
                            next.push(*v);
                        }
                    }
                    (Step::Index(i), Some(Kind::Array { .. })) => {
                        next.extend(doc.elements(id).get(*i).copied())
                    }
                    (Step::AnyIndex, Some(Kind::Array { .. })) => {
                        next.extend(doc.elements(id).iter().copied())
                    }
                    _ => {}
                }
            }
            current = next;
        }
        Ok(current)
    }
}

/// Whether the key token at `span` decodes to `name`.
pub fn key_is(input: &[u8], span: std::ops::Range<usize>, name: &str) -> bool {
    let token = input.get(span).unwrap_or(&[]);
    if !token.contains(&b'\\') {
        return token.get(1..token.len().saturating_sub(1)) == Some(name.as_bytes());
    }
    decode_string(token).as_slice() == name.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{JsonLimits, parse};

    fn select(path: &str, text: &str) -> Result<Vec<String>, SelectError> {
        let doc = parse(text.as_bytes(), JsonLimits::default()).unwrap();
        let ids = Path::parse(path).unwrap().select(&doc, text.as_bytes())?;
        Ok(ids
            .into_iter()
            .map(|i| text[doc.node(i).unwrap().span.clone()].to_owned())
            .collect())
    }

    #[test]
    fn paths_parse() {
        let p = Path::parse("$.items[*].card['cvc code'][2]").unwrap();
        assert_eq!(
            p.steps,
            vec![
                Step::Key("items".into()),
                Step::AnyIndex,
                Step::Key("card".into()),
                Step::Key("cvc code".into()),
                Step::Index(2)
            ]
        );
        assert_eq!(Path::parse("$").unwrap().steps, vec![]);
        assert!(Path::parse("payment.card").is_err());
        assert!(Path::parse("$.a b").is_err());
        assert!(Path::parse("$[x]").is_err());
        assert!(Path::parse("$['open").is_err());
    }

    #[test]
    fn selection_follows_keys_and_indices() {
        let text = r#"{"items":[{"card":{"n":1}},{"card":{"n":2}},{"x":0}],"payment":{"card":7}}"#;
        assert_eq!(
            select("$.items[*].card", text).unwrap(),
            vec![r#"{"n":1}"#, r#"{"n":2}"#]
        );
        assert_eq!(select("$.items[1].card.n", text).unwrap(), vec!["2"]);
        assert_eq!(select("$.payment.card", text).unwrap(), vec!["7"]);
        assert!(select("$.missing", text).unwrap().is_empty());
    }

    #[test]
    fn escaped_keys_match_and_duplicates_are_refused() {
        assert_eq!(select("$.card", r#"{"c\u0061rd":1}"#).unwrap(), vec!["1"]);
        assert_eq!(
            select("$.card", r#"{"card":1,"card":2}"#),
            Err(SelectError::DuplicateKey)
        );
    }
}
