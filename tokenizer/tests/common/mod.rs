//! Shared test support: test cards, key files, and a scripted stand-in for Stripe.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

pub mod mock_stripe;

use outscope_tokenizer::{CardInput, Cvc, HolderName, KeyRing, Pan};

/// Stripe's public test cards that localstripe accepts (it takes 16-digit numbers only).
pub const VISA: &str = "4242424242424242";
pub const MASTERCARD: &str = "5555555555554444";
pub const DISCOVER: &str = "6011111111111117";
pub const VISA_DEBIT: &str = "4000056655665556";
/// 15 digits: Stripe accepts it, localstripe does not.
pub const AMEX: &str = "378282246310005";
pub const CVC: &str = "987";

pub fn card(number: &str) -> CardInput {
    CardInput::new(Pan::parse(number.as_bytes()).unwrap())
        .with_expiry(12, 2034)
        .with_cvc(Cvc::parse(CVC.as_bytes()).unwrap())
}

pub fn named_card(number: &str, name: &str) -> CardInput {
    card(number).with_holder_name(HolderName::parse(name).unwrap())
}

/// A key file text with a fingerprint key and the given encryption key ids, each
/// line freshly generated.
pub fn key_file(ids: &[&str]) -> String {
    let mut lines = vec![KeyRing::generate_line("fingerprint").to_string()];
    lines.extend(ids.iter().map(|id| KeyRing::generate_line(id).to_string()));
    lines.join("\n") + "\n"
}

/// A unique Redis key prefix per test (shared Redis servers are not empty).
pub fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("t-{test}-{}-{nanos}", std::process::id())
}
