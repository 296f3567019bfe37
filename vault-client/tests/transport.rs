//! Retry rules, timeouts and TLS, against a scripted fake server: a real OpenBao cannot be
//! made to answer 503 or 429 on demand, nor to present an unknown certificate.
#![allow(clippy::unwrap_used, reason = "tests: a panic is a failed test")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::fake::{FakeVault, TestPki};
use support::fast_retries;
use vault_client::{Auth, Client, ClientBuilder, ManualClock, Renewal, SecretString};

const SECRET: &str = r#"{"data":{"data":{"api_key":"sk_test_123"},"metadata":{"version":1,"created_time":"2026-01-01T00:00:00Z"}}}"#;
const ROOT_LOOKUP: &str = r#"{"data":{"ttl":0,"renewable":false}}"#;
const SEALED: &str = r#"{"errors":["Vault is sealed"]}"#;

fn client(builder: ClientBuilder) -> Client {
    fast_retries(builder)
        .auth(Auth::token(SecretString::from("test-token")))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_sealed_server_is_retried_and_the_call_succeeds_once_it_answers() {
    let fake = FakeVault::plain(&[
        (200, ROOT_LOOKUP),
        (503, SEALED),
        (503, SEALED),
        (200, SECRET),
    ])
    .await;
    let vault = client(Client::builder(fake.http_addr()));

    let secret = vault.kv2("secret").read("app").await.unwrap();
    assert_eq!(secret.get("api_key").unwrap().expose(), "sk_test_123");
    assert_eq!(fake.hits(), 4, "lookup + two 503s + the answer");
}

#[tokio::test]
async fn rate_limited_calls_are_retried_until_the_attempts_run_out() {
    let fake = FakeVault::plain(&[(200, ROOT_LOOKUP), (429, r#"{"errors":["slow down"]}"#)]).await;
    let vault = client(Client::builder(fake.http_addr()));

    let err = vault.kv2("secret").read("app").await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("slow down"), "{err}");
    assert_eq!(fake.hits(), 1 + 3);
}

#[tokio::test]
async fn a_client_error_is_never_retried() {
    let fake =
        FakeVault::plain(&[(200, ROOT_LOOKUP), (400, r#"{"errors":["bad request"]}"#)]).await;
    let vault = client(Client::builder(fake.http_addr()));

    let err = vault.kv2("secret").read("app").await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_unavailable());
    assert_eq!(fake.hits(), 2, "lookup + exactly one attempt");
}

#[tokio::test]
async fn a_rotation_vault_may_have_performed_is_not_repeated() {
    let fake = FakeVault::plain(&[
        (200, ROOT_LOOKUP),
        (500, r#"{"errors":["internal error"]}"#),
    ])
    .await;
    let vault = client(Client::builder(fake.http_addr()));

    let err = vault.transit("transit").rotate("k").await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert_eq!(fake.hits(), 2, "a 500 may come after the rotation happened");
}

#[tokio::test]
async fn a_rotation_refused_for_load_is_repeated() {
    let fake = FakeVault::plain(&[(200, ROOT_LOOKUP), (503, SEALED), (204, "")]).await;
    let vault = client(Client::builder(fake.http_addr()));

    vault.transit("transit").rotate("k").await.unwrap();
    assert_eq!(fake.hits(), 3);
}

#[tokio::test]
async fn a_renewal_cut_short_by_the_max_ttl_is_followed_by_a_new_login() {
    let login = r#"{"auth":{"client_token":"t1","lease_duration":3600,"renewable":true}}"#;
    let capped = r#"{"auth":{"client_token":"t1","lease_duration":600,"renewable":true}}"#;
    let fake = FakeVault::plain(&[(200, login), (200, capped), (200, login)]).await;
    let scratch = support::Scratch::new();
    let auth = Auth::app_role(scratch.file("role", "r"), scratch.file("secret", "s"));
    let clock = Arc::new(ManualClock::new());
    let vault = fast_retries(Client::builder(fake.http_addr()))
        .auth(auth)
        .clock(clock.clone())
        .build()
        .unwrap();
    vault.login().await.unwrap();

    clock.advance(Duration::from_secs(41 * 60));
    let renewal = vault.renew_if_needed().await.unwrap();
    assert!(matches!(renewal, Renewal::LoggedIn { .. }), "{renewal:?}");
    assert_eq!(fake.hits(), 3, "login, the capped renewal, a new login");
}

#[tokio::test]
async fn a_server_certificate_from_the_configured_ca_is_trusted() {
    let pki = TestPki::new("outscope test CA");
    let fake = FakeVault::tls(&[(200, ROOT_LOOKUP), (200, SECRET)], pki.server.clone()).await;
    let vault = client(Client::builder(fake.https_addr("localhost")).ca_cert(&pki.ca_file));

    let secret = vault.kv2("secret").read("app").await.unwrap();
    assert_eq!(secret.get("api_key").unwrap().expose(), "sk_test_123");
}

#[tokio::test]
async fn the_ca_can_come_from_vault_cacert_and_the_name_from_vault_tls_server_name() {
    let pki = TestPki::new("outscope test CA");
    let fake = FakeVault::tls(&[(200, ROOT_LOOKUP), (200, SECRET)], pki.server.clone()).await;
    let env = [
        ("VAULT_ADDR", fake.https_addr("127.0.0.1")),
        ("VAULT_CACERT", pki.ca_file.display().to_string()),
        ("VAULT_TLS_SERVER_NAME", "localhost".to_owned()),
        ("VAULT_TOKEN", "test-token".to_owned()),
    ];
    let vault = ClientBuilder::from_env_with(|name| {
        env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    })
    .unwrap()
    .build()
    .unwrap();

    vault.kv2("secret").read("app").await.unwrap();
}

#[tokio::test]
async fn a_certificate_from_another_ca_fails_the_handshake_once_and_is_not_retried() {
    let trusted = TestPki::new("the CA ops configured");
    let impostor = TestPki::new("someone else's CA");
    let fake = FakeVault::tls(&[(200, ROOT_LOOKUP)], impostor.server.clone()).await;
    let vault = client(Client::builder(fake.https_addr("localhost")).ca_cert(&trusted.ca_file));

    let err = vault.kv2("secret").read("app").await.unwrap_err();
    assert!(err.is_tls(), "{err}");
    assert!(!err.is_unavailable());
    assert_eq!(fake.hits(), 0, "no request was ever sent");
}

#[tokio::test]
async fn a_server_that_never_answers_runs_into_the_request_timeout() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", silent.local_addr().unwrap());
    let vault = fast_retries(Client::builder(addr))
        .request_timeout(Duration::from_millis(100))
        .max_attempts(2)
        .auth(Auth::token(SecretString::from("t")))
        .build()
        .unwrap();

    let err = vault.kv2("secret").read("app").await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("no answer within"), "{err}");
    drop(silent);
}

#[tokio::test]
async fn every_call_carries_the_token_the_namespace_and_the_request_marker() {
    let fake = FakeVault::plain(&[(200, ROOT_LOOKUP), (200, SECRET)]).await;
    let vault = client(Client::builder(fake.http_addr()).namespace("payments/prod"));

    vault
        .kv2("secret")
        .read_version("app/stripe", 3)
        .await
        .unwrap();

    let seen = fake.seen();
    let targets: Vec<_> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.target.as_str()))
        .collect();
    assert_eq!(
        targets,
        [
            ("GET", "/v1/auth/token/lookup-self"),
            ("GET", "/v1/secret/data/app/stripe?version=3")
        ]
    );
    for request in &seen {
        assert_eq!(request.headers["x-vault-token"], "test-token");
        assert_eq!(request.headers["x-vault-namespace"], "payments/prod");
        assert_eq!(request.headers["x-vault-request"], "true");
    }
}

#[tokio::test]
async fn a_ca_directory_is_trusted_like_a_ca_file() {
    let pki = TestPki::new("outscope test CA");
    let fake = FakeVault::tls(&[(200, ROOT_LOOKUP), (200, SECRET)], pki.server.clone()).await;
    let ca_dir = pki.ca_file.parent().unwrap();
    let vault = client(Client::builder(fake.https_addr("localhost")).ca_path(ca_dir));

    vault.kv2("secret").read("app").await.unwrap();
}

#[tokio::test]
async fn twenty_concurrent_first_calls_log_in_once() {
    let fake = FakeVault::plain(&[(200, ROOT_LOOKUP), (200, SECRET)]).await;
    let vault = client(Client::builder(fake.http_addr()));

    let reads = (0..20).map(|_| {
        let vault = vault.clone();
        tokio::spawn(async move { vault.kv2("secret").read("app").await })
    });
    for read in reads.collect::<Vec<_>>() {
        read.await.unwrap().unwrap();
    }
    let lookups = fake
        .seen()
        .iter()
        .filter(|s| s.target.ends_with("lookup-self"))
        .count();
    assert_eq!((lookups, fake.hits()), (1, 21));
}
