//! The IIN (issuer identification number) table: which prefixes and lengths belong to
//! which card brand. Kept as plain data so it can be reviewed and updated on its own.
//!
//! Source: ISO/IEC 7812 ranges as published in the "Payment card number" article of the
//! English Wikipedia (IIN ranges table, revision of 2024), cross-checked against the
//! brands' public test card numbers (Stripe test mode). When two rows match, the row with
//! the longer prefix wins (a co-branded range is more specific than its parent).

use crate::finding::Brand;

/// One IIN range: PANs whose first `digits` digits, read as a number, lie in `lo..=hi`,
/// and whose length has its bit set in `lengths` (bit n = length n).
pub(crate) struct IinRange {
    pub(crate) lo: u32,
    pub(crate) hi: u32,
    pub(crate) digits: u8,
    pub(crate) lengths: u32,
    pub(crate) brand: Brand,
}

const fn lens(from: u32, to: u32) -> u32 {
    // Bits from..=to set.
    ((1u32 << (to + 1)) - 1) & !((1u32 << from) - 1)
}
const L12_19: u32 = lens(12, 19);
const L14_19: u32 = lens(14, 19);
const L16_19: u32 = lens(16, 19);
const L16: u32 = 1 << 16;
const L15: u32 = 1 << 15;

const fn r(lo: u32, hi: u32, digits: u8, lengths: u32, brand: Brand) -> IinRange {
    IinRange {
        lo,
        hi,
        digits,
        lengths,
        brand,
    }
}

use Brand::*;

/// The table. Order only matters for equally long prefixes (first row wins).
pub(crate) const IIN_TABLE: &[IinRange] = &[
    r(4, 4, 1, (1 << 13) | L16 | (1 << 19), Visa),
    r(51, 55, 2, L16, Mastercard),
    r(2221, 2720, 4, L16, Mastercard),
    r(34, 34, 2, L15, Amex),
    r(37, 37, 2, L15, Amex),
    r(6011, 6011, 4, L16_19, Discover),
    r(644, 649, 3, L16_19, Discover),
    r(65, 65, 2, L16_19, Discover),
    r(622126, 622925, 6, L16_19, Discover),
    r(3528, 3589, 4, L16_19, Jcb),
    r(300, 305, 3, L14_19, DinersClub),
    r(3095, 3095, 4, L14_19, DinersClub),
    r(36, 36, 2, L14_19, DinersClub),
    r(38, 39, 2, L14_19, DinersClub),
    r(62, 62, 2, L16_19, UnionPay),
    r(81, 81, 2, L16_19, UnionPay),
    r(5018, 5018, 4, L12_19, Maestro),
    r(5020, 5020, 4, L12_19, Maestro),
    r(5038, 5038, 4, L12_19, Maestro),
    r(5893, 5893, 4, L12_19, Maestro),
    r(6304, 6304, 4, L12_19, Maestro),
    r(6759, 6759, 4, L12_19, Maestro),
    r(6761, 6763, 4, L12_19, Maestro),
    r(2200, 2204, 4, L16_19, Mir),
    r(60, 60, 2, L16, RuPay),
    r(508, 508, 3, L16, RuPay),
    r(353, 353, 3, L16, RuPay),
    r(356, 356, 3, L16, RuPay),
    r(82, 82, 2, L16, RuPay),
    r(401178, 401179, 6, L16, Elo),
    r(431274, 431274, 6, L16, Elo),
    r(438935, 438935, 6, L16, Elo),
    r(451416, 451416, 6, L16, Elo),
    r(457393, 457393, 6, L16, Elo),
    r(457631, 457632, 6, L16, Elo),
    r(504175, 504175, 6, L16, Elo),
    r(506699, 506778, 6, L16, Elo),
    r(509000, 509999, 6, L16, Elo),
    r(627780, 627780, 6, L16, Elo),
    r(636297, 636297, 6, L16, Elo),
    r(636368, 636368, 6, L16, Elo),
    r(650031, 650033, 6, L16, Elo),
    r(650035, 650051, 6, L16, Elo),
    r(650405, 650439, 6, L16, Elo),
    r(650485, 650538, 6, L16, Elo),
    r(650541, 650598, 6, L16, Elo),
    r(650700, 650718, 6, L16, Elo),
    r(650720, 650727, 6, L16, Elo),
    r(650901, 650978, 6, L16, Elo),
    r(651652, 651679, 6, L16, Elo),
    r(655000, 655019, 6, L16, Elo),
    r(655021, 655058, 6, L16, Elo),
    r(606282, 606282, 6, L16 | (1 << 19), Hipercard),
    r(3841, 3841, 4, L16 | (1 << 19), Hipercard),
    r(506099, 506198, 6, L16 | (1 << 18) | (1 << 19), Verve),
    r(507865, 507964, 6, L16 | (1 << 18) | (1 << 19), Verve),
    r(650002, 650027, 6, L16 | (1 << 18) | (1 << 19), Verve),
    r(979200, 979289, 6, L16, Troy),
    r(636, 636, 3, L16_19, InterPayment),
    r(637, 639, 3, L16, InstaPayment),
    r(1, 1, 1, L15, Uatp),
    r(5019, 5019, 4, L16, Dankort),
    r(4571, 4571, 4, L16, Dankort),
    r(2205, 2205, 4, L16, Borica),
    r(8600, 8600, 4, L16, Uzcard),
    r(9860, 9860, 4, L16, Humo),
    r(357111, 357111, 6, L16, LankaPay),
];

