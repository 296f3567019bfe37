//! Stories of the local vault on a real Redis: shared by instances, rotated keys, only
//! ciphertext at rest, and failing closed when Redis dies.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

mod common;

use std::time::Duration;

use common::{CVC, MASTERCARD, VISA, card, key_file, unique_prefix};
use outscope_tokenizer::{
    ErrorKind, KeyRing, LocalOptions, LocalVault, RedisStoreOptions, SecretString, StoreOptions,
    TokenFormat, TokenizeError, UnavailableCause,
};

fn redis_vault(url: &str, prefix: &str, keys: &str) -> LocalVault {
    let mut store = RedisStoreOptions::new(url, prefix);
    store.timeout = Duration::from_millis(300);
    let options = LocalOptions {
        keys: KeyRing::parse(keys).unwrap(),
        format: TokenFormat::Random,
        store: StoreOptions::Redis(store),
        envelope: None,
    };
    LocalVault::new(options).unwrap()
}

/// Every key and value under `prefix`, via a plain connection.
async fn dump(url: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    let mut out = Vec::new();
    for key in keys {
        let value: Vec<u8> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        out.push((key, value));
    }
    out
}

#[tokio::test]
async fn two_instances_sharing_redis_give_the_same_token_and_read_each_others() {
    let redis = outscope_testkit::shared_redis();
    let prefix = unique_prefix("shared");
    let keys = key_file(&["k1"]);
    let east = redis_vault(redis.url(), &prefix, &keys);
    let west = redis_vault(redis.url(), &prefix, &keys);

    let from_east = east.tokenize(card(VISA)).await.unwrap();
    let from_west = west.tokenize(card(VISA)).await.unwrap();
    assert_eq!(from_east.token, from_west.token);
    let pan = west.detokenize(&from_east.token).await.unwrap();
    assert_eq!(pan.expose(), VISA.as_bytes());
}

#[tokio::test]
async fn concurrent_first_sightings_of_a_card_agree_on_one_token() {
    let redis = outscope_testkit::shared_redis();
    let prefix = unique_prefix("race");
    let keys = key_file(&["k1"]);
    let vaults: Vec<LocalVault> = (0..4)
        .map(|_| redis_vault(redis.url(), &prefix, &keys))
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for vault in vaults.iter().cycle().take(16) {
        let vault = vault.clone();
        set.spawn(async move { vault.tokenize(card(MASTERCARD)).await });
    }
    let mut tokens = Vec::new();
    while let Some(done) = set.join_next().await {
        tokens.push(done.unwrap().unwrap().token);
    }
    assert_eq!(tokens.len(), 16);
    assert!(tokens.iter().all(|t| t == &tokens[0]), "{tokens:?}");
    let stored = dump(redis.url(), &prefix).await;
    assert_eq!(
        stored.len(),
        2,
        "one record and one index entry: losers cleaned up"
    );
}

#[tokio::test]
async fn redis_holds_only_ciphertext_under_the_prefix() {
    let redis = outscope_testkit::shared_redis();
    let prefix = unique_prefix("atrest");
    let vault = redis_vault(redis.url(), &prefix, &key_file(&["k1"]));
    let token = vault.tokenize(card(VISA)).await.unwrap().token;
    let stored = dump(redis.url(), &prefix).await;
    assert_eq!(stored.len(), 2);
    assert!(
        stored
            .iter()
            .any(|(k, _)| k == &format!("{prefix}:tok:{token}"))
    );
    assert!(
        stored
            .iter()
            .any(|(k, _)| k.starts_with(&format!("{prefix}:fp:")))
    );
    for (key, value) in &stored {
        let text = String::from_utf8_lossy(value);
        for secret in [VISA, &VISA[6..], CVC] {
            assert!(!key.contains(secret), "{key}");
            assert!(
                !value.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "value of {key}: {text}"
            );
        }
    }
}

