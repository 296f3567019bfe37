//! Byte classification of 64-byte blocks into bit masks (bit i = byte i), with AVX2, SSE2
//! and a portable scalar implementation, picked once at run time.
//!
//! The kernels are generic over [`Classify`] and marked `#[inline(always)]`, then
//! instantiated inside `#[target_feature]` functions, so each ISA gets its own fully
//! inlined copy of the loop (the pattern the `memchr` crate uses).

use std::sync::OnceLock;

/// The masks of one 64-byte block.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct Masks {
    /// ASCII digits `0`-`9`.
    pub(crate) digit: u64,
    /// Bytes >= 0x80 (any non-ASCII UTF-8 byte).
    pub(crate) high: u64,
    /// ASCII separators: space, `-`, `.`, `_`.
    pub(crate) sep: u64,
    /// `\`.
    pub(crate) backslash: u64,
    /// `"`.
    pub(crate) quote: u64,
    /// `:`.
    pub(crate) colon: u64,
    /// JSON whitespace: space, tab, CR, LF.
    pub(crate) ws: u64,
    /// `e` or `E`.
    pub(crate) exp: u64,
    /// `+`.
    pub(crate) plus: u64,
}

impl Masks {
    /// Drops the first `k` bytes (k < 64): for a tail block read as the last 64 bytes of
    /// the input, whose first bytes were already examined.
    #[inline(always)]
    pub(crate) fn drop_first(self, k: u32) -> Masks {
        Masks {
            digit: self.digit >> k,
            high: self.high >> k,
            sep: self.sep >> k,
            backslash: self.backslash >> k,
            quote: self.quote >> k,
            colon: self.colon >> k,
            ws: self.ws >> k,
            exp: self.exp >> k,
            plus: self.plus >> k,
        }
    }
}

/// The masks of `rest` (at most 64 bytes, the end of `hay`), reading the last 64 bytes of
/// `hay` when it is long enough instead of copying into a padded block.
#[inline(always)]
pub(crate) fn tail_masks<C: Classify>(hay: &[u8], rest: &[u8]) -> Masks {
    let valid = rest.len().min(64);
    match hay
        .len()
        .checked_sub(64)
        .and_then(|s| hay.get(s..))
        .and_then(|b| b.first_chunk::<64>())
    {
        Some(block) if valid > 0 => {
            // SAFETY: callers only instantiate C for ISAs the CPU supports.
            let m = unsafe { C::masks(block) };
            m.drop_first(u32::try_from(64 - valid).unwrap_or(0))
        }
        // SAFETY: as above.
        _ => unsafe { C::masks(&padded(rest)) },
    }
}

/// One way to classify a 64-byte block.
pub(crate) trait Classify {
    /// # Safety
    /// The CPU must support the implementation's target features.
    unsafe fn masks(block: &[u8; 64]) -> Masks;
}

/// Portable scalar implementation: always available, always tested.
pub(crate) struct Scalar;

