//! The JSON key-end filter of `keys.rs` for up to eight keys of a 64-byte block at once,
//! in AVX-512 registers (VBMI, VBMI2, DQ), with no branch per key.
//!
//! On ordinary documents the scalar filter was about 40% of the JSON prefilter's time:
//! two to three keys per block, each a window load, a byte swap, a SWAR quote search, a
//! hash and a table bit, behind a loop whose trip count the branch predictor cannot know.
//! Here the same steps run on eight lanes of 64 bits:
//!
//! 1. the in-block positions of the closing quotes are compressed into bytes (`vpcompressb`);
//! 2. each lane gathers the 8 bytes before its quote, last byte first (the big-endian
//!    window of [`crate::keys::key_end_filter`]), from the previous block and this one
//!    (`vpermi2b`);
//! 3. fold with `| 0x20`, cut after the lowest `"` byte (the key's opening quote when the
//!    key is shorter than 8 bytes) and hash with the same multiplier;
//! 4. test the hash against four 1024-bit Bloom tables of the key-end table's hashes, each
//!    a byte permute from two registers (`vpermi2b`). A table gather (`vpgatherqq`) did
//!    the same in one step, but on this Zen 4 it was half of the whole prefilter's time.
//!
//! Only when some lane passes all four tables (or ends with a folded `]`, bracket keys) is
//! the block given to the scalar filter, so the answer equals the scalar filter's OR over
//! the same keys (a test compares both on every key of many generated documents); a hit
//! still goes to the exact name check.

use std::arch::x86_64::*;

/// Byte i is i: the positions of a block.
static IOTA: [u8; 64] = iota();
/// Byte l is l / 8: lane k of the window vector reads the position of key k.
static REPEAT: [u8; 64] = repeat();
/// Byte l is 63 - l % 8: byte j of a window is the j-th byte before the closing quote at
/// q, index 64 + q - 1 - j in the previous block followed by this one.
static BACK: [u8; 64] = back();

const fn iota() -> [u8; 64] {
    let mut t = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        t[i] = i as u8;
        i += 1;
    }
    t
}

const fn repeat() -> [u8; 64] {
    let mut t = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        t[i] = (i / 8) as u8;
        i += 1;
    }
    t
}

const fn back() -> [u8; 64] {
    let mut t = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        t[i] = 63 - (i % 8) as u8;
        i += 1;
    }
    t
}

/// The rotations of the 16-bit key hash whose low 10 bits index the four Bloom tables.
const ROTATIONS: [u32; 4] = [0, 4, 8, 12];

/// Four 1024-bit Bloom tables over the key-end table's 16-bit hashes: bit `rot(h, r) &
/// 1023` of table k is set for every hash `h` of the key-end table, `r = ROTATIONS[k]`.
/// A hash missing from any of them is missing from the key-end table. Each table is 128
/// bytes, a `vpermi2b` lookup from two registers: no gather. About 0.8% of other hashes
/// pass all four (computed over all 65,536), and those blocks take the scalar filter.
fn bloom() -> &'static [[u8; 128]; 4] {
    static T: std::sync::OnceLock<[[u8; 128]; 4]> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut t = [[0u8; 128]; 4];
        for (w, &word) in crate::keys::end_table().iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let h = (w * 64 + bits.trailing_zeros() as usize) as u16;
                for (table, r) in t.iter_mut().zip(ROTATIONS) {
                    let f = usize::from(h.rotate_right(r) & 1023);
                    if let Some(byte) = table.get_mut(f >> 3) {
                        *byte |= 1 << (f & 7);
                    }
                }
                bits &= bits - 1;
            }
        }
        t
    })
}

