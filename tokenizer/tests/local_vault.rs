//! Stories of the local vault with its in-memory store: tokens, same card same token,
//! key rotation, alias tokens.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

mod common;

use common::{AMEX, MASTERCARD, VISA, card, key_file};
use outscope_scanner::{Mode, contains_pan};
use outscope_tokenizer::{
    CardInput, ErrorKind, KeyRing, LocalOptions, LocalVault, Pan, RejectCode, TokenFormat,
    TokenizeError, Tokenizer, luhn_valid,
};

fn vault(keys: &str, format: TokenFormat) -> LocalVault {
    let mut options = LocalOptions::new(KeyRing::parse(keys).unwrap());
    options.format = format;
    LocalVault::new(options).unwrap()
}

#[tokio::test]
async fn a_card_goes_in_and_comes_back_out() {
    let vault = vault(&key_file(&["k1"]), TokenFormat::Random);
    let result = vault.tokenize(card(VISA)).await.unwrap();
    assert!(result.token.starts_with("tok_"));
    assert_eq!(result.token.len(), 28);
    assert_eq!(result.last4, "4242");
    assert_eq!(result.brand, "visa");
    assert_eq!((result.exp_month, result.exp_year), (Some(12), Some(2034)));
    let pan = vault.detokenize(&result.token).await.unwrap();
    assert_eq!(pan.expose(), VISA.as_bytes());
}

#[tokio::test]
async fn the_brand_comes_from_the_iin_table() {
    let vault = vault(&key_file(&["k1"]), TokenFormat::Random);
    let amex = vault.tokenize(card(AMEX)).await.unwrap();
    assert_eq!((amex.brand.as_str(), amex.last4.as_str()), ("amex", "0005"));
    let mc = vault.tokenize(card(MASTERCARD)).await.unwrap();
    assert_eq!(mc.brand, "mastercard");
}

#[tokio::test]
async fn the_same_card_gets_the_same_token_and_fingerprint() {
    let vault = vault(&key_file(&["k1"]), TokenFormat::Random);
    let first = vault.tokenize(card(VISA)).await.unwrap();
    // Expiry and CVC do not matter: same number, same token.
    let bare = CardInput::new(Pan::parse(VISA.as_bytes()).unwrap());
    let second = vault.tokenize(bare).await.unwrap();
    assert_eq!(first.token, second.token);
    assert_eq!(first.fingerprint, second.fingerprint);
    assert_eq!(second.exp_month, None, "the expiry is never stored");
    let other = vault.tokenize(card(MASTERCARD)).await.unwrap();
    assert_ne!(other.token, first.token);
    assert_ne!(other.fingerprint, first.fingerprint);
}

#[tokio::test]
async fn the_same_card_in_a_vault_with_another_fingerprint_key_gets_another_fingerprint() {
    let a = vault(&key_file(&["k1"]), TokenFormat::Random);
    let b = vault(&key_file(&["k1"]), TokenFormat::Random);
    let fa = a.tokenize(card(VISA)).await.unwrap().fingerprint;
    let fb = b.tokenize(card(VISA)).await.unwrap().fingerprint;
    assert_ne!(fa, fb, "the fingerprint is keyed, never a plain hash");
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_rejected() {
    let vault = vault(&key_file(&["k1"]), TokenFormat::Random);
    for token in ["tok_AAAAAAAAAAAAAAAAAAAAAAAA", "nonsense", VISA, ""] {
        let err = vault.detokenize(token).await.err().unwrap();
        assert_eq!(
            err,
            TokenizeError::Rejected {
                code: RejectCode::UnknownToken
            }
        );
    }
}

#[tokio::test]
async fn alias_tokens_keep_length_and_last4_and_are_never_a_pan() {
    let vault = vault(&key_file(&["k1"]), TokenFormat::Alias);
    for number in [
        VISA,
        MASTERCARD,
        AMEX,
        "6011111111111117",
        "3056930009020004",
    ] {
        let result = vault.tokenize(card(number)).await.unwrap();
        let alias = &result.token;
        assert_eq!(alias.len(), number.len());
        assert!(alias.ends_with(&number[number.len() - 4..]));
        assert!(!luhn_valid(alias.as_bytes()), "an alias fails Luhn");
        assert!(
            !contains_pan(alias.as_bytes(), Mode::Raw),
            "the scanner does not see a card in {alias}"
        );
        assert_ne!(alias, number);
        let back = vault.detokenize(alias).await.unwrap();
        assert_eq!(back.expose(), number.as_bytes());
    }
}

#[tokio::test]
async fn the_vault_is_a_tokenizer_the_proxy_can_hold() {
    let tokenizer = Tokenizer::Local(vault(&key_file(&["k1"]), TokenFormat::Random));
    let clone = tokenizer.clone();
    let a = tokenizer.tokenize(card(VISA)).await.unwrap();
    let b = clone.tokenize(card(VISA)).await.unwrap();
    assert_eq!(a.token, b.token, "clones share the store");
    assert_eq!(tokenizer.name(), "local");
}

#[tokio::test]
async fn invalid_expiry_is_refused() {
    let vault = vault(&key_file(&["k1"]), TokenFormat::Random);
    let mut input = card(VISA);
    input.exp_month = Some(0);
    let err = vault.tokenize(input).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidCard);
}

#[test]
fn a_key_file_is_read_from_disk() {
    let dir = std::env::temp_dir().join(common::unique_prefix("keyfile"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("vault.keys");
    std::fs::write(&path, format!("# vault keys\n\n{}", key_file(&["a", "b"]))).unwrap();
    let ring = KeyRing::from_file(&path).unwrap();
    assert_eq!(ring.key_ids(), ["a", "b"]);
    assert!(format!("{ring:?}").contains("\"a\""));
    std::fs::remove_dir_all(&dir).unwrap();
    let missing = KeyRing::from_file(&path).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "vault key file: cannot read the file (NotFound)"
    );
}
