//! Property tests: for any valid card number, the local vault's tokens can never be taken
//! for a card (by Luhn or by the scanner), aliases keep length and last4, and every token
//! decrypts back to its card.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

mod common;

use outscope_scanner::{Mode, contains_pan};
use outscope_tokenizer::{
    CardInput, KeyRing, LocalOptions, LocalVault, Pan, TokenFormat, luhn_valid,
};
use proptest::prelude::*;

/// Digits of the given length whose last digit makes the Luhn check pass.
fn valid_pan() -> impl Strategy<Value = String> {
    (12usize..=19)
        .prop_flat_map(|len| proptest::collection::vec(0u8..10, len - 1))
        .prop_map(|body| {
            let mut digits: Vec<u8> = body.iter().map(|d| b'0' + d).collect();
            digits.push(b'0');
            for check in 0..10 {
                let last = digits.len() - 1;
                digits[last] = b'0' + check;
                if luhn_valid(&digits) {
                    break;
                }
            }
            String::from_utf8(digits).unwrap()
        })
}

fn vault(format: TokenFormat) -> LocalVault {
    let keys = KeyRing::parse(&common::key_file(&["k1"])).unwrap();
    let mut options = LocalOptions::new(keys);
    options.format = format;
    LocalVault::new(options).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_tokens_are_prefixed_base62_and_never_a_card(number in valid_pan()) {
        let (vault, rt) = (vault(TokenFormat::Random), runtime());
        let card = CardInput::new(Pan::parse(number.as_bytes()).unwrap());
        let result = rt.block_on(vault.tokenize(card)).unwrap();
        let token = &result.token;
        prop_assert!(token.starts_with("tok_"));
        prop_assert_eq!(token.len(), 28);
        prop_assert!(token[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        prop_assert!(!contains_pan(token.as_bytes(), Mode::Raw));
        let back = rt.block_on(vault.detokenize(token)).unwrap();
        prop_assert_eq!(back.expose(), number.as_bytes());
    }

    #[test]
    fn aliases_keep_length_and_last4_fail_luhn_and_are_never_a_card(number in valid_pan()) {
        let (vault, rt) = (vault(TokenFormat::Alias), runtime());
        let card = CardInput::new(Pan::parse(number.as_bytes()).unwrap());
        let result = rt.block_on(vault.tokenize(card)).unwrap();
        let alias = &result.token;
        prop_assert_eq!(alias.len(), number.len());
        prop_assert!(alias.starts_with('0'));
        prop_assert_eq!(&alias[alias.len() - 4..], &number[number.len() - 4..]);
        prop_assert_eq!(&result.last4, &number[number.len() - 4..]);
        prop_assert!(!luhn_valid(alias.as_bytes()));
        prop_assert!(!contains_pan(alias.as_bytes(), Mode::Raw));
        prop_assert!(Pan::parse(alias.as_bytes()).is_err());
        let back = rt.block_on(vault.detokenize(alias)).unwrap();
        prop_assert_eq!(back.expose(), number.as_bytes());
    }
}
