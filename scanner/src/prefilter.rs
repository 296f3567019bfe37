//! The SIMD prefilter: finds where exact decoding must run, and skips everything else.
//!
//! A card number in any encoding the scanner decodes spans at least 12 bytes, each of
//! which is an ASCII digit, a non-ASCII byte (a Unicode digit or separator), or an ASCII
//! separator within 3 bytes after such a byte (at most 3 separators sit between digits).
//! Call these bytes *M*. A run of fewer than 12 M bytes cannot hold a card number, and the
//! byte after it ends any digit run, so it can be skipped without decoding.

use crate::simd::{Classify, Isa, Masks, Scalar, padded};

/// Bit mask of the M bytes of a block. `prev_x` holds the digit/high bits of the previous
/// block (only its top 3 bits matter).
#[inline(always)]
fn m_bits(m: &Masks, prev_x: u64) -> (u64, u64) {
    let x = m.digit | m.high;
    let both = (u128::from(x) << 64) | u128::from(prev_x);
    let near = (((both << 1) | (both << 2) | (both << 3)) >> 64) as u64;
    (x | (m.sep & near), x)
}

/// Bits i where M bytes i..i+12 are all set (the run stays inside the block).
#[inline(always)]
fn runs12(m: u64) -> u64 {
    let a1 = m & (m >> 1);
    let a2 = a1 & (a1 >> 2);
    let a4 = a2 & (a2 >> 4);
    a4 & (a2 >> 8)
}

/// Where the scanner must decode exactly: the first byte at or after `from` that lies in a
/// run of at least 12 M bytes (the run may have begun before it), or the last byte of
/// `hay` if it is an M byte (the run may go on in the next chunk). `prev_x`: digit/high
/// bits of the 3 bytes before `from`, in bits 61..=63.
#[inline(always)]
fn next_flag_generic<C: Classify>(hay: &[u8], from: usize, prev_x: u64) -> Option<usize> {
    let mut pos = from;
    let mut prev_x = prev_x;
    let mut run = 0u32;
    while pos < hay.len() {
        let rest = hay.get(pos..).unwrap_or(&[]);
        let (block, valid) = match rest.first_chunk::<64>() {
            Some(b) => (*b, 64usize),
            None => (padded(rest), rest.len()),
        };
        // SAFETY: the dispatcher only instantiates C for ISAs the CPU supports.
        let masks = unsafe { C::masks(&block) };
        let (m, x) = m_bits(&masks, prev_x);
        let m = if valid == 64 { m } else { m & ((1u64 << valid) - 1) };
        if run > 0 {
            let lead = m.trailing_ones();
            if run + lead >= 12 {
                return Some(pos);
            }
        }
        let r = runs12(m);
        if r != 0 {
            return Some(pos + r.trailing_zeros() as usize);
        }
        if valid < 64 {
            // Tail: an M byte at the very end may continue in the next chunk.
            if valid > 0 && m & (1u64 << (valid - 1)) != 0 {
                return Some(pos + valid - 1);
            }
            return None;
        }
        run = if m == u64::MAX { run.saturating_add(64) } else { m.leading_ones() };
        prev_x = x;
        pos += 64;
    }
    None
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn next_flag_avx2(hay: &[u8], from: usize, prev_x: u64) -> Option<usize> {
    next_flag_generic::<crate::simd::Avx2>(hay, from, prev_x)
}

#[cfg(target_arch = "x86_64")]
fn next_flag_sse2(hay: &[u8], from: usize, prev_x: u64) -> Option<usize> {
    next_flag_generic::<crate::simd::Sse2>(hay, from, prev_x)
}

/// Dispatches [`next_flag_generic`] to `isa`.
pub(crate) fn next_flag(isa: Isa, hay: &[u8], from: usize, prev_x: u64) -> Option<usize> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // SAFETY: `Isa::Avx2` is only ever selected after run-time detection of AVX2
            // (`simd::detected_isa`, `simd::available_isas`).
            unsafe { next_flag_avx2(hay, from, prev_x) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Sse2 => next_flag_sse2(hay, from, prev_x),
        _ => next_flag_generic::<Scalar>(hay, from, prev_x),
    }
}

/// Digit/high bits for the 3 bytes before a position, placed in bits 61..=63.
pub(crate) fn prev_x_bits(before: [u8; 3]) -> u64 {
    let mut x = 0u64;
    for (i, b) in before.iter().enumerate() {
        if b.is_ascii_digit() || *b >= 0x80 {
            x |= 1u64 << (61 + i);
        }
    }
    x
}

// ---------------------------------------------------------------------------------------
// JSON whole-document prefilter.

