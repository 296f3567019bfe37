//! A span-preserving JSON parser: it builds a tree of byte ranges over the input without
//! copying values, so a rewrite can replace exactly the bytes of one value and leave every
//! other byte as it was.
//!
//! Strict RFC 8259 (no comments, no trailing commas, no leading zeros, no control
//! characters in strings, valid UTF-8, valid escapes with paired surrogates). Depth and node
//! count are capped. Errors carry an offset and a fixed reason, never input bytes.

use std::ops::Range;

use zeroize::Zeroizing;

/// Why a document was refused. No input content, only where and what kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub reason: &'static str,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for JsonError {}

/// Limits applied while parsing.
#[derive(Debug, Clone, Copy)]
pub struct JsonLimits {
    pub max_depth: usize,
    pub max_nodes: usize,
}

impl Default for JsonLimits {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_nodes: 1 << 20,
        }
    }
}

/// Index of a node in a [`Doc`].
pub type NodeId = usize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Members in document order (see [`Doc::members`]): `members[at..at + len]`.
    Object {
        at: usize,
        len: usize,
    },
    /// Elements in document order (see [`Doc::elements`]): `elements[at..at + len]`.
    Array {
        at: usize,
        len: usize,
    },
    /// Span includes the quotes.
    String,
    Number,
    Bool,
    Null,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Bytes of the value in the input.
    pub span: Range<usize>,
    pub kind: Kind,
}

/// A parsed document: nodes over the input's bytes. Node 0 is the root. Members and
/// elements of all containers live in two flat arrays (a handful of allocations per
/// document, not one per container).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    pub nodes: Vec<Node>,
    members: Vec<(Range<usize>, NodeId)>,
    elements: Vec<NodeId>,
}