/// The brand of a PAN given as ASCII-free digit values (0..=9), or `None` when no row of
/// the table matches its prefix and length. Only the rows whose range can hold the first
/// two digits are looked at ([`rows_by_prefix2`]), in table order, each against the PAN's
/// first eight digits read once.
pub(crate) fn brand_of(digits: &[u8]) -> Option<Brand> {
    let len = digits.len();
    if !(12..=19).contains(&len) {
        return None;
    }
    let p8 = digits
        .iter()
        .take(8)
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d));
    let p2 = usize::try_from(p8 / 1_000_000).ok()?;
    let mut best: Option<(u8, Brand)> = None;
    for &index in rows_by_prefix2().get(p2)? {
        let row = IIN_TABLE.get(usize::from(index))?;
        if row.lengths & (1 << len) == 0 {
            continue;
        }
        let prefix = p8 / POW10.get(8 - usize::from(row.digits))?;
        if prefix < row.lo || prefix > row.hi {
            continue;
        }
        if best.is_none_or(|(d, _)| row.digits > d) {
            best = Some((row.digits, row.brand));
        }
    }
    best.map(|(_, b)| b)
}

const POW10: [u32; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// For each two-digit prefix, the indices (in table order) of the rows whose range holds
/// some number starting with it.
fn rows_by_prefix2() -> &'static [Vec<u8>; 100] {
    static T: std::sync::OnceLock<[Vec<u8>; 100]> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut t: [Vec<u8>; 100] = std::array::from_fn(|_| Vec::new());
        for (index, row) in IIN_TABLE.iter().enumerate() {
            let (lo, hi) = prefix2_span(row);
            for p in lo..=hi.min(99) {
                if let (Some(slot), Ok(index)) = (t.get_mut(p as usize), u8::try_from(index)) {
                    slot.push(index);
                }
            }
        }
        t
    })
}

/// The two-digit prefixes a row's range covers.
fn prefix2_span(row: &IinRange) -> (u32, u32) {
    if row.digits == 1 {
        (row.lo * 10, row.hi * 10 + 9)
    } else {
        let scale = 10u32.pow(u32::from(row.digits) - 2);
        (row.lo / scale, row.hi / scale)
    }
}

/// The Luhn (mod 10) check over digit values.
pub(crate) fn luhn(digits: &[u8]) -> bool {
    // A digit as is (even positions from the right), or doubled with the digits of the
    // product summed (odd positions): table lookups instead of branches, which the
    // digits of random numbers would mispredict.
    const DOUBLED: [u8; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];
    let mut sum = 0u32;
    let mut pairs = digits.rchunks_exact(2);
    for p in &mut pairs {
        if let [odd, even] = p {
            sum +=
                u32::from(*even) + u32::from(DOUBLED.get(usize::from(*odd)).copied().unwrap_or(0));
        }
    }
    sum += pairs.remainder().iter().map(|&d| u32::from(d)).sum::<u32>();
    sum.is_multiple_of(10)
}