/// True when a JSON document needs the exact JSON machine: it has a run of 12 M bytes, a
/// backslash (escapes, nested JSON), a number with an exponent that could normalize to a
/// card number, or a key whose name is sensitive (CVV, expiry, cardholder, ...).
#[inline(always)]
fn json_needs_exact_generic<C: Classify>(hay: &[u8]) -> bool {
    let mut pos = 0usize;
    let mut prev_x = 0u64;
    let mut prev_quote_top = 0u64;
    let mut prev_ws_top = 0u64;
    let mut prev_digit_top = 0u64;
    let mut run = 0u32;
    while pos < hay.len() {
        let rest = hay.get(pos..).unwrap_or(&[]);
        let (block, valid) = match rest.first_chunk::<64>() {
            Some(b) => (*b, 64usize),
            None => (padded(rest), rest.len()),
        };
        // SAFETY: the dispatcher only instantiates C for ISAs the CPU supports.
        let masks = unsafe { C::masks(&block) };
        let (m, x) = m_bits(&masks, prev_x);
        if masks.backslash != 0 {
            return true;
        }
        if (run > 0 && run + m.trailing_ones() >= 12) || runs12(m) != 0 {
            return true;
        }
        // e/E right after a digit: maybe a number with an exponent.
        let mut e = masks.exp & ((masks.digit << 1) | prev_digit_top);
        while e != 0 {
            let i = pos + e.trailing_zeros() as usize;
            if crate::json::exponent_number_may_be_pan(hay, i) {
                return true;
            }
            e &= e - 1;
        }
        // Key ends: a quote right before a colon, or a colon after whitespace.
        let key_q = masks.quote & (masks.colon >> 1);
        let mut keys = key_q;
        while keys != 0 {
            let q = pos + keys.trailing_zeros() as usize;
            if crate::keys::key_at_may_be_sensitive(hay, q) {
                return true;
            }
            keys &= keys - 1;
        }
        if masks.colon & 1 != 0 && prev_quote_top != 0 && pos > 0 {
            // The quote was the last byte of the previous block.
            if crate::keys::key_at_may_be_sensitive(hay, pos - 1) {
                return true;
            }
        }
        let spaced = masks.colon & ((masks.ws << 1) | prev_ws_top);
        if spaced != 0 {
            let mut s = spaced;
            while s != 0 {
                let c = pos + s.trailing_zeros() as usize;
                if crate::keys::spaced_key_may_be_sensitive(hay, c) {
                    return true;
                }
                s &= s - 1;
            }
        }
        if valid < 64 {
            return false;
        }
        run = if m == u64::MAX { run.saturating_add(64) } else { m.leading_ones() };
        prev_x = x;
        prev_quote_top = masks.quote >> 63;
        prev_ws_top = masks.ws >> 63;
        prev_digit_top = masks.digit >> 63;
        pos += 64;
    }
    false
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn json_needs_exact_avx2(hay: &[u8]) -> bool {
    json_needs_exact_generic::<crate::simd::Avx2>(hay)
}

#[cfg(target_arch = "x86_64")]
fn json_needs_exact_sse2(hay: &[u8]) -> bool {
    json_needs_exact_generic::<crate::simd::Sse2>(hay)
}

/// Dispatches [`json_needs_exact_generic`] to `isa`.
pub(crate) fn json_needs_exact(isa: Isa, hay: &[u8]) -> bool {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // SAFETY: `Isa::Avx2` is only selected after run-time detection of AVX2.
            unsafe { json_needs_exact_avx2(hay) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Sse2 => json_needs_exact_sse2(hay),
        _ => json_needs_exact_generic::<Scalar>(hay),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs12_finds_exactly_twelve() {
        assert_eq!(runs12(0xFFF), 1);
        assert_eq!(runs12(0x7FF), 0);
        assert_eq!(runs12(0xFFF << 52), 1 << 52);
        assert_eq!(runs12(0xFFF << 53), 0);
    }

    #[test]
    fn flags_separated_and_unicode_runs_on_every_isa() {
        for isa in crate::simd::available_isas() {
            assert_eq!(next_flag(isa, b"order 1234 total 99!", 0, 0), None, "{isa:?}");
            assert!(next_flag(isa, b"x 4242 4242 4242 4242 y", 0, 0).is_some(), "{isa:?}");
            let fw = "ｘ４２４２".as_bytes();
            assert!(next_flag(isa, fw, 0, 0).is_some(), "{isa:?}");
            // Twelve spaces of indentation are not a run: no digit before them.
            assert_eq!(next_flag(isa, b"{\n            \"a\": 1}", 0, 0), None, "{isa:?}");
            // A run crossing the 64-byte block boundary.
            let mut v = vec![b'a'; 58];
            v.extend_from_slice(b"424242424242424242 x");
            assert_eq!(next_flag(isa, &v, 0, 0), Some(64), "{isa:?}");
        }
    }
}