#[tokio::test]
async fn after_a_key_rotation_tokens_made_with_the_old_key_still_decrypt() {
    let redis = outscope_testkit::shared_redis();
    let prefix = unique_prefix("rotate");
    let old_file = key_file(&["2026a"]);
    let (fingerprint_line, old_line) = old_file.trim_end().split_once('\n').unwrap();
    let new_line = KeyRing::generate_line("2026b").to_string();
    let rotated = format!("{fingerprint_line}\n{new_line}\n{old_line}\n");

    let before = redis_vault(redis.url(), &prefix, &old_file);
    let old_token = before.tokenize(card(VISA)).await.unwrap().token;

    let after = redis_vault(redis.url(), &prefix, &rotated);
    assert_eq!(
        after.detokenize(&old_token).await.unwrap().expose(),
        VISA.as_bytes()
    );
    assert_eq!(
        after.tokenize(card(VISA)).await.unwrap().token,
        old_token,
        "same fingerprint key: the card keeps its token"
    );
    let new_token = after.tokenize(card(MASTERCARD)).await.unwrap().token;

    // Dropping the old key: its tokens no longer decrypt (misconfiguration, not a guess).
    let new_only = format!("{fingerprint_line}\n{new_line}\n");
    let pruned = redis_vault(redis.url(), &prefix, &new_only);
    assert_eq!(
        pruned.detokenize(&old_token).await.err().map(|e| e.kind()),
        Some(ErrorKind::Misconfigured)
    );
    assert!(pruned.detokenize(&new_token).await.is_ok());
}

#[tokio::test]
async fn redis_killed_means_unavailable_and_never_a_forgetful_fallback() {
    let mut redis = outscope_testkit::RedisServer::start();
    let prefix = unique_prefix("killed");
    let vault = redis_vault(redis.url(), &prefix, &key_file(&["k1"]));
    let token = vault.tokenize(card(VISA)).await.unwrap().token;

    assert!(vault.ping().await.is_ok());
    redis.stop();
    assert_eq!(
        vault.ping().await,
        Err(TokenizeError::unavailable(UnavailableCause::Store)),
        "readiness sees it"
    );
    let err = vault.tokenize(card(VISA)).await.unwrap_err();
    assert_eq!(err, TokenizeError::unavailable(UnavailableCause::Store));
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    let err = vault.detokenize(&token).await.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Unavailable);

    // Back (empty: no persistence): the vault reconnects and works again.
    redis.restart();
    let mut recovered = None;
    for _ in 0..50 {
        if let Ok(result) = vault.tokenize(card(VISA)).await {
            recovered = Some(result);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered.is_some(), "vault works again once Redis is back");
}

#[tokio::test]
async fn a_vault_starts_while_redis_is_down_and_fails_closed() {
    let url = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("redis://{}", listener.local_addr().unwrap())
    };
    let vault = redis_vault(&url, "down", &key_file(&["k1"]));
    let err = vault.tokenize(card(VISA)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[test]
fn bad_prefixes_and_urls_are_refused_without_echoing_them() {
    let keys = KeyRing::parse(&key_file(&["k1"])).unwrap();
    let options = LocalOptions {
        keys,
        format: TokenFormat::Random,
        store: StoreOptions::Redis(RedisStoreOptions::new("redis://127.0.0.1:1", "bad prefix!")),
        envelope: None,
    };
    assert_eq!(
        LocalVault::new(options).unwrap_err().to_string(),
        "redis key prefix must be 1 to 64 characters of [A-Za-z0-9_.-]"
    );
    let keys = KeyRing::parse(&key_file(&["k1"])).unwrap();
    let options = LocalOptions {
        keys,
        format: TokenFormat::Random,
        store: StoreOptions::Redis(RedisStoreOptions::new("nope://user:hunter2@x", "ok")),
        envelope: None,
    };
    let err = LocalVault::new(options).unwrap_err();
    assert!(!format!("{err} {err:?}").contains("hunter2"));
}

#[tokio::test]
async fn a_password_protected_redis_is_reached_with_the_configured_credentials() {
    let redis = outscope_testkit::RedisServer::start();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("s3cret-pw")
        .query_async(&mut admin)
        .await
        .unwrap();
    let keys = key_file(&["k1"]);
    let vault_with = |password: Option<&str>| {
        let mut store = RedisStoreOptions::new(redis.url(), "auth");
        store.timeout = Duration::from_millis(300);
        store.password = password.map(|p| SecretString::new(p.to_owned()));
        LocalVault::new(LocalOptions {
            keys: KeyRing::parse(&keys).unwrap(),
            format: TokenFormat::Random,
            store: StoreOptions::Redis(store),
            envelope: None,
        })
        .unwrap()
    };
    assert!(
        vault_with(Some("s3cret-pw"))
            .tokenize(card(VISA))
            .await
            .is_ok()
    );
    for wrong in [None, Some("guess")] {
        let err = vault_with(wrong).tokenize(card(VISA)).await.unwrap_err();
        assert_eq!(err, TokenizeError::unavailable(UnavailableCause::Store));
    }
    let shown = format!(
        "{:?}",
        StoreOptions::Redis({
            let mut o = RedisStoreOptions::new(redis.url(), "auth");
            o.password = Some(SecretString::new("s3cret-pw".into()));
            o
        })
    );
    assert!(!shown.contains("s3cret"), "{shown}");
}
