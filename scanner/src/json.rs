//! JSON mode: a streaming, lenient JSON tokenizer that decodes strings (escapes, surrogate
//! pairs, UTF-8), normalizes numbers (fraction, exponent), tracks key paths, recognizes
//! sensitive keys, and scans JSON found inside strings. After a syntax error it falls back
//! to raw mode for the rest of the input, so nothing is ever skipped.
//!
//! Input arrives as bytes with their spans, so the same machine runs over the original
//! input (span = one byte) and over the decoded content of a string (nested JSON, where a
//! byte's span is the escape it came from).

use crate::core::{Chars, ENC_JSON};
use crate::finding::{Field, Finding, How, Kind, SecretBytes};
use crate::raw::Raw;
use crate::simd::Isa;
use crate::utf8::{REPLACEMENT, Utf8};

/// Deepest nesting with a key path segment; deeper levels show as `…`.
const MAX_FRAMES: usize = 256;
/// Nested JSON inside strings is followed this many levels deep.
const MAX_NESTED: u8 = 3;
/// Longest number token that is normalized; longer ones are read as plain digits.
const MAX_NUMBER: usize = 64;
/// Longest captured field value and key segment.
const MAX_CAPTURE: usize = 256;

#[derive(Clone)]
enum Frame {
    Obj {
        key: String,
        key_span: (usize, usize),
        field: Option<Field>,
        inherit: Option<Field>,
    },
    Arr {
        index: usize,
        inherit: Option<Field>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    /// Expecting a value (also at top level, between values).
    Value,
    /// After `{` or `,` in an object: expecting a key (or `}` right after `{`).
    Key { first: bool },
    /// After a key: expecting `:`.
    Colon,
    /// After a value: expecting `,` or a closing bracket.
    After,
    /// Inside a string.
    Str,
    /// After a backslash in a string.
    Esc,
    /// Inside `\uXXXX`: hex digits read so far.
    Uni { n: u8 },
    /// Inside a number token.
    Num,
    /// Inside `true`, `false` or `null`.
    Lit,
}

#[derive(Clone)]
struct NumTok {
    bytes: [u8; MAX_NUMBER],
    spans: [(usize, usize); MAX_NUMBER],
    len: usize,
}

/// The first `"` or `\\` of `bytes`: eight bytes at a time (most strings are short, where
/// memchr's set-up costs more than the search), then byte by byte.
#[inline]
fn quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut i = 0;
    while let Some(w) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let w = u64::from_le_bytes(*w);
        // The lowest set bit is in the first matching byte (a borrow only carries upwards).
        let m = zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes
        .get(i..)?
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|k| i + k)
}

/// The JSON machine.
#[derive(Clone)]
pub(crate) struct Json {
    isa: Isa,
    level: u8,
    chars: Chars,
    utf8: Utf8,
    st: St,
    frames: Vec<Frame>,
    overflow: usize,
    // Current string.
    str_is_key: bool,
    str_start: usize,
    str_probe: bool,
    key: String,
    key_total: usize,
    key_digits: u8,
    capture: Option<Vec<u8>>,
    // Escape decoding.
    esc_start: usize,
    uni: u32,
    high_surrogate: Option<(u32, usize)>,
    // Number and literal tokens.
    num: Box<NumTok>,
    lit_start: usize,
    lit: [u8; 5],
    lit_len: usize,
    // Nested JSON inside the current string.
    nested: Option<Box<Json>>,
    nested_end: usize,
    // After a syntax error, everything goes to raw mode.
    fallback: Option<Box<Raw>>,
    pub(crate) error_at: Option<usize>,
    offset: usize,
    prev3: [u8; 3],
}

impl Json {
    pub(crate) fn new(isa: Isa) -> Json {
        Json::at_level(isa, 0)
    }

    fn at_level(isa: Isa, level: u8) -> Json {
        let mut chars = Chars::default();
        if level > 0 {
            chars.extra_how = How::NESTED_JSON;
        }
        Json {
            isa,
            level,
            chars,
            utf8: Utf8::default(),
            st: St::Value,
            frames: Vec::new(),
            overflow: 0,
            str_is_key: false,
            str_start: 0,
            str_probe: false,
            key: String::new(),
            key_total: 0,
            key_digits: 0,
            capture: None,
            esc_start: 0,
            uni: 0,
            high_surrogate: None,
            num: Box::new(NumTok {
                bytes: [0; MAX_NUMBER],
                spans: [(0, 0); MAX_NUMBER],
                len: 0,
            }),
            lit_start: 0,
            lit: [0; 5],
            lit_len: 0,
            nested: None,
            nested_end: 0,
            fallback: None,
            error_at: None,
            offset: 0,
            prev3: [0; 3],
        }
    }

    // ----- resuming after a clean prefix -----------------------------------------------

