//! KV v2 stories against a real OpenBao dev server (its `secret/` mount is KV v2).
#![allow(clippy::unwrap_used, reason = "tests: a panic is a failed test")]

mod support;

use std::collections::BTreeMap;

use outscope_testkit::shared_openbao;
use support::{root_client, unique};

#[tokio::test]
async fn an_operator_writes_two_versions_and_the_proxy_reads_either_with_its_metadata() {
    let bao = shared_openbao();
    let vault = root_client(bao.addr(), bao.root_token());
    let kv = vault.kv2("secret");
    let path = format!("{}/stripe", unique("kv"));

    let first = kv.write(&path, [("api_key", "sk_test_one")]).await.unwrap();
    let second = kv
        .write(&path, [("api_key", "sk_test_two"), ("account", "acct_1")])
        .await
        .unwrap();
    assert_eq!((first.version, second.version), (1, 2));

    let latest = kv.read(&path).await.unwrap();
    assert_eq!(latest.get("api_key").unwrap().expose(), "sk_test_two");
    assert_eq!(latest.get("account").unwrap().expose(), "acct_1");
    assert_eq!(latest.metadata().version, 2);
    assert!(!latest.metadata().created_time.is_empty());
    assert!(latest.metadata().deletion_time.is_empty());

    let older = kv.read_version(&path, 1).await.unwrap();
    assert_eq!(older.get("api_key").unwrap().expose(), "sk_test_one");
    assert_eq!(older.keys().collect::<Vec<_>>(), ["api_key"]);
    assert_eq!(older.metadata().version, 1);

    let shown = format!("{latest:?}");
    assert!(
        shown.contains("api_key") && !shown.contains("sk_test"),
        "{shown}"
    );
}

#[tokio::test]
async fn custom_metadata_comes_back_with_the_secret() {
    let bao = shared_openbao();
    let vault = root_client(bao.addr(), bao.root_token());
    let kv = vault.kv2("secret");
    let path = format!("{}/tls", unique("kv"));
    kv.write(&path, [("key_pem", "-----BEGIN PRIVATE KEY-----")])
        .await
        .unwrap();

    let labels = BTreeMap::from([("owner".to_owned(), "payments".to_owned())]);
    kv.set_custom_metadata(&path, &labels).await.unwrap();

    let secret = kv.read(&path).await.unwrap();
    assert_eq!(secret.metadata().custom_metadata, labels);
}

#[tokio::test]
async fn a_compare_and_set_write_against_a_stale_version_is_rejected_not_retried() {
    let bao = shared_openbao();
    let vault = root_client(bao.addr(), bao.root_token());
    let kv = vault.kv2("secret");
    let path = format!("{}/cas", unique("kv"));
    kv.write_cas(&path, [("v", "1")], 0).await.unwrap();

    let err = kv.write_cas(&path, [("v", "2")], 0).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(!err.is_unavailable() && !err.is_not_found());
    assert!(!err.to_string().contains("\"2\""), "{err}");
    assert_eq!(kv.read(&path).await.unwrap().metadata().version, 1);
}

#[tokio::test]
async fn reading_a_path_nobody_wrote_is_not_found() {
    let bao = shared_openbao();
    let vault = root_client(bao.addr(), bao.root_token());
    let kv = vault.kv2("secret");

    let err = kv
        .read(&format!("{}/missing", unique("kv")))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.status(), Some(404));
    assert!(!err.is_permission_denied() && !err.is_unavailable());
}

#[tokio::test]
async fn reading_a_version_that_does_not_exist_yet_is_not_found() {
    let bao = shared_openbao();
    let vault = root_client(bao.addr(), bao.root_token());
    let kv = vault.kv2("secret");
    let path = format!("{}/one-version", unique("kv"));
    kv.write(&path, [("k", "v")]).await.unwrap();

    let err = kv.read_version(&path, 7).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
