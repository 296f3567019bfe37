//! Form mode: `application/x-www-form-urlencoded` bodies and query strings. Keys and
//! values are percent-decoded (`%34` is `4`, `+` is a space, multi-byte UTF-8 sequences
//! are decoded across escapes), card data is looked for in both, and keys name fields
//! (`card[cvc]=123`). `&` ends a pair and `=` ends a key; an encoded `%26` or `%3D` is data.

use crate::core::{Chars, ENC_PCT};
use crate::finding::{Field, Finding, How, Kind, SecretBytes};
use crate::utf8::{REPLACEMENT, Utf8};

const MAX_CAPTURE: usize = 256;

#[derive(Clone, Copy)]
enum Pct {
    None,
    One { start: usize },
    Two { start: usize, hi: u8, raw: u8 },
}

/// The form machine.
#[derive(Clone)]
pub(crate) struct Form {
    chars: Chars,
    utf8: Utf8,
    pct: Pct,
    in_key: bool,
    key: Vec<u8>,
    key_total: usize,
    key_digits: u8,
    key_start: usize,
    key_end: usize,
    field: Option<Field>,
    path: Option<String>,
    value_start: usize,
    capture: Vec<u8>,
    offset: usize,
}

impl Default for Form {
    fn default() -> Self {
        Form {
            chars: Chars::default(),
            utf8: Utf8::default(),
            pct: Pct::None,
            in_key: true,
            key: Vec::new(),
            key_total: 0,
            key_digits: 0,
            key_start: 0,
            key_end: 0,
            field: None,
            path: None,
            value_start: 0,
            capture: Vec::new(),
            offset: 0,
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

impl Form {
    /// Feeds a chunk.
    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<Finding>) {
        for (i, &b) in chunk.iter().enumerate() {
            let at = self.offset + i;
            self.byte(b, at, out);
        }
        self.offset += chunk.len();
    }

    fn byte(&mut self, b: u8, at: usize, out: &mut Vec<Finding>) {
        match self.pct {
            Pct::One { start } => {
                if let Some(hi) = hex(b) {
                    self.pct = Pct::Two { start, hi, raw: b };
                    return;
                }
                self.pct = Pct::None;
                self.decoded(b'%', start, start + 1, 0, out);
            }
            Pct::Two { start, hi, raw } => {
                self.pct = Pct::None;
                if let Some(lo) = hex(b) {
                    self.decoded((hi << 4) | lo, start, at + 1, ENC_PCT, out);
                    return;
                }
                self.decoded(b'%', start, start + 1, 0, out);
                self.decoded(raw, start + 1, start + 2, 0, out);
            }
            Pct::None => {}
        }
        match b {
            b'%' => self.pct = Pct::One { start: at },
            b'+' => self.decoded(b' ', at, at + 1, ENC_PCT, out),
            b'&' => {
                self.end_part(at, out);
                self.end_value(at, out);
                self.in_key = true;
                self.key.clear();
                self.key_total = 0;
                self.key_digits = 0;
                self.key_start = at + 1;
            }
            b'=' if self.in_key => {
                self.end_part(at, out);
                self.in_key = false;
                self.key_end = at;
                self.field = if self.key_total > crate::keys::MAX_KEY {
                    None
                } else {
                    crate::keys::classify_key(&self.key)
                };
                self.path = Some(if self.key_digits >= 6 {
                    "<redacted>".to_owned()
                } else {
                    String::from_utf8_lossy(&self.key).into_owned()
                });
                self.value_start = at + 1;
                self.capture.clear();
            }
            _ => self.decoded(b, at, at + 1, 0, out),
        }
    }

    fn decoded(&mut self, b: u8, start: usize, end: usize, enc: u8, out: &mut Vec<Finding>) {
        if self.in_key {
            self.key_total += 1;
            if self.key_total <= crate::keys::MAX_KEY {
                self.key.push(b);
            }
        } else if self.field.is_some() && self.capture.len() < MAX_CAPTURE {
            self.capture.push(b);
        }
        let o = self.utf8.byte(b, start, enc);
        for _ in 0..o.bad {
            self.push(REPLACEMENT, o.bad_start, start, 0, out);
        }
        if let Some((c, s, f)) = o.ch {
            if self.in_key && matches!(crate::chars::classify(c), crate::chars::Class::Digit(_)) {
                self.key_digits = self.key_digits.saturating_add(1);
            }
            self.push(c, s, end, f, out);
        }
    }

    fn push(&mut self, c: u32, start: usize, end: usize, enc: u8, out: &mut Vec<Finding>) {
        let before = out.len();
        self.chars.push(c, start, end, enc, None, out);
        self.label(before, out);
    }

    fn label(&self, from: usize, out: &mut [Finding]) {
        if self.in_key {
            return;
        }
        for f in out.iter_mut().skip(from) {
            if f.key_path.is_none() {
                f.key_path.clone_from(&self.path);
            }
        }
    }

    /// Ends a key or value: a pending escape and UTF-8 sequence, then a breaker.
    fn end_part(&mut self, at: usize, out: &mut Vec<Finding>) {
        let o = self.utf8.finish();
        for _ in 0..o.bad {
            self.push(REPLACEMENT, o.bad_start, at, 0, out);
        }
        self.push(u32::from(b'&'), at, at + 1, 0, out);
    }

    fn end_value(&mut self, at: usize, out: &mut Vec<Finding>) {
        if self.in_key {
            return;
        }
        if let Some(field) = self.field.take() {
            out.push(Finding {
                kind: Kind::Field(field),
                span: self.value_start..at,
                how: How::KEY_NAME,
                key_path: self.path.clone(),
                key_span: Some(self.key_start..self.key_end),
                pan: None,
                value: Some(SecretBytes::new(std::mem::take(&mut self.capture))),
            });
        }
    }

    /// Ends the input.
    pub(crate) fn finish(&mut self, out: &mut Vec<Finding>) {
        let end = self.offset;
        match self.pct {
            Pct::One { start } => self.decoded(b'%', start, start + 1, 0, out),
            Pct::Two { start, raw, .. } => {
                self.decoded(b'%', start, start + 1, 0, out);
                self.decoded(raw, start + 1, start + 2, 0, out);
            }
            Pct::None => {}
        }
        self.pct = Pct::None;
        let o = self.utf8.finish();
        for _ in 0..o.bad {
            self.push(REPLACEMENT, o.bad_start, end, 0, out);
        }
        let before = out.len();
        self.chars.flush(None, out);
        self.label(before, out);
        self.end_value(end, out);
    }
}
