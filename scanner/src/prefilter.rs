//! The SIMD prefilter: finds where exact decoding must run, and skips everything else.
//!
//! A card number in any encoding the scanner decodes spans at least 12 bytes, each of
//! which is an ASCII digit, a non-ASCII byte (a Unicode digit or separator), or an ASCII
//! separator within 3 bytes after such a byte (at most 3 separators sit between digits).
//! Call these bytes *M*. A run of fewer than 12 M bytes cannot hold a card number, and the
//! byte after it ends any digit run, so it can be skipped without decoding.

use crate::simd::{Classify, Isa, Masks, Scalar, tail_masks};

/// How far ahead of the block loop the cache is asked to fetch (large inputs stream from
/// memory; the block loop alone does not keep enough loads in flight).
const PREFETCH_AHEAD: usize = 1024;

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

/// Where the scanner must decode exactly: the start of the first run at or after `from`
/// of at least 12 M bytes that may hold a card number (runs of plain ASCII digits and
/// separators proven free of one are skipped, see [`run_without_pan`]), or of a run that
/// touches the end of `hay` (it may go on in the next chunk). `prev_x`: digit/high bits
/// of the 3 bytes before `from`, in bits 61..=63. `escape`: a byte that may continue a run
/// through an escape (JSON's backslash), so a run ending there is never skipped.
#[inline(always)]
fn next_flag_generic<C: Classify>(
    hay: &[u8],
    from: usize,
    prev_x: u64,
    escape: Option<u8>,
) -> Option<usize> {
    let mut pos = from;
    let mut floor = from;
    let mut prev_x = prev_x;
    let mut runs = Runs::new(escape);
    while pos < hay.len() {
        C::prefetch(hay, pos + PREFETCH_AHEAD);
        let rest = hay.get(pos..).unwrap_or(&[]);
        let (masks, valid) = match rest.first_chunk::<64>() {
            // SAFETY: the dispatcher only instantiates C for ISAs the CPU supports.
            Some(b) => (unsafe { C::masks(b) }, 64usize),
            None => (tail_masks::<C>(hay, rest), rest.len()),
        };
        let (m, x) = m_bits(&masks, prev_x);
        let last = pos + valid >= hay.len();
        if let Some(p) = runs.block(hay, pos, &masks, m, valid, last) {
            let s = run_start(hay, p, floor);
            match run_without_pan(hay, s) {
                Some(end) if escape.is_none_or(|e| hay.get(end) != Some(&e)) => {
                    pos = end;
                    floor = end;
                    let before = |k: usize| {
                        end.checked_sub(k)
                            .and_then(|j| hay.get(j))
                            .copied()
                            .unwrap_or(0)
                    };
                    prev_x = prev_x_bits([before(3), before(2), before(1)]);
                    runs = Runs::new(escape);
                    continue;
                }
                _ => return Some(s),
            }
        }
        prev_x = x;
        pos += 64;
    }
    // A run touching the end of the input may go on in the next chunk.
    runs.pending.map(|(start, ..)| start)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2,bmi1,bmi2,lzcnt,popcnt")]
fn next_flag_avx512(hay: &[u8], from: usize, prev_x: u64, escape: Option<u8>) -> Option<usize> {
    next_flag_generic::<crate::simd::Avx512>(hay, from, prev_x, escape)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
fn next_flag_avx2(hay: &[u8], from: usize, prev_x: u64, escape: Option<u8>) -> Option<usize> {
    next_flag_generic::<crate::simd::Avx2>(hay, from, prev_x, escape)
}

#[cfg(target_arch = "x86_64")]
fn next_flag_sse2(hay: &[u8], from: usize, prev_x: u64, escape: Option<u8>) -> Option<usize> {
    next_flag_generic::<crate::simd::Sse2>(hay, from, prev_x, escape)
}

/// Dispatches [`next_flag_generic`] to `isa`.
pub(crate) fn next_flag(
    isa: Isa,
    hay: &[u8],
    from: usize,
    prev_x: u64,
    escape: Option<u8>,
) -> Option<usize> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx512Vbmi => {
            // SAFETY: `Isa::Avx512` and `Isa::Avx512Vbmi` are only ever selected after
            // run-time detection of AVX-512F/BW and the AVX2 set (`simd::detected_isa`,
            // `simd::available_isas`).
            unsafe { next_flag_avx512(hay, from, prev_x, escape) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // SAFETY: `Isa::Avx2` is only ever selected after run-time detection of AVX2, BMI1,
            // BMI2, LZCNT and POPCNT
            // (`simd::detected_isa`, `simd::available_isas`).
            unsafe { next_flag_avx2(hay, from, prev_x, escape) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Sse2 => next_flag_sse2(hay, from, prev_x, escape),
        _ => next_flag_generic::<Scalar>(hay, from, prev_x, escape),
    }
}

/// Digit/high bits for the 3 bytes before a position, placed in bits 61..=63.
#[inline]
pub(crate) fn prev_x_bits(before: [u8; 3]) -> u64 {
    let mut x = 0u64;
    for (i, b) in before.iter().enumerate() {
        if b.is_ascii_digit() || *b >= 0x80 {
            x |= 1u64 << (61 + i);
        }
    }
    x
}

/// True when an M run (absolute `start..end`, with these digit/separator/non-ASCII facts)
/// provably holds no card number: ASCII only, not continued by an escape, and fewer than
/// 12 digits, or one group whose length or two-digit prefix no IIN row allows, or that
/// fails Luhn. Runs with separators are left to [`run_without_pan`].
#[inline(always)]
fn run_is_clean(
    hay: &[u8],
    (start, end): (usize, usize),
    digits: u32,
    seps: bool,
    high: bool,
    p2: &[u32; 100],
    escape: Option<u8>,
) -> bool {
    if high || escape.is_some_and(|e| hay.get(end) == Some(&e)) {
        return false;
    }
    if digits < 12 {
        return true;
    }
    if seps {
        return false;
    }
    if digits > 19 {
        return true;
    }
    let (Some(&a), Some(&b)) = (hay.get(start), hay.get(start + 1)) else {
        return false;
    };
    let prefix = usize::from(a.wrapping_sub(b'0')) * 10 + usize::from(b.wrapping_sub(b'0'));
    if p2.get(prefix).is_none_or(|l| l & (1 << digits) == 0) {
        return true;
    }
    // No separator and no non-ASCII byte: every byte of the run is an ASCII digit. Nine in
    // ten such numbers fail Luhn, checked here without copying them.
    if end - start == digits as usize && !crate::iin::luhn_ascii(hay, start, end) {
        return true;
    }
    let mut vals = [0u8; 19];
    let src = hay.get(start..start + digits as usize).unwrap_or(&[]);
    for (v, c) in vals.iter_mut().zip(src) {
        *v = c.wrapping_sub(b'0');
    }
    crate::iin::validate(vals.get(..digits as usize).unwrap_or(&[])).is_none()
}

/// Follows M runs across 64-byte blocks and clears, in registers, those that provably
/// hold no card number, so the block loop can always advance by 64 bytes.
struct Runs {
    /// A run that touched the end of the previous block: absolute start, digits,
    /// separators seen, non-ASCII seen, length so far.
    pending: Option<(usize, u32, bool, bool, usize)>,
    p2: &'static [u32; 100],
    escape: Option<u8>,
}

impl Runs {
    #[inline(always)]
    fn new(escape: Option<u8>) -> Runs {
        Runs {
            pending: None,
            p2: crate::iin::prefix2_lengths(),
            escape,
        }
    }

    /// Examines one block at `pos` (`valid` bytes of it are input; `last`: the input ends
    /// with this block). Returns the absolute start of the first run that needs a closer
    /// look (exact decoding or [`run_without_pan`]).
    #[inline(always)]
    fn block(
        &mut self,
        hay: &[u8],
        pos: usize,
        masks: &Masks,
        m: u64,
        valid: usize,
        last: bool,
    ) -> Option<usize> {
        let full = if valid >= 64 {
            u64::MAX
        } else {
            (1u64 << valid) - 1
        };
        let mut m = m & full;
        if let Some((start, digits, seps, high, len)) = self.pending.take() {
            let lead = m.trailing_ones() as usize;
            let low = if lead >= 64 {
                u64::MAX
            } else {
                (1u64 << lead) - 1
            };
            let digits = digits + (masks.digit & low).count_ones();
            let seps = seps || masks.sep & low != 0;
            let high = high || masks.high & low != 0;
            if lead == valid {
                // The run goes on through this block.
                if last && valid < 64 || len + lead > 4096 {
                    return Some(start);
                }
                if lead == 64 {
                    self.pending = Some((start, digits, seps, high, len + 64));
                    return None;
                }
                if last {
                    return Some(start);
                }
            }
            let end = pos + lead;
            // Fewer than 12 M bytes in all cannot hold a card number (`run_is_clean` does
            // not look at the length, only at digits and at non-ASCII bytes).
            if len + lead >= 12
                && !run_is_clean(hay, (start, end), digits, seps, high, self.p2, self.escape)
            {
                return Some(start);
            }
            m &= !low;
        }
        // The last run of the block, if it touches the block's end, waits for the next.
        if m >> 63 == 1 && valid == 64 {
            let top = 64 - m.leading_ones() as usize;
            let hi = !((1u64 << top) - 1);
            self.pending = Some((
                pos + top,
                (masks.digit & hi).count_ones(),
                masks.sep & hi != 0,
                masks.high & hi != 0,
                64 - top,
            ));
            m &= !hi;
        }
        // The input ends inside a run: it may go on in the next chunk (decided after the
        // runs before it).
        let mut tail_run = None;
        if valid < 64 && valid > 0 && m & (1u64 << (valid - 1)) != 0 {
            let top = 64 - (m << (64 - valid)).leading_ones() as usize - (64 - valid);
            tail_run = Some(pos + top);
            m &= (1u64 << top) - 1;
        }
        // Runs inside the block.
        let mut r = runs12(m);
        while r != 0 {
            let st = r.trailing_zeros() as usize;
            let len = (m >> st).trailing_ones() as usize;
            let run = ((1u64 << len) - 1) << st;
            let digits = (masks.digit & run).count_ones();
            let facts = (masks.sep & run != 0, masks.high & run != 0);
            if !run_is_clean(
                hay,
                (pos + st, pos + st + len),
                digits,
                facts.0,
                facts.1,
                self.p2,
                self.escape,
            ) {
                return Some(pos + st);
            }
            r &= !run;
        }
        tail_run
    }
}

/// The run of ASCII digits and separators starting at `s`, when it certainly holds no card
/// number and ends inside `hay` at an ASCII byte that is neither: returns that byte's
/// index (or `s + 1` when the byte at `s` is such a byte, so callers always advance). `None` means "decode it exactly" (non-ASCII, chunk end, or a possible PAN).
/// The caller guarantees that no digit run is open before `s`.
pub(crate) fn run_without_pan(hay: &[u8], s: usize) -> Option<usize> {
    let mut i = s;
    let mut digits = 0usize;
    let mut seps = false;
    while let Some(&b) = hay.get(i) {
        if b.is_ascii_digit() {
            digits += 1;
        } else if crate::chars::is_ascii_sep(b) {
            seps = true;
        } else {
            break;
        }
        i += 1;
    }
    if *hay.get(i)? >= 0x80 {
        return None;
    }
    if i == s {
        // An ASCII breaker (a flagged run never starts at one today; kept so callers
        // always advance): it ends no run and opens none.
        return Some(s + 1);
    }
    if digits < 12 {
        return Some(i);
    }
    if !seps {
        if digits > 19 {
            return Some(i);
        }
        let mut vals = [0u8; 19];
        for (v, b) in vals.iter_mut().zip(hay.get(s..i)?) {
            *v = b.wrapping_sub(b'0');
        }
        return match crate::iin::validate(vals.get(..digits)?) {
            Some(_) => None,
            None => Some(i),
        };
    }
    if digits > 64 {
        return None;
    }
    // Separated: every candidate (whole groups, 12 to 19 digits) must fail validation.
    // Longer gaps would only split the run further, so this is conservative.
    let mut vals = [0u8; 64];
    let mut group_start = [false; 64];
    let mut n = 0usize;
    let mut after_sep = true;
    for &b in hay.get(s..i)? {
        if b.is_ascii_digit() {
            if let (Some(v), Some(g)) = (vals.get_mut(n), group_start.get_mut(n)) {
                *v = b - b'0';
                *g = after_sep;
            }
            n += 1;
            after_sep = false;
        } else {
            after_sep = true;
        }
    }
    for a in 0..n {
        if group_start.get(a) != Some(&true) {
            continue;
        }
        for len in 12..=19 {
            let e = a + len;
            if e > n {
                break;
            }
            let boundary = e == n || group_start.get(e) == Some(&true);
            if boundary && vals.get(a..e).and_then(crate::iin::validate).is_some() {
                return None;
            }
        }
    }
    Some(i)
}

/// The start of the run of digit, non-ASCII and separator bytes that contains `p`, not
/// going below `floor`.
pub(crate) fn run_start(hay: &[u8], p: usize, floor: usize) -> usize {
    let mut s = p;
    while s > floor
        && hay
            .get(s - 1)
            .is_some_and(|&b| b.is_ascii_digit() || b >= 0x80 || crate::chars::is_ascii_sep(b))
    {
        s -= 1;
    }
    s
}

// ---------------------------------------------------------------------------------------
// JSON whole-document prefilter.

/// Where a JSON document first needs the exact JSON machine: a run of 12 M bytes (its
/// start), a backslash (escapes, nested JSON), a number with an exponent that could
/// normalize to a card number, or a key whose name is sensitive (CVV, expiry, cardholder,
/// ...) (the start of the 64-byte block holding it, or the byte before a block that opens
/// with the key's colon). `None`: the document holds nothing the exact machine would report.
/// Nothing before the returned offset can make a finding, but what is found at it may
/// belong to a token (a key, a long string or number) that begins earlier.
#[inline(always)]
fn json_first_flag_generic<C: Classify>(hay: &[u8]) -> Option<usize> {
    let mut pos = 0usize;
    let mut prev_x = 0u64;
    let mut prev_quote_top = 0u64;
    let mut prev_ws_top = 0u64;
    let mut prev_digit_top = 0u64;
    let mut prev_ds_top2 = 0u64;
    // Bytes below `floor` were examined already (a run proven free of card numbers).
    let mut floor = 0usize;
    let mut runs = Runs::new(Some(b'\\'));
    let table = crate::keys::end_table();
    while pos < hay.len() {
        C::prefetch(hay, pos + PREFETCH_AHEAD);
        let rest = hay.get(pos..).unwrap_or(&[]);
        let (masks, valid) = match rest.first_chunk::<64>() {
            // SAFETY: the dispatcher only instantiates C for ISAs the CPU supports.
            Some(b) => (unsafe { C::masks(b) }, 64usize),
            None => (tail_masks::<C>(hay, rest), rest.len()),
        };
        let (m, x) = m_bits(&masks, prev_x);
        if masks.backslash != 0 {
            return Some(pos);
        }
        // e/E after a digit and a digit or separator, before a digit, separator or `+`
        // (in the `exp` class):
        // maybe a number with an exponent (the mantissa of a card number has 2 or more
        // digits).
        let next_ok = ((masks.digit | masks.sep | masks.exp) >> 1) | (1u64 << 63);
        let ds = masks.digit | masks.sep;
        let mut e = masks.exp
            & ((masks.digit << 1) | prev_digit_top)
            & ((ds << 2) | prev_ds_top2)
            & next_ok;
        if e != 0 {
            while e != 0 {
                let i = pos + e.trailing_zeros() as usize;
                if crate::json::exponent_number_may_be_pan(hay, i) {
                    return Some(pos);
                }
                e &= e - 1;
            }
        }
        // Key ends: a quote right before a colon. The filter runs on every key with one
        // branch for all of them; the exact name check only after a filter hit.
        let keys = masks.quote & (masks.colon >> 1);
        if keys != 0
            // SAFETY: the dispatcher only instantiates C for ISAs the CPU supports.
            && unsafe { C::keys_filter(table, hay, pos, keys) }
            && keys_may_be_sensitive(table, hay, pos, keys)
        {
            return Some(pos);
        }
        if masks.colon & 1 != 0
            && prev_quote_top != 0
            && pos > 0
            && crate::keys::key_end_filter(table, hay, pos - 1)
            && crate::keys::key_at_may_be_sensitive(hay, pos - 1)
        {
            return Some(pos - 1);
        }
        let mut spaced = masks.colon & ((masks.ws << 1) | prev_ws_top);
        while spaced != 0 {
            let c = pos + spaced.trailing_zeros() as usize;
            if crate::keys::spaced_key_may_be_sensitive(hay, c) {
                return Some(pos);
            }
            spaced &= spaced - 1;
        }
        // Runs of 12 digit-like bytes: fine when provably free of card numbers.
        let flagged = runs.block(hay, pos, &masks, m, valid, pos + valid >= hay.len());
        if let Some(p) = flagged {
            let s = run_start(hay, p.min(hay.len().saturating_sub(1)), floor);
            match run_without_pan(hay, s) {
                Some(end) => {
                    // Restart right after the run, with the carries of the bytes before it.
                    pos = end;
                    floor = end;
                    let before = |k: usize| {
                        end.checked_sub(k)
                            .and_then(|j| hay.get(j))
                            .copied()
                            .unwrap_or(0)
                    };
                    prev_x = prev_x_bits([before(3), before(2), before(1)]);
                    prev_quote_top = u64::from(before(1) == b'"');
                    prev_ws_top = u64::from(matches!(before(1), b' ' | b'\t' | b'\r' | b'\n'));
                    prev_digit_top = u64::from(before(1).is_ascii_digit());
                    let ds = |b: u8| b.is_ascii_digit() || crate::chars::is_ascii_sep(b);
                    prev_ds_top2 = u64::from(ds(before(2))) | (u64::from(ds(before(1))) << 1);
                    runs = Runs::new(Some(b'\\'));
                    continue;
                }
                None => return Some(s),
            }
        }
        if valid < 64 {
            return None;
        }
        prev_x = x;
        prev_quote_top = masks.quote >> 63;
        prev_ws_top = masks.ws >> 63;
        prev_digit_top = masks.digit >> 63;
        prev_ds_top2 = (masks.digit | masks.sep) >> 62;
        pos += 64;
    }
    // A run that reached the end of the document: decide it exactly, from the start.
    runs.pending.is_some().then_some(0)
}

/// The exact check of the keys of a block after a filter hit (rare).
#[cold]
#[inline(never)]
fn keys_may_be_sensitive(table: &[u64; 1024], hay: &[u8], pos: usize, mut keys: u64) -> bool {
    while keys != 0 {
        let q = pos + keys.trailing_zeros() as usize;
        if crate::keys::key_end_filter(table, hay, q)
            && crate::keys::key_at_may_be_sensitive(hay, q)
        {
            return true;
        }
        keys &= keys - 1;
    }
    false
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2,bmi1,bmi2,lzcnt,popcnt")]
fn json_first_flag_avx512(hay: &[u8]) -> Option<usize> {
    json_first_flag_generic::<crate::simd::Avx512>(hay)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(
    enable = "avx512f,avx512bw,avx512vbmi,avx512vbmi2,avx512dq,avx2,bmi1,bmi2,lzcnt,popcnt"
)]
fn json_first_flag_avx512_vbmi(hay: &[u8]) -> Option<usize> {
    json_first_flag_generic::<crate::simd::Avx512Vbmi>(hay)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
fn json_first_flag_avx2(hay: &[u8]) -> Option<usize> {
    json_first_flag_generic::<crate::simd::Avx2>(hay)
}

#[cfg(target_arch = "x86_64")]
fn json_first_flag_sse2(hay: &[u8]) -> Option<usize> {
    json_first_flag_generic::<crate::simd::Sse2>(hay)
}

/// True when a JSON document needs the exact JSON machine somewhere ([`json_first_flag`]).
pub(crate) fn json_needs_exact(isa: Isa, hay: &[u8]) -> bool {
    json_first_flag(isa, hay).is_some()
}

/// Dispatches [`json_first_flag_generic`] to `isa`.
pub(crate) fn json_first_flag(isa: Isa, hay: &[u8]) -> Option<usize> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vbmi => {
            // SAFETY: `Isa::Avx512Vbmi` is only selected after run-time detection of
            // AVX-512F/BW/VBMI/VBMI2/DQ and the AVX2 set (`simd::has_avx512_vbmi`).
            unsafe { json_first_flag_avx512_vbmi(hay) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `Isa::Avx512` is only selected after run-time detection of
            // AVX-512F/BW and the AVX2 set (`simd::has_avx512`).
            unsafe { json_first_flag_avx512(hay) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // SAFETY: `Isa::Avx2` is only selected after run-time detection of AVX2, BMI1,
            // BMI2, LZCNT and POPCNT (`simd::has_avx2`).
            unsafe { json_first_flag_avx2(hay) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Sse2 => json_first_flag_sse2(hay),
        _ => json_first_flag_generic::<Scalar>(hay),
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
            assert_eq!(
                next_flag(isa, b"order 1234 total 99!", 0, 0, None),
                None,
                "{isa:?}"
            );
            assert!(
                next_flag(isa, b"x 4242 4242 4242 4242 y", 0, 0, None).is_some(),
                "{isa:?}"
            );
            let fw = "ｘ４２４２".as_bytes();
            assert!(next_flag(isa, fw, 0, 0, None).is_some(), "{isa:?}");
            // Twelve spaces of indentation are not a run: no digit before them.
            assert_eq!(
                next_flag(isa, b"{\n            \"a\": 1}", 0, 0, None),
                None,
                "{isa:?}"
            );
            // A run crossing the 64-byte block boundary.
            let mut v = vec![b'a'; 58];
            v.extend_from_slice(b"4242424242424242 x");
            assert_eq!(next_flag(isa, &v, 0, 0, None), Some(58), "{isa:?}");
            // Two non-ASCII bytes across a block boundary are no run of 12.
            let mut v = vec![b'a'; 63];
            v.extend_from_slice("\u{ed}a".as_bytes());
            v.extend_from_slice(&[b'b'; 20]);
            assert_eq!(next_flag(isa, &v, 0, 0, None), None, "{isa:?}");
            // A plain run of 13 digits that is no card number is skipped.
            assert_eq!(
                next_flag(isa, b"ts 1706080333639, 1706080333639!", 0, 0, None),
                None
            );
        }
    }
}