    /// The machine as a pass over the whole input would leave it at the start of the first
    /// token (string, number or literal) that ends after `from`, and that token's offset.
    ///
    /// The caller guarantees (the prefilter) that nothing before `from` can make a finding.
    /// A structural walk then rebuilds what the exact pass would carry to that token: the
    /// open containers with their keys and indices, and the state. It understands only
    /// plain JSON: a key with a backslash or a non-ASCII byte, a sensitive key, nesting past
    /// the key path depth, anything the exact machine would read as a syntax error, or no
    /// such token at all give `None` (scan from the start). The character machine needs
    /// nothing carried: every token ends with a breaker, and a run's prefix matters only
    /// when it is `;` or `B`, which no token end leaves behind.
    pub(crate) fn resumed(isa: Isa, input: &[u8], from: usize) -> Option<(Json, usize)> {
        struct Open {
            obj: bool,
            /// The last key read (with its quotes), for objects.
            key: Option<(usize, usize)>,
            index: usize,
        }
        let mut open: Vec<Open> = Vec::new();
        let mut st = St::Value;
        let mut i = 0usize;
        let at = loop {
            let b = *input.get(i)?;
            match (st, b) {
                (St::After, b' ' | b'\t' | b'\r' | b'\n') if open.is_empty() => {
                    st = St::Value;
                    i += 1;
                }
                (_, b' ' | b'\t' | b'\r' | b'\n') => i += 1,
                (St::Value, b'{' | b'[') => {
                    if open.len() + 1 >= MAX_FRAMES {
                        return None;
                    }
                    let obj = b == b'{';
                    open.push(Open {
                        obj,
                        key: None,
                        index: 0,
                    });
                    st = if obj {
                        St::Key { first: true }
                    } else {
                        St::Value
                    };
                    i += 1;
                }
                (St::Value, b']') if matches!(open.last(), Some(o) if !o.obj && o.index == 0) => {
                    open.pop();
                    st = St::After;
                    i += 1;
                }
                (St::Key { first: true }, b'}') => {
                    open.pop();
                    st = St::After;
                    i += 1;
                }
                (St::Value | St::Key { .. }, b'"') => {
                    let body = input.get(i + 1..)?;
                    let k = quote_or_backslash(body)?;
                    let end = i + k + 2;
                    if body.get(k) != Some(&b'"') || end > from {
                        // A backslash lies past the flag, so does this token's end.
                        break i;
                    }
                    if matches!(st, St::Key { .. }) {
                        let key = body.get(..k)?;
                        if !key.is_ascii() || crate::keys::classify_key_fast(key).is_some() {
                            return None;
                        }
                        open.last_mut()?.key = Some((i, end));
                        st = St::Colon;
                    } else {
                        st = St::After;
                    }
                    i = end;
                }
                (St::Value, b'-' | b'0'..=b'9') => {
                    let len = input
                        .get(i..)?
                        .iter()
                        .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                        .unwrap_or(input.len() - i);
                    if i + len > from {
                        break i;
                    }
                    st = St::After;
                    i += len;
                }
                (St::Value, b't' | b'f' | b'n') => {
                    let len = input
                        .get(i..)?
                        .iter()
                        .position(|c| !c.is_ascii_alphabetic())
                        .unwrap_or(input.len() - i);
                    if !matches!(input.get(i..i + len)?, b"true" | b"false" | b"null") {
                        return None;
                    }
                    if i + len > from {
                        break i;
                    }
                    st = St::After;
                    i += len;
                }
                (St::Colon, b':') => {
                    st = St::Value;
                    i += 1;
                }
                (St::After, b',') => {
                    let top = open.last_mut()?;
                    if top.obj {
                        st = St::Key { first: false };
                    } else {
                        top.index += 1;
                        st = St::Value;
                    }
                    i += 1;
                }
                (St::After, b'}' | b']') if open.last()?.obj == (b == b'}') => {
                    open.pop();
                    st = St::After;
                    i += 1;
                }
                _ => return None,
            }
        };
        let mut m = Json::new(isa);
        for o in open {
            m.frames.push(if o.obj {
                let (key, key_span) = match o.key {
                    Some((s, e)) => {
                        let text = input.get(s + 1..e - 1)?;
                        let digits = crate::chars::count_ascii_digits(text);
                        let key = if digits >= 6 {
                            "<redacted>".to_owned()
                        } else {
                            let kept = text.get(..text.len().min(crate::keys::MAX_KEY))?;
                            std::str::from_utf8(kept).ok()?.to_owned()
                        };
                        (key, (s, e))
                    }
                    None => (String::new(), (0, 0)),
                };
                Frame::Obj {
                    key,
                    key_span,
                    field: None,
                    inherit: None,
                }
            } else {
                Frame::Arr {
                    index: o.index,
                    inherit: None,
                }
            });
        }
        m.st = st;
        m.offset = at;
        for &b in input.get(at.saturating_sub(3)..at)? {
            m.prev3 = [m.prev3[1], m.prev3[2], b];
        }
        Some((m, at))
    }

    // ----- key paths -------------------------------------------------------------------

    /// The key path of the current position; `include_key`: whether the current object's
    /// key is part of it (false while that key is itself being read).
    fn path(&self, include_key: bool) -> Option<String> {
        // One allocation: every key with its dot, an index with its brackets (at most 22
        // bytes), the overflow mark.
        let cap: usize = self
            .frames
            .iter()
            .map(|f| match f {
                Frame::Obj { key, .. } => key.len() + 1,
                Frame::Arr { .. } => 22,
            })
            .sum();
        let mut s = String::with_capacity(cap + 4);
        let n = self.frames.len();
        for (i, f) in self.frames.iter().enumerate() {
            match f {
                Frame::Obj { key, .. } => {
                    if i + 1 == n && !include_key {
                        break;
                    }
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(key);
                }
                Frame::Arr { index, .. } => {
                    use std::fmt::Write as _;
                    // Writing to a String cannot fail.
                    let _ = write!(s, "[{index}]");
                }
            }
        }
        if self.overflow > 0 {
            s.push_str(".…");
        }
        if s.is_empty() { None } else { Some(s) }
    }