/// [`crate::keys::keys_end_filter`] for the keys whose closing quotes are the bits of
/// `keys` in the block at `pos`, with the same answer. Blocks without 64 bytes before and
/// after `pos`, blocks where a key passes the Bloom tables, and the ninth key of a block
/// on, take the scalar filter.
///
/// Always inlined and without a `target_feature` of its own, so that it is inlined into
/// the block loop (`prefilter::json_first_flag_avx512_vbmi`, which enables the features):
/// LLVM does not inline a `target_feature` function into one that large.
///
/// # Safety
/// The CPU must support AVX-512F, BW, VBMI, VBMI2 and DQ.
#[inline(always)]
pub(crate) unsafe fn keys_end_filter(
    table: &[u64; 1024],
    hay: &[u8],
    pos: usize,
    keys: u64,
) -> bool {
    let prev = pos
        .checked_sub(64)
        .and_then(|s| hay.get(s..pos))
        .and_then(|b| b.first_chunk::<64>());
    let cur = hay.get(pos..).and_then(|b| b.first_chunk::<64>());
    let (Some(prev), Some(cur)) = (prev, cur) else {
        return crate::keys::keys_end_filter(table, hay, pos, keys);
    };
    // Keys past the eighth (blocks of very short keys) take the scalar filter.
    let mut rest = keys;
    for _ in 0..8 {
        rest &= rest.wrapping_sub(1);
    }
    let n = keys.count_ones().min(8);
    let lanes = ((1u16 << n) - 1) as u8;
    let bloom = bloom();
    // SAFETY: every load reads one of the 64-byte arrays above, `prev`/`cur` (64 bytes
    // each) or half of a 128-byte Bloom table. The features are the caller's guarantee.
    let maybe = unsafe {
        let at = _mm512_maskz_compress_epi8(keys, _mm512_loadu_si512(IOTA.as_ptr().cast()));
        let idx = _mm512_add_epi8(
            _mm512_permutexvar_epi8(_mm512_loadu_si512(REPEAT.as_ptr().cast()), at),
            _mm512_loadu_si512(BACK.as_ptr().cast()),
        );
        let window = _mm512_permutex2var_epi8(
            _mm512_loadu_si512(prev.as_ptr().cast()),
            idx,
            _mm512_loadu_si512(cur.as_ptr().cast()),
        );
        let folded = _mm512_or_si512(window, _mm512_set1_epi8(0x20));
        // Keep the bytes below the lowest `"` of each lane (all 8 when there is none).
        let quotes = _mm512_movm_epi8(_mm512_cmpeq_epi8_mask(folded, _mm512_set1_epi8(0x22)));
        let lowest = _mm512_and_si512(quotes, _mm512_sub_epi64(_mm512_setzero_si512(), quotes));
        let tail = _mm512_and_si512(folded, _mm512_sub_epi64(lowest, _mm512_set1_epi64(1)));
        // The 16-bit hash of each lane, in its low 16-bit word (the other words are 0).
        let h = _mm512_srli_epi64::<48>(_mm512_mullo_epi64(
            tail,
            _mm512_set1_epi64(crate::keys::TAIL_HASH as i64),
        ));
        let seven = _mm512_set1_epi16(7);
        let one = _mm512_set1_epi64(1);
        let probe = |rot: __m512i, table: &[u8; 128]| -> __mmask8 {
            // Byte (rot & 1023) >> 3 of the table (`vpermi2b` reads 7 index bits), then
            // its bit rot & 7, into bit 0 of the lane.
            let byte = _mm512_permutex2var_epi8(
                _mm512_loadu_si512(table.as_ptr().cast()),
                _mm512_srli_epi16::<3>(rot),
                _mm512_loadu_si512(table.as_ptr().add(64).cast()),
            );
            let bit = _mm512_srlv_epi16(byte, _mm512_and_si512(rot, seven));
            _mm512_mask_test_epi64_mask(lanes, bit, one)
        };
        let listed = probe(h, &bloom[0])
            & probe(_mm512_shrdi_epi16::<4>(h, h), &bloom[1])
            & probe(_mm512_shrdi_epi16::<8>(h, h), &bloom[2])
            & probe(_mm512_shrdi_epi16::<12>(h, h), &bloom[3]);
        let bracket = _mm512_mask_cmpeq_epi64_mask(
            lanes,
            _mm512_and_si512(folded, _mm512_set1_epi64(0xFF)),
            _mm512_set1_epi64(i64::from(b'}')),
        );
        listed | bracket != 0
    };
    if maybe {
        return crate::keys::keys_end_filter(table, hay, pos, keys);
    }
    rest != 0 && crate::keys::keys_end_filter(table, hay, pos, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn supported() -> bool {
        crate::simd::available_isas().contains(&crate::simd::Isa::Avx512Vbmi)
    }

    /// Documents of keys of every length (1 to 20 bytes), sensitive or not, upper or lower
    /// case, bracketed, at every alignment: the vector filter equals the scalar one on every
    /// block, and on every single key.
    #[test]
    fn equals_the_scalar_filter_on_every_block_and_key() {
        if !supported() {
            return;
        }
        let names = [
            "id",
            "cvc",
            "CVV",
            "cid",
            "name",
            "exp",
            "x",
            "card[cvc]",
            "cardNumber",
            "security_code",
            "holder_name",
            "first_name",
            "postal_code",
            "exp_month",
            "ab",
            "abcdefghijklmnopqrst",
            "Card_Holder_Name",
            "track2",
            "pan",
            "CC-NUM",
        ];
        let table = crate::keys::end_table();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (mut blocks, mut hits, mut misses) = (0, 0, 0);
        for pad in 0..64 {
            let mut doc = String::from("{");
            doc.push_str(&"\"p\":1,".repeat(pad % 7));
            doc.push_str(&" ".repeat(pad));
            while doc.len() < 2048 {
                let name = names[(next() % names.len() as u64) as usize];
                doc.push('"');
                doc.push_str(name);
                doc.push_str("\":");
                doc.push_str(["1,", "\"v\",", "{", "}", ""][(next() % 5) as usize]);
            }
            let hay = doc.as_bytes();
            let mut pos = 0;
            while pos + 64 <= hay.len() {
                let block = &hay[pos..pos + 64];
                let mut keys = 0u64;
                for i in 0..63 {
                    if block[i] == b'"' && block[i + 1] == b':' {
                        keys |= 1 << i;
                    }
                }
                // SAFETY: `supported()` checked the features.
                let vector = unsafe { keys_end_filter(table, hay, pos, keys) };
                let scalar = crate::keys::keys_end_filter(table, hay, pos, keys);
                assert_eq!(vector, scalar, "block at {pos} of pad {pad}");
                blocks += 1;
                let mut each = keys;
                while each != 0 {
                    let one = each & each.wrapping_neg();
                    // SAFETY: as above.
                    let v = unsafe { keys_end_filter(table, hay, pos, one) };
                    assert_eq!(v, crate::keys::keys_end_filter(table, hay, pos, one));
                    if v {
                        hits += 1;
                    } else {
                        misses += 1;
                    }
                    each &= each - 1;
                }
                pos += 1 + (next() % 64) as usize;
            }
        }
        assert!(
            blocks > 1000 && hits > 100 && misses > 100,
            "{blocks} {hits} {misses}"
        );
    }

    #[test]
    fn more_than_eight_keys_in_a_block_reach_the_scalar_filter() {
        if !supported() {
            return;
        }
        // Ten one-byte keys, the tenth sensitive only through its bracket.
        let mut doc = "x".repeat(64);
        doc.push_str(r#""a":"b":"c":"d":"e":"f":"g":"h":"i":"]":"#);
        doc.push_str(&" ".repeat(64));
        let hay = doc.as_bytes();
        let pos = 64;
        let mut keys = 0u64;
        for i in 0..63 {
            if hay[pos + i] == b'"' && hay[pos + i + 1] == b':' {
                keys |= 1 << i;
            }
        }
        assert_eq!(keys.count_ones(), 10);
        let table = crate::keys::end_table();
        // SAFETY: `supported()` checked the features.
        assert!(unsafe { keys_end_filter(table, hay, pos, keys) });
        let first8 = keys & !(1u64 << (63 - keys.leading_zeros()));
        let first8 = first8 & !(1u64 << (63 - first8.leading_zeros()));
        // SAFETY: as above.
        let v = unsafe { keys_end_filter(table, hay, pos, first8) };
        assert_eq!(v, crate::keys::keys_end_filter(table, hay, pos, first8));
    }
}
