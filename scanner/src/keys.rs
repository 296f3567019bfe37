//! Sensitive key names: CVV, expiry, cardholder, card number and track data fields, in
//! snake, camel, kebab, Pascal, upper and bracket forms (`card_cvc`, `cardCvc`,
//! `card-cvc`, `CARD_CVC`, `card[cvc]`).
//!
//! The name part of a key (for `a[b][c]`, the last bracket segment; else the whole key),
//! lowercased, must be one of the names below with its words joined by `_`, `-` or
//! nothing, optionally after a prefix `card`, `cc`, `credit_card` or `payment`.

use std::sync::OnceLock;

use crate::finding::Field;

// Names are written snake_case; every name also matches joined with `-` or nothing, in
// any ASCII case (so camelCase, PascalCase, kebab-case and UPPER_SNAKE all match).
const CVV: &[&str] = &[
    "cvv",
    "cvc",
    "cvv2",
    "cvc2",
    "cid",
    "csc",
    "cvn",
    "cvd",
    "cav2",
    "cvp2",
    "security_code",
    "card_security_code",
    "card_code",
    "card_verification_code",
    "card_verification_value",
    "verification_value",
    "cvv_code",
    "cvc_code",
    "cvv_number",
    "cvc_number",
    "security_number",
];
const EXPIRY: &[&str] = &[
    "exp",
    "expiry",
    "expiration",
    "exp_date",
    "expiry_date",
    "expiration_date",
    "exp_month",
    "exp_year",
    "expiry_month",
    "expiry_year",
    "expiration_month",
    "expiration_year",
    "valid_thru",
    "valid_through",
    "exp_mm",
    "exp_yy",
    "exp_yyyy",
    "exp_mmyy",
];
const CARDHOLDER: &[&str] = &[
    "cardholder",
    "cardholder_name",
    "card_holder",
    "card_holder_name",
    "holder_name",
    "name_on_card",
    "card_owner",
    "holder",
];
const CARD_NUMBER: &[&str] = &[
    "pan",
    "card_number",
    "cc_number",
    "credit_card_number",
    "card_no",
    "card_num",
    "cc_num",
    "primary_account_number",
    "account_number",
];
const TRACK: &[&str] = &[
    "track1",
    "track2",
    "track_data",
    "track1_data",
    "track2_data",
    "magstripe",
];
/// Optional prefixes, themselves snake_case.
const PREFIXES: &[&str] = &["card", "cc", "credit_card", "payment"];

/// Keys longer than this (in bytes) are never sensitive (and are not captured whole).
pub(crate) const MAX_KEY: usize = 256;

/// Every accepted spelling, lowercase, with its field.
fn forms() -> &'static std::collections::HashMap<Vec<u8>, Field> {
    static FORMS: OnceLock<std::collections::HashMap<Vec<u8>, Field>> = OnceLock::new();
    FORMS.get_or_init(|| {
        let mut m = std::collections::HashMap::new();
        let lists: [(&[&str], Field); 5] = [
            (CVV, Field::Cvv),
            (EXPIRY, Field::Expiry),
            (CARDHOLDER, Field::Cardholder),
            (CARD_NUMBER, Field::CardNumber),
            (TRACK, Field::TrackData),
        ];
        for (list, field) in lists {
            for name in list {
                for prefix in std::iter::once("").chain(PREFIXES.iter().copied()) {
                    let words: Vec<&str> = prefix
                        .split('_')
                        .chain(name.split('_'))
                        .filter(|w| !w.is_empty())
                        .collect();
                    for sep in ["", "_", "-"] {
                        m.entry(words.join(sep).into_bytes()).or_insert(field);
                    }
                }
            }
        }
        m
    })
}

/// The part of a key that names the field: the last bracket segment of `a[b][c]`, else
/// the whole key.
fn name_part(key: &[u8]) -> &[u8] {
    if key.last() != Some(&b']') {
        return key;
    }
    key.split(|&b| b == b'[' || b == b']')
        .rfind(|s| !s.is_empty())
        .unwrap_or(&[])
}

/// Classifies a decoded key name.
pub(crate) fn classify_key(key: &[u8]) -> Option<Field> {
    if key.len() > MAX_KEY {
        return None;
    }
    let name = name_part(key);
    let mut buf = [0u8; 64];
    let lower = buf.get_mut(..name.len())?;
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    forms().get(&*lower).copied()
}

/// The filter: one bit per (last three bytes, length) of every accepted spelling.
pub(crate) fn suffix_table() -> &'static [u64; 1024] {
    static TABLE: OnceLock<[u64; 1024]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0u64; 1024];
        for form in forms().keys() {
            if let [.., a, b, c] = form.as_slice() {
                let h = hash3(a | 0x20, b | 0x20, c | 0x20, form.len());
                if let Some(w) = t.get_mut(h / 64) {
                    *w |= 1u64 << (h % 64);
                }
            }
        }
        t
    })
}