impl Doc {
    pub fn root(&self) -> NodeId {
        0
    }

    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// The members of an object node, `(key span including quotes, value)` in document
    /// order (empty for other kinds).
    pub fn members(&self, id: NodeId) -> &[(Range<usize>, NodeId)] {
        match self.nodes.get(id).map(|n| &n.kind) {
            Some(Kind::Object { at, len }) => self.members.get(*at..at + len).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The elements of an array node (empty for other kinds).
    pub fn elements(&self, id: NodeId) -> &[NodeId] {
        match self.nodes.get(id).map(|n| &n.kind) {
            Some(Kind::Array { at, len }) => self.elements.get(*at..at + len).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Whether the node is an object.
    pub fn is_object(&self, id: NodeId) -> bool {
        matches!(
            self.nodes.get(id).map(|n| &n.kind),
            Some(Kind::Object { .. })
        )
    }
}

/// Parses `input` as one JSON document (surrounding whitespace allowed).
///
/// Iterative: one loop reads a value, then closes as many containers as the input closes,
/// with the open containers on an explicit stack (no call per value). Strings are skipped
/// eight bytes at a time while no byte is a quote, backslash or control byte.
pub fn parse(input: &[u8], limits: JsonLimits) -> Result<Doc, JsonError> {
    // One pass over the whole input instead of one per string. Valid UTF-8 as a whole means
    // every string is (runs end at ASCII `"` or `\`, never inside a character); otherwise
    // each string is checked on its own, so errors stay the same.
    let utf8_valid = std::str::from_utf8(input).is_ok();
    let mut nodes: Vec<Node> = Vec::with_capacity(input.len() / 8);
    let mut members: Vec<(Range<usize>, NodeId)> = Vec::new();
    let mut elements: Vec<NodeId> = Vec::new();
    // Members and elements of the containers still open, innermost last.
    let mut member_stack: Vec<(Range<usize>, NodeId)> = Vec::new();
    let mut element_stack: Vec<NodeId> = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    let push = |nodes: &mut Vec<Node>, node: Node, at: usize| {
        if nodes.len() >= limits.max_nodes {
            return Err(err(at, "too many values"));
        }
        nodes.push(node);
        Ok(nodes.len() - 1)
    };

    let mut i = ws(input, 0);
    loop {
        // A value starts at `i` (whitespace already skipped), inside `open.len()` containers.
        if open.len() > limits.max_depth {
            return Err(err(i, "nested too deeply"));
        }
        let start = i;
        let mut value = match input.get(i) {
            Some(&c @ (b'{' | b'[')) => {
                let obj = c == b'{';
                let kind = if obj {
                    Kind::Object { at: 0, len: 0 }
                } else {
                    Kind::Array { at: 0, len: 0 }
                };
                let id = push(
                    &mut nodes,
                    Node {
                        span: start..start,
                        kind,
                    },
                    start + 1,
                )?;
                i = ws(input, start + 1);
                let close = if obj { b'}' } else { b']' };
                if input.get(i) == Some(&close) {
                    i += 1;
                    finish(
                        &mut nodes,
                        id,
                        start..i,
                        obj,
                        members.len(),
                        elements.len(),
                        0,
                    );
                    id
                } else {
                    let mut frame = Open {
                        id,
                        start,
                        obj,
                        mark: if obj {
                            member_stack.len()
                        } else {
                            element_stack.len()
                        },
                        key: 0..0,
                    };
                    if obj {
                        (frame.key, i) = member_name(input, i, utf8_valid)?;
                    }
                    open.push(frame);
                    continue;
                }
            }
            Some(b'"') => {
                i = string_end(input, start, utf8_valid)?;
                push(
                    &mut nodes,
                    Node {
                        span: start..i,
                        kind: Kind::String,
                    },
                    i,
                )?
            }
            Some(b'-' | b'0'..=b'9') => {
                i = number_end(input, start)?;
                push(
                    &mut nodes,
                    Node {
                        span: start..i,
                        kind: Kind::Number,
                    },
                    i,
                )?
            }
            Some(&c @ (b't' | b'f' | b'n')) => {
                let (word, kind): (&[u8], Kind) = match c {
                    b't' => (b"true", Kind::Bool),
                    b'f' => (b"false", Kind::Bool),
                    _ => (b"null", Kind::Null),
                };
                if input.get(start..start + word.len()) != Some(word) {
                    return Err(err(start, "invalid literal"));
                }
                i = start + word.len();
                push(
                    &mut nodes,
                    Node {
                        span: start..i,
                        kind,
                    },
                    i,
                )?
            }
            Some(_) => return Err(err(i, "unexpected character")),
            None => return Err(err(i, "unexpected end of input")),
        };
        // The value is complete: hand it to its container, then close every container the
        // input closes here.
        loop {
            let Some(top) = open.last_mut() else {
                i = ws(input, i);
                if i != input.len() {
                    return Err(err(i, "trailing data after the document"));
                }
                return Ok(Doc {
                    nodes,
                    members,
                    elements,
                });
            };
            if top.obj {
                member_stack.push((top.key.clone(), value));
            } else {
                element_stack.push(value);
            }
            i = ws(input, i);
            match input.get(i) {
                Some(b',') => {
                    i = ws(input, i + 1);
                    if top.obj {
                        (top.key, i) = member_name(input, i, utf8_valid)?;
                    }
                    break;
                }
                Some(b'}') if top.obj => {
                    i += 1;
                    let at = members.len();
                    members.extend(member_stack.drain(top.mark..));
                    finish(
                        &mut nodes,
                        top.id,
                        top.start..i,
                        true,
                        at,
                        0,
                        members.len() - at,
                    );
                }
                Some(b']') if !top.obj => {
                    i += 1;
                    let at = elements.len();
                    elements.extend(element_stack.drain(top.mark..));
                    finish(
                        &mut nodes,
                        top.id,
                        top.start..i,
                        false,
                        0,
                        at,
                        elements.len() - at,
                    );
                }
                _ if top.obj => return Err(err(i, "expected ',' or '}'")),
                _ => return Err(err(i, "expected ',' or ']'")),
            }
            value = top.id;
            open.pop();
        }
    }
}

/// A container still open while its members or elements are read.
struct Open {
    id: NodeId,
    start: usize,
    obj: bool,
    /// Where this container's entries begin on the member or element stack.
    mark: usize,
    /// The key of the member being read (objects).
    key: Range<usize>,
}

fn err(offset: usize, reason: &'static str) -> JsonError {
    JsonError { offset, reason }
}

/// Sets a closed container's span and entries (`member_at` for objects, `element_at` for
/// arrays; `len` entries).
fn finish(
    nodes: &mut [Node],
    id: NodeId,
    span: Range<usize>,
    obj: bool,
    member_at: usize,
    element_at: usize,
    len: usize,
) {
    if let Some(node) = nodes.get_mut(id) {
        node.span = span;
        node.kind = if obj {
            Kind::Object { at: member_at, len }
        } else {
            Kind::Array {
                at: element_at,
                len,
            }
        };
    }
}

#[inline(always)]
fn ws(input: &[u8], mut i: usize) -> usize {
    while matches!(input.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Reads `"name"` and the `:` after it (`i` at the name, whitespace skipped); returns the
/// name's span (with quotes) and where its value starts.
#[inline]
fn member_name(
    input: &[u8],
    i: usize,
    utf8_valid: bool,
) -> Result<(Range<usize>, usize), JsonError> {
    if input.get(i) != Some(&b'"') {
        return Err(err(i, "expected a member name"));
    }
    let end = string_end(input, i, utf8_valid)?;
    let colon = ws(input, end);
    if input.get(colon) != Some(&b':') {
        return Err(err(colon, "expected ':'"));
    }
    Ok((i..end, ws(input, colon + 1)))
}

/// Bytes that end a run of plain string content: `"`, `\` and control bytes.
const STOPS: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The lane of the first of eight bytes (little-endian) that is `"`, `\\` or below 0x20.
#[inline(always)]
fn first_stop(w: u64) -> Option<usize> {
    let m = has_stop(w);
    (m != 0).then(|| (m.trailing_zeros() / 8) as usize)
}

/// Nonzero when one of the eight bytes (little-endian) is `"`, `\\` or below 0x20; exact
/// about whether any is, and its lowest set bit is in the first such byte (a borrow only
/// carries upwards). Bytes of 0x80 and above are never flagged.
#[inline(always)]
fn has_stop(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    zero(w ^ (ONES * u64::from(b'"')))
        | zero(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
}

/// Validates a string whose opening quote is at `open`; returns the offset after its
/// closing quote.
#[inline]
fn string_end(input: &[u8], open: usize, utf8_valid: bool) -> Result<usize, JsonError> {
    // Start of the current run of plain content (after the quote or the last escape).
    let mut run = open + 1;
    let mut i = run;
    loop {
        // Jump to the next quote, backslash or control byte: eight bytes at a time, then
        // byte by byte for the last few.
        let b = loop {
            if let Some(w) = input.get(i..).and_then(<[u8]>::first_chunk::<8>) {
                match first_stop(u64::from_le_bytes(*w)) {
                    Some(lane) => i += lane,
                    None => {
                        i += 8;
                        continue;
                    }
                }
            }
            match input.get(i) {
                None => return Err(err(run, "unterminated string")),
                Some(&b) if STOPS[usize::from(b)] => break b,
                Some(_) => i += 1,
            }
        };
        if b < 0x20 {
            // An unterminated string is reported as such, wherever its control bytes are.
            let rest = input.get(i..).unwrap_or(&[]);
            return Err(match memchr::memchr2(b'"', b'\\', rest) {
                Some(_) => err(i, "control character in string"),
                None => err(run, "unterminated string"),
            });
        }
        if !utf8_valid && std::str::from_utf8(input.get(run..i).unwrap_or(&[])).is_err() {
            return Err(err(run, "invalid UTF-8 in string"));
        }
        if b == b'"' {
            return Ok(i + 1);
        }
        i = escape_end(input, i)?;
        run = i;
    }
}

/// Validates the escape whose backslash is at `i`; returns the offset after it.
fn escape_end(input: &[u8], i: usize) -> Result<usize, JsonError> {
    let p = i + 1;
    match input.get(p) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(p + 1),
        Some(b'u') => {
            let first = hex4(input, p)?;
            let q = p + 5;
            if (0xD800..0xDC00).contains(&first) {
                if input.get(q..q + 2) != Some(b"\\u") {
                    return Err(err(q, "unpaired surrogate"));
                }
                let second = hex4(input, q + 1)?;
                if !(0xDC00..0xE000).contains(&second) {
                    return Err(err(q + 6, "unpaired surrogate"));
                }
                Ok(q + 6)
            } else if (0xDC00..0xE000).contains(&first) {
                Err(err(q, "unpaired surrogate"))
            } else {
                Ok(q)
            }
        }
        _ => Err(err(p, "invalid escape")),
    }
}

/// Reads `uXXXX` (`u` at `at`), returns the code unit.
fn hex4(input: &[u8], at: usize) -> Result<u32, JsonError> {
    let digits = input
        .get(at + 1..at + 5)
        .ok_or(err(at, "invalid \\u escape"))?;
    let mut v = 0u32;
    for d in digits {
        v = v * 16
            + (*d as char)
                .to_digit(16)
                .ok_or(err(at, "invalid \\u escape"))?;
    }
    Ok(v)
}

/// Validates the number starting at `i`; returns the offset after it.
#[inline]
fn number_end(input: &[u8], mut i: usize) -> Result<usize, JsonError> {
    let digit = |i: usize| matches!(input.get(i), Some(b'0'..=b'9'));
    let digits = |mut i: usize| {
        while digit(i) {
            i += 1;
        }
        i
    };
    if input.get(i) == Some(&b'-') {
        i += 1;
    }
    match input.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(i + 1),
        _ => return Err(err(i, "invalid number")),
    }
    if input.get(i) == Some(&b'.') {
        i += 1;
        if !digit(i) {
            return Err(err(i, "invalid number"));
        }
        i = digits(i);
    }
    if matches!(input.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(input.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digit(i) {
            return Err(err(i, "invalid number"));
        }
        i = digits(i);
    }
    Ok(i)
}

/// Decodes a JSON string token (with its quotes) into its UTF-8 bytes, in a buffer that
/// is wiped on drop. The token must come from [`parse`] (already validated).
pub fn decode_string(token: &[u8]) -> Zeroizing<Vec<u8>> {
    let inner = token.get(1..token.len().saturating_sub(1)).unwrap_or(&[]);
    let mut out = Zeroizing::new(Vec::with_capacity(inner.len()));
    let mut i = 0;
    while i < inner.len() {
        let b = inner[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let esc = inner.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        let simple = match esc {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            continue;
        }
        let unit = |at: usize| -> u32 {
            inner
                .get(at..at + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .unwrap_or(0xFFFD)
        };
        let mut cp = unit(i);
        i += 4;
        if (0xD800..0xDC00).contains(&cp) && inner.get(i..i + 2) == Some(b"\\u") {
            let low = unit(i + 2);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF);
            i += 6;
        }
        let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    out
}

#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Doc {
        parse(s.as_bytes(), JsonLimits::default()).unwrap()
    }

    fn bad(s: &str) -> &'static str {
        parse(s.as_bytes(), JsonLimits::default())
            .unwrap_err()
            .reason
    }

    #[test]
    fn spans_cover_exactly_each_value() {
        let text = r#" {"a": [1, "x\"y", true, null], "b": {"c": -0.5e+3}} "#;
        let doc = ok(text);
        let root = doc.node(0).unwrap();
        assert_eq!(
            &text[root.span.clone()],
            r#"{"a": [1, "x\"y", true, null], "b": {"c": -0.5e+3}}"#
        );
        let members = doc.members(0);
        assert_eq!(&text[members[0].0.clone()], r#""a""#);
        let arr = doc.elements(members[0].1);
        let spans: Vec<&str> = arr
            .iter()
            .map(|&i| &text[doc.node(i).unwrap().span.clone()])
            .collect();
        assert_eq!(spans, vec!["1", r#""x\"y""#, "true", "null"]);
        let c = doc.members(members[1].1)[0].1;
        assert_eq!(&text[doc.node(c).unwrap().span.clone()], "-0.5e+3");
    }

    #[test]
    fn strict_grammar() {
        assert_eq!(bad("{\"a\":1,}"), "expected a member name");
        assert_eq!(bad("[1,]"), "unexpected character");
        assert_eq!(bad("01"), "trailing data after the document");
        assert_eq!(bad("\"a\u{1}b\""), "control character in string");
        assert_eq!(bad(r#""\ud800""#), "unpaired surrogate");
        assert_eq!(bad(r#""\x""#), "invalid escape");
        assert_eq!(bad("1 2"), "trailing data after the document");
        assert_eq!(bad("{} // c"), "trailing data after the document");
        assert_eq!(bad(""), "unexpected end of input");
        assert_eq!(bad("[1.]"), "invalid number");
    }

    #[test]
    fn depth_and_size_are_capped() {
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(
            parse(
                deep.as_bytes(),
                JsonLimits {
                    max_depth: 64,
                    max_nodes: 1000
                }
            )
            .unwrap_err()
            .reason,
            "nested too deeply"
        );
        let wide = format!("[{}0]", "0,".repeat(50));
        assert_eq!(
            parse(
                wide.as_bytes(),
                JsonLimits {
                    max_depth: 64,
                    max_nodes: 10
                }
            )
            .unwrap_err()
            .reason,
            "too many values"
        );
    }

    #[test]
    fn strings_decode_escapes_and_surrogates() {
        assert_eq!(&decode_string(br#""\u0034\u0032""#)[..], b"42");
        assert_eq!(&decode_string(br#""a\nb\/c""#)[..], b"a\nb/c");
        assert_eq!(
            &decode_string(r#""\ud83d\ude00""#.as_bytes())[..],
            "\u{1F600}".as_bytes()
        );
    }

    #[test]
    fn strings_end_at_the_first_quote_at_any_length_and_alignment() {
        for len in 0usize..40 {
            let text = "a".repeat(len);
            let closed = format!("\"{text}\"");
            assert_eq!(string_end(closed.as_bytes(), 0, true), Ok(len + 2), "{len}");
            let escaped = format!("\"{text}\\\"b\"");
            assert_eq!(
                string_end(escaped.as_bytes(), 0, true),
                Ok(len + 5),
                "{len}"
            );
            let control = format!("\"{text}\u{1}\"");
            assert_eq!(
                string_end(control.as_bytes(), 0, true),
                Err(err(len + 1, "control character in string")),
                "{len}"
            );
            let open = format!("\"{text}");
            assert_eq!(
                string_end(open.as_bytes(), 0, true),
                Err(err(1, "unterminated string")),
                "{len}"
            );
        }
    }

    #[test]
    fn the_first_stop_of_eight_bytes_is_found_whatever_follows_it() {
        let fills = [b'a', b'"', b'\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff];
        for first in 0..8 {
            for &stop in &[b'"', b'\\', 0x00, 0x01, 0x1f] {
                for &after in &fills {
                    for &before in &[b'a', b' ', 0x21, 0x7f, 0x80, 0xc3, 0xff] {
                        let mut w = [before; 8];
                        w[first] = stop;
                        for b in w.iter_mut().skip(first + 1) {
                            *b = after;
                        }
                        assert_eq!(first_stop(u64::from_le_bytes(w)), Some(first), "{w:?}");
                    }
                }
            }
        }
        assert_eq!(first_stop(u64::from_le_bytes(*b"plain \x80t")), None);
    }

    #[test]
    fn the_eight_byte_check_flags_exactly_quotes_backslashes_and_control_bytes() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                let mut w = [b'a'; 8];
                w[lane] = b;
                let flagged = has_stop(u64::from_le_bytes(w)) != 0;
                assert_eq!(flagged, STOPS[usize::from(b)], "byte {b:#x} in lane {lane}");
            }
        }
    }

    #[test]
    fn invalid_utf8_is_refused_in_strings_and_outside_them() {
        let in_string = parse(b"{\"a\":\"x\xff\"}", JsonLimits::default()).unwrap_err();
        assert_eq!(in_string.reason, "invalid UTF-8 in string");
        let split = parse(b"[\"\xc3\", \"\xa9\"]", JsonLimits::default()).unwrap_err();
        assert_eq!(split.reason, "invalid UTF-8 in string");
        assert!(parse(b"[\"caf\xc3\xa9\"] \xff", JsonLimits::default()).is_err());
        assert!(parse("[\"café €\"]".as_bytes(), JsonLimits::default()).is_ok());
    }

    #[test]
    fn errors_never_quote_input() {
        let e = parse(br#"{"card":"4242424242424242"x}"#, JsonLimits::default()).unwrap_err();
        assert!(!e.to_string().contains("4242"));
    }

    /// Bytes that make up JSON and break it: structure, escapes, digits, whitespace, a
    /// control byte, non-ASCII and invalid UTF-8.
    fn arb_jsonish() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let atoms: Vec<&'static [u8]> = vec![
            b"{",
            b"}",
            b"[",
            b"]",
            b":",
            b",",
            b"\"",
            b"\\",
            b"\\u",
            b"d83d",
            b"dc00",
            b"00e9",
            b"\\ud83d",
            b"\\ude00",
            b"\\u00e9",
            b"\\ud83d\\u00e9",
            b"\\ud83d\\ude00",
            b"\\ud83d\\n",
            b"n",
            b"t",
            b" ",
            b"\n",
            b"\t",
            b"0",
            b"12",
            b"-",
            b".",
            b"e",
            b"+",
            b"true",
            b"false",
            b"null",
            b"abcdefghij",
            b"\x01",
            "é".as_bytes(),
            b"\xff",
            b"\xc3",
        ];
        proptest::collection::vec(proptest::sample::select(atoms), 0..60)
            .prop_map(|parts| parts.concat())
    }

    proptest::proptest! {
        #[test]
        fn matches_the_recursive_reference_on_documents(v in arb_json()) {
            let text = serde_json::to_string_pretty(&v).unwrap();
            let limits = JsonLimits { max_depth: 3, max_nodes: 40 };
            proptest::prop_assert_eq!(parse(text.as_bytes(), limits), reference::parse(text.as_bytes(), limits));
            let compact = serde_json::to_string(&v).unwrap();
            proptest::prop_assert_eq!(
                parse(compact.as_bytes(), JsonLimits::default()),
                reference::parse(compact.as_bytes(), JsonLimits::default())
            );
        }

        #[test]
        fn matches_the_recursive_reference_on_damaged_documents(
            v in arb_json(),
            pretty in proptest::bool::ANY,
            edits in proptest::collection::vec((0.0f64..1.0, 0u8..3, arb_jsonish()), 1..4),
        ) {
            let text = if pretty { serde_json::to_vec_pretty(&v) } else { serde_json::to_vec(&v) };
            let mut bytes = text.unwrap();
            for (at, op, atom) in edits {
                // Truncation keeps the offset in range (`at` < 1).
                let at = (at * bytes.len() as f64) as usize;
                match op {
                    0 => drop(bytes.splice(at..(at + 1).min(bytes.len()), atom.iter().take(2).copied())),
                    1 => drop(bytes.splice(at..at, atom.iter().take(3).copied())),
                    _ => {
                        if at < bytes.len() {
                            bytes.remove(at);
                        }
                    }
                }
            }
            for limits in [JsonLimits::default(), JsonLimits { max_depth: 2, max_nodes: 12 }] {
                proptest::prop_assert_eq!(parse(&bytes, limits), reference::parse(&bytes, limits));
            }
        }

        #[test]
        fn matches_the_recursive_reference_on_arbitrary_bytes(bytes in arb_jsonish()) {
            for limits in [JsonLimits::default(), JsonLimits { max_depth: 2, max_nodes: 6 }] {
                proptest::prop_assert_eq!(parse(&bytes, limits), reference::parse(&bytes, limits));
            }
        }

        #[test]
        fn agrees_with_serde_json_on_validity(s in "\\PC{0,40}") {
            let ours = parse(s.as_bytes(), JsonLimits::default()).is_ok();
            let theirs = serde_json::from_str::<serde_json::Value>(&s).is_ok();
            proptest::prop_assert_eq!(ours, theirs);
        }

        #[test]
        fn reserialized_values_parse_with_matching_spans(v in arb_json()) {
            let text = serde_json::to_string(&v).unwrap();
            let doc = parse(text.as_bytes(), JsonLimits::default()).unwrap();
            let root = doc.node(0).unwrap();
            proptest::prop_assert_eq!(root.span.clone(), 0..text.len());
            for node in &doc.nodes {
                let slice = &text[node.span.clone()];
                let back: serde_json::Value = serde_json::from_str(slice).unwrap();
                let _ = back;
            }
        }
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            "\\PC{0,10}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map("\\PC{0,6}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
