//! Stories against a real localstripe (Stripe's test-mode API, faked): the proxy turns
//! Stripe's public test cards into PaymentMethods and Tokens.
//!
//! localstripe's own limits, which these tests respect: it takes only 16-digit numbers
//! and 3-digit CVCs, calls every card a Visa, and has no idempotency keys.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

mod common;

use common::{DISCOVER, MASTERCARD, VISA, VISA_DEBIT, card, named_card};
use outscope_tokenizer::{
    CardInput, Endpoint, ErrorKind, Pan, RejectCode, SecretString, StripeOptions, StripeTokenizer,
    TokenizeError, Tokenizer,
};

fn stripe(url: &str, endpoint: Endpoint) -> Tokenizer {
    let mut options = StripeOptions::new(url, SecretString::new("sk_test_outscope".into()));
    options.endpoint = endpoint;
    Tokenizer::Stripe(StripeTokenizer::new(options).unwrap())
}

#[tokio::test]
async fn test_cards_become_payment_methods_with_last4_brand_and_expiry() {
    let server = outscope_testkit::shared_stripe();
    let tokenizer = stripe(server.url(), Endpoint::PaymentMethods);
    for number in [VISA, MASTERCARD, DISCOVER, VISA_DEBIT] {
        let result = tokenizer.tokenize(card(number)).await.unwrap();
        assert!(result.token.starts_with("pm_"), "{}", result.token);
        assert_eq!(result.last4, number[12..]);
        assert_eq!(result.brand, "visa", "localstripe calls every card a Visa");
        assert_eq!((result.exp_month, result.exp_year), (Some(12), Some(2034)));
        assert!(result.fingerprint.is_some());
    }
}

#[tokio::test]
async fn test_cards_become_tokens_and_the_brand_is_normalized() {
    let server = outscope_testkit::shared_stripe();
    let tokenizer = stripe(server.url(), Endpoint::Tokens);
    let result = tokenizer
        .tokenize(named_card(MASTERCARD, "Zoë Ångström"))
        .await
        .unwrap();
    assert!(result.token.starts_with("tok_"), "{}", result.token);
    assert_eq!(result.last4, "4444");
    // Tokens say "Visa"; we give PaymentMethod-style lowercase names either way.
    assert_eq!(result.brand, "visa");
    assert_eq!((result.exp_month, result.exp_year), (Some(12), Some(2034)));
}

#[tokio::test]
async fn the_cardholder_name_goes_into_the_payment_methods_billing_details() {
    let server = outscope_testkit::shared_stripe();
    let tokenizer = stripe(server.url(), Endpoint::PaymentMethods);
    let result = tokenizer
        .tokenize(named_card(DISCOVER, "Jean-Luc Picard"))
        .await
        .unwrap();
    assert!(result.token.starts_with("pm_"));
    assert_eq!(result.last4, "1117");
}

#[tokio::test]
async fn the_same_card_gets_the_same_stripe_fingerprint() {
    let server = outscope_testkit::shared_stripe();
    let tokenizer = stripe(server.url(), Endpoint::PaymentMethods);
    let first = tokenizer.tokenize(card(VISA)).await.unwrap();
    let second = tokenizer.tokenize(card(VISA)).await.unwrap();
    assert_ne!(
        first.token, second.token,
        "each call creates a PaymentMethod"
    );
    assert_eq!(first.fingerprint, second.fingerprint);
}

#[tokio::test]
async fn two_digit_years_are_sent_as_four() {
    let server = outscope_testkit::shared_stripe();
    let tokenizer = stripe(server.url(), Endpoint::PaymentMethods);
    let mut input = card(VISA);
    input.exp_year = Some(31);
    let result = tokenizer.tokenize(input).await.unwrap();
    assert_eq!(result.exp_year, Some(2031));
}

#[tokio::test]
async fn a_card_stripe_refuses_is_rejected_with_a_safe_code() {
    let server = outscope_testkit::shared_stripe();
    let tokenizer = stripe(server.url(), Endpoint::PaymentMethods);
    // localstripe refuses a card without expiry or CVC (400, no code).
    let bare = CardInput::new(Pan::parse(VISA.as_bytes()).unwrap());
    let err = tokenizer.tokenize(bare).await.unwrap_err();
    assert_eq!(
        err,
        TokenizeError::Rejected {
            code: RejectCode::InvalidRequest
        }
    );
    assert_eq!(err.kind(), ErrorKind::Rejected);
    // An expiry year localstripe finds too old comes back with Stripe's code.
    let mut old = card(VISA);
    old.exp_year = Some(2018);
    let err = tokenizer.tokenize(old).await.unwrap_err();
    assert_eq!(
        err,
        TokenizeError::Rejected {
            code: RejectCode::InvalidExpiryYear
        }
    );
    assert!(!err.to_string().contains(VISA));
}

#[tokio::test]
async fn an_amex_is_sent_but_localstripe_only_takes_16_digits() {
    let server = outscope_testkit::shared_stripe();
    let tokenizer = stripe(server.url(), Endpoint::Tokens);
    let err = tokenizer.tokenize(card(common::AMEX)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
}

#[tokio::test]
async fn an_invalid_expiry_month_is_refused_before_anything_is_sent() {
    let refused = common::mock_stripe::refused_url().await;
    let tokenizer = stripe(&refused, Endpoint::PaymentMethods);
    let mut input = card(VISA);
    input.exp_month = Some(13);
    let err = tokenizer.tokenize(input).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidCard);
}
