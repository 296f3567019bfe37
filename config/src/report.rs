//! Collecting problems: every check reports here and carries on, so one run lists them all.

use std::fmt;
use std::ops::Range;

use crate::span::LineIndex;
use crate::{Problem, Problems};

/// A dotted key path such as `routes[2].upstream`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(String);

impl KeyPath {
    pub(crate) fn root() -> Self {
        Self(String::new())
    }

    /// `self.key`, with the key quoted when it is not a bare TOML key.
    pub(crate) fn key(&self, key: &str) -> Self {
        let bare = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let key = if bare {
            key.to_owned()
        } else {
            format!("{key:?}")
        };
        if self.0.is_empty() {
            Self(key)
        } else {
            Self(format!("{}.{key}", self.0))
        }
    }

    /// `self[index]`.
    pub(crate) fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The problem list under construction. Messages are written by this crate and never
/// include a configured value: callers pass fixed text that describes the rule.
pub(crate) struct Report<'t> {
    lines: LineIndex<'t>,
    found: Vec<(Option<usize>, Problem)>,
}

impl<'t> Report<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        Self {
            lines: LineIndex::new(text),
            found: Vec::new(),
        }
    }

    /// A problem at `span` of the source text.
    pub(crate) fn at(&mut self, path: &KeyPath, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = self.lines.locate(span.start);
        let problem = Problem {
            key_path: path.to_string(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        };
        self.found.push((Some(span.start), problem));
    }

    /// A problem with no place in the text (a required section that is absent).
    pub(crate) fn nowhere(&mut self, path: &KeyPath, message: impl Into<String>) {
        let problem = Problem {
            key_path: path.to_string(),
            line: None,
            column: None,
            message: message.into(),
        };
        self.found.push((None, problem));
    }

    pub(crate) fn is_clean(&self) -> bool {
        self.found.is_empty()
    }

    /// Every problem, in file order; those without a location come first.
    pub(crate) fn finish(mut self) -> Problems {
        self.found.sort_by_key(|(offset, _)| *offset);
        // toml's error recovery can report the same thing twice at one place.
        self.found.dedup();
        Problems(self.found.into_iter().map(|(_, p)| p).collect())
    }
}