    #[inline]
    fn label(&mut self, from: usize, out: &mut [Finding]) {
        if out.len() > from {
            self.label_slow(from, out);
        }
    }

    #[cold]
    fn label_slow(&mut self, from: usize, out: &mut [Finding]) {
        let include_key =
            !(self.str_is_key && matches!(self.st, St::Str | St::Esc | St::Uni { .. }));
        let path = self.path(include_key);
        for f in out.iter_mut().skip(from) {
            if f.key_path.is_none() {
                f.key_path.clone_from(&path);
            }
        }
    }

    /// The field the next value belongs to (its key's, or inherited from a container).
    fn value_field(&self) -> Option<Field> {
        match self.frames.last() {
            Some(Frame::Obj { field, inherit, .. }) => field.or(*inherit),
            Some(Frame::Arr { inherit, .. }) => *inherit,
            None => None,
        }
    }

    fn key_span(&self) -> Option<std::ops::Range<usize>> {
        match self.frames.last() {
            Some(Frame::Obj { key_span, .. }) => Some(key_span.0..key_span.1),
            _ => None,
        }
    }

    fn emit_field(
        &mut self,
        field: Field,
        span: std::ops::Range<usize>,
        value: Vec<u8>,
        out: &mut Vec<Finding>,
    ) {
        let how = if self.level > 0 {
            How::KEY_NAME.union(How::NESTED_JSON)
        } else {
            How::KEY_NAME
        };
        out.push(Finding {
            kind: Kind::Field(field),
            span,
            how,
            key_path: self.path(true),
            key_span: self.key_span(),
            pan: None,
            value: Some(SecretBytes::new(value)),
        });
    }

    // ----- containers ------------------------------------------------------------------

    fn open(&mut self, obj: bool) {
        let inherit = self.value_field();
        if self.frames.len() >= MAX_FRAMES {
            self.overflow += 1;
        } else if obj {
            self.frames.push(Frame::Obj {
                key: String::new(),
                key_span: (0, 0),
                field: None,
                inherit,
            });
        } else {
            self.frames.push(Frame::Arr { index: 0, inherit });
        }
        self.st = if obj {
            St::Key { first: true }
        } else {
            St::Value
        };
    }

    fn close(&mut self, obj: bool, at: usize, out: &mut Vec<Finding>) -> bool {
        if self.overflow > 0 {
            self.overflow -= 1;
        } else {
            match self.frames.last() {
                Some(Frame::Obj { .. }) if obj => {}
                Some(Frame::Arr { .. }) if !obj => {}
                _ => {
                    self.error(at, out);
                    return false;
                }
            }
            self.frames.pop();
        }
        self.st = St::After;
        true
    }

    fn after_comma(&mut self) {
        match self.frames.last_mut() {
            Some(Frame::Obj { .. }) => self.st = St::Key { first: false },
            Some(Frame::Arr { index, .. }) => {
                *index += 1;
                self.st = St::Value;
            }
            None => self.st = St::Value,
        }
    }

    // ----- errors ------------------------------------------------------------------------

    fn error(&mut self, at: usize, out: &mut Vec<Finding>) {
        if self.error_at.is_none() {
            self.error_at = Some(at);
        }
        let before = out.len();
        self.chars.flush(None, out);
        self.label(before, out);
        let chars = std::mem::take(&mut self.chars);
        let mut raw = Raw::with_chars(self.isa, chars, at);
        raw.chars.extra_how = if self.level > 0 {
            How::NESTED_JSON
        } else {
            How::PLAIN
        };
        self.fallback = Some(Box::new(raw));
    }

    // ----- bytes ---------------------------------------------------------------------------

