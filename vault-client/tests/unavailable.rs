//! What the proxy sees when OpenBao goes away: a private dev server, stopped mid-test.
#![allow(clippy::unwrap_used, reason = "tests: a panic is a failed test")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use outscope_testkit::OpenBao;
use support::{app_role, fast_retries, read_policy, root_client, unique};
use vault_client::{Client, ManualClock};

#[tokio::test]
async fn a_stopped_server_is_unavailable_after_bounded_retries_and_the_token_is_kept() {
    let mut bao = OpenBao::start();
    let root = root_client(bao.addr(), bao.root_token());
    let path = format!("{}/stripe", unique("down"));
    root.kv2("secret")
        .write(&path, [("api_key", "sk_test_123")])
        .await
        .unwrap();
    let policy = read_policy(&root, path.split('/').next().unwrap()).await;
    let role = app_role(&root, &policy, "1h", "4h").await;
    let clock = Arc::new(ManualClock::new());
    let proxy = fast_retries(Client::builder(bao.addr()))
        .auth(role.auth())
        .clock(clock.clone())
        .build()
        .unwrap();
    proxy.kv2("secret").read(&path).await.unwrap();
    let token_before = proxy.token_info().unwrap();

    bao.stop();

    let err = proxy.kv2("secret").read(&path).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
    assert!(!err.is_not_found() && !err.is_permission_denied());

    clock.advance(Duration::from_secs(45 * 60));
    let err = proxy.renew_if_needed().await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert_eq!(
        proxy.token_info(),
        Some(token_before),
        "an outage does not drop the token: it stays usable until it expires"
    );
}

#[tokio::test]
async fn an_address_nobody_listens_on_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = root_client(&format!("http://127.0.0.1:{port}"), "unused");
    let err = client.kv2("secret").read("anything").await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(!err.to_string().contains("unused"), "{err}");
}
