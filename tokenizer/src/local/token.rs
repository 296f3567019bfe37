//! Local vault token shapes. Neither can be mistaken for a card number.

use rand::Rng;

use crate::card::luhn_sum;

/// How the local vault's tokens look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenFormat {
    /// `tok_` and 24 random base62 characters (about 143 bits).
    #[default]
    Random,
    /// Opt-in: as many digits as the card, starting with `0` (no card network issues
    /// numbers starting with 0), ending with the card's last four, random in between,
    /// and failing the Luhn check. For backends that insist on a number-shaped field.
    Alias,
}

pub(crate) const RANDOM_PREFIX: &str = "tok_";
const RANDOM_LEN: usize = 24;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new token for a card of `len` digits ending in `last4`.
pub(crate) fn generate(format: TokenFormat, len: usize, last4: &[u8]) -> String {
    match format {
        TokenFormat::Random => random_token(),
        TokenFormat::Alias => alias_token(len, last4),
    }
}

/// Random base62; drawn again in the (about 1 in 10^9) case of 12 digits in a row, so a
/// token never holds a digit run long enough to be a card number.
fn random_token() -> String {
    let mut rng = rand::rng();
    loop {
        let mut token = String::with_capacity(RANDOM_PREFIX.len() + RANDOM_LEN);
        token.push_str(RANDOM_PREFIX);
        for _ in 0..RANDOM_LEN {
            token.push(char::from(BASE62[rng.random_range(0..BASE62.len())]));
        }
        if longest_digit_run(token.as_bytes()) < 12 {
            return token;
        }
    }
}

fn longest_digit_run(bytes: &[u8]) -> usize {
    bytes
        .split(|b| !b.is_ascii_digit())
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0)
}

/// `0`, random digits, `last4`; one middle digit bumped if the whole passes Luhn.
fn alias_token(len: usize, last4: &[u8]) -> String {
    let mut rng = rand::rng();
    let mut digits = Vec::with_capacity(len);
    digits.push(b'0');
    for _ in 1..len.saturating_sub(4) {
        digits.push(b'0' + rng.random_range(0..10u8));
    }
    digits.extend_from_slice(last4);
    if luhn_sum(&digits).is_multiple_of(10) {
        // Changing one digit changes the Luhn sum by a non-zero amount mod 10 (doubling
        // is a permutation of 0..=9), so the result fails the check.
        let i = len.saturating_sub(5).max(1);
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (*d - b'0' + 1) % 10;
        }
    }
    String::from_utf8_lossy(&digits).into_owned()
}

/// Whether `token` could be one of ours (checked before touching the store).
pub(crate) fn plausible(token: &str) -> bool {
    let random = token.strip_prefix(RANDOM_PREFIX).is_some_and(|rest| {
        rest.len() == RANDOM_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    let alias = (12..=19).contains(&token.len())
        && token.starts_with('0')
        && token.bytes().all(|b| b.is_ascii_digit());
    random || alias
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::luhn_valid;

    #[test]
    fn aliases_keep_length_and_last4_and_fail_luhn() {
        for len in 12..=19 {
            for _ in 0..200 {
                let alias = alias_token(len, b"4242");
                assert_eq!(alias.len(), len);
                assert!(alias.starts_with('0'));
                assert!(alias.ends_with("4242"));
                assert!(!luhn_valid(alias.as_bytes()), "{alias}");
                assert!(plausible(&alias));
            }
        }
    }

    #[test]
    fn random_tokens_are_prefixed_base62() {
        let token = random_token();
        assert_eq!(token.len(), 28);
        assert!(plausible(&token));
        assert!(!plausible("4242424242424242"));
        assert!(!plausible("tok_short"));
    }

    #[test]
    fn digit_runs_are_measured() {
        assert_eq!(longest_digit_run(b"tok_ab123456789012c1"), 12);
        assert_eq!(longest_digit_run(b"tok_abc"), 0);
    }
}