    /// Feeds one byte spanning `start..end` (with `enc` flags from an outer decoding).
    pub(crate) fn byte(
        &mut self,
        b: u8,
        start: usize,
        end: usize,
        enc: u8,
        out: &mut Vec<Finding>,
    ) {
        if let Some(raw) = self.fallback.as_mut() {
            raw.byte(b, start, end, enc, out);
            return;
        }
        match self.st {
            St::Str => self.str_byte(b, start, end, enc, out),
            St::Esc => self.esc_byte(b, start, end, out),
            St::Uni { n } => self.uni_byte(b, n, start, end, out),
            St::Num => {
                if matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                    self.num_push(b, start, end, out);
                } else {
                    self.num_end(out);
                    self.st = St::After;
                    self.byte(b, start, end, enc, out);
                }
            }
            St::Lit => {
                if b.is_ascii_alphabetic() {
                    if let Some(slot) = self.lit.get_mut(self.lit_len) {
                        *slot = b;
                    }
                    self.lit_len += 1;
                } else {
                    if !self.lit_end(start, out) {
                        // Fall back: the literal was not JSON; this byte goes to raw.
                        if let Some(raw) = self.fallback.as_mut() {
                            raw.byte(b, start, end, enc, out);
                        }
                        return;
                    }
                    self.st = St::After;
                    self.byte(b, start, end, enc, out);
                }
            }
            _ => self.structural(b, start, end, enc, out),
        }
    }

    fn structural(&mut self, b: u8, start: usize, end: usize, enc: u8, out: &mut Vec<Finding>) {
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n')
            && !(self.st == St::After && self.frames.is_empty() && self.overflow == 0)
        {
            return;
        }
        match (self.st, b) {
            (St::Value, b'{') => self.open(true),
            (St::Value, b'[') => self.open(false),
            (St::Value, b']') if self.after_open_array() => {
                self.close(false, start, out);
            }
            (St::Value, b'"') => self.str_open(false, start),
            (St::Value, b'-' | b'0'..=b'9') => {
                self.st = St::Num;
                self.num.len = 0;
                self.num_push(b, start, end, out);
            }
            (St::Value, b't' | b'f' | b'n') => {
                self.st = St::Lit;
                self.lit_start = start;
                self.lit = [0; 5];
                self.lit[0] = b;
                self.lit_len = 1;
            }
            (St::Key { .. }, b'"') => self.str_open(true, start),
            (St::Key { first: true }, b'}') => {
                self.close(true, start, out);
            }
            (St::Colon, b':') => self.st = St::Value,
            (St::After, b',') if !self.frames.is_empty() || self.overflow > 0 => self.after_comma(),
            (St::After, b'}') => {
                self.close(true, start, out);
            }
            (St::After, b']') => {
                self.close(false, start, out);
            }
            // Top level: after whitespace, another value (JSON lines).
            (St::After, b' ' | b'\t' | b'\r' | b'\n')
                if self.frames.is_empty() && self.overflow == 0 =>
            {
                self.st = St::Value;
            }
            _ => {
                self.error(start, out);
                if let Some(raw) = self.fallback.as_mut() {
                    raw.byte(b, start, end, enc, out);
                }
            }
        }
    }

    fn after_open_array(&self) -> bool {
        matches!(self.frames.last(), Some(Frame::Arr { index: 0, .. }))
    }

    // ----- strings ---------------------------------------------------------------------

    fn str_open(&mut self, is_key: bool, start: usize) {
        self.st = St::Str;
        self.str_is_key = is_key;
        self.str_start = start;
        self.key.clear();
        self.key_total = 0;
        self.key_digits = 0;
        self.high_surrogate = None;
        self.str_probe = !is_key && self.level < MAX_NESTED;
        self.capture = if !is_key && self.value_field().is_some() {
            Some(Vec::new())
        } else {
            None
        };
    }

    fn str_byte(&mut self, b: u8, start: usize, end: usize, enc: u8, out: &mut Vec<Finding>) {
        match b {
            b'"' => {
                self.flush_utf8(out);
                self.surrogate_break(out);
                self.str_close(start, end, out);
            }
            b'\\' => {
                self.flush_utf8(out);
                self.st = St::Esc;
                self.esc_start = start;
            }
            _ => {
                let o = self.utf8.byte(b, start, enc);
                if o.bad > 0 {
                    self.surrogate_break(out);
                }
                for _ in 0..o.bad {
                    self.ch(REPLACEMENT, o.bad_start, start, 0, out);
                }
                if let Some((c, s, f)) = o.ch {
                    self.surrogate_break(out);
                    self.ch(c, s, end, f, out);
                }
            }
        }
    }

    fn flush_utf8(&mut self, out: &mut Vec<Finding>) {
        let o = self.utf8.finish();
        for _ in 0..o.bad {
            self.ch(
                REPLACEMENT,
                o.bad_start,
                o.bad_start + usize::from(o.bad),
                0,
                out,
            );
        }
    }

    /// A lone high surrogate before a non-escape becomes a replacement character.
    fn surrogate_break(&mut self, out: &mut Vec<Finding>) {
        if let Some((_, s)) = self.high_surrogate.take() {
            self.ch(REPLACEMENT, s, s + 6, ENC_JSON, out);
        }
    }

    fn esc_byte(&mut self, b: u8, start: usize, end: usize, out: &mut Vec<Finding>) {
        self.st = St::Str;
        let c = match b {
            b'u' => {
                self.st = St::Uni { n: 0 };
                self.uni = 0;
                return;
            }
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            _ => char::REPLACEMENT_CHARACTER,
        };
        let _ = start;
        self.surrogate_break(out);
        self.ch(c as u32, self.esc_start, end, ENC_JSON, out);
    }

    fn uni_byte(&mut self, b: u8, n: u8, start: usize, end: usize, out: &mut Vec<Finding>) {
        let Some(v) = (b as char).to_digit(16) else {
            // Broken escape: a replacement, then the byte is read as string content.
            self.st = St::Str;
            self.surrogate_break(out);
            self.ch(REPLACEMENT, self.esc_start, start, ENC_JSON, out);
            self.str_byte(b, start, end, 0, out);
            return;
        };
        self.uni = (self.uni << 4) | v;
        if n < 3 {
            self.st = St::Uni { n: n + 1 };
            return;
        }
        self.st = St::Str;
        let u = self.uni;
        match u {
            0xD800..=0xDBFF => {
                self.surrogate_break(out);
                self.high_surrogate = Some((u, self.esc_start));
            }
            0xDC00..=0xDFFF => match self.high_surrogate.take() {
                Some((h, s)) => {
                    let c = 0x10000 + ((h - 0xD800) << 10) + (u - 0xDC00);
                    self.ch(c, s, end, ENC_JSON, out);
                }
                None => self.ch(REPLACEMENT, self.esc_start, end, ENC_JSON, out),
            },
            _ => {
                self.surrogate_break(out);
                self.ch(u, self.esc_start, end, ENC_JSON, out);
            }
        }
    }

    /// One decoded string character.
    fn ch(&mut self, c: u32, start: usize, end: usize, enc: u8, out: &mut Vec<Finding>) {
        if self.str_is_key {
            if let Some(ch) = char::from_u32(c) {
                self.key_total += ch.len_utf8();
                if self.key_total <= crate::keys::MAX_KEY {
                    self.key.push(ch);
                }
            }
            if matches!(crate::chars::classify(c), crate::chars::Class::Digit(_)) {
                self.key_digits = self.key_digits.saturating_add(1);
            }
        } else if let Some(cap) = self.capture.as_mut()
            && cap.len() < MAX_CAPTURE
            && let Some(ch) = char::from_u32(c)
        {
            let mut buf = [0u8; 4];
            cap.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
        if self.str_probe {
            if matches!(c, 0x20 | 0x09 | 0x0A | 0x0D) {
                // Leading whitespace: keep looking.
            } else if c == u32::from(b'{') || c == u32::from(b'[') {
                self.str_probe = false;
                let mut nested = Json::at_level(self.isa, self.level + 1);
                nested.st = St::Value;
                self.nested = Some(Box::new(nested));
            } else {
                self.str_probe = false;
            }
        }
        if let Some(nested) = self.nested.as_mut() {
            let mut buf = [0u8; 4];
            let bytes = char::from_u32(c)
                .unwrap_or(char::REPLACEMENT_CHARACTER)
                .encode_utf8(&mut buf);
            let before = out.len();
            for &b in bytes.as_bytes() {
                nested.byte(b, start, end, enc, out);
            }
            self.nested_end = end;
            self.label_nested(before, out);
            return;
        }
        let before = out.len();
        self.chars.push(c, start, end, enc, None, out);
        self.label(before, out);
    }

    /// Prefixes nested findings' key paths with the path of the string holding them.
    fn label_nested(&self, from: usize, out: &mut [Finding]) {
        if out.len() <= from {
            return;
        }
        let outer = self.path(true);
        for f in out.iter_mut().skip(from) {
            f.key_path = match (&outer, f.key_path.take()) {
                (Some(o), Some(i)) if i.starts_with('[') => Some(format!("{o}{i}")),
                (Some(o), Some(i)) => Some(format!("{o}.{i}")),
                (Some(o), None) => Some(o.clone()),
                (None, i) => i,
            };
        }
    }

    fn str_close(&mut self, start: usize, end: usize, out: &mut Vec<Finding>) {
        if let Some(mut nested) = self.nested.take() {
            let before = out.len();
            nested.finish_bytes(self.nested_end, out);
            self.label_nested(before, out);
        }
        let before = out.len();
        self.chars.push(u32::from(b'"'), start, end, 0, None, out);
        self.label(before, out);
        if self.str_is_key {
            let field = if self.key_total > crate::keys::MAX_KEY {
                None
            } else {
                crate::keys::classify_key_fast(self.key.as_bytes())
            };
            let redacted = self.key_digits >= 6;
            if self.overflow == 0
                && let Some(Frame::Obj {
                    key: k,
                    key_span,
                    field: f,
                    ..
                }) = self.frames.last_mut()
            {
                k.clear();
                k.push_str(if redacted { "<redacted>" } else { &self.key });
                *key_span = (self.str_start, end);
                *f = field;
            }
            self.str_is_key = false;
            self.st = St::Colon;
        } else {
            if let Some(v) = self.capture.take()
                && let Some(field) = self.value_field()
            {
                self.emit_field(field, self.str_start..end, v, out);
            }
            self.st = St::After;
        }
    }

    // ----- numbers and literals ----------------------------------------------------------

    fn num_push(&mut self, b: u8, start: usize, end: usize, out: &mut Vec<Finding>) {
        let n = &mut self.num;
        if n.len < MAX_NUMBER {
            if let (Some(sb), Some(sp)) = (n.bytes.get_mut(n.len), n.spans.get_mut(n.len)) {
                *sb = b;
                *sp = (start, end);
            }
            n.len += 1;
            return;
        }
        if n.len == MAX_NUMBER {
            // Too long to normalize: replay what we have as plain characters, then stream.
            self.num_replay(out);
            self.num.len = MAX_NUMBER + 1;
        }
        let before = out.len();
        self.chars.push(u32::from(b), start, end, 0, None, out);
        self.label(before, out);
    }

    fn num_replay(&mut self, out: &mut Vec<Finding>) {
        let before = out.len();
        let len = self.num.len.min(MAX_NUMBER);
        for i in 0..len {
            let (Some(&b), Some(&(s, e))) = (self.num.bytes.get(i), self.num.spans.get(i)) else {
                break;
            };
            self.chars.push(u32::from(b), s, e, 0, None, out);
        }
        self.label(before, out);
    }

    fn num_end(&mut self, out: &mut Vec<Finding>) {
        let before = out.len();
        let len = self.num.len;
        let tok_buf = self.num.bytes;
        let tok = tok_buf.get(..len.min(MAX_NUMBER)).unwrap_or(&[]);
        let span = match (
            self.num.spans.first(),
            self.num.spans.get(len.min(MAX_NUMBER).saturating_sub(1)),
        ) {
            (Some(a), Some(b)) => a.0..b.1,
            _ => 0..0,
        };
        let mut handled = false;
        let digits = crate::chars::count_ascii_digits(tok);
        let has_exp = tok.iter().any(|b| matches!(b, b'e' | b'E'));
        if len <= MAX_NUMBER
            && (has_exp || digits >= 12)
            && let Some((vals, n, fancy)) = normalize_number(tok)
            && fancy
            && let Some(v) = vals.get(..n)
        {
            let before_n = out.len();
            self.chars
                .number(v, span.clone(), How::JSON_NUMBER, None, out);
            handled = out.len() > before_n;
        }
        if !handled && len <= MAX_NUMBER {
            if digits >= 12 || !self.chars.quiescent() {
                self.num_replay(out);
            } else {
                // Fewer than 12 digits cannot make a card number: only the history moves.
                for i in len.saturating_sub(2)..len {
                    if let (Some(&b), Some(&(s, _))) = (tok.get(i), self.num.spans.get(i)) {
                        self.chars.shift_history(b, s);
                    }
                }
            }
        }
        // The number ends: a breaker.
        self.chars
            .push(u32::from(b','), span.end, span.end, 0, None, out);
        self.label(before, out);
        if let Some(field) = self.value_field() {
            self.emit_field(field, span, tok.to_vec(), out);
        }
    }

    /// Ends a literal; false (and a fallback) when it is not `true`, `false` or `null`.
    fn lit_end(&mut self, at: usize, out: &mut Vec<Finding>) -> bool {
        let lit = self.lit.get(..self.lit_len.min(5)).unwrap_or(&[]);
        if self.lit_len > 5 || !matches!(lit, b"true" | b"false" | b"null") {
            self.error(self.lit_start, out);
            return false;
        }
        if let Some(field) = self.value_field() {
            let v = lit.to_vec();
            self.emit_field(field, self.lit_start..at, v, out);
        }
        true
    }

    // ----- streaming ---------------------------------------------------------------------

    /// Feeds a chunk of the original input.
    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<Finding>) {
        let mut i = 0usize;
        while i < chunk.len() {
            if self.fallback.is_some() {
                // Raw mode reads the bytes before `i` (the one that broke the JSON is
                // among them) for track data and run starts, as byte-by-byte feeding does.
                let tail = [
                    self.before(chunk, i, 3),
                    self.before(chunk, i, 2),
                    self.before(chunk, i, 1),
                ];
                if let Some(raw) = self.fallback.as_mut() {
                    raw.offset = self.offset + i;
                    raw.set_tail(tail);
                    raw.feed(chunk.get(i..).unwrap_or(&[]), out);
                }
                break;
            }
            let Some(&b) = chunk.get(i) else { break };
            match self.st {
                // Fast loops for the common non-string states.
                St::Num => {
                    while let Some(&c) = chunk.get(i)
                        && matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                    {
                        let at = self.offset + i;
                        self.num_push(c, at, at + 1, out);
                        i += 1;
                    }
                    if let Some(&c) = chunk.get(i) {
                        let at = self.offset + i;
                        self.byte(c, at, at + 1, 0, out);
                        i += 1;
                    }
                    continue;
                }
                St::Value | St::Key { .. } | St::Colon
                    if matches!(b, b' ' | b'\t' | b'\r' | b'\n') =>
                {
                    i += 1;
                    continue;
                }
                St::After
                    if matches!(b, b' ' | b'\t' | b'\r' | b'\n')
                        && (!self.frames.is_empty() || self.overflow > 0) =>
                {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            if self.st == St::Str
                && self.str_probe
                && chunk.get(i).is_some_and(|&b| {
                    !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'{' | b'[' | b'\\')
                })
            {
                // The first character decides the probe: not nested JSON. (An escape may
                // decode to whitespace or a bracket, `\u007b`: the decoded character decides.)
                self.str_probe = false;
            }
            if matches!(self.st, St::Key { .. })
                && chunk.get(i) == Some(&b'"')
                && self.utf8.idle()
                && self.chars.quiescent()
                && let Some(end) = self.plain_key(chunk, i, out)
            {
                i = end;
                continue;
            }
            if self.plain_value_content() && self.chars.quiescent() {
                let skip = self.skippable(chunk, i);
                if skip > i {
                    i = skip;
                    continue;
                }
            }
            if self.plain_value_content()
                && chunk
                    .get(i)
                    .is_some_and(|&b| b.is_ascii() && b != b'"' && b != b'\\')
            {
                // String content inside a digit run (a card number being read): an idle
                // UTF-8 decoder passes ASCII through unchanged and, in this state, `ch`
                // only hands the character to the digit machine, so push it directly
                // until the run ends (then the skip above may apply again).
                while let Some(&b) = chunk.get(i)
                    && b.is_ascii()
                    && b != b'"'
                    && b != b'\\'
                {
                    let at = self.offset + i;
                    let before = out.len();
                    self.chars.push(u32::from(b), at, at + 1, 0, None, out);
                    self.label(before, out);
                    i += 1;
                    if self.chars.quiescent() {
                        break;
                    }
                }
                continue;
            }
            if let Some(&b) = chunk.get(i) {
                let at = self.offset + i;
                self.byte(b, at, at + 1, 0, out);
            }
            i += 1;
        }
        for &b in chunk.iter().rev().take(3).rev() {
            self.prev3 = [self.prev3[1], self.prev3[2], b];
        }
        self.offset += chunk.len();
    }

    /// Inside a value string whose characters only reach the digit machine: no key, no
    /// captured value, no nested JSON or probe for it, nothing pending in the UTF-8 or
    /// surrogate decoding. The stream's string fast paths apply only here.
    #[inline]
    fn plain_value_content(&self) -> bool {
        self.st == St::Str
            && self.nested.is_none()
            && !self.str_probe
            && self.capture.is_none()
            && !self.str_is_key
            && self.high_surrogate.is_none()
            && self.utf8.idle()
    }

    /// A key at `i` (its opening quote) that is plain ASCII without escapes and without a
    /// run of 12 digit-like bytes is read in one step; returns the index after its closing
    /// quote. `None`: read it byte by byte.
    fn plain_key(&mut self, chunk: &[u8], i: usize, out: &mut Vec<Finding>) -> Option<usize> {
        let body = chunk.get(i + 1..)?;
        let k = memchr::memchr2(b'"', b'\\', body)?;
        if body.get(k) != Some(&b'"') {
            return None;
        }
        let key = body.get(..k)?;
        if key.len() > crate::keys::MAX_KEY || !key.is_ascii() {
            return None;
        }
        let digits = crate::chars::count_ascii_digits(key);
        if digits >= 12 {
            let window = body.get(..=k)?;
            if crate::prefilter::next_flag(self.isa, window, 0, 0, Some(b'\\')).is_some() {
                return None;
            }
        }
        let at = self.offset + i;
        self.str_open(true, at);
        self.key.push_str(std::str::from_utf8(key).ok()?);
        self.key_total = key.len();
        self.key_digits =
            u8::try_from(key.iter().filter(|b| b.is_ascii_digit()).count()).unwrap_or(u8::MAX);
        self.chars.shift_history(b'"', at);
        for (j, &b) in key.iter().enumerate().skip(key.len().saturating_sub(2)) {
            self.chars.shift_history(b, at + 1 + j);
        }
        let q = at + 1 + k;
        self.str_close(q, q + 1, out);
        Some(i + k + 2)
    }

    /// Inside a string with nothing pending: how far string content can be skipped.
    fn skippable(&mut self, chunk: &[u8], i: usize) -> usize {
        let rest = chunk.get(i..).unwrap_or(&[]);
        let (limit, stop) = match memchr::memchr2(b'"', b'\\', rest) {
            Some(k) => (i + k, rest.get(k).copied()),
            None => (chunk.len(), None),
        };
        if stop == Some(b'"') && limit - i < 64 {
            // Short string: fewer than 12 ASCII digits and no other script cannot hold a
            // card number; the closing quote ends any run.
            let content = chunk.get(i..limit).unwrap_or(&[]);
            let digits = crate::chars::count_ascii_digits(content);
            if digits < 12 && content.is_ascii() {
                for k in limit.saturating_sub(2).max(i)..limit {
                    if let Some(&b) = chunk.get(k) {
                        self.chars.shift_history(b, self.offset + k);
                    }
                }
                return limit;
            }
        }
        let window = chunk.get(..(limit + 1).min(chunk.len())).unwrap_or(&[]);
        let prev = [
            self.before(chunk, i, 3),
            self.before(chunk, i, 2),
            self.before(chunk, i, 1),
        ];
        let target = match crate::prefilter::next_flag(
            self.isa,
            window,
            i,
            crate::prefilter::prev_x_bits(prev),
            Some(b'\\'),
        ) {
            Some(p) => p.min(limit),
            None => limit,
        };
        // Never skip digits (or separators) right before the stop or a flagged run: an
        // escape or the next chunk may continue them.
        let mut t = target;
        if stop != Some(b'"') || target < limit {
            while t > i
                && chunk.get(t - 1).is_some_and(|&b| {
                    b.is_ascii_digit() || b >= 0x80 || crate::chars::is_ascii_sep(b)
                })
            {
                t -= 1;
            }
        }
        for k in t.saturating_sub(2).max(i)..t {
            if let Some(&b) = chunk.get(k) {
                self.chars.shift_history(b, self.offset + k);
            }
        }
        t
    }

    fn before(&self, chunk: &[u8], i: usize, k: usize) -> u8 {
        match i.checked_sub(k) {
            Some(j) => chunk.get(j).copied().unwrap_or(0),
            None => self
                .prev3
                .get(3usize.saturating_sub(k - i))
                .copied()
                .unwrap_or(0xFF),
        }
    }

    /// Ends the input.
    pub(crate) fn finish(&mut self, out: &mut Vec<Finding>) {
        let end = self.offset;
        self.finish_bytes(end, out);
    }

    /// Ends input fed through [`Json::byte`]; `end` is the end of the last byte.
    pub(crate) fn finish_bytes(&mut self, end: usize, out: &mut Vec<Finding>) {
        if let Some(raw) = self.fallback.as_mut() {
            raw.finish_bytes(end, out);
            return;
        }
        let before = out.len();
        match self.st {
            St::Num => {
                self.num_end(out);
                self.st = St::After;
            }
            St::Lit => {
                self.lit_end(end, out);
            }
            St::Str | St::Esc | St::Uni { .. } => {
                self.flush_utf8(out);
                self.surrogate_break(out);
                if let Some(mut nested) = self.nested.take() {
                    let b = out.len();
                    nested.finish_bytes(end, out);
                    self.label_nested(b, out);
                }
                if self.error_at.is_none() {
                    self.error_at = Some(end);
                }
            }
            St::Value | St::Key { .. } | St::Colon | St::After => {
                if (!self.frames.is_empty() || self.overflow > 0) && self.error_at.is_none() {
                    self.error_at = Some(end);
                }
            }
        }
        if let Some(raw) = self.fallback.as_mut() {
            raw.finish_bytes(end, out);
            return;
        }
        self.chars.flush(None, out);
        self.label(before, out);
    }
}

