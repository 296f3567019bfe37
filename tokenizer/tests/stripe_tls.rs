//! The Stripe client over TLS, as it talks to api.stripe.com: a scripted stand-in for
//! Stripe (`common::mock_stripe`) serving a certificate from a throw-away CA, since
//! localstripe speaks plain HTTP only.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

mod common;

use std::sync::Arc;

use common::mock_stripe::{MockStripe, Reply};
use common::{VISA, card};
use outscope_tokenizer::{
    ErrorKind, RetryOptions, SecretString, StripeOptions, StripeTokenizer, TokenizeError,
    UnavailableCause,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA certificate and a server config for `localhost` signed by it.
fn throwaway_pki() -> (CertificateDer<'static>, Arc<rustls::ServerConfig>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "outscope test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.clone().self_signed(&ca_key).unwrap();

    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    (ca_cert.der().clone(), Arc::new(config))
}

fn options(url: &str, roots: Vec<CertificateDer<'static>>) -> StripeOptions {
    let mut options = StripeOptions::new(url, SecretString::new("sk_test_tls".into()));
    options.extra_roots = roots;
    options.retry = RetryOptions {
        max_retries: 0,
        ..RetryOptions::default()
    };
    options
}

#[tokio::test]
async fn a_card_is_tokenized_over_tls_to_a_trusted_server() {
    let (ca, config) = throwaway_pki();
    let stripe = MockStripe::start_tls(vec![Reply::ok()], config).await;
    assert!(stripe.url().starts_with("https://localhost:"));
    let tokenizer = StripeTokenizer::new(options(stripe.url(), vec![ca])).unwrap();
    let result = tokenizer.tokenize(card(VISA)).await.unwrap();
    assert_eq!(result.token, "pm_mock123");
    let request = &stripe.requests()[0];
    assert!(request.body.contains("4242424242424242"));
}

#[tokio::test]
async fn an_untrusted_certificate_means_nothing_is_sent() {
    let (_, config) = throwaway_pki();
    let stripe = MockStripe::start_tls(vec![Reply::ok()], config).await;
    let tokenizer = StripeTokenizer::new(options(stripe.url(), vec![])).unwrap();
    let err = tokenizer.tokenize(card(VISA)).await.unwrap_err();
    assert_eq!(err, TokenizeError::unavailable(UnavailableCause::Connect));
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(
        stripe.requests().is_empty(),
        "no request without a trusted handshake"
    );
}
