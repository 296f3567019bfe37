//! `application/x-www-form-urlencoded` bodies and query strings: pairs with their byte
//! ranges, strict percent-decoding, and encoding for values we write back.

use std::ops::Range;

use zeroize::Zeroizing;

/// One `key=value` pair with the byte ranges of its raw (encoded) parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub key: Range<usize>,
    /// Empty (at the end of the key) when the pair has no `=`.
    pub value: Range<usize>,
    /// The whole pair, without its `&`.
    pub whole: Range<usize>,
}

/// A malformed percent escape: refused rather than guessed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadEscape {
    pub offset: usize,
}

impl std::fmt::Display for BadEscape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid percent-encoding at byte {}", self.offset)
    }
}

impl std::error::Error for BadEscape {}

/// Splits on `&`; empty pieces are skipped.
pub fn pairs(input: &[u8]) -> Vec<Pair> {
    let mut out = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'&', input).chain(std::iter::once(input.len())) {
        if end > start {
            let piece = &input[start..end];
            let (key, value) = match memchr::memchr(b'=', piece) {
                Some(eq) => (start..start + eq, start + eq + 1..end),
                None => (start..end, end..end),
            };
            out.push(Pair {
                key,
                value,
                whole: start..end,
            });
        }
        start = end + 1;
    }
    out
}

/// Percent-decodes (and turns `+` into a space) into a buffer wiped on drop.
pub fn decode(raw: &[u8]) -> Result<Zeroizing<Vec<u8>>, BadEscape> {
    let mut out = Zeroizing::new(Vec::with_capacity(raw.len()));
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
                match (hex(raw.get(i + 1)), hex(raw.get(i + 2))) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return Err(BadEscape { offset: i }),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for &b in value {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_keep_their_ranges() {
        let input = b"a=1&&card%5Bnumber%5D=4242+4242&flag&=x";
        let ps = pairs(input);
        let text = |r: &Range<usize>| String::from_utf8_lossy(&input[r.clone()]).into_owned();
        let got: Vec<(String, String)> =
            ps.iter().map(|p| (text(&p.key), text(&p.value))).collect();
        assert_eq!(
            got,
            vec![
                ("a".into(), "1".into()),
                ("card%5Bnumber%5D".into(), "4242+4242".into()),
                ("flag".into(), "".into()),
                ("".into(), "x".into())
            ]
        );
    }

    #[test]
    fn decoding_is_strict() {
        assert_eq!(&decode(b"card%5Bcvc%5D").unwrap()[..], b"card[cvc]");
        assert_eq!(&decode(b"4242+4242%20").unwrap()[..], b"4242 4242 ");
        assert_eq!(decode(b"50%").unwrap_err(), BadEscape { offset: 2 });
        assert_eq!(decode(b"%zz").unwrap_err(), BadEscape { offset: 0 });
    }

    #[test]
    fn encoding_round_trips() {
        let v = b"tok_ABC 9/+&=\xe2\x82\xac";
        assert_eq!(&decode(&encode(v)).unwrap()[..], v);
        assert_eq!(encode(b"tok_abc-1.2~"), b"tok_abc-1.2~".to_vec());
    }
}
