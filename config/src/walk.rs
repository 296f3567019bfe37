//! A typed walk over toml's spanned document tree.
//!
//! This is our `deny_unknown_fields`: every table declares the keys it reads, and
//! [`Table::finish`] reports each other key with its path. Unlike serde, which stops at the
//! first error, the walk reports a problem and carries on, so one run lists every problem.
//! Type errors name the expected and found TOML types, never the value.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::report::{KeyPath, Report};
use crate::sections::At;

/// A value in the document, with its key path and source span.
pub(crate) struct Node<'a, 'i> {
    pub(crate) path: KeyPath,
    pub(crate) value: &'a Spanned<DeValue<'i>>,
}

impl<'a, 'i> Node<'a, 'i> {
    pub(crate) fn new(path: KeyPath, value: &'a Spanned<DeValue<'i>>) -> Self {
        Self { path, value }
    }

    pub(crate) fn span(&self) -> Range<usize> {
        self.value.span()
    }

    /// Where this value was written.
    pub(crate) fn at(&self) -> At {
        At {
            path: self.path.clone(),
            span: self.span(),
        }
    }

    pub(crate) fn report(&self, report: &mut Report<'_>, message: impl Into<String>) {
        report.at(&self.path, self.span(), message);
    }

    pub(crate) fn str(&self, report: &mut Report<'_>) -> Option<&'a str> {
        match self.value.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            other => type_error(report, &self.path, self.span(), "a string", other),
        }
    }

    pub(crate) fn bool(&self, report: &mut Report<'_>) -> Option<bool> {
        match self.value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => type_error(report, &self.path, self.span(), "true or false", other),
        }
    }

    /// A non-negative integer that fits in `u64`.
    pub(crate) fn uint(&self, report: &mut Report<'_>) -> Option<u64> {
        match self.value.get_ref() {
            DeValue::Integer(i) => {
                let parsed = u64::from_str_radix(i.as_str(), i.radix()).ok();
                if parsed.is_none() {
                    let negative = i.as_str().starts_with('-');
                    self.report(
                        report,
                        if negative {
                            "must not be negative"
                        } else {
                            "is too large"
                        },
                    );
                }
                parsed
            }
            other => type_error(report, &self.path, self.span(), "a whole number", other),
        }
    }

    pub(crate) fn table(&self, report: &mut Report<'_>) -> Option<Table<'a, 'i>> {
        match self.value.get_ref() {
            DeValue::Table(t) => Some(Table::new(self.path.clone(), self.span(), t)),
            other => type_error(report, &self.path, self.span(), "a table", other),
        }
    }

    /// The elements of an array, each with its `path[i]`.
    pub(crate) fn array(&self, report: &mut Report<'_>) -> Option<Vec<Node<'a, 'i>>> {
        match self.value.get_ref() {
            DeValue::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Node::new(self.path.index(i), v))
                    .collect(),
            ),
            other => type_error(report, &self.path, self.span(), "an array", other),
        }
    }

    /// An array of strings; elements of another type are reported and skipped.
    pub(crate) fn strings(&self, report: &mut Report<'_>) -> Option<Vec<(Node<'a, 'i>, &'a str)>> {
        let items = self.array(report)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            match item.str(report) {
                Some(s) => out.push((item, s)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

fn type_error<T>(
    report: &mut Report<'_>,
    path: &KeyPath,
    span: Range<usize>,
    expected: &str,
    found: &DeValue<'_>,
) -> Option<T> {
    report.at(
        path,
        span,
        format!("expected {expected}, found {}", describe(found)),
    );
    None
}

/// The TOML type of a value, as prose. Never the value itself.
fn describe(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// A TOML table being read. Keys read through it are known; the rest are reported by
/// [`Table::finish`].
pub(crate) struct Table<'a, 'i> {
    pub(crate) path: KeyPath,
    span: Range<usize>,
    map: &'a DeTable<'i>,
    known: Vec<&'static str>,
}

impl<'a, 'i> Table<'a, 'i> {
    pub(crate) fn new(path: KeyPath, span: Range<usize>, map: &'a DeTable<'i>) -> Self {
        Self {
            path,
            span,
            map,
            known: Vec::new(),
        }
    }

    pub(crate) fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// Where this table was written (its header).
    pub(crate) fn at(&self) -> At {
        At {
            path: self.path.clone(),
            span: self.span(),
        }
    }

    /// The value under `key`, if present.
    pub(crate) fn get(&mut self, key: &'static str) -> Option<Node<'a, 'i>> {
        self.known.push(key);
        self.map.get(key).map(|v| Node::new(self.path.key(key), v))
    }

    /// The value under `key`; reports it missing otherwise.
    pub(crate) fn required(
        &mut self,
        report: &mut Report<'_>,
        key: &'static str,
    ) -> Option<Node<'a, 'i>> {
        let node = self.get(key);
        if node.is_none() {
            self.missing(report, key, "missing required key");
        }
        node
    }

    /// Reports `key` missing, with `message` saying why it is needed.
    pub(crate) fn missing(&self, report: &mut Report<'_>, key: &str, message: impl Into<String>) {
        report.at(&self.path.key(key), self.span(), message);
    }

    /// Reports a problem about this table as a whole.
    pub(crate) fn report(&self, report: &mut Report<'_>, message: impl Into<String>) {
        report.at(&self.path, self.span(), message);
    }

    /// Reports every key that no reader asked for.
    pub(crate) fn finish(self, report: &mut Report<'_>) {
        for (key, value) in self.map.iter() {
            if !self.known.contains(&key.get_ref().as_ref()) {
                let span = if key.span().is_empty() {
                    value.span()
                } else {
                    key.span()
                };
                report.at(
                    &self.path.key(key.get_ref()),
                    span,
                    unknown_key_message(key.get_ref(), &self.known),
                );
            }
        }
    }
}

fn unknown_key_message(unknown: &str, known: &[&str]) -> String {
    if let Some(near) = nearest(unknown, known) {
        return format!("unknown key; did you mean `{near}`?");
    }
    if known.is_empty() {
        return "unknown key".to_owned();
    }
    let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    format!("unknown key; expected one of {}", list.join(", "))
}

/// The known key closest to a misspelt one, if it is close enough to be the intent.
fn nearest<'k>(unknown: &str, known: &[&'k str]) -> Option<&'k str> {
    let limit = (unknown.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (edit_distance(unknown, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::{edit_distance, unknown_key_message};

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("path_prefix", "path_prefix"), 0);
        assert_eq!(edit_distance("pathprefix", "path_prefix"), 1);
    }

    #[test]
    fn close_misspellings_get_a_suggestion_and_others_the_list() {
        let known = ["path", "path_prefix", "upstream"];
        assert_eq!(
            unknown_key_message("path_prefx", &known),
            "unknown key; did you mean `path_prefix`?"
        );
        assert_eq!(
            unknown_key_message("upstreams", &known),
            "unknown key; did you mean `upstream`?"
        );
        assert_eq!(
            unknown_key_message("timeout", &known),
            "unknown key; expected one of `path`, `path_prefix`, `upstream`"
        );
        assert_eq!(unknown_key_message("x", &[]), "unknown key");
    }
}