#[inline(always)]
fn hash3(a: u8, b: u8, c: u8, len: usize) -> usize {
    let len = u32::try_from(len.min(255)).unwrap_or(255);
    let v = (len << 24) | (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
    (v.wrapping_mul(0x9E37_79B1) >> 16) as usize
}

/// The key-end filter: one bit per spelling, hashed from its bytes folded with `| 0x20`:
/// the whole spelling when it is shorter than 8 bytes, else its last 8. The 8 bytes before
/// a key's closing quote give the same value (see [`tail_value`]), so the filter needs no
/// key start or length.
pub(crate) fn end_table() -> &'static [u64; 1024] {
    static TABLE: OnceLock<[u64; 1024]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0u64; 1024];
        for form in forms().keys() {
            let tail = form.get(form.len().saturating_sub(8)..).unwrap_or(&[]);
            let v = tail
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b | 0x20));
            let h = hash_tail(v);
            if let Some(w) = t.get_mut(h / 64) {
                *w |= 1u64 << (h % 64);
            }
        }
        t
    })
}

/// The multiplier of [`hash_tail`] (also used by the vector filter, `keyvec.rs`).
pub(crate) const TAIL_HASH: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline(always)]
fn hash_tail(v: u64) -> usize {
    (v.wrapping_mul(TAIL_HASH) >> 48) as usize
}

/// The key bytes of an 8-byte window ending right before a closing quote (big-endian: the
/// byte before the quote is the least significant), folded with `| 0x20`: the bytes after
/// the last `"` of the window (the opening quote of a key shorter than 8 bytes), or all 8.
/// Bytes that fold to `"` only shorten the value; no spelling of a sensitive name has one.
#[inline(always)]
fn tail_value(w: u64) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let t = w ^ 0x2222_2222_2222_2222;
    // 0x80 in exactly the bytes that are `"` (no carries between bytes).
    let quotes = !((((t & LOW7) + LOW7) | t) | LOW7);
    let last = quotes & quotes.wrapping_neg();
    w & (last >> 7).wrapping_sub(1)
}

/// False guarantees that the key whose closing quote is at `q` (no escapes) is not
/// sensitive; true means "check it" ([`key_at_may_be_sensitive`]). No branches but the
/// bounds check, so callers can test several keys and branch once.
#[inline(always)]
pub(crate) fn key_end_filter(table: &[u64; 1024], hay: &[u8], q: usize) -> bool {
    let w = match q
        .checked_sub(8)
        .and_then(|s| hay.get(s..q))
        .and_then(|b| b.first_chunk::<8>())
    {
        Some(w) => *w,
        // The first key of a document (`{"id":`) ends within 8 bytes of its start: the
        // bytes before it padded with `"`, so the window still holds the key after its
        // opening quote (and a key without one is not sensitive anyway).
        None => match hay.get(..q) {
            Some(before) => {
                let mut w = [b'"'; 8];
                for (d, s) in w.iter_mut().rev().zip(before.iter().rev()) {
                    *d = *s;
                }
                w
            }
            None => return true,
        },
    };
    let v = u64::from_be_bytes(w) | 0x2020_2020_2020_2020;
    let h = hash_tail(tail_value(v));
    let word = table.get(h / 64).copied().unwrap_or(u64::MAX);
    // A bracketed key (`card[cvc]`, `]` folds to `}`) is always checked.
    (word >> (h % 64)) & 1 != 0 || v & 0xFF == u64::from(b'}')
}

/// [`key_end_filter`] over every key whose closing quote is a bit of `keys` (bit i: the
/// byte at `pos + i`), with one branch for all of them: false guarantees that none is
/// sensitive.
#[inline(always)]
pub(crate) fn keys_end_filter(table: &[u64; 1024], hay: &[u8], pos: usize, keys: u64) -> bool {
    let mut hit = false;
    let mut more = keys;
    while more != 0 {
        hit |= key_end_filter(table, hay, pos + more.trailing_zeros() as usize);
        more &= more - 1;
    }
    hit
}

/// True when the raw key (no escapes) is sensitive; a few instructions for most keys.
#[inline]
pub(crate) fn key_may_be_sensitive(key: &[u8]) -> bool {
    classify_key_fast(key).is_some()
}

/// [`classify_key`] behind the filter: same answer, faster on ordinary keys.
#[inline]
pub(crate) fn classify_key_fast(key: &[u8]) -> Option<Field> {
    match key {
        [.., b']'] => classify_key(key),
        [.., a, b, c] if key.len() <= 64 => {
            let h = hash3(a | 0x20, b | 0x20, c | 0x20, key.len());
            let hit = suffix_table()
                .get(h / 64)
                .is_some_and(|w| w & (1u64 << (h % 64)) != 0);
            if hit { classify_key(key) } else { None }
        }
        _ => None,
    }
}

