//! What the find phase decides and the tokenize phase carries out: a list of edits over
//! one buffer, each naming the card data it replaces. Card data in here lives only in
//! zeroizing types without `Debug`.

use std::ops::Range;

use outscope_scanner::PanDigits;
use zeroize::Zeroizing;

/// The parts of a configured card object, decoded.
pub struct CardParts {
    pub number: PanDigits,
    pub exp_month: Option<u8>,
    pub exp_year: Option<u16>,
    pub cvc: Option<Zeroizing<Vec<u8>>>,
    pub name: Option<Zeroizing<Vec<u8>>>,
}

/// How a replacement is written back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// Inside a string, a form value or text: the token's characters as they are.
    Bare,
    /// Where a JSON number stood: the token as a JSON string.
    JsonString,
}

/// How a configured card object's result is written: the caller renders it.
pub enum Render {
    /// A JSON object: output members first, then these untouched members (raw bytes).
    JsonObject { keep: Vec<Range<usize>> },
    /// Form pairs under `prefix[...]`.
    FormPairs { prefix: String },
    /// Only the token (a multipart part's body).
    TokenOnly,
}

/// One edit.
pub enum Action {
    /// Tokenize a configured card object and write the result in its place.
    Card {
        parts: Box<CardParts>,
        render: Render,
        output: outscope_config::CardOutput,
    },
    /// A card number found by built-in detection: token, mask or refusal per the route.
    Pan {
        pan: PanDigits,
        syntax: Syntax,
        cvc: Option<Zeroizing<Vec<u8>>>,
        /// Month and four-digit year, when found next to the number.
        expiry: Option<(u8, u16)>,
    },
    /// Remove card data that has no token of its own (a CVV): write these bytes instead.
    Blank(&'static [u8]),
}

pub struct Edit {
    pub span: Range<usize>,
    pub action: Action,
    /// Where it was: a key path or a place (`query`, `header:cookie`); never a value.
    pub place: String,
}

/// Every edit for one buffer.
#[derive(Default)]
pub struct Plan {
    pub edits: Vec<Edit>,
    /// Card numbers found but left alone: allow-listed false positives.
    pub allowed: usize,
}

impl Plan {
    pub fn push(&mut self, span: Range<usize>, action: Action, place: impl Into<String>) {
        self.edits.push(Edit {
            span,
            action,
            place: place.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// Whether `span` lies inside an edit already planned.
    pub fn covers(&self, span: &Range<usize>) -> bool {
        self.edits
            .iter()
            .any(|e| e.span.start <= span.start && span.end <= e.span.end)
    }
}
