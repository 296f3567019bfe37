//! Byte classification of 64-byte blocks into bit masks (bit i = byte i), with AVX2, SSE2
//! and a portable scalar implementation, picked once at run time.
//!
//! The kernels are generic over [`Classify`] and marked `#[inline(always)]`, then
//! instantiated inside `#[target_feature]` functions, so each ISA gets its own fully
//! inlined copy of the loop (the pattern the `memchr` crate uses).

use std::sync::OnceLock;

/// The masks of one 64-byte block.
///
/// `exp` and `ws` are supersets (what one nibble lookup gives): callers only use them to
/// decide where to look closer, never to rule anything out.
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
    /// JSON whitespace (space, tab, CR, LF) and also NUL, `)`, `*`, `-`.
    pub(crate) ws: u64,
    /// What may continue a number at an exponent: `e`, `E`, `+`, and also `%`, `K`, `k`.
    pub(crate) exp: u64,
}

/// Class bits of the nibble lookup: a byte is in a class when the entry of its high
/// nibble and the entry of its low nibble share the class bit.
const C_DIGIT: u8 = 1;
/// Space, `-`, `.` (with `_`: the separators).
const C_SEP: u8 = 2;
const C_BACKSLASH: u8 = 4;
const C_QUOTE: u8 = 8;
const C_COLON: u8 = 16;
const C_EXP: u8 = 32;
/// `_` (its nibbles would add `/`, `P`, `]` and `^` to [`C_SEP`]).
const C_UNDERSCORE: u8 = 64;
const C_WS: u8 = 128;

/// Entries by low nibble.
const LO_NIBBLE: [u8; 16] = [
    C_DIGIT | C_SEP | C_WS, // 0: '0', ' ', NUL
    C_DIGIT,
    C_DIGIT | C_QUOTE, // 2: '"'
    C_DIGIT,
    C_DIGIT,
    C_DIGIT | C_EXP, // 5: 'E', 'e', '%'
    C_DIGIT,
    C_DIGIT,
    C_DIGIT,
    C_DIGIT | C_WS, // 9: tab, ')'
    C_COLON | C_WS, // A: ':', LF, '*'
    C_EXP,          // B: '+', 'K', 'k'
    C_BACKSLASH,    // C: '\\'
    C_SEP | C_WS,   // D: '-', CR
    C_SEP,          // E: '.'
    C_UNDERSCORE,   // F: '_'
];

/// Entries by high nibble (8 to F: non-ASCII, no class).
const HI_NIBBLE: [u8; 16] = [
    C_WS, // 0x0_: NUL, tab, LF, CR
    0,
    C_SEP | C_QUOTE | C_EXP | C_WS, // 0x2_: ' ', '"', '%', '+', '-', '.', ')', '*'
    C_DIGIT | C_COLON,              // 0x3_
    C_EXP,                          // 0x4_: 'E', 'K'
    C_BACKSLASH | C_UNDERSCORE,     // 0x5_: '\\', '_'
    C_EXP,                          // 0x6_: 'e', 'k'
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
];

/// The class byte of `b` (the nibble lookup the SIMD kernels do 32 or 64 bytes at a time).
#[inline(always)]
fn class_of(b: u8) -> u8 {
    let lo = LO_NIBBLE.get(usize::from(b & 15)).copied().unwrap_or(0);
    let hi = HI_NIBBLE.get(usize::from(b >> 4)).copied().unwrap_or(0);
    lo & hi
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

    /// Hints the cache that the bytes at `hay[at..]` will be read soon (no-op when `at` is
    /// out of bounds or the ISA has no hint).
    #[inline(always)]
    fn prefetch(hay: &[u8], at: usize) {
        let _ = (hay, at);
    }

    /// The key-end filter ([`crate::keys::key_end_filter`]) over every key whose closing
    /// quote is a bit of `keys` in the block at `pos`: false guarantees that none of them
    /// is sensitive. The scalar filter unless the ISA has a vector one.
    ///
    /// # Safety
    /// As for [`Classify::masks`].
    #[inline(always)]
    unsafe fn keys_filter(table: &[u64; 1024], hay: &[u8], pos: usize, keys: u64) -> bool {
        crate::keys::keys_end_filter(table, hay, pos, keys)
    }
}

