//! Stripe failing: 500, 429, slow, connection refused, dropped connections, bad keys,
//! unreadable answers, and the circuit breaker.
//!
//! A real server cannot be made to fail on demand, so these tests use a tiny scripted
//! HTTP server standing in for Stripe (`common::mock_stripe`); the happy path runs
//! against real localstripe in `stripe_localstripe.rs`. The breaker's clock is a
//! `ManualClock`: no test sleeps to wait out a cool-down.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::mock_stripe::{MockStripe, Reply, refused_url};
use common::{CVC, VISA, card};
use outscope_tokenizer::{
    CircuitOptions, CircuitState, Endpoint, ErrorKind, ManualClock, RejectCode, RetryOptions,
    SecretString, StripeOptions, StripeTokenizer, TokenizeError, UnavailableCause,
};

fn options(url: &str) -> StripeOptions {
    let mut options = StripeOptions::new(url, SecretString::new("sk_test_outscope".into()));
    options.timeout = Duration::from_millis(500);
    options.retry = RetryOptions {
        max_retries: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
    };
    options
}

fn tokenizer(url: &str) -> StripeTokenizer {
    StripeTokenizer::new(options(url)).unwrap()
}

#[tokio::test]
async fn a_500_is_retried_with_the_same_idempotency_key() {
    let stripe = MockStripe::start(vec![
        Reply::status(500, "{}"),
        Reply::status(503, "{}"),
        Reply::ok(),
    ])
    .await;
    let result = tokenizer(stripe.url()).tokenize(card(VISA)).await.unwrap();
    assert_eq!(result.token, "pm_mock123");
    let requests = stripe.requests();
    assert_eq!(requests.len(), 3);
    let key = requests[0].header("idempotency-key").unwrap();
    assert!(
        requests
            .iter()
            .all(|r| r.header("idempotency-key") == Some(key.clone()))
    );
    assert!(requests.iter().all(|r| r.path == "/v1/payment_methods"));
    assert_eq!(
        requests[0].header("authorization").as_deref(),
        Some("Bearer sk_test_outscope")
    );
    let body = &requests[0].body;
    assert!(body.starts_with("type=card&card%5Bnumber%5D=4242424242424242"));
    assert!(body.contains(&format!("card%5Bcvc%5D={CVC}")));
    assert!(body.contains("card%5Bexp_month%5D=12&card%5Bexp_year%5D=2034"));
}

#[tokio::test]
async fn each_tokenize_call_has_its_own_idempotency_key() {
    let stripe = MockStripe::start(vec![]).await;
    let tokenizer = tokenizer(stripe.url());
    tokenizer.tokenize(card(VISA)).await.unwrap();
    tokenizer.tokenize(card(VISA)).await.unwrap();
    let requests = stripe.requests();
    assert_ne!(
        requests[0].header("idempotency-key"),
        requests[1].header("idempotency-key")
    );
    assert_eq!(stripe.connections(), 1, "the connection is pooled");
}

#[tokio::test]
async fn a_500_that_stripe_says_not_to_retry_is_not_retried() {
    // Stripe replays a saved 500 for the same idempotency key and says so.
    let replayed = Reply::Status(
        500,
        vec![("Stripe-Should-Retry".to_owned(), "false".to_owned())],
        "{}".to_owned(),
    );
    let stripe = MockStripe::start(vec![replayed]).await;
    let err = tokenizer(stripe.url())
        .tokenize(card(VISA))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        TokenizeError::unavailable(UnavailableCause::ServerError(500))
    );
    assert_eq!(stripe.requests().len(), 1);
}

#[tokio::test]
async fn a_429_waits_for_retry_after_when_it_is_short() {
    let stripe = MockStripe::start(vec![Reply::rate_limited("0"), Reply::ok()]).await;
    let result = tokenizer(stripe.url()).tokenize(card(VISA)).await;
    assert!(result.is_ok());
    assert_eq!(stripe.requests().len(), 2);
}