impl Classify for Scalar {
    #[inline(always)]
    unsafe fn masks(block: &[u8; 64]) -> Masks {
        let mut m = Masks::default();
        for (i, &b) in block.iter().enumerate() {
            let bit = 1u64 << i;
            if b.is_ascii_digit() {
                m.digit |= bit;
            }
            if b >= 0x80 {
                m.high |= bit;
            }
            if crate::chars::is_ascii_sep(b) {
                m.sep |= bit;
            }
            match b {
                b'\\' => m.backslash |= bit,
                b'"' => m.quote |= bit,
                b':' => m.colon |= bit,
                b'e' | b'E' => m.exp |= bit,
                b'+' => m.plus |= bit,
                _ => {}
            }
            if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                m.ws |= bit;
            }
        }
        m
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Classify, Masks};
    use std::arch::x86_64::*;

    /// SSE2: part of the x86_64 baseline.
    pub(crate) struct Sse2;
    /// AVX2 (with BMI1, BMI2, LZCNT, POPCNT), detected at run time.
    pub(crate) struct Avx2;

    impl Classify for Sse2 {
        #[inline(always)]
        unsafe fn masks(block: &[u8; 64]) -> Masks {
            let mut m = Masks::default();
            for k in 0..4 {
                // SAFETY: k * 16 + 16 <= 64, so the 16-byte unaligned load stays inside
                // `block`; SSE2 is enabled on every x86_64 target.
                let v = unsafe { _mm_loadu_si128(block.as_ptr().add(k * 16).cast()) };
                let sh = k * 16;
                // SAFETY: SSE2 intrinsics on registers only; SSE2 is baseline on x86_64.
                unsafe {
                    macro_rules! eq {
                        ($c:expr) => {
                            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8($c as i8)))
                        };
                    }
                    macro_rules! w {
                        ($r:expr) => {
                            u64::from($r as u16) << sh
                        };
                    }
                    let x = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
                    let dig = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(9)), x);
                    m.digit |= w!(_mm_movemask_epi8(dig));
                    m.high |= w!(_mm_movemask_epi8(v));
                    let space = eq!(b' ');
                    m.sep |= w!(space | eq!(b'-') | eq!(b'.') | eq!(b'_'));
                    m.backslash |= w!(eq!(b'\\'));
                    m.quote |= w!(eq!(b'"'));
                    m.colon |= w!(eq!(b':'));
                    m.ws |= w!(space | eq!(b'\t') | eq!(b'\r') | eq!(b'\n'));
                    m.exp |= w!(eq!(b'e') | eq!(b'E'));
                    m.plus |= w!(eq!(b'+'));
                }
            }
            m
        }
    }

    impl Classify for Avx2 {
        #[target_feature(enable = "avx2")]
        #[inline]
        unsafe fn masks(block: &[u8; 64]) -> Masks {
            let mut m = Masks::default();
            for k in 0..2 {
                // SAFETY: k * 32 + 32 <= 64: the unaligned 32-byte load stays inside
                // `block`; the caller guarantees AVX2 (trait contract).
                let v = unsafe { _mm256_loadu_si256(block.as_ptr().add(k * 32).cast()) };
                let sh = k * 32;
                {
                    macro_rules! eq {
                        ($c:expr) => {
                            _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8($c as i8)))
                        };
                    }
                    macro_rules! w {
                        ($r:expr) => {
                            u64::from($r as u32) << sh
                        };
                    }
                    let x = _mm256_sub_epi8(v, _mm256_set1_epi8(b'0' as i8));
                    let dig = _mm256_cmpeq_epi8(_mm256_min_epu8(x, _mm256_set1_epi8(9)), x);
                    m.digit |= w!(_mm256_movemask_epi8(dig));
                    m.high |= w!(_mm256_movemask_epi8(v));
                    let space = eq!(b' ');
                    m.sep |= w!(space | eq!(b'-') | eq!(b'.') | eq!(b'_'));
                    m.backslash |= w!(eq!(b'\\'));
                    m.quote |= w!(eq!(b'"'));
                    m.colon |= w!(eq!(b':'));
                    m.ws |= w!(space | eq!(b'\t') | eq!(b'\r') | eq!(b'\n'));
                    m.exp |= w!(eq!(b'e') | eq!(b'E'));
                    m.plus |= w!(eq!(b'+'));
                }
            }
            m
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, Sse2};

/// AVX2 plus the bit instructions the AVX2 kernels use (every AVX2 CPU has them, but
/// they are checked anyway).
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("bmi2")
        && std::arch::is_x86_feature_detected!("lzcnt")
        && std::arch::is_x86_feature_detected!("popcnt")
}

/// Which implementation runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Isa {
    /// AVX2 with BMI1/BMI2/LZCNT/POPCNT (detected at run time).
    Avx2,
    /// SSE2 (x86_64 baseline).
    Sse2,
    /// Portable scalar code.
    Scalar,
}

static DETECTED: OnceLock<Isa> = OnceLock::new();

/// The best implementation this CPU supports (detected once).
pub fn detected_isa() -> Isa {
    *DETECTED.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if has_avx2() {
                return Isa::Avx2;
            }
            Isa::Sse2
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Isa::Scalar
        }
    })
}

/// The ISAs this CPU can run (for tests that cover every path).
pub fn available_isas() -> Vec<Isa> {
    let mut v = vec![Isa::Scalar];
    #[cfg(target_arch = "x86_64")]
    {
        v.push(Isa::Sse2);
        if has_avx2() {
            v.push(Isa::Avx2);
        }
    }
    v
}

/// Copies a short tail into a zero-padded block (zero bytes are breakers everywhere).
#[inline(always)]
pub(crate) fn padded(tail: &[u8]) -> [u8; 64] {
    let mut b = [0u8; 64];
    let n = tail.len().min(64);
    if let (Some(dst), Some(src)) = (b.get_mut(..n), tail.get(..n)) {
        dst.copy_from_slice(src);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_isa_agrees_with_scalar_on_all_bytes() {
        let mut block = [0u8; 64];
        for start in (0..256).step_by(64) {
            for (i, b) in block.iter_mut().enumerate() {
                *b = (start + i) as u8;
            }
            // SAFETY: scalar has no requirements.
            let want = unsafe { Scalar::masks(&block) };
            #[cfg(target_arch = "x86_64")]
            {
                // SAFETY: SSE2 is baseline on x86_64.
                assert_eq!(unsafe { Sse2::masks(&block) }, want);
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: AVX2 was just detected.
                    assert_eq!(unsafe { Avx2::masks(&block) }, want);
                }
            }
            assert_ne!(want, Masks::default(), "block {start}");
        }
    }
}