/// The x86 prefetch hint for `hay[at]` (nothing when out of bounds).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_x86(hay: &[u8], at: usize) {
    if let Some(b) = hay.get(at) {
        // SAFETY: `b` is a valid reference; a prefetch never faults and has no effect on
        // program state; SSE is baseline on x86_64.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                std::ptr::from_ref(b).cast(),
            );
        }
    }
}

/// Portable scalar implementation: always available, always tested.
pub(crate) struct Scalar;

impl Classify for Scalar {
    #[inline(always)]
    unsafe fn masks(block: &[u8; 64]) -> Masks {
        let mut m = Masks::default();
        for (i, &b) in block.iter().enumerate() {
            let bit = 1u64 << i;
            let c = class_of(b);
            let on = |k: u8| if c & k != 0 { bit } else { 0 };
            m.digit |= on(C_DIGIT);
            m.sep |= on(C_SEP | C_UNDERSCORE);
            m.backslash |= on(C_BACKSLASH);
            m.quote |= on(C_QUOTE);
            m.colon |= on(C_COLON);
            m.exp |= on(C_EXP);
            m.ws |= on(C_WS);
            if b >= 0x80 {
                m.high |= bit;
            }
        }
        m
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{
        C_BACKSLASH, C_COLON, C_DIGIT, C_EXP, C_QUOTE, C_SEP, C_UNDERSCORE, C_WS, Classify,
        HI_NIBBLE, LO_NIBBLE, Masks,
    };
    use std::arch::x86_64::*;

    /// SSE2: part of the x86_64 baseline (no byte shuffle: compares and ranges).
    pub(crate) struct Sse2;
    /// AVX2 (with BMI1, BMI2, LZCNT, POPCNT), detected at run time: nibble lookups with
    /// `vpshufb`.
    pub(crate) struct Avx2;
    /// AVX-512BW (plus the AVX2 set), detected at run time: one 64-byte register per block,
    /// class masks straight into mask registers.
    pub(crate) struct Avx512;
    /// [`Avx512`] plus VBMI, VBMI2 and DQ: the same classification, and the JSON key-end
    /// filter for eight keys at once in vector registers (`keyvec.rs`).
    pub(crate) struct Avx512Vbmi;

    impl Classify for Avx512Vbmi {
        #[inline(always)]
        fn prefetch(hay: &[u8], at: usize) {
            super::prefetch_x86(hay, at);
        }

        #[target_feature(enable = "avx512f,avx512bw,avx2")]
        #[inline]
        unsafe fn masks(block: &[u8; 64]) -> Masks {
            // SAFETY: this ISA implies Avx512's features (trait contract).
            unsafe { Avx512::masks(block) }
        }

        // No `target_feature` here: the block loop that calls it enables them, and a
        // function of its own would not be inlined there (see `keyvec::keys_end_filter`).
        #[inline(always)]
        unsafe fn keys_filter(table: &[u64; 1024], hay: &[u8], pos: usize, keys: u64) -> bool {
            // SAFETY: the features `keyvec` needs are this ISA's (trait contract).
            unsafe { crate::keyvec::keys_end_filter(table, hay, pos, keys) }
        }
    }

    impl Classify for Sse2 {
        #[inline(always)]
        unsafe fn masks(block: &[u8; 64]) -> Masks {
            let mut m = Masks::default();
            for k in 0..4 {
                // SAFETY: k * 16 + 16 <= 64, so the 16-byte unaligned load stays inside
                // `block`; SSE2 is enabled on every x86_64 target.
                let v = unsafe { _mm_loadu_si128(block.as_ptr().add(k * 16).cast()) };
                let sh = k * 16;
                macro_rules! eq {
                    ($c:expr) => {
                        _mm_cmpeq_epi8(v, _mm_set1_epi8($c as i8))
                    };
                }
                // Bytes in lo..=lo+n.
                macro_rules! range {
                    ($lo:expr, $n:expr) => {{
                        let x = _mm_sub_epi8(v, _mm_set1_epi8($lo as i8));
                        _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8($n as i8)), x)
                    }};
                }
                macro_rules! w {
                    ($r:expr) => {
                        u64::from(_mm_movemask_epi8($r) as u16) << sh
                    };
                }
                // SAFETY: SSE2 intrinsics on registers only; SSE2 is baseline on x86_64.
                unsafe {
                    let space = eq!(b' ');
                    m.digit |= w!(range!(b'0', 9));
                    m.high |= w!(v);
                    m.sep |= w!(_mm_or_si128(
                        _mm_or_si128(space, eq!(b'_')),
                        range!(b'-', 1)
                    ));
                    m.backslash |= w!(eq!(b'\\'));
                    m.quote |= w!(eq!(b'"'));
                    m.colon |= w!(eq!(b':'));
                    m.ws |= w!(_mm_or_si128(
                        _mm_or_si128(
                            _mm_or_si128(space, eq!(0)),
                            _mm_or_si128(range!(b'\t', 1), eq!(b'\r'))
                        ),
                        _mm_or_si128(range!(b')', 1), eq!(b'-'))
                    ));
                    m.exp |= w!(_mm_or_si128(
                        _mm_or_si128(eq!(b'e'), eq!(b'E')),
                        _mm_or_si128(
                            _mm_or_si128(eq!(b'+'), eq!(b'%')),
                            _mm_or_si128(eq!(b'k'), eq!(b'K'))
                        )
                    ));
                }
            }
            m
        }
    }

    impl Classify for Avx2 {
        #[inline(always)]
        fn prefetch(hay: &[u8], at: usize) {
            super::prefetch_x86(hay, at);
        }

        #[target_feature(enable = "avx2")]
        #[inline]
        unsafe fn masks(block: &[u8; 64]) -> Masks {
            // SAFETY: the tables are 16 bytes each; AVX2 is guaranteed by the caller.
            let (lo_t, hi_t) = unsafe {
                (
                    _mm256_broadcastsi128_si256(_mm_loadu_si128(LO_NIBBLE.as_ptr().cast())),
                    _mm256_broadcastsi128_si256(_mm_loadu_si128(HI_NIBBLE.as_ptr().cast())),
                )
            };
            let low4 = _mm256_set1_epi8(15);
            let mut m = Masks::default();
            for k in 0..2 {
                // SAFETY: k * 32 + 32 <= 64: the unaligned 32-byte load stays inside
                // `block`; the caller guarantees AVX2 (trait contract).
                let v = unsafe { _mm256_loadu_si256(block.as_ptr().add(k * 32).cast()) };
                let sh = k * 32;
                let lo = _mm256_shuffle_epi8(lo_t, _mm256_and_si256(v, low4));
                let hi = _mm256_shuffle_epi8(hi_t, _mm256_and_si256(_mm256_srli_epi16(v, 4), low4));
                let c = _mm256_and_si256(lo, hi);
                // Class bit b to each byte's top bit (a 16-bit shift by 7 - b moves bit b
                // of both bytes of a lane to their bit 7), then one movemask.
                macro_rules! bit {
                    ($shift:literal) => {
                        u64::from(_mm256_movemask_epi8(_mm256_slli_epi16::<$shift>(c)) as u32) << sh
                    };
                }
                const _: () = assert!(
                    C_DIGIT == 1
                        && C_SEP == 2
                        && C_BACKSLASH == 4
                        && C_QUOTE == 8
                        && C_COLON == 16
                        && C_EXP == 32
                        && C_UNDERSCORE == 64
                        && C_WS == 128
                );
                m.digit |= bit!(7);
                // Separators: two class bits, ORed before the movemask.
                m.sep |= u64::from(_mm256_movemask_epi8(_mm256_or_si256(
                    _mm256_slli_epi16::<6>(c),
                    _mm256_slli_epi16::<1>(c),
                )) as u32)
                    << sh;
                m.backslash |= bit!(5);
                m.quote |= bit!(4);
                m.colon |= bit!(3);
                m.exp |= bit!(2);
                m.ws |= bit!(0);
                m.high |= u64::from(_mm256_movemask_epi8(v) as u32) << sh;
            }
            m
        }
    }

    impl Classify for Avx512 {
        #[inline(always)]
        fn prefetch(hay: &[u8], at: usize) {
            super::prefetch_x86(hay, at);
        }

        #[target_feature(enable = "avx512f,avx512bw,avx2")]
        #[inline]
        unsafe fn masks(block: &[u8; 64]) -> Masks {
            // SAFETY: the tables are 16 bytes each and `block` is 64 bytes; AVX-512BW is
            // guaranteed by the caller (trait contract).
            let (lo_t, hi_t, v) = unsafe {
                (
                    _mm512_broadcast_i32x4(_mm_loadu_si128(LO_NIBBLE.as_ptr().cast())),
                    _mm512_broadcast_i32x4(_mm_loadu_si128(HI_NIBBLE.as_ptr().cast())),
                    _mm512_loadu_si512(block.as_ptr().cast()),
                )
            };
            let low4 = _mm512_set1_epi8(15);
            let lo = _mm512_shuffle_epi8(lo_t, _mm512_and_si512(v, low4));
            let hi = _mm512_shuffle_epi8(hi_t, _mm512_and_si512(_mm512_srli_epi16::<4>(v), low4));
            let c = _mm512_and_si512(lo, hi);
            let test = |k: u8| _mm512_test_epi8_mask(c, _mm512_set1_epi8(k as i8));
            Masks {
                digit: test(C_DIGIT),
                high: _mm512_movepi8_mask(v),
                sep: test(C_SEP | C_UNDERSCORE),
                backslash: test(C_BACKSLASH),
                quote: test(C_QUOTE),
                colon: test(C_COLON),
                ws: test(C_WS),
                exp: test(C_EXP),
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, Avx512, Avx512Vbmi, Sse2};

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

/// AVX-512BW with the AVX2 set (detected at run time).
#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    has_avx2()
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
}

/// AVX-512 with VBMI (byte permutes), VBMI2 (byte compress) and DQ (64-bit multiply).
#[cfg(target_arch = "x86_64")]
fn has_avx512_vbmi() -> bool {
    has_avx512()
        && std::arch::is_x86_feature_detected!("avx512vbmi")
        && std::arch::is_x86_feature_detected!("avx512vbmi2")
        && std::arch::is_x86_feature_detected!("avx512dq")
}

/// Which implementation runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Isa {
    /// AVX-512 as below, plus VBMI, VBMI2 and DQ for the JSON key filter (detected at run
    /// time).
    Avx512Vbmi,
    /// AVX-512BW with the AVX2 set (detected at run time).
    Avx512,
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
            if has_avx512_vbmi() {
                return Isa::Avx512Vbmi;
            }
            if has_avx512() {
                return Isa::Avx512;
            }
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
        if has_avx512() {
            v.push(Isa::Avx512);
        }
        if has_avx512_vbmi() {
            v.push(Isa::Avx512Vbmi);
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
                if has_avx512() {
                    // SAFETY: AVX-512BW was just detected.
                    assert_eq!(unsafe { Avx512::masks(&block) }, want);
                }
            }
            assert_ne!(want, Masks::default(), "block {start}");
        }
    }
}
