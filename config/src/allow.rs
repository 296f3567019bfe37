//! Known false positives a route exempts from built-in detection and the egress check:
//! key paths (with `[*]` for any array index) and exact shapes (`allow_shapes`).
//!
//! Both only ever exempt a *found* card number that sits exactly where the operator said
//! one is expected to look like a card and is not; configured card fields are never exempt.

use std::ops::Range;

/// Whether a key path as the scanner reports it (`items[3].sku`, `order[ref]`) matches an
/// `allow_key_paths` entry, where `[*]` stands for any array index (`items[*].sku`).
pub fn key_path_matches(pattern: &str, key: &str) -> bool {
    let mut parts = pattern.split("[*]");
    let Some(mut rest) = parts.next().and_then(|first| key.strip_prefix(first)) else {
        return false;
    };
    for part in parts {
        let Some(after) = rest.strip_prefix('[') else {
            return false;
        };
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let Some(after) = after
            .get(digits..)
            .filter(|_| digits > 0)
            .and_then(|a| a.strip_prefix(']'))
            .and_then(|a| a.strip_prefix(part))
        else {
            return false;
        };
        rest = after;
    }
    rest.is_empty()
}

/// The most literal digits a shape may hold: enough for a fixed prefix, too few to
/// write a card number into the configuration.
pub const MAX_SHAPE_LITERAL_DIGITS: usize = 8;
/// The longest shape, in bytes.
pub const MAX_SHAPE_BYTES: usize = 128;

/// An exact shape from `allow_shapes`: literal characters and `#` for one ASCII digit
/// (`\#` is a literal `#`, `\\` a backslash). A card number found by built-in detection is
/// exempt when the bytes around it match the whole shape, the number lies inside the
/// match, and a `#` at either end of the shape is not followed (or preceded) by one more
/// digit: `ORD-################` exempts `ORD-4242424242424242` but not a 17-digit run.
///
/// Validated so it cannot exempt a bare card number: it holds at least one `#`, at least
/// one letter or symbol other than the separators a card number may contain (`-`, `.`,
/// `_`, spaces), and at most [`MAX_SHAPE_LITERAL_DIGITS`] literal digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    text: String,
    atoms: Vec<Atom>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Atom {
    Digit,
    Byte(u8),
}

impl Shape {
    /// Parses and validates a shape; the error is a fixed message (never the text).
    pub fn parse(text: &str) -> Result<Shape, &'static str> {
        if text.is_empty() {
            return Err("must not be empty");
        }
        if text.len() > MAX_SHAPE_BYTES {
            return Err("must be at most 128 bytes");
        }
        if text.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        let mut atoms = Vec::with_capacity(text.len());
        let (mut anchors, mut holes, mut literal_digits) = (0usize, 0usize, 0usize);
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            let literal = match c {
                '#' => {
                    holes += 1;
                    atoms.push(Atom::Digit);
                    continue;
                }
                '\\' => match chars.next() {
                    Some(escaped @ ('#' | '\\')) => escaped,
                    _ => return Err("`\\` must be followed by `#` or `\\`"),
                },
                c => c,
            };
            if literal.is_ascii_digit() {
                literal_digits += 1;
            } else if is_anchor(literal) {
                anchors += 1;
            }
            let mut buf = [0u8; 4];
            atoms.extend(literal.encode_utf8(&mut buf).bytes().map(Atom::Byte));
        }
        if holes == 0 {
            return Err("must contain at least one `#` (one digit)");
        }
        if literal_digits > MAX_SHAPE_LITERAL_DIGITS {
            return Err("may hold at most 8 literal digits: write the varying digits as `#`");
        }
        if anchors == 0 {
            return Err(
                "must contain a letter or symbol besides digits and separators: a shape of \
                 digits alone would exempt real card numbers",
            );
        }
        Ok(Shape {
            text: text.to_owned(),
            atoms,
        })
    }

    /// The shape as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `span` of `haystack` (a found card number) lies inside a match of the shape.
    pub fn covers(&self, haystack: &[u8], span: &Range<usize>) -> bool {
        let n = self.atoms.len();
        if span.start > span.end || span.end > haystack.len() || span.len() > n {
            return false;
        }
        let lowest = span.end.saturating_sub(n);
        (lowest..=span.start).any(|start| self.matches_at(haystack, start))
    }

    fn matches_at(&self, haystack: &[u8], start: usize) -> bool {
        let end = start + self.atoms.len();
        let Some(window) = haystack.get(start..end) else {
            return false;
        };
        let fits = self.atoms.iter().zip(window).all(|(atom, &b)| match atom {
            Atom::Digit => b.is_ascii_digit(),
            Atom::Byte(want) => *want == b,
        });
        let digit_at = |i: Option<usize>| {
            i.and_then(|i| haystack.get(i))
                .is_some_and(u8::is_ascii_digit)
        };
        let open_start = self.atoms.first() == Some(&Atom::Digit) && digit_at(start.checked_sub(1));
        let open_end = self.atoms.last() == Some(&Atom::Digit) && digit_at(Some(end));
        fits && !open_start && !open_end
    }
}

