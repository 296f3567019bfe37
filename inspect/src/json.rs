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
pub fn parse(input: &[u8], limits: JsonLimits) -> Result<Doc, JsonError> {
    let mut p = Parser {
        input,
        pos: 0,
        nodes: Vec::with_capacity(input.len() / 8),
        members: Vec::new(),
        elements: Vec::new(),
        member_stack: Vec::new(),
        element_stack: Vec::new(),
        limits,
        // One pass over the whole input instead of one per string. Valid UTF-8 as a whole
        // means every string is (runs end at ASCII `"` or `\`, never inside a character);
        // otherwise each string is checked on its own, so errors stay the same.
        utf8_valid: std::str::from_utf8(input).is_ok(),
    };
    p.ws();
    p.value(0)?;
    p.ws();
    if p.pos != input.len() {
        return Err(p.err("trailing data after the document"));
    }
    Ok(Doc {
        nodes: p.nodes,
        members: p.members,
        elements: p.elements,
    })
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
    members: Vec<(Range<usize>, NodeId)>,
    elements: Vec<NodeId>,
    /// Members of the objects still open, innermost last.
    member_stack: Vec<(Range<usize>, NodeId)>,
    element_stack: Vec<NodeId>,
    limits: JsonLimits,
    /// The whole input is valid UTF-8 (strings need no check of their own).
    utf8_valid: bool,
}

impl Parser<'_> {
    fn err(&self, reason: &'static str) -> JsonError {
        JsonError {
            offset: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn push(&mut self, node: Node) -> Result<NodeId, JsonError> {
        if self.nodes.len() >= self.limits.max_nodes {
            return Err(self.err("too many values"));
        }
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn value(&mut self, depth: usize) -> Result<NodeId, JsonError> {
        if depth > self.limits.max_depth {
            return Err(self.err("nested too deeply"));
        }
        let start = self.pos;
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => {
                self.string()?;
                self.push(Node {
                    span: start..self.pos,
                    kind: Kind::String,
                })
            }
            Some(b't') => self.literal(b"true", Kind::Bool),
            Some(b'f') => self.literal(b"false", Kind::Bool),
            Some(b'n') => self.literal(b"null", Kind::Null),
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                self.push(Node {
                    span: start..self.pos,
                    kind: Kind::Number,
                })
            }
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &'static [u8], kind: Kind) -> Result<NodeId, JsonError> {
        let start = self.pos;
        if self.input.get(start..start + word.len()) != Some(word) {
            return Err(self.err("invalid literal"));
        }
        self.pos += word.len();
        self.push(Node {
            span: start..self.pos,
            kind,
        })
    }

    fn object(&mut self, depth: usize) -> Result<NodeId, JsonError> {
        let start = self.pos;
        self.pos += 1;
        let id = self.push(Node {
            span: start..start,
            kind: Kind::Object { at: 0, len: 0 },
        })?;
        let mark = self.member_stack.len();
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.ws();
                if self.peek() != Some(b'"') {
                    return Err(self.err("expected a member name"));
                }
                let key_start = self.pos;
                self.string()?;
                let key = key_start..self.pos;
                self.ws();
                if self.peek() != Some(b':') {
                    return Err(self.err("expected ':'"));
                }
                self.pos += 1;
                self.ws();
                let value = self.value(depth + 1)?;
                self.member_stack.push((key, value));
                self.ws();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.err("expected ',' or '}'")),
                }
            }
        }
        let at = self.members.len();
        self.members.extend(self.member_stack.drain(mark..));
        let len = self.members.len() - at;
        if let Some(node) = self.nodes.get_mut(id) {
            node.span = start..self.pos;
            node.kind = Kind::Object { at, len };
        }
        Ok(id)
    }

    fn array(&mut self, depth: usize) -> Result<NodeId, JsonError> {
        let start = self.pos;
        self.pos += 1;
        let id = self.push(Node {
            span: start..start,
            kind: Kind::Array { at: 0, len: 0 },
        })?;
        let mark = self.element_stack.len();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
        } else {
            loop {
                self.ws();
                let value = self.value(depth + 1)?;
                self.element_stack.push(value);
                self.ws();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.err("expected ',' or ']'")),
                }
            }
        }
        let at = self.elements.len();
        self.elements.extend(self.element_stack.drain(mark..));
        let len = self.elements.len() - at;
        if let Some(node) = self.nodes.get_mut(id) {
            node.span = start..self.pos;
            node.kind = Kind::Array { at, len };
        }
        Ok(id)
    }

    /// Validates a string starting at the opening quote; leaves `pos` after the closing one.
    fn string(&mut self) -> Result<(), JsonError> {
        self.pos += 1;
        loop {
            let rest = self.input.get(self.pos..).unwrap_or(&[]);
            let Some(i) = string_run_end(rest) else {
                return Err(self.err("unterminated string"));
            };
            let run = &rest[..i];
            if let Some(c) = run.iter().position(|b| *b < 0x20) {
                self.pos += c;
                return Err(self.err("control character in string"));
            }
            if !self.utf8_valid && std::str::from_utf8(run).is_err() {
                return Err(self.err("invalid UTF-8 in string"));
            }
            self.pos += i;
            if self.peek() == Some(b'"') {
                self.pos += 1;
                return Ok(());
            }
            self.escape()?;
        }
    }

    fn escape(&mut self) -> Result<(), JsonError> {
        self.pos += 1;
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'u') => {
                let first = self.hex4()?;
                if (0xD800..0xDC00).contains(&first) {
                    if self.input.get(self.pos..self.pos + 2) != Some(b"\\u") {
                        return Err(self.err("unpaired surrogate"));
                    }
                    self.pos += 1;
                    let second = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&second) {
                        return Err(self.err("unpaired surrogate"));
                    }
                } else if (0xDC00..0xE000).contains(&first) {
                    return Err(self.err("unpaired surrogate"));
                }
                Ok(())
            }
            _ => Err(self.err("invalid escape")),
        }
    }

    /// Reads `uXXXX` (pos at the `u`), returns the code unit.
    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .input
            .get(self.pos + 1..self.pos + 5)
            .ok_or_else(|| self.err("invalid \\u escape"))?;
        let mut v = 0u32;
        for d in digits {
            v = v * 16
                + (*d as char)
                    .to_digit(16)
                    .ok_or_else(|| self.err("invalid \\u escape"))?;
        }
        self.pos += 5;
        Ok(v)
    }

    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }
}

/// Bytes before the first `"` or `\\` of a string's remainder. Most keys and values are
/// short: a plain loop over the first bytes beats memchr's set-up; longer runs go to memchr.
fn string_run_end(rest: &[u8]) -> Option<usize> {
    const SHORT: usize = 24;
    let head = rest.get(..SHORT).unwrap_or(rest);
    if let Some(i) = head.iter().position(|&b| b == b'"' || b == b'\\') {
        return Some(i);
    }
    let tail = rest.get(head.len()..)?;
    memchr::memchr2(b'"', b'\\', tail).map(|j| head.len() + j)
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
    fn string_runs_end_at_the_first_quote_or_backslash_at_any_length() {
        for len in [0usize, 1, 23, 24, 25, 100] {
            let text = "a".repeat(len);
            for end in [b'"', b'\\'] {
                let mut bytes = text.clone().into_bytes();
                bytes.push(end);
                bytes.extend_from_slice(b"tail\"");
                assert_eq!(string_run_end(&bytes), Some(len), "{len} {end}");
            }
            assert_eq!(string_run_end(text.as_bytes()), None, "{len}");
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

    proptest::proptest! {
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