/// The Luhn check over the ASCII digits `hay[start..end]` (12 to 19 of them, nothing but
/// `0`-`9`), eight digits at a time in a `u64` (SWAR), with no copy and no branch on the
/// digits: the prefilter runs it on every long plain number. Equals [`luhn`] over the
/// digit values (a unit test compares both on every length and many numbers).
#[inline(always)]
pub(crate) fn luhn_ascii(hay: &[u8], start: usize, end: usize) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let len = end.wrapping_sub(start);
    if !(12..=19).contains(&len) {
        return false;
    }
    // Three words right-aligned on `end`: byte 7 of the first is the last digit. Digits
    // before `start` are zeroed; a zero adds nothing, doubled or not.
    let word = |k: usize| -> u64 {
        let lo = end.checked_sub(8 * (k + 1));
        let bytes = match lo.and_then(|lo| hay.get(lo..lo + 8)) {
            Some(b) => b.first_chunk::<8>().copied().unwrap_or([b'0'; 8]),
            None => {
                // Near the start of `hay`: the digits of this word, padded with `0`.
                let mut b = [b'0'; 8];
                let hi = end.saturating_sub(8 * k);
                let from = hi.saturating_sub(8).max(start);
                let src = hay.get(from..hi).unwrap_or(&[]);
                if let Some(dst) = b.get_mut(8 - src.len()..) {
                    dst.copy_from_slice(src);
                }
                b
            }
        };
        // Keep the bytes at or after `start`: in word k, the top `len - 8k` bytes. They
        // are masked before `0` is subtracted, so no byte before `start` borrows.
        let keep = len.saturating_sub(8 * k).min(8);
        let mask = if keep == 0 {
            0
        } else {
            u64::MAX << (8 * (8 - keep))
        };
        (u64::from_le_bytes(bytes) & mask).wrapping_sub((ONES * u64::from(b'0')) & mask)
    };
    let contrib = |d: u64| -> u64 {
        // From the right, the second, fourth, ... digit is doubled: bytes 6, 4, 2, 0 of
        // each word (eight is even, so every word has the same pattern). A doubled digit
        // of 5 or more contributes 2d - 9 (its two digits summed).
        const DOUBLED: u64 = 0x00FF_00FF_00FF_00FF;
        let dd = d & DOUBLED;
        let five_up = (((dd + ONES * 0x7B) & (ONES * 0x80)) >> 7) & DOUBLED;
        (d & !DOUBLED) + (dd << 1) - five_up * 9
    };
    // Each byte of the sum is at most 3 * 9: no carries between bytes, and the total
    // (at most 216) fits the top byte of the multiplication.
    let sum = contrib(word(0)) + contrib(word(1)) + contrib(word(2));
    (sum.wrapping_mul(ONES) >> 56).is_multiple_of(10)
}

/// For each two-digit prefix, the lengths (bit n = length n) some row of the table allows:
/// a cheap first test before Luhn.
pub(crate) fn prefix2_lengths() -> &'static [u32; 100] {
    static T: std::sync::OnceLock<[u32; 100]> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut t = [0u32; 100];
        for row in IIN_TABLE {
            let (lo, hi) = prefix2_span(row);
            for p in lo..=hi.min(99) {
                if let Some(slot) = t.get_mut(p as usize) {
                    *slot |= row.lengths;
                }
            }
        }
        t
    })
}