#[tokio::test]
async fn a_429_asking_for_longer_than_max_delay_is_not_retried() {
    let stripe = MockStripe::start(vec![Reply::rate_limited("30")]).await;
    let err = tokenizer(stripe.url())
        .tokenize(card(VISA))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        TokenizeError::Unavailable {
            cause: UnavailableCause::RateLimited,
            retry_after: Some(Duration::from_secs(30)),
        }
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(stripe.requests().len(), 1);
}

#[tokio::test]
async fn retries_are_bounded_and_the_last_failure_is_reported() {
    let stripe = MockStripe::start(vec![Reply::status(502, "{}"); 5]).await;
    let err = tokenizer(stripe.url())
        .tokenize(card(VISA))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        TokenizeError::unavailable(UnavailableCause::ServerError(502))
    );
    assert_eq!(stripe.requests().len(), 3, "one attempt and two retries");
}

#[tokio::test]
async fn a_4xx_is_never_retried() {
    let declined = r#"{"error":{"code":"card_declined","message":"Your card 4242424242424242 was declined."}}"#;
    let stripe = MockStripe::start(vec![Reply::status(402, declined)]).await;
    let err = tokenizer(stripe.url())
        .tokenize(card(VISA))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        TokenizeError::Rejected {
            code: RejectCode::CardDeclined
        }
    );
    assert!(
        !format!("{err} {err:?}").contains(VISA),
        "free text is dropped"
    );
    assert_eq!(stripe.requests().len(), 1);
}

#[tokio::test]
async fn a_bad_key_is_misconfiguration_and_not_retried() {
    let stripe = MockStripe::start(vec![Reply::status(401, "{}")]).await;
    let err = tokenizer(stripe.url())
        .tokenize(card(VISA))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Misconfigured);
    assert_eq!(stripe.requests().len(), 1);
}

#[tokio::test]
async fn a_dropped_connection_is_retried_on_a_new_one() {
    let stripe = MockStripe::start(vec![Reply::Hang, Reply::ok()]).await;
    let result = tokenizer(stripe.url()).tokenize(card(VISA)).await;
    assert!(result.is_ok());
    let requests = stripe.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("idempotency-key"),
        requests[1].header("idempotency-key")
    );
}

#[tokio::test]
async fn a_slow_stripe_times_out_and_is_not_retried() {
    let slow = Reply::Slow(Duration::from_secs(3), Box::new(Reply::ok()));
    let stripe = MockStripe::start(vec![slow]).await;
    let mut options = options(stripe.url());
    options.timeout = Duration::from_millis(200);
    let started = Instant::now();
    let err = StripeTokenizer::new(options)
        .unwrap()
        .tokenize(card(VISA))
        .await
        .unwrap_err();
    assert_eq!(err, TokenizeError::Timeout(Duration::from_millis(200)));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(stripe.requests().len(), 1);
}

#[tokio::test]
async fn connection_refused_is_unavailable_after_the_retries() {
    let url = refused_url().await;
    let err = tokenizer(&url).tokenize(card(VISA)).await.unwrap_err();
    assert_eq!(err, TokenizeError::unavailable(UnavailableCause::Connect));
}

#[tokio::test]
async fn an_unreadable_answer_is_unavailable_with_our_own_message() {
    let echo = r#"{"id": 4242424242424242, "card": "987"#;
    let stripe = MockStripe::start(vec![Reply::status(200, echo)]).await;
    let err = tokenizer(stripe.url())
        .tokenize(card(VISA))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        TokenizeError::unavailable(UnavailableCause::BadResponse)
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("4242") && !shown.contains(CVC), "{shown}");
}

#[tokio::test]
async fn tokens_endpoint_posts_to_v1_tokens_without_type() {
    let token = r#"{"id":"tok_mock","card":{"brand":"MasterCard","last4":"4444","exp_month":1,"exp_year":2030}}"#;
    let stripe = MockStripe::start(vec![Reply::status(200, token)]).await;
    let mut options = options(stripe.url());
    options.endpoint = Endpoint::Tokens;
    let result = StripeTokenizer::new(options)
        .unwrap()
        .tokenize(common::named_card(common::MASTERCARD, "J. Doe"))
        .await
        .unwrap();
    assert_eq!(
        (result.token.as_str(), result.brand.as_str()),
        ("tok_mock", "mastercard")
    );
    let request = &stripe.requests()[0];
    assert_eq!(request.path, "/v1/tokens");
    assert!(request.body.starts_with("card%5Bnumber%5D="));
    assert!(request.body.ends_with("&card%5Bname%5D=J.+Doe"));
}