/// Normalizes a JSON number token: `(digit values, count, had fraction or exponent)` when
/// it is a valid JSON number whose value is an integer of 12 to 19 digits.
pub(crate) fn normalize_number(tok: &[u8]) -> Option<([u8; 19], usize, bool)> {
    let mut i = 0;
    if tok.first() == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    while tok.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let int = tok.get(int_start..i)?;
    if int.is_empty() {
        return None;
    }
    let mut frac: &[u8] = &[];
    let mut fancy = false;
    if tok.get(i) == Some(&b'.') {
        let s = i + 1;
        i = s;
        while tok.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        frac = tok.get(s..i)?;
        if frac.is_empty() {
            return None;
        }
        fancy = true;
    }
    let mut exp: i64 = 0;
    if matches!(tok.get(i), Some(b'e' | b'E')) {
        fancy = true;
        i += 1;
        let neg = match tok.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let s = i;
        while let Some(d) = tok.get(i).filter(|d| d.is_ascii_digit()) {
            exp = (exp * 10 + i64::from(d - b'0')).min(1_000_000);
            i += 1;
        }
        if i == s {
            return None;
        }
        if neg {
            exp = -exp;
        }
    }
    if i != tok.len() {
        return None;
    }
    // Mantissa digits without leading zeros; then strip trailing zeros into the exponent.
    let all = int.iter().chain(frac.iter());
    let mut sig = [0u8; 19];
    let mut n = 0usize;
    let mut total = 0usize; // significant digits seen (after the first non-zero)
    let mut last_nz = 0usize; // `total` at the last non-zero digit
    for &d in all {
        if total == 0 && d == b'0' {
            continue;
        }
        total += 1;
        if d != b'0' {
            last_nz = total;
        }
        if let Some(slot) = sig.get_mut(n) {
            *slot = d - b'0';
            n += 1;
        } else if d != b'0' {
            return None; // more than 19 significant digits
        }
    }
    if last_nz == 0 || last_nz > 19 {
        return None;
    }
    let tz = i64::try_from(total - last_nz).ok()?;
    let e = exp - i64::try_from(frac.len()).ok()? + tz;
    if e < 0 {
        return None;
    }
    let digits = i64::try_from(last_nz).ok()? + e;
    if !(12..=19).contains(&digits) {
        return None;
    }
    let mut vals = [0u8; 19];
    for (v, s) in vals.iter_mut().zip(sig.iter().take(last_nz)) {
        *v = *s;
    }
    let count = usize::try_from(digits).ok()?;
    Some((vals, count, fancy))
}

