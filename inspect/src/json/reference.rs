//! The recursive parser this crate used before the iterative one: kept as the oracle the
//! property tests compare against (same documents, same errors at the same offsets).

use std::ops::Range;

use super::{Doc, JsonError, JsonLimits, Kind, Node, NodeId};

/// Parses `input` as one JSON document (surrounding whitespace allowed).
pub(super) fn parse(input: &[u8], limits: JsonLimits) -> Result<Doc, JsonError> {
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