/// Fast conservative test on the key whose closing quote is at `q`: false only when
/// [`classify_key`] would say `None` (for a key without escapes).
pub(crate) fn key_at_may_be_sensitive(hay: &[u8], q: usize) -> bool {
    let before = hay.get(..q).unwrap_or(&[]);
    match memchr::memrchr(b'"', before) {
        Some(open) => key_may_be_sensitive(before.get(open + 1..).unwrap_or(&[])),
        None => false,
    }
}

/// Like [`key_at_may_be_sensitive`] for a colon at `c` preceded by whitespace.
pub(crate) fn spaced_key_may_be_sensitive(hay: &[u8], c: usize) -> bool {
    let mut i = c;
    while i > 0 {
        i -= 1;
        match hay.get(i) {
            Some(b' ' | b'\t' | b'\r' | b'\n') => continue,
            Some(b'"') => return key_at_may_be_sensitive(hay, i),
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvv_names_in_every_form() {
        for k in [
            "cvc",
            "CVV",
            "cvv2",
            "card_cvc",
            "cardCvc",
            "card-cvc",
            "CardCvc",
            "CARD_CVC",
            "card[cvc]",
            "payment_method[card][cvc]",
            "card[cvc][]",
            "securityCode",
            "security_code",
            "security-code",
            "SecurityCode",
            "card_code",
            "cid",
            "csc",
        ] {
            assert_eq!(classify_key(k.as_bytes()), Some(Field::Cvv), "{k}");
        }
    }

    #[test]
    fn expiry_holder_number_track_names() {
        let cases = [
            ("exp_month", Field::Expiry),
            ("expYear", Field::Expiry),
            ("expiration-date", Field::Expiry),
            ("card[exp_year]", Field::Expiry),
            ("cardholder_name", Field::Cardholder),
            ("nameOnCard", Field::Cardholder),
            ("card_number", Field::CardNumber),
            ("cardNumber", Field::CardNumber),
            ("track2", Field::TrackData),
        ];
        for (k, f) in cases {
            assert_eq!(classify_key(k.as_bytes()), Some(f), "{k}");
        }
    }

    #[test]
    fn ordinary_keys_are_not_sensitive() {
        for k in [
            "name", "id", "order_id", "code", "zip_code", "date", "month", "card.cvc", "c_v_v", "",
        ] {
            assert_eq!(classify_key(k.as_bytes()), None, "{k}");
        }
    }

    #[test]
    fn end_filter_passes_every_spelling_in_every_case() {
        for form in forms().keys() {
            let name = String::from_utf8_lossy(form).into_owned();
            for key in [name.clone(), name.to_ascii_uppercase()] {
                for pad in ["", "p", "padding_key"] {
                    let doc = format!("{{\"{pad}\":1,\"{key}\":1}}");
                    let q = doc.len() - 4;
                    assert!(key_end_filter(end_table(), doc.as_bytes(), q), "{key}");
                }
            }
        }
        // A key at the very start of the input is filtered like any other.
        for form in forms().keys() {
            let name = String::from_utf8_lossy(form).into_owned();
            for doc in [format!("{{\"{name}\":1"), format!("\"{name}\":1")] {
                let q = doc.len() - 3;
                assert!(key_end_filter(end_table(), doc.as_bytes(), q), "{name}");
            }
        }
        for doc in ["{\"id\":1", "\"id\":1", "[{\"type\":1", "{\"a\":1"] {
            assert!(
                !key_end_filter(end_table(), doc.as_bytes(), doc.len() - 3),
                "{doc}"
            );
        }
        // Short ordinary keys are matched whole: `id`, `name`, `type` do not pass.
        for key in ["id", "name", "type", "amount", "currency"] {
            let doc = format!("{{\"order\":1,\"{key}\":1}}");
            assert!(
                !key_end_filter(end_table(), doc.as_bytes(), doc.len() - 4),
                "{key}"
            );
        }
    }

    #[test]
    fn filter_agrees_with_full_check() {
        for k in [
            "cvc",
            "card[cvc]",
            "card.cvc]",
            "Security_Code",
            "x",
            "name",
            "exp_mm",
            "a.b",
            "CARD-CVC",
        ] {
            let doc = format!("{{\"{k}\":1}}");
            let q = 2 + k.len();
            let sensitive = classify_key(k.as_bytes()).is_some();
            assert_eq!(key_at_may_be_sensitive(doc.as_bytes(), q), sensitive, "{k}");
            let padded = format!("{{\"pad\":1,\"{k}\":1}}");
            if sensitive {
                assert!(
                    key_end_filter(end_table(), padded.as_bytes(), padded.len() - 4),
                    "{k}"
                );
            }
        }
    }
}