/// The breaker: three failed calls open it; while open nothing is sent; after the
/// cool-down one probe goes through and its success closes it.
#[tokio::test]
async fn the_circuit_opens_after_failures_and_a_half_open_probe_closes_it() {
    let stripe = MockStripe::start(vec![Reply::status(500, "{}"); 3]).await;
    let clock = ManualClock::new();
    let mut options = options(stripe.url());
    options.retry.max_retries = 0;
    options.circuit = CircuitOptions {
        failure_threshold: 3,
        cool_down: Duration::from_secs(30),
    };
    let tokenizer = StripeTokenizer::with_clock(options, Arc::new(clock.clone())).unwrap();

    for _ in 0..3 {
        let err = tokenizer.tokenize(card(VISA)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
    }
    assert_eq!(tokenizer.circuit_state(), CircuitState::Open);

    let err = tokenizer.tokenize(card(VISA)).await.unwrap_err();
    assert_eq!(
        err,
        TokenizeError::CircuitOpen {
            retry_after: Duration::from_secs(30)
        }
    );
    assert_eq!(stripe.requests().len(), 3, "nothing sent while open");

    clock.advance(Duration::from_secs(31));
    assert_eq!(tokenizer.circuit_state(), CircuitState::HalfOpen);
    let probe = tokenizer.tokenize(card(VISA)).await;
    assert!(probe.is_ok());
    assert_eq!(tokenizer.circuit_state(), CircuitState::Closed);
    assert_eq!(stripe.requests().len(), 4);
}

#[tokio::test]
async fn a_failed_probe_opens_the_circuit_again() {
    let url = refused_url().await;
    let clock = ManualClock::new();
    let mut options = options(&url);
    options.retry.max_retries = 0;
    options.circuit = CircuitOptions {
        failure_threshold: 1,
        cool_down: Duration::from_secs(5),
    };
    let tokenizer = StripeTokenizer::with_clock(options, Arc::new(clock.clone())).unwrap();
    assert_eq!(
        tokenizer.tokenize(card(VISA)).await.unwrap_err().kind(),
        ErrorKind::Unavailable
    );
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        tokenizer.tokenize(card(VISA)).await.unwrap_err().kind(),
        ErrorKind::Unavailable,
        "the probe is sent"
    );
    assert_eq!(tokenizer.circuit_state(), CircuitState::Open);
    assert_eq!(
        tokenizer.tokenize(card(VISA)).await.unwrap_err().kind(),
        ErrorKind::CircuitOpen
    );
}

#[tokio::test]
async fn rejected_cards_do_not_open_the_circuit() {
    let declined = r#"{"error":{"code":"card_declined"}}"#;
    let stripe = MockStripe::start(vec![Reply::status(402, declined); 5]).await;
    let mut options = options(stripe.url());
    options.circuit.failure_threshold = 2;
    let tokenizer = StripeTokenizer::new(options).unwrap();
    for _ in 0..5 {
        let err = tokenizer.tokenize(card(VISA)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Rejected);
    }
    assert_eq!(tokenizer.circuit_state(), CircuitState::Closed);
}

#[test]
fn plain_http_is_refused_for_anything_but_loopback() {
    let setup = |url: &str| StripeTokenizer::new(options(url)).map(|_| ());
    assert!(setup("https://api.stripe.com").is_ok());
    assert!(setup("http://127.0.0.1:1").is_ok());
    let err = setup("http://api.stripe.com").unwrap_err();
    assert_eq!(
        err.to_string(),
        "stripe api_base must use https (http only for a loopback address)"
    );
    let mut bad_key = options("https://api.stripe.com");
    bad_key.secret_key = SecretString::new("sk_test_has space".into());
    let err = StripeTokenizer::new(bad_key).unwrap_err();
    assert!(!err.to_string().contains("sk_test"));
}