/// Prefilter helper: could the number token around the `e`/`E` at `i` normalize to a PAN?
pub(crate) fn exponent_number_may_be_pan(hay: &[u8], i: usize) -> bool {
    let in_tok = |b: &u8| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E');
    let mut s = i;
    while s > 0 && hay.get(s - 1).is_some_and(in_tok) {
        s -= 1;
    }
    // A number token starts after a delimiter (the exact machine reads nothing else as one).
    // Checked first: most candidates are hex digits inside an id (`"ord_9f4e51"`).
    if s > 0
        && !hay
            .get(s - 1)
            .is_some_and(|b| matches!(b, b':' | b',' | b'[' | b' ' | b'\t' | b'\r' | b'\n'))
    {
        return false;
    }
    let mut e = i;
    while hay.get(e).is_some_and(in_tok) {
        e += 1;
    }
    if e - s > MAX_NUMBER {
        return false;
    }
    let Some(tok) = hay.get(s..e) else {
        return true;
    };
    normalize_number(tok)
        .and_then(|(v, n, _)| v.get(..n).and_then(crate::iin::validate))
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Option<String> {
        normalize_number(s.as_bytes())
            .map(|(v, n, _)| v.iter().take(n).map(|d| char::from(b'0' + d)).collect())
    }

    #[test]
    fn the_first_quote_or_backslash_is_found_at_any_position() {
        for len in 0..40 {
            for stop in [b'"', b'\\'] {
                for fill in [b'a', 0x80, 0xff, b'"' ^ 0x80, 0x1b] {
                    let mut v = vec![fill; len];
                    v.push(stop);
                    v.extend_from_slice(b"x\"y\\");
                    assert_eq!(quote_or_backslash(&v), Some(len), "{len} {stop} {fill}");
                }
            }
            assert_eq!(quote_or_backslash(&vec![b'a'; len]), None);
        }
    }

    #[test]
    fn numbers_normalize_to_integers() {
        assert_eq!(
            norm("4242424242424242").as_deref(),
            Some("4242424242424242")
        );
        assert_eq!(
            norm("4.242424242424242e15").as_deref(),
            Some("4242424242424242")
        );
        assert_eq!(
            norm("4.242424242424242E+15").as_deref(),
            Some("4242424242424242")
        );
        assert_eq!(
            norm("42424242424242420e-1").as_deref(),
            Some("4242424242424242")
        );
        assert_eq!(
            norm("0.0004242424242424242e19").as_deref(),
            Some("4242424242424242")
        );
        assert_eq!(
            norm("4242424242424242.0").as_deref(),
            Some("4242424242424242")
        );
        assert_eq!(norm("4.4e15").as_deref(), Some("4400000000000000"));
        assert_eq!(norm("4242424242424242.5"), None);
        assert_eq!(norm("1e300"), None);
        assert_eq!(norm("1.2.3"), None);
        assert_eq!(norm("-"), None);
    }
}