/// Prefix and length first, then Luhn, then the IIN table: the brand of a valid PAN.
#[inline]
pub(crate) fn validate(digits: &[u8]) -> Option<Brand> {
    let len = digits.len();
    if !(12..=19).contains(&len) {
        return None;
    }
    let p = match digits {
        [a, b, ..] => usize::from(*a) * 10 + usize::from(*b),
        _ => return None,
    };
    if prefix2_lengths().get(p).is_none_or(|l| l & (1 << len) == 0) || !luhn(digits) {
        return None;
    }
    brand_of(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row, each with its own prefix: the lookup as first written.
    fn brand_by_scan(digits: &[u8]) -> Option<Brand> {
        let len = digits.len();
        if !(12..=19).contains(&len) {
            return None;
        }
        let mut best: Option<(u8, Brand)> = None;
        for row in IIN_TABLE {
            if row.lengths & (1 << len) == 0 {
                continue;
            }
            let prefix = digits
                .iter()
                .take(usize::from(row.digits))
                .fold(0u32, |acc, &d| acc * 10 + u32::from(d));
            if prefix < row.lo || prefix > row.hi {
                continue;
            }
            if best.is_none_or(|(d, _)| row.digits > d) {
                best = Some((row.digits, row.brand));
            }
        }
        best.map(|(_, b)| b)
    }

    #[test]
    fn the_table_fits_the_indexed_lookup() {
        assert!(IIN_TABLE.len() <= usize::from(u8::MAX) + 1);
        assert!(IIN_TABLE.iter().all(|r| (1..=8).contains(&r.digits)));
    }

    #[test]
    fn the_indexed_lookup_equals_a_scan_of_every_row() {
        // Every row's bounds and their neighbours, at every length, plus a sweep of
        // six-digit prefixes.
        let mut prefixes: Vec<u32> = Vec::new();
        for row in IIN_TABLE {
            let scale = POW10[8 - usize::from(row.digits)];
            for p in [row.lo, row.hi] {
                for q in [p.saturating_sub(1), p, p + 1] {
                    prefixes.extend([q * scale, q * scale + scale - 1]);
                }
            }
        }
        prefixes.extend((0..100_000_000).step_by(9_973));
        for p in prefixes {
            for len in 11..=20 {
                let head: Vec<u8> = format!("{p:08}")
                    .bytes()
                    .take(8)
                    .map(|b| b - b'0')
                    .collect();
                let mut digits = head.clone();
                digits.resize(len.max(8), 7);
                digits.truncate(len);
                assert_eq!(brand_of(&digits), brand_by_scan(&digits), "{p:08} {len}");
            }
        }
    }

    fn d(s: &str) -> Vec<u8> {
        s.bytes().map(|b| b - b'0').collect()
    }

    #[test]
    fn stripe_test_cards_have_their_brand() {
        let cases = [
            ("4242424242424242", Visa),
            ("4000056655665556", Visa),
            ("5555555555554444", Mastercard),
            ("2223003122003222", Mastercard),
            ("5200828282828210", Mastercard),
            ("378282246310005", Amex),
            ("371449635398431", Amex),
            ("6011111111111117", Discover),
            ("6011000990139424", Discover),
            ("3056930009020004", DinersClub),
            ("36227206271667", DinersClub),
            ("3566002020360505", Jcb),
            ("6200000000000005", UnionPay),
        ];
        for (pan, brand) in cases {
            assert_eq!(validate(&d(pan)), Some(brand), "case {brand:?}");
        }
    }

    #[test]
    fn ascii_luhn_equals_the_digit_luhn_at_every_length_and_offset() {
        // A pseudo-random digit string; every window of 12 to 19 digits, placed at
        // every offset from the start of the buffer (the padded path) and far from it.
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut digits = Vec::new();
        for _ in 0..400 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            digits.push(b'0' + (x % 10) as u8);
        }
        let mut passed = 0;
        for len in 12..=19 {
            for start in 0..digits.len() - len {
                let end = start + len;
                let values: Vec<u8> = digits[start..end].iter().map(|b| b - b'0').collect();
                let expect = luhn(&values);
                passed += usize::from(expect);
                assert_eq!(luhn_ascii(&digits, start, end), expect, "{len} at {start}");
                let tail = &digits[..end];
                assert_eq!(luhn_ascii(&tail[start..], 0, len), expect, "{len} alone");
            }
        }
        assert!(passed > 100, "the sample holds numbers that pass");
        assert!(luhn_ascii(b"x4242424242424242", 1, 17));
        assert!(!luhn_ascii(b"4242424242424241", 0, 16));
        assert!(!luhn_ascii(b"42424242424", 0, 11), "too short");
    }

    #[test]
    fn luhn_failures_and_wrong_lengths_are_rejected() {
        assert_eq!(validate(&d("4242424242424241")), None);
        assert_eq!(validate(&d("424242424242424")), None); // Visa, 15 digits
        assert_eq!(validate(&d("37828224631000")), None);
        assert!(!luhn(&d("1234567812345678")));
        assert!(luhn(&d("79927398713")));
    }

    #[test]
    fn longer_prefix_wins() {
        // 622126.. is Discover's co-branded range inside UnionPay's 62.
        let mut digits = d("6221260000000000");
        // Fix the check digit so Luhn passes.
        for check in 0..10 {
            if let Some(last) = digits.last_mut() {
                *last = check;
            }
            if luhn(&digits) {
                break;
            }
        }
        assert_eq!(validate(&digits), Some(Discover));
    }
}
