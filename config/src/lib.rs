//! outscope's configuration: TOML text in, a validated [`Config`] (or every problem) out.
//!
//! ```text
//! text ──toml──▶ spanned document ──sections/*──▶ Config
//!                      │                  │
//!                      └── syntax errors  └── every rule broken, with key path and line:column
//! ```
//!
//! What callers can rely on:
//! - **Every problem, once.** The walk reports and carries on; [`Problems`] lists them all in
//!   file order, each with its dotted key path (`routes[2].upstream`) and line and column.
//! - **No values in problems.** Messages are fixed text written here; they describe the rule,
//!   never the configured value, so a secret pasted into the wrong key stays out of logs.
//!   Key paths name keys (including unknown ones), never values.
//! - **Unknown keys are errors** in every table (`deny_unknown_fields` semantics), with a
//!   suggestion when the key is a near miss.
//! - **Only the text.** [`parse`] and [`load`] touch nothing else; [`parse_with`] and
//!   [`load_with`] add opt-in [`Checks`] against this machine (files open, variables set)
//!   for `outscope validate`.
//! - **Parse, don't validate.** The [`model`] holds resolved, normalised values (indices for
//!   references, lower-case names, upper-case methods, defaults applied); the proxy never
//!   checks them again.
//!
//! [`EXAMPLE`] (`examples/outscope.toml`) documents every key with its default.

#![forbid(unsafe_code)]

pub mod allow;
pub mod model;

mod duration;
mod report;
mod secret;
mod sections;
mod span;
mod syntax;
mod syntax_error;
mod url;
mod walk;

pub use allow::Shape;
pub use model::*;

use std::fmt;
use std::path::Path;

use toml::de::DeTable;

use crate::report::{KeyPath, Report};

/// One thing wrong with a configuration, located by dotted key path and, where known,
/// line and column. Never contains a secret value or any other configured value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// e.g. `routes[2].upstream` ("" for whole-file problems such as unreadable files).
    pub key_path: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub message: String,
}

impl fmt::Display for Problem {
    /// `line:col key.path: message`, leaving out the parts that are unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, "{line}:{column} ")?;
        }
        if !self.key_path.is_empty() {
            write!(f, "{}: ", self.key_path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found, in file order (problems with no location first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    /// One line per problem: `line:col key.path: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            writeln!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A complete, commented, valid configuration (`outscope config example`).
pub const EXAMPLE: &str = include_str!("../examples/outscope.toml");

/// Checks beyond the text itself, for `outscope validate` on the machine that will run the
/// config. Off by default: [`parse`] and [`load`] look at nothing but the text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checks {
    /// Every `file://` reference names a regular file this process can open (it is opened,
    /// not read).
    pub files: bool,
    /// Every `env://` reference names a variable that is set.
    pub env: bool,
}

impl Checks {
    /// Both checks.
    pub const ALL: Self = Self {
        files: true,
        env: true,
    };
}

/// Parses and validates `text`. `base_dir` resolves relative `file://` references.
pub fn parse(text: &str, base_dir: &Path) -> Result<Config, Problems> {
    parse_with(text, base_dir, &Checks::default())
}

/// [`parse`], plus the `checks` against this machine, reported like any other problem
/// (key path, line and column).
pub fn parse_with(text: &str, base_dir: &Path, checks: &Checks) -> Result<Config, Problems> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if errors.is_empty() {
        return sections::build(text, &doc, base_dir, checks);
    }
    let mut report = Report::new(text);
    for error in &errors {
        let message = syntax_error::message(error.message());
        match error.span() {
            Some(span) => {
                let path = syntax_error::key_path_at(doc.get_ref(), span.start);
                report.at(&path, span, message);
            }
            None => report.nowhere(&KeyPath::root(), message),
        }
    }
    Err(report.finish())
}

/// Reads, parses and validates the file at `path`. Relative `file://` references resolve
/// against the file's directory.
pub fn load(path: &Path) -> Result<Config, Problems> {
    load_with(path, &Checks::default())
}

/// [`load`], plus the `checks` against this machine.
pub fn load_with(path: &Path, checks: &Checks) -> Result<Config, Problems> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Problems(vec![Problem {
            key_path: String::new(),
            line: None,
            column: None,
            message: format!("config file {}: {}", path.display(), io_reason(&e)),
        }])
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    parse_with(&text, &dir, checks)
}

/// Why a file could not be used, in words that name no content.
pub(crate) fn io_reason(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::NotFound => "not found",
        std::io::ErrorKind::PermissionDenied => "permission denied",
        std::io::ErrorKind::InvalidData => "not UTF-8 text",
        std::io::ErrorKind::IsADirectory => "is a directory",
        _ => "cannot be read",
    }
}
