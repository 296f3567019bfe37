//! Transit stories against a real OpenBao dev server: encryption, envelope data keys and
//! key rotation as the local vault uses them.
#![allow(clippy::unwrap_used, reason = "tests: a panic is a failed test")]

mod support;

use outscope_testkit::shared_openbao;
use support::{enable, root_client, unique};
use vault_client::{Client, Transit};

/// A transit engine at a fresh mount with one `aes256-gcm96` key; returns it and the key.
async fn transit_with_key(vault: &Client) -> (Transit, String) {
    let mount = enable(vault, "sys/mounts", "transit").await;
    let transit = vault.transit(&mount);
    let key = unique("local-vault");
    transit.create_key(&key, "aes256-gcm96").await.unwrap();
    (transit, key)
}

#[tokio::test]
async fn a_plaintext_survives_an_encrypt_decrypt_round_trip() {
    let bao = shared_openbao();
    let vault = root_client(bao.addr(), bao.root_token());
    let (transit, key) = transit_with_key(&vault).await;

    let plaintext = b"4242424242424242 is not stored in the clear";
    let sealed = transit.encrypt(&key, plaintext).await.unwrap();
    assert!(
        sealed.ciphertext.starts_with("vault:v1:"),
        "{}",
        sealed.ciphertext
    );
    assert_eq!(sealed.key_version, 1);

    let opened = transit.decrypt(&key, &sealed.ciphertext).await.unwrap();
    assert_eq!(opened.expose(), plaintext);
    assert!(!format!("{opened:?}").contains("4242"));
}

#[tokio::test]
async fn a_data_key_comes_in_plaintext_and_wrapped_and_the_wrapped_one_unwraps_to_it() {
    let bao = shared_openbao();
    let vault = root_client(bao.addr(), bao.root_token());
    let (transit, key) = transit_with_key(&vault).await;

    let data_key = transit.data_key(&key, 256).await.unwrap();
    assert_eq!(data_key.plaintext.len(), 32);
    assert_eq!(data_key.ciphertext.key_version, 1);

    let unwrapped = transit
        .decrypt(&key, &data_key.ciphertext.ciphertext)
        .await
        .unwrap();
    assert_eq!(unwrapped, data_key.plaintext);

    let err = transit.data_key(&key, 100).await.unwrap_err();
    assert!(err.is_config(), "{err}");
}

#[tokio::test]
async fn after_a_rotation_old_ciphertexts_still_open_and_can_be_rewrapped_to_the_new_version() {
    let bao = shared_openbao();
    let vault = root_client(bao.addr(), bao.root_token());
    let (transit, key) = transit_with_key(&vault).await;

    let info = transit.key_info(&key).await.unwrap();
    assert_eq!((info.latest_version, info.min_decryption_version), (1, 1));
    assert_eq!(info.key_type, "aes256-gcm96");
    assert_eq!(info.name, key);
    let old = transit.encrypt(&key, b"card vault entry").await.unwrap();

    transit.rotate(&key).await.unwrap();
    let info = transit.key_info(&key).await.unwrap();
    assert_eq!((info.latest_version, info.min_decryption_version), (2, 1));

    let new = transit.encrypt(&key, b"card vault entry").await.unwrap();
    assert_eq!(new.key_version, 2);
    assert_eq!(
        transit
            .decrypt(&key, &old.ciphertext)
            .await
            .unwrap()
            .expose(),
        b"card vault entry"
    );

    let rewrapped = transit.rewrap(&key, &old.ciphertext).await.unwrap();
    assert_eq!(rewrapped.key_version, 2);
    assert!(rewrapped.ciphertext.starts_with("vault:v2:"));

    transit.set_min_decryption_version(&key, 2).await.unwrap();
    let info = transit.key_info(&key).await.unwrap();
    assert_eq!(info.min_decryption_version, 2);
    let err = transit.decrypt(&key, &old.ciphertext).await.unwrap_err();
    assert!(
        !err.is_unavailable(),
        "a refused old version is not an outage: {err}"
    );
    assert_eq!(
        transit
            .decrypt(&key, &rewrapped.ciphertext)
            .await
            .unwrap()
            .expose(),
        b"card vault entry"
    );
}

#[tokio::test]
async fn a_key_that_does_not_exist_is_not_found() {
    let bao = shared_openbao();
    let vault = root_client(bao.addr(), bao.root_token());
    let mount = enable(&vault, "sys/mounts", "transit").await;

    let err = vault.transit(&mount).key_info("nope").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
