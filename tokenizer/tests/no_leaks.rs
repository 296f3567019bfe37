//! No error message and no `{:?}` of a public type holds the PAN, the CVC, the API key
//! or vault key material, whatever fails.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

mod common;

use std::time::Duration;

use common::mock_stripe::{MockStripe, Reply, refused_url};
use common::{CVC, VISA, card, key_file, named_card};
use outscope_tokenizer::{
    CardInput, CircuitOptions, Cvc, KeyRing, LocalOptions, LocalVault, Pan, RedisStoreOptions,
    RetryOptions, SecretString, StoreOptions, StripeOptions, StripeTokenizer, TokenFormat,
    TokenizeError, Tokenizer,
};

const API_KEY: &str = "sk_test_SuperSecret51";
const HOLDER: &str = "Ada Lovelace";

/// Panics if `shown` holds card data, the API key or a key file's material.
fn assert_clean(shown: &str, key_material: &[&str]) {
    for secret in [VISA, &VISA[..6], &VISA[4..], CVC, API_KEY, HOLDER] {
        assert!(!shown.contains(secret), "{secret:?} leaked into {shown:?}");
    }
    for material in key_material {
        assert!(
            !shown.contains(material),
            "key material leaked into {shown:?}"
        );
    }
}

fn show(err: &TokenizeError) -> String {
    format!(
        "{err} | {err:?} | {:?} | {:?}",
        err.kind(),
        err.retry_after()
    )
}

fn stripe(url: &str) -> StripeTokenizer {
    let mut options = StripeOptions::new(url, SecretString::new(API_KEY.into()));
    options.timeout = Duration::from_millis(200);
    options.retry = RetryOptions {
        max_retries: 0,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
    };
    options.circuit = CircuitOptions {
        failure_threshold: 1,
        cool_down: Duration::from_secs(60),
    };
    StripeTokenizer::new(options).unwrap()
}

#[tokio::test]
async fn stripe_failures_never_show_card_data_or_the_key() {
    // Answers that echo the card back in every place a careless client would print.
    let echo = format!(
        r#"{{"error":{{"code":"{VISA}","message":"card {VISA} cvc {CVC} key {API_KEY}","param":"{CVC}"}}}}"#
    );
    let replies = vec![
        Reply::status(400, &echo),
        Reply::status(402, &echo),
        Reply::status(401, &echo),
        Reply::status(500, &echo),
        Reply::status(200, &echo),
        Reply::status(
            200,
            &format!(r#"{{"id":"{VISA}","card":{{"last4":"{CVC}"}}}}"#),
        ),
        Reply::Status(429, vec![("Retry-After".into(), VISA.into())], echo.clone()),
        Reply::Hang,
        Reply::Slow(Duration::from_secs(2), Box::new(Reply::ok())),
    ];
    let count = replies.len();
    let server = MockStripe::start(replies).await;
    let mut shown = Vec::new();
    for _ in 0..count {
        // A fresh tokenizer each time, so the breaker never hides a failure.
        let result = stripe(server.url())
            .tokenize(named_card(VISA, HOLDER))
            .await;
        shown.push(match result {
            Ok(ok) => format!("{ok:?}"),
            Err(err) => show(&err),
        });
    }
    let refused = stripe(&refused_url().await);
    shown.push(show(&refused.tokenize(card(VISA)).await.unwrap_err()));
    shown.push(show(&refused.tokenize(card(VISA)).await.unwrap_err()));
    for text in &shown {
        assert_clean(text, &[]);
    }
    assert!(shown.iter().any(|s| s.contains("CircuitOpen")));
    assert!(shown.iter().any(|s| s.contains("Timeout")));
}

#[tokio::test]
async fn vault_failures_and_debug_output_never_show_card_data_or_keys() {
    let keys = key_file(&["k1"]);
    let material: Vec<&str> = keys
        .lines()
        .filter_map(|l| l.split_once(':').map(|(_, m)| m))
        .collect();
    let ring = KeyRing::parse(&keys).unwrap();
    let mut shown = vec![format!("{ring:?}")];
    let vault = LocalVault::new(LocalOptions::new(ring)).unwrap();
    let result = vault.tokenize(named_card(VISA, HOLDER)).await.unwrap();
    shown.push(format!("{result:?}"));
    shown.push(serde_json::to_string(&result).unwrap());
    shown.push(format!("{vault:?} {:?}", Tokenizer::Local(vault.clone())));
    shown.push(show(&vault.detokenize(VISA).await.err().unwrap()));

    let mut redis = RedisStoreOptions::new("redis://:hunter2@127.0.0.1:1", "p");
    redis.timeout = Duration::from_millis(100);
    let options = LocalOptions {
        keys: KeyRing::parse(&keys).unwrap(),
        format: TokenFormat::Alias,
        store: StoreOptions::Redis(redis),
        envelope: None,
    };
    shown.push(format!("{options:?}"));
    let down = LocalVault::new(options).unwrap();
    shown.push(show(&down.tokenize(card(VISA)).await.unwrap_err()));

    // Key file errors name the line, never its content.
    let broken = keys.replace("k1:", "k 1:");
    shown.push(KeyRing::parse(&broken).unwrap_err().to_string());
    for text in &shown {
        assert_clean(text, &material);
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn card_input_and_option_debug_output_is_redacted() {
    let input = named_card(VISA, HOLDER);
    let options = StripeOptions::new("https://api.stripe.com", SecretString::new(API_KEY.into()));
    let shown = [
        format!("{input:?}"),
        format!("{options:?}"),
        format!("{:?}", StripeTokenizer::new(options).unwrap()),
        format!("{:?}", Pan::parse(b"4242424242424241").err()),
        format!("{:?}", Cvc::parse(b"98a").err()),
        format!("{:?}", CardInput::new(Pan::parse(VISA.as_bytes()).unwrap())),
    ];
    for text in &shown {
        assert_clean(text, &[]);
    }
    assert!(shown[0].contains("<redacted>"));
    let err: TokenizeError = Pan::parse(b"4242424242424241").err().unwrap().into();
    assert_clean(&show(&err), &[]);
}
