//! XML and HTML can spell a digit without writing it: character references (`&#52;`,
//! `&#x34;`), and a digit run can be split by a comment (`4242<!-- -->4242`) or by CDATA
//! markers. The scanner reads plain text, so a text body is also read once through a
//! normalised view (references decoded, comments and CDATA markers removed); a card number
//! that only the normalised view shows cannot be tokenized in place and is refused.

use outscope_scanner::{Mode, Scanner};

use crate::errors::ProxyError;

/// Whether the body has any markup that can hide a digit.
fn has_markup(body: &[u8]) -> bool {
    memchr::memmem::find(body, b"&#").is_some()
        || memchr::memmem::find(body, b"<!--").is_some()
        || memchr::memmem::find(body, b"<![CDATA[").is_some()
}

/// The body with numeric character references decoded and comments and CDATA markers
/// removed.
fn normalise(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let rest = &body[i..];
        if rest.starts_with(b"<!--") {
            let end = memchr::memmem::find(&rest[4..], b"-->").map_or(rest.len(), |e| e + 7);
            i += end;
        } else if rest.starts_with(b"<![CDATA[") {
            i += 9;
        } else if rest.starts_with(b"]]>") {
            i += 3;
        } else if let Some((ch, len)) = char_ref(rest) {
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            i += len;
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

/// `&#52;` or `&#x34;` at the start of `s`: the character and the reference's length.
fn char_ref(s: &[u8]) -> Option<(char, usize)> {
    let digits = s.strip_prefix(b"&#")?;
    let (hex, digits) = match digits.first() {
        Some(b'x' | b'X') => (true, &digits[1..]),
        _ => (false, digits),
    };
    let end = digits.iter().position(|b| *b == b';')?;
    if end == 0 || end > 8 {
        return None;
    }
    let text = std::str::from_utf8(&digits[..end]).ok()?;
    let value = u32::from_str_radix(text, if hex { 16 } else { 10 }).ok()?;
    let len = 2 + usize::from(hex) + end + 1;
    Some((char::from_u32(value)?, len))
}

/// Refuses a text body whose markup hides a card number the plain reading does not see.
pub fn refuse_hidden_cards(body: &[u8], plain_findings: usize) -> Result<(), ProxyError> {
    if !has_markup(body) {
        return Ok(());
    }
    let normalised = normalise(body);
    let hidden = Scanner::new(Mode::Raw)
        .scan(&normalised)
        .iter()
        .filter(|f| f.pan().is_some())
        .count();
    if hidden > plain_findings {
        return Err(ProxyError::CardDataRejected(
            "a card number is hidden by markup (character references, comments or CDATA)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_comments_and_cdata_are_normalised() {
        assert_eq!(normalise(b"<a>&#52;2&#x34;2</a>"), b"<a>4242</a>".to_vec());
        assert_eq!(normalise(b"42<!-- x -->42"), b"4242".to_vec());
        assert_eq!(normalise(b"<![CDATA[4242]]>4242"), b"42424242".to_vec());
        assert_eq!(normalise(b"&amp; &#; &#xZZ;"), b"&amp; &#; &#xZZ;".to_vec());
    }

    #[test]
    fn hidden_card_numbers_are_refused_and_plain_ones_left_to_the_planner() {
        let hidden: [&[u8]; 3] = [
            b"<pan>&#52;242424242424242</pan>",
            b"<pan>42424242<!-- split -->42424242</pan>",
            b"<pan><![CDATA[4242424242]]>424242</pan>",
        ];
        for body in hidden {
            assert!(
                refuse_hidden_cards(body, 0).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(refuse_hidden_cards(b"<pan>4242424242424242</pan><!-- ok -->", 1).is_ok());
        assert!(refuse_hidden_cards(b"<note>&amp; nothing here &#169;</note>", 0).is_ok());
    }
}