/// A character that anchors a shape to something other than a card number.
fn is_anchor(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic() || (c.is_ascii_punctuation() && !matches!(c, '-' | '.' | '_'))
    } else {
        c.is_alphabetic()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covers(shape: &str, hay: &str, span: Range<usize>) -> bool {
        Shape::parse(shape)
            .map(|s| s.covers(hay.as_bytes(), &span))
            .unwrap_or(false)
    }

    #[test]
    fn wildcards_match_any_index_and_nothing_else() {
        assert!(key_path_matches("items[*].sku", "items[0].sku"));
        assert!(key_path_matches("items[*].sku", "items[12].sku"));
        assert!(key_path_matches("a[*][*]", "a[1][2]"));
        assert!(key_path_matches("order.reference", "order.reference"));
        assert!(!key_path_matches("items[*].sku", "items[].sku"));
        assert!(!key_path_matches("items[*].sku", "items[x].sku"));
        assert!(!key_path_matches("items[*].sku", "items[0].sku.x"));
        assert!(!key_path_matches("items[*].sku", "items[0].skus"));
        assert!(!key_path_matches("order.reference", "order.referenc"));
        assert!(!key_path_matches("order[ref]", "order[ref2]"));
    }

    #[test]
    fn a_shape_covers_a_number_only_inside_its_exact_match() {
        let shape = "ORD-################";
        let hay = r#"{"ref":"ORD-4242424242424242"}"#;
        assert!(covers(shape, hay, 12..28));
        // A bare number, one digit more, or another prefix: not covered.
        assert!(!covers(shape, r#"{"ref":"4242424242424242"}"#, 8..24));
        assert!(!covers(shape, r#"{"ref":"ORD-42424242424242420"}"#, 12..28));
        assert!(!covers(shape, r#"{"ref":"ODR-4242424242424242"}"#, 12..28));
        // Separators are literal: the shape spells them.
        assert!(covers(
            "card on file #### #### #### #### (test)",
            "card on file 4242 4242 4242 4242 (test)",
            13..32
        ));
        assert!(covers(
            r"id\#################",
            "id#4242424242424242",
            3..19
        ));
    }

    #[test]
    fn shapes_that_could_exempt_a_bare_card_are_refused() {
        for bad in [
            "",
            "################",
            "#### #### #### ####",
            "####-####-####-####",
            "ORD-4242424242424242",
            "ORD-",
            "ORD-\\x###",
            "a\n####",
        ] {
            assert!(Shape::parse(bad).is_err(), "{bad:?}");
        }
        for good in [
            "ORD-################",
            "9999############/x",
            "ref:#",
            "Ωmega-####",
        ] {
            assert!(Shape::parse(good).is_ok(), "{good:?}");
        }
    }
}
