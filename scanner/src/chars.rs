//! What a decoded character means to the scanner: a decimal digit, a separator that may
//! sit inside a card number, or a breaker that ends a digit run.
//!
//! Decimal digits are Unicode general category `Nd` (Unicode 15.1, `UnicodeData.txt`):
//! every `Nd` block is ten consecutive code points starting at a zero, listed below.

/// The class of one decoded character.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Class {
    /// A decimal digit with its value.
    Digit(u8),
    /// A separator allowed between card digits.
    Sep,
    /// Anything else: ends a digit run.
    Break,
}

/// The code point of digit zero of every `Nd` block (Unicode 15.1).
const ND_ZEROS: &[u32] = &[
    0x0030, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
    0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0,
    0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16A60,
    0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0,
    0x1E950, 0x1FBF0,
];

/// Separators: ASCII space, `-`, `.`, `_`; Unicode spaces; zero-width characters; soft
/// hyphen; Unicode hyphens and dashes, minus sign, full-width and small hyphen-minus.
fn is_sep(c: u32) -> bool {
    matches!(
        c,
        0x20 | 0x2D | 0x2E | 0x5F
            | 0x00A0 // no-break space
            | 0x00AD // soft hyphen
            | 0x1680 // ogham space mark
            | 0x180E // mongolian vowel separator
            | 0x2000..=0x200D // en quad .. zero width joiner
            | 0x2010..=0x2015 // hyphen .. horizontal bar
            | 0x2027 // hyphenation point
            | 0x202F // narrow no-break space
            | 0x205F // medium mathematical space
            | 0x2060 // word joiner
            | 0x2212 // minus sign
            | 0x3000 // ideographic space
            | 0xFE58 | 0xFE63 // small em dash, small hyphen-minus
            | 0xFEFF // zero width no-break space
            | 0xFF0D | 0xFF0E | 0xFF3F // full-width hyphen-minus, full stop, low line
    )
}

/// Classifies one code point.
pub(crate) fn classify(c: u32) -> Class {
    if (0x30..=0x39).contains(&c) {
        // The common case, kept out of the table walk. The cast cannot truncate: c <= 0x39.
        return Class::Digit((c - 0x30) as u8);
    }
    if c < 0x80 {
        return if is_sep(c) { Class::Sep } else { Class::Break };
    }
    // The table is sorted: the last zero at or below c is the only candidate block.
    let idx = ND_ZEROS.partition_point(|&z| z <= c);
    if let Some(&zero) = idx.checked_sub(1).and_then(|i| ND_ZEROS.get(i))
        && c - zero < 10
    {
        return Class::Digit((c - zero) as u8);
    }
    if is_sep(c) { Class::Sep } else { Class::Break }
}

/// True for bytes that the fast path treats as ASCII separators (`is_sep` on ASCII).
#[inline(always)]
pub(crate) fn is_ascii_sep(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'_')
}

/// Number of ASCII digits in `s`, eight bytes at a time (SWAR).
#[inline]
pub(crate) fn count_ascii_digits(s: &[u8]) -> usize {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut n = 0usize;
    let mut words = s.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let x = u64::from_le_bytes(b);
        let y = x & LOW7;
        // Per byte (no carries: y <= 0x7F): high bit set when y >= 0x30, resp. y >= 0x3A.
        let ge30 = y + 0x5050_5050_5050_5050;
        let ge3a = y + 0x4646_4646_4646_4646;
        n += (ge30 & !ge3a & !x & HIGH).count_ones() as usize;
    }
    n + words
        .remainder()
        .iter()
        .filter(|b| b.is_ascii_digit())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_of_many_scripts() {
        assert_eq!(classify('7' as u32), Class::Digit(7));
        assert_eq!(classify(0xFF14), Class::Digit(4)); // full-width 4
        assert_eq!(classify(0x0664), Class::Digit(4)); // Arabic-Indic 4
        assert_eq!(classify(0x096A), Class::Digit(4)); // Devanagari 4
        assert_eq!(classify(0x1D7D2), Class::Digit(4)); // mathematical bold 4
        assert_eq!(classify(0x1D7FF), Class::Digit(9)); // mathematical monospace 9
        assert_eq!(classify(0x0669 + 1), Class::Break); // just past Arabic-Indic 9
    }

    #[test]
    fn swar_digit_count_matches_the_obvious_one() {
        let all: Vec<u8> = (0..=255u8).chain(b"0123456789".iter().copied()).collect();
        for start in 0..all.len() {
            let s = &all[start..];
            assert_eq!(
                count_ascii_digits(s),
                s.iter().filter(|b| b.is_ascii_digit()).count()
            );
        }
    }

    #[test]
    fn separators_and_breakers() {
        for c in [
            ' ', '-', '.', '_', '\u{a0}', '\u{ad}', '\u{200b}', '\u{2060}', '\u{3000}',
        ] {
            assert_eq!(classify(c as u32), Class::Sep, "{:x}", c as u32);
        }
        for c in ['a', ',', '/', '\t', '\n', '"', ':', '\u{fffd}'] {
            assert_eq!(classify(c as u32), Class::Break, "{:x}", c as u32);
        }
    }
}
