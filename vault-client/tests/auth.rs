//! Authentication and token lifecycle stories against a real OpenBao dev server. Time is a
//! manual clock: renewal is driven by moving it, never by sleeping.
#![allow(clippy::unwrap_used, reason = "tests: a panic is a failed test")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use outscope_testkit::shared_openbao;
use serde_json::json;
use support::{
    Scratch, app_role, child_token, fast_retries, read_policy, revoke, root_client, unique,
};
use vault_client::{Auth, Client, ClientBuilder, ManualClock, Renewal, SecretString};

const MINUTE: Duration = Duration::from_secs(60);

/// Root writes a secret under a fresh prefix; returns the prefix and the secret's path.
async fn seeded_secret(root: &Client) -> (String, String) {
    let prefix = unique("app");
    let path = format!("{prefix}/stripe");
    root.kv2("secret")
        .write(&path, [("api_key", "sk_test_123")])
        .await
        .unwrap();
    (prefix, path)
}

#[tokio::test]
async fn the_proxy_logs_in_with_approle_files_and_reads_what_its_policy_allows() {
    let bao = shared_openbao();
    let root = root_client(bao.addr(), bao.root_token());
    let (prefix, path) = seeded_secret(&root).await;
    let policy = read_policy(&root, &prefix).await;
    let role = app_role(&root, &policy, "1h", "4h").await;

    let proxy = fast_retries(Client::builder(bao.addr()))
        .auth(role.auth())
        .build()
        .unwrap();
    let info = proxy.login().await.unwrap();
    assert_eq!(info.ttl, Some(60 * MINUTE));
    assert!(info.renewable);

    let secret = proxy.kv2("secret").read(&path).await.unwrap();
    assert_eq!(secret.get("api_key").unwrap().expose(), "sk_test_123");

    let elsewhere = format!("{}/x", unique("other"));
    root.kv2("secret")
        .write(&elsewhere, [("k", "v")])
        .await
        .unwrap();
    let before = proxy.token_info();
    let err = proxy.kv2("secret").read(&elsewhere).await.unwrap_err();
    assert!(err.is_permission_denied(), "outside its policy: {err}");
    assert_eq!(
        proxy.token_info(),
        before,
        "a valid token denied by its policy is kept: logging in again would not help"
    );
}

#[tokio::test]
async fn a_wrong_secret_id_fails_the_login_without_echoing_it() {
    let bao = shared_openbao();
    let root = root_client(bao.addr(), bao.root_token());
    let policy = read_policy(&root, "nothing").await;
    let role = app_role(&root, &policy, "1h", "4h").await;
    std::fs::write(&role.secret_id_file, "not-the-secret-id").unwrap();

    let proxy = fast_retries(Client::builder(bao.addr()))
        .auth(role.auth())
        .build()
        .unwrap();
    let err = proxy.login().await.unwrap_err();
    assert!(!err.is_unavailable(), "{err}");
    assert!(!err.to_string().contains("not-the-secret-id"), "{err}");
}

#[tokio::test]
async fn the_token_is_renewed_once_two_thirds_of_its_ttl_have_passed() {
    let bao = shared_openbao();
    let root = root_client(bao.addr(), bao.root_token());
    let policy = read_policy(&root, "renew").await;
    let role = app_role(&root, &policy, "1h", "24h").await;
    let clock = Arc::new(ManualClock::new());
    let proxy = fast_retries(Client::builder(bao.addr()))
        .auth(role.auth())
        .clock(clock.clone())
        .build()
        .unwrap();

    let first = proxy.renew_if_needed().await.unwrap();
    let Renewal::LoggedIn { ttl, renew_at } = first else {
        panic!("the first call logs in: {first:?}")
    };
    assert_eq!(ttl, Some(60 * MINUTE));
    assert_eq!(renew_at, Some(clock_now(&clock) + 40 * MINUTE));

    clock.advance(39 * MINUTE);
    let early = proxy.renew_if_needed().await.unwrap();
    assert!(matches!(early, Renewal::NotDue { .. }), "{early:?}");

    clock.advance(2 * MINUTE);
    let renewed = proxy.renew_if_needed().await.unwrap();
    let Renewal::Renewed { ttl, renew_at } = renewed else {
        panic!("due at 40 minutes: {renewed:?}")
    };
    assert_eq!(ttl, 60 * MINUTE);
    assert_eq!(renew_at, clock_now(&clock) + 40 * MINUTE);
    assert_eq!(renewed.next_check(), Some(renew_at));
}

#[tokio::test]
async fn a_refused_renewal_is_answered_by_logging_in_again() {
    let bao = shared_openbao();
    let root = root_client(bao.addr(), bao.root_token());
    let (prefix, path) = seeded_secret(&root).await;
    let policy = read_policy(&root, &prefix).await;
    let role = app_role(&root, &policy, "1h", "24h").await;
    let clock = Arc::new(ManualClock::new());
    let proxy = fast_retries(Client::builder(bao.addr()))
        .auth(role.auth())
        .clock(clock.clone())
        .build()
        .unwrap();
    proxy.login().await.unwrap();

    // An operator revokes every token the AppRole mount issued.
    let revoke_all = format!("sys/leases/revoke-prefix/auth/{}", role.mount);
    root.write_raw(&revoke_all, &json!({})).await.unwrap();

    clock.advance(45 * MINUTE);
    let renewal = proxy.renew_if_needed().await.unwrap();
    assert!(matches!(renewal, Renewal::LoggedIn { .. }), "{renewal:?}");
    let secret = proxy.kv2("secret").read(&path).await.unwrap();
    assert_eq!(secret.get("api_key").unwrap().expose(), "sk_test_123");
}

