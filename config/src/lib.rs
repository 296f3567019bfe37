//! outscope's configuration: TOML text in, a validated [`Config`] (or every problem) out.
//!
//! CONTRACT STUB: the config helper replaces the bodies; the signatures are what the proxy uses.

pub mod model;

pub use model::*;

use std::fmt;
use std::path::Path;

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

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            writeln!(f, "{}: {}", p.key_path, p.message)?;
        }
        Ok(())
    }
}

/// A complete, commented, valid configuration (`outscope config example`).
pub const EXAMPLE: &str = "";

/// Parses and validates `text`. `base_dir` resolves relative `file://` references.
pub fn parse(_text: &str, _base_dir: &Path) -> Result<Config, Problems> {
    Err(Problems(vec![]))
}

/// Reads, parses and validates the file at `path`.
pub fn load(path: &Path) -> Result<Config, Problems> {
    let text = std::fs::read_to_string(path).map_err(|_| {
        Problems(vec![Problem {
            key_path: String::new(),
            line: None,
            column: None,
            message: "cannot read file".into(),
        }])
    })?;
    parse(&text, path.parent().unwrap_or(Path::new(".")))
}
