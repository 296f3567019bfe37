//! Sensitive key names: CVV, expiry, cardholder, card number and track data fields, in
//! snake, camel, kebab, Pascal, upper and bracket forms (`card[cvc]`, `card.cvc`).
//!
//! A key is normalized by taking its last non-empty segment between `[`, `]` and `.`,
//! lowercasing ASCII letters and dropping `_`, `-` and spaces; the result must be one of
//! the names below, optionally prefixed by `card`, `cc`, `creditcard` or `payment`.

use std::sync::OnceLock;

use crate::finding::Field;

const CVV: &[&str] = &[
    "cvv", "cvc", "cvv2", "cvc2", "cid", "csc", "cvn", "cvd", "cav2", "cvp2", "securitycode",
    "cardsecuritycode", "cardcode", "cardverificationcode", "cardverificationvalue",
    "verificationvalue", "cvvcode", "cvccode", "cvvnumber", "cvcnumber", "securitynumber",
];
const EXPIRY: &[&str] = &[
    "exp", "expiry", "expiration", "expdate", "expirydate", "expirationdate", "expmonth",
    "expyear", "expirymonth", "expiryyear", "expirationmonth", "expirationyear", "validthru",
    "validthrough", "expmm", "expyy", "expyyyy", "expmmyy",
];
const CARDHOLDER: &[&str] =
    &["cardholder", "cardholdername", "holdername", "nameoncard", "cardowner", "holder"];
const CARD_NUMBER: &[&str] = &[
    "pan", "cardnumber", "ccnumber", "creditcardnumber", "cardno", "cardnum", "ccnum",
    "primaryaccountnumber", "accountnumber",
];
const TRACK: &[&str] = &["track1", "track2", "trackdata", "track1data", "track2data", "magstripe"];
/// Keys longer than this (in bytes) are never sensitive (and are not captured whole).
pub(crate) const MAX_KEY: usize = 256;
const PREFIXES: &[&str] = &["card", "cc", "creditcard", "payment"];

fn lookup(name: &[u8]) -> Option<Field> {
    let lists: [(&[&str], Field); 5] = [
        (CVV, Field::Cvv),
        (EXPIRY, Field::Expiry),
        (CARDHOLDER, Field::Cardholder),
        (CARD_NUMBER, Field::CardNumber),
        (TRACK, Field::TrackData),
    ];
    for (list, field) in lists {
        if list.iter().any(|n| n.as_bytes() == name) {
            return Some(field);
        }
    }
    None
}

/// Classifies a decoded key name.
pub(crate) fn classify_key(key: &[u8]) -> Option<Field> {
    if key.len() > MAX_KEY {
        return None;
    }
    let segment = key
        .split(|&b| matches!(b, b'[' | b']' | b'.'))
        .rfind(|s| s.iter().any(|&b| !matches!(b, b'_' | b'-' | b' ')))?;
    if segment.len() > 64 {
        return None;
    }
    let mut norm = [0u8; 64];
    let mut n = 0;
    for &b in segment {
        if matches!(b, b'_' | b'-' | b' ') {
            continue;
        }
        if let Some(slot) = norm.get_mut(n) {
            *slot = b.to_ascii_lowercase();
            n += 1;
        }
    }
    let name = norm.get(..n)?;
    if let Some(f) = lookup(name) {
        return Some(f);
    }
    PREFIXES.iter().find_map(|p| name.strip_prefix(p.as_bytes()).and_then(lookup))
}

/// The 64 Ki-bit filter of the last three normalized characters of every sensitive name.
fn suffix_table() -> &'static [u64; 1024] {
    static TABLE: OnceLock<[u64; 1024]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0u64; 1024];
        for list in [CVV, EXPIRY, CARDHOLDER, CARD_NUMBER, TRACK] {
            for name in list {
                let b = name.as_bytes();
                if let [.., x, y, z] = b {
                    let h = hash3(*x, *y, *z);
                    if let Some(w) = t.get_mut(h / 64) {
                        *w |= 1u64 << (h % 64);
                    }
                }
            }
        }
        t
    })
}

#[inline(always)]
fn hash3(a: u8, b: u8, c: u8) -> usize {
    let v = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
    (v.wrapping_mul(0x9E37_79B1) >> 16) as usize
}

/// Fast conservative test on the key whose closing quote is at `q`: false only when
/// [`classify_key`] would say `None` (for a key without escapes).
pub(crate) fn key_at_may_be_sensitive(hay: &[u8], q: usize) -> bool {
    // The last three normalized characters, walking backwards from the closing quote.
    let mut i = q;
    let mut got = [0u8; 3];
    let mut n = 0usize;
    let mut in_trailer = true;
    while i > 0 && n < 3 {
        i -= 1;
        let Some(&b) = hay.get(i) else { return true };
        match b {
            b'"' => break,
            b'_' | b'-' | b' ' => continue,
            b'[' | b']' | b'.' => {
                if in_trailer {
                    continue;
                }
                break;
            }
            _ => {
                in_trailer = false;
                if let Some(slot) = got.get_mut(2 - n) {
                    *slot = b.to_ascii_lowercase();
                }
                n += 1;
            }
        }
    }
    if n < 3 {
        // Fewer than three characters in the last segment: no name is that short, but
        // let the full check decide anyway (it is cheap for such keys).
        return key_full_check(hay, q);
    }
    let h = hash3(got[0], got[1], got[2]);
    let hit = suffix_table().get(h / 64).is_some_and(|w| w & (1u64 << (h % 64)) != 0);
    hit && key_full_check(hay, q)
}

fn key_full_check(hay: &[u8], q: usize) -> bool {
    let before = hay.get(..q).unwrap_or(&[]);
    let Some(open) = memchr::memrchr(b'"', before) else { return false };
    classify_key(before.get(open + 1..).unwrap_or(&[])).is_some()
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
            "cvc", "CVV", "cvv2", "card_cvc", "cardCvc", "card-cvc", "CardCvc", "CARD_CVC",
            "card[cvc]", "payment_method[card][cvc]", "card.cvc", "securityCode",
            "security_code", "security-code", "SecurityCode", "card_code", "cid", "csc",
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
        for k in ["name", "id", "order_id", "code", "zip_code", "date", "month", "cvv.x", ""] {
            assert_eq!(classify_key(k.as_bytes()), None, "{k}");
        }
    }

    #[test]
    fn filter_agrees_with_full_check() {
        for k in ["cvc", "card[cvc]", "card.cvc]", "Security_Code", "x", "name", "exp_mm", "a.b"] {
            let doc = format!("{{\"{k}\":1}}");
            let q = 2 + k.len();
            assert_eq!(
                key_at_may_be_sensitive(doc.as_bytes(), q),
                classify_key(k.as_bytes()).is_some(),
                "{k}"
            );
        }
    }
}