#[tokio::test]
async fn a_call_with_a_revoked_approle_token_logs_in_again_and_succeeds() {
    let bao = shared_openbao();
    let root = root_client(bao.addr(), bao.root_token());
    let (prefix, path) = seeded_secret(&root).await;
    let policy = read_policy(&root, &prefix).await;
    let role = app_role(&root, &policy, "1h", "24h").await;
    let proxy = fast_retries(Client::builder(bao.addr()))
        .auth(role.auth())
        .build()
        .unwrap();
    proxy.kv2("secret").read(&path).await.unwrap();

    let revoke_all = format!("sys/leases/revoke-prefix/auth/{}", role.mount);
    root.write_raw(&revoke_all, &json!({})).await.unwrap();

    let secret = proxy.kv2("secret").read(&path).await.unwrap();
    assert_eq!(secret.get("api_key").unwrap().expose(), "sk_test_123");
}

#[tokio::test]
async fn a_revoked_fixed_token_is_permission_denied_and_the_error_does_not_show_it() {
    let bao = shared_openbao();
    let root = root_client(bao.addr(), bao.root_token());
    let (prefix, path) = seeded_secret(&root).await;
    let policy = read_policy(&root, &prefix).await;
    let token = child_token(&root, &[&policy], "1h", true).await;
    let proxy = fast_retries(Client::builder(bao.addr()))
        .auth(Auth::token(SecretString::from(token.as_str())))
        .build()
        .unwrap();
    proxy.kv2("secret").read(&path).await.unwrap();

    revoke(&root, &token).await;

    let err = proxy.kv2("secret").read(&path).await.unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    assert_eq!(err.status(), Some(403));
    assert!(!err.to_string().contains(&token), "{err}");
    assert!(!format!("{err:?} {proxy:?}").contains(&token));
}

#[tokio::test]
async fn a_fixed_renewable_token_from_the_environment_is_looked_up_and_renewed() {
    let bao = shared_openbao();
    let root = root_client(bao.addr(), bao.root_token());
    let token = child_token(&root, &["default"], "30m", true).await;
    let env = [
        ("VAULT_ADDR", bao.addr().to_owned()),
        ("VAULT_TOKEN", token),
    ];
    let clock = Arc::new(ManualClock::new());
    let proxy = ClientBuilder::from_env_with(|name| {
        env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    })
    .unwrap()
    .clock(clock.clone())
    .build()
    .unwrap();

    let info = proxy.login().await.unwrap();
    let ttl = info.ttl.unwrap();
    assert!(ttl <= 30 * MINUTE && ttl > 29 * MINUTE, "{ttl:?}");

    clock.advance(21 * MINUTE);
    let renewal = proxy.renew_if_needed().await.unwrap();
    assert!(matches!(renewal, Renewal::Renewed { .. }), "{renewal:?}");
}

#[tokio::test]
async fn a_fixed_token_that_cannot_be_renewed_reports_when_it_expires() {
    let bao = shared_openbao();
    let root = root_client(bao.addr(), bao.root_token());
    let token = child_token(&root, &["default"], "30m", false).await;
    let clock = Arc::new(ManualClock::new());
    let proxy = fast_retries(Client::builder(bao.addr()))
        .auth(Auth::token(SecretString::from(token.as_str())))
        .clock(clock.clone())
        .build()
        .unwrap();
    let info = proxy.login().await.unwrap();
    assert!(!info.renewable);

    clock.advance(25 * MINUTE);
    let renewal = proxy.renew_if_needed().await.unwrap();
    assert_eq!(
        renewal,
        Renewal::Expiring {
            expires_at: info.expires_at.unwrap()
        }
    );
}

#[tokio::test]
async fn the_root_token_never_needs_renewal() {
    let bao = shared_openbao();
    let root = root_client(bao.addr(), bao.root_token());
    let first = root.renew_if_needed().await.unwrap();
    assert_eq!(
        first,
        Renewal::LoggedIn {
            ttl: None,
            renew_at: None
        }
    );
    assert_eq!(root.renew_if_needed().await.unwrap(), Renewal::NeverExpires);
}

#[tokio::test]
async fn a_rotated_token_file_is_read_again_when_vault_refuses_the_old_token() {
    let bao = shared_openbao();
    let root = root_client(bao.addr(), bao.root_token());
    let (prefix, path) = seeded_secret(&root).await;
    let policy = read_policy(&root, &prefix).await;
    let old = child_token(&root, &[&policy], "1h", true).await;
    let scratch = Scratch::new();
    let file = scratch.file("token", &format!("{old}\n"));
    let proxy = fast_retries(Client::builder(bao.addr()))
        .auth(Auth::token_file(&file))
        .build()
        .unwrap();
    proxy.kv2("secret").read(&path).await.unwrap();

    // An agent rotates the token: writes a new one, revokes the old one.
    let new = child_token(&root, &[&policy], "1h", true).await;
    std::fs::write(&file, &new).unwrap();
    revoke(&root, &old).await;

    let secret = proxy.kv2("secret").read(&path).await.unwrap();
    assert_eq!(secret.get("api_key").unwrap().expose(), "sk_test_123");
}

#[tokio::test]
async fn revoking_its_own_token_on_shutdown_makes_the_token_useless() {
    let bao = shared_openbao();
    let root = root_client(bao.addr(), bao.root_token());
    let token = child_token(&root, &["default"], "1h", true).await;
    let proxy = fast_retries(Client::builder(bao.addr()))
        .auth(Auth::token(SecretString::from(token.as_str())))
        .build()
        .unwrap();
    proxy.login().await.unwrap();

    proxy.revoke_self().await.unwrap();
    assert!(proxy.token_info().is_none());
    let err = proxy.login().await.unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
}

fn clock_now(clock: &ManualClock) -> std::time::Instant {
    use vault_client::Clock;
    clock.now()
}
