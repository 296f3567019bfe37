//! Envelope encryption stories on a real OpenBao (transit) and a real Redis: data keys
//! fetched and used, rotation, rewrap to the latest transit key version (resumable and
//! idempotent), and what still works when OpenBao is gone.
#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{MASTERCARD, VISA, VISA_DEBIT, card, key_file, unique_prefix};
use outscope_tokenizer::{
    DataKeys, KeyError, KeyRing, LocalOptions, LocalVault, RedisStoreOptions, RewrapError,
    RewrapPage, StoreOptions, TokenFormat, TokenizeError, UnavailableCause,
};
use vault_client::{Auth, Backoff, Client, SecretString};

/// A root client that gives up fast (the outage story must not wait on retries).
fn client(addr: &str, token: &str) -> Client {
    Client::builder(addr)
        .auth(Auth::token(SecretString::from(token)))
        .backoff(Backoff::new(Duration::from_millis(1), Duration::from_millis(5), 2.0).unwrap())
        .max_attempts(2)
        .connect_timeout(Duration::from_secs(1))
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A transit engine at a fresh mount with one key; returns `(mount, key)`.
async fn transit(root: &Client) -> (String, String) {
    let mount = unique_prefix("transit");
    root.write_raw(
        &format!("sys/mounts/{mount}"),
        &serde_json::json!({ "type": "transit" }),
    )
    .await
    .unwrap();
    root.transit(&mount)
        .create_key("outscope-local", "aes256-gcm96")
        .await
        .unwrap();
    (mount, "outscope-local".to_owned())
}

struct Setup {
    redis_url: String,
    prefix: String,
    fingerprint: String,
    /// Static keys (`k1`), for records made before envelope encryption.
    keys: String,
}

impl Setup {
    fn new(redis_url: &str, test: &str) -> Setup {
        let keys = key_file(&["k1"]);
        let fingerprint = keys
            .lines()
            .find_map(|l| l.strip_prefix("fingerprint:"))
            .unwrap()
            .to_owned();
        let keys = keys
            .lines()
            .filter(|l| !l.starts_with("fingerprint:"))
            .collect::<Vec<_>>()
            .join("\n");
        Setup {
            redis_url: redis_url.to_owned(),
            prefix: unique_prefix(test),
            fingerprint,
            keys,
        }
    }

    /// A vault instance; `envelope` seals new records with its data keys.
    fn vault(&self, envelope: Option<Arc<DataKeys>>, with_static: bool) -> LocalVault {
        let keys = if with_static {
            KeyRing::parse_separate(&self.keys, &self.fingerprint).unwrap()
        } else {
            KeyRing::fingerprint_only(&self.fingerprint).unwrap()
        };
        let mut store = RedisStoreOptions::new(&self.redis_url, &self.prefix);
        store.timeout = Duration::from_secs(2);
        LocalVault::new(LocalOptions {
            keys,
            format: TokenFormat::Random,
            store: StoreOptions::Redis(store),
            envelope,
        })
        .unwrap()
    }

    async fn connection(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.redis_url.as_str()).unwrap();
        client.get_multiplexed_async_connection().await.unwrap()
    }

    async fn record(&self, token: &str) -> Vec<u8> {
        redis::cmd("GET")
            .arg(format!("{}:tok:{token}", self.prefix))
            .query_async(&mut self.connection().await)
            .await
            .unwrap()
    }

    async fn set_record(&self, token: &str, record: &[u8]) {
        let () = redis::cmd("SET")
            .arg(format!("{}:tok:{token}", self.prefix))
            .arg(record)
            .query_async(&mut self.connection().await)
            .await
            .unwrap();
    }

    async fn records(&self) -> Vec<Vec<u8>> {
        let client = redis::Client::open(self.redis_url.as_str()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:tok:*", self.prefix))
            .query_async(&mut c)
            .await
            .unwrap();
        let mut out = Vec::new();
        for key in keys {
            out.push(
                redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut c)
                    .await
                    .unwrap(),
            );
        }
        out
    }
}

/// Walks every page (`count` keys each) from `cursor`, stopping after `max_pages`.
async fn rewrap(vault: &LocalVault, mut cursor: u64, latest: u64, max_pages: usize) -> RewrapPage {
    let mut total = RewrapPage::default();
    for _ in 0..max_pages {
        let page = vault.rewrap_page(cursor, 2, latest, false).await.unwrap();
        total.scanned += page.scanned;
        total.stale += page.stale;
        total.rewrapped += page.rewrapped;
        total.changed += page.changed;
        total.failed += page.failed;
        cursor = page.cursor;
        total.cursor = cursor;
        if cursor == 0 {
            break;
        }
    }
    total
}

/// `n` distinct Luhn-valid 16-digit card numbers.
fn numbers(n: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let body = format!("400000{i:09}");
            let sum: u32 = body
                .bytes()
                .rev()
                .enumerate()
                .map(|(pos, b)| {
                    let d = u32::from(b - b'0');
                    if pos % 2 == 0 {
                        let d = d * 2;
                        if d > 9 { d - 9 } else { d }
                    } else {
                        d
                    }
                })
                .sum();
            format!("{body}{}", (10 - sum % 10) % 10)
        })
        .collect()
}

/// A v2 record with its wrapped data key replaced by `wrapped` (the key id kept).
fn with_wrapped(record: &[u8], wrapped: &str) -> Vec<u8> {
    let id_len = usize::from(record[1]);
    let at = 2 + id_len;
    let old_len = usize::from(u16::from_be_bytes([record[at], record[at + 1]]));
    let mut out = record[..at].to_vec();
    out.extend_from_slice(&u16::try_from(wrapped.len()).unwrap().to_be_bytes());
    out.extend_from_slice(wrapped.as_bytes());
    out.extend_from_slice(&record[at + 2 + old_len..]);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn new_cards_are_sealed_with_a_transit_data_key_carried_wrapped_in_the_record() {
    let (bao, redis) = (
        outscope_testkit::shared_openbao(),
        outscope_testkit::shared_redis(),
    );
    let root = client(bao.addr(), bao.root_token());
    let (mount, key) = transit(&root).await;
    let setup = Setup::new(redis.url(), "envelope");
    let keys = Arc::new(DataKeys::new(&root, &mount, &key));
    let vault = setup.vault(Some(keys.clone()), false);

    let none = vault.tokenize(card(VISA)).await.unwrap_err();
    assert_eq!(
        none,
        TokenizeError::unavailable(UnavailableCause::NoDataKey)
    );
    assert!(!vault.can_seal());

    let current = keys.rotate().await.unwrap();
    assert_eq!(current.version, 1);
    assert!(current.id.starts_with("dk_"));
    let token = vault.tokenize(card(VISA)).await.unwrap().token;
    assert_eq!(
        vault.detokenize(&token).await.unwrap().expose(),
        VISA.as_bytes()
    );

    let records = setup.records().await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record[0], 2, "record v2 (envelope)");
    assert!(contains(record, current.id.as_bytes()));
    assert!(
        contains(record, b"vault:v1:"),
        "the wrapped data key is stored"
    );
    assert!(!contains(record, VISA.as_bytes()));
    assert!(!contains(record, &VISA.as_bytes()[6..]));
    let stats = keys.stats();
    assert_eq!((stats.rotations_ok, stats.rotations_failed), (1, 0));
    assert!(!format!("{keys:?} {vault:?}").contains("vault:v1:"));
}

#[tokio::test]
async fn after_a_data_key_rotation_old_tokens_still_open_here_and_in_a_fresh_instance() {
    let (bao, redis) = (
        outscope_testkit::shared_openbao(),
        outscope_testkit::shared_redis(),
    );
    let root = client(bao.addr(), bao.root_token());
    let (mount, key) = transit(&root).await;
    let setup = Setup::new(redis.url(), "rotation");
    let keys = Arc::new(DataKeys::new(&root, &mount, &key));
    let vault = setup.vault(Some(keys.clone()), false);

    let first = keys.rotate().await.unwrap();
    let old = vault.tokenize(card(VISA)).await.unwrap().token;
    let second = keys.rotate().await.unwrap();
    assert_ne!(first.id, second.id);
    let new = vault.tokenize(card(MASTERCARD)).await.unwrap().token;
    assert_eq!(
        vault.tokenize(card(VISA)).await.unwrap().token,
        old,
        "same card, same token"
    );
    assert_eq!(
        vault.detokenize(&old).await.unwrap().expose(),
        VISA.as_bytes()
    );
    assert_eq!(
        keys.stats().unwraps_ok,
        0,
        "the previous key is still in memory"
    );

    // Another instance (another process) has neither key: it unwraps each once.
    let other_keys = Arc::new(DataKeys::new(&root, &mount, &key));
    let other = setup.vault(Some(other_keys.clone()), false);
    for _ in 0..2 {
        assert_eq!(
            other.detokenize(&old).await.unwrap().expose(),
            VISA.as_bytes()
        );
        assert_eq!(
            other.detokenize(&new).await.unwrap().expose(),
            MASTERCARD.as_bytes()
        );
    }
    assert_eq!(
        other_keys.stats().unwraps_ok,
        2,
        "one unwrap per data key, then cached"
    );
}

#[tokio::test]
async fn rewrap_moves_every_record_to_the_latest_transit_version_resumably_and_idempotently() {
    let (bao, redis) = (
        outscope_testkit::shared_openbao(),
        outscope_testkit::shared_redis(),
    );
    let root = client(bao.addr(), bao.root_token());
    let (mount, key) = transit(&root).await;
    let setup = Setup::new(redis.url(), "rewrap");

    // Records from before envelope encryption (static key k1) ...
    let legacy = setup.vault(None, true);
    let mut tokens = Vec::new();
    for number in [VISA, MASTERCARD] {
        tokens.push((legacy.tokenize(card(number)).await.unwrap().token, number));
    }
    // ... and records under transit key version 1.
    let keys = Arc::new(DataKeys::new(&root, &mount, &key));
    let vault = setup.vault(Some(keys.clone()), true);
    keys.rotate().await.unwrap();
    for number in [VISA_DEBIT, "6011111111111117", "378282246310005"] {
        tokens.push((vault.tokenize(card(number)).await.unwrap().token, number));
    }

    root.transit(&mount).rotate(&key).await.unwrap();
    let latest = keys.latest_version().await.unwrap();
    assert_eq!(latest, 2);
    assert_eq!(
        vault.rewrap_page(0, 100, latest, false).await.unwrap_err(),
        RewrapError::StaleDataKey { have: 1, latest: 2 },
        "records are never rewrapped under a data key of an old version"
    );
    let dry = rewrap_dry(&vault, latest).await;
    assert_eq!((dry.scanned, dry.stale, dry.rewrapped), (5, 5, 0));

    keys.rotate().await.unwrap();
    // Many more records than a page holds, so one page cannot finish the walk.
    for number in numbers(40) {
        let token = vault.tokenize(card(&number)).await.unwrap().token;
        assert!(
            setup
                .record(&token)
                .await
                .windows(9)
                .any(|w| w == b"vault:v2:")
        );
    }
    let total = 5 + 40;
    // Interrupted after one page, then resumed from its cursor.
    let first = rewrap(&vault, 0, latest, 1).await;
    assert_ne!(
        first.cursor, 0,
        "one page of 2 keys is not the whole walk: {first:?}"
    );
    assert!(first.scanned < total, "{first:?}");
    let rest = rewrap(&vault, first.cursor, latest, 10_000).await;
    assert_eq!(rest.cursor, 0, "the resumed walk completes");
    assert_eq!(first.rewrapped + rest.rewrapped, 5, "{first:?} {rest:?}");
    assert_eq!(first.scanned + rest.scanned, total, "{first:?} {rest:?}");
    assert_eq!(first.failed + rest.failed + first.changed + rest.changed, 0);
    for record in setup.records().await {
        assert_eq!(record[0], 2);
        assert!(contains(&record, b"vault:v2:"), "every record at version 2");
    }

    let again = rewrap(&vault, 0, latest, 10_000).await;
    assert_eq!(
        (again.scanned, again.stale, again.rewrapped),
        (total, 0, 0),
        "a rerun does nothing"
    );

    // Version 1 retired: a fresh instance without the static keys opens every token.
    root.transit(&mount)
        .set_min_decryption_version(&key, 2)
        .await
        .unwrap();
    let fresh = setup.vault(Some(Arc::new(DataKeys::new(&root, &mount, &key))), false);
    for (token, number) in &tokens {
        assert_eq!(
            fresh.detokenize(token).await.unwrap().expose(),
            number.as_bytes()
        );
    }
}

async fn rewrap_dry(vault: &LocalVault, latest: u64) -> RewrapPage {
    let mut total = RewrapPage::default();
    let mut cursor = 0;
    loop {
        let page = vault.rewrap_page(cursor, 2, latest, true).await.unwrap();
        total.scanned += page.scanned;
        total.stale += page.stale;
        total.rewrapped += page.rewrapped;
        cursor = page.cursor;
        if cursor == 0 {
            return total;
        }
    }
}

#[tokio::test]
async fn with_openbao_gone_known_tokens_still_work_and_new_data_keys_fail_closed() {
    let mut bao = outscope_testkit::OpenBao::start();
    let redis = outscope_testkit::shared_redis();
    let root = client(bao.addr(), bao.root_token());
    let (mount, key) = transit(&root).await;
    let setup = Setup::new(redis.url(), "outage");
    let keys = Arc::new(DataKeys::new(&root, &mount, &key));
    let vault = setup.vault(Some(keys.clone()), false);
    keys.rotate().await.unwrap();
    let known = vault.tokenize(card(VISA)).await.unwrap().token;

    bao.stop();
    assert_eq!(keys.rotate().await.unwrap_err(), KeyError::Unavailable);
    let stats = keys.stats();
    assert_eq!((stats.rotations_ok, stats.rotations_failed), (1, 1));
    assert!(vault.can_seal(), "the current data key stays in use");
    assert_eq!(
        vault.detokenize(&known).await.unwrap().expose(),
        VISA.as_bytes()
    );
    assert!(vault.tokenize(card(MASTERCARD)).await.is_ok());

    // An instance started during the outage: no data key, so no new cards; known cards
    // keep their tokens (the index needs no key); opening needs transit.
    let late_keys = Arc::new(DataKeys::new(&root, &mount, &key));
    let late = setup.vault(Some(late_keys.clone()), false);
    assert_eq!(late_keys.rotate().await.unwrap_err(), KeyError::Unavailable);
    assert_eq!(
        late.tokenize(card(VISA_DEBIT)).await.unwrap_err(),
        TokenizeError::unavailable(UnavailableCause::NoDataKey)
    );
    assert_eq!(late.tokenize(card(VISA)).await.unwrap().token, known);
    assert_eq!(
        late.detokenize(&known).await.err(),
        Some(TokenizeError::unavailable(UnavailableCause::KeyService))
    );
    assert_eq!(late_keys.stats().unwraps_failed, 1);
}

#[tokio::test]
async fn the_memory_store_has_nothing_to_rewrap_and_static_vaults_no_transit() {
    let bao = outscope_testkit::shared_openbao();
    let root = client(bao.addr(), bao.root_token());
    let keys = Arc::new(DataKeys::new(&root, "transit", "unused"));
    let fingerprint = KeyRing::generate_line("x");
    let fingerprint = fingerprint.split_once(':').unwrap().1;
    let mut options = LocalOptions::new(KeyRing::fingerprint_only(fingerprint).unwrap());
    options.envelope = Some(keys);
    let memory = LocalVault::new(options).unwrap();
    assert_eq!(
        memory.rewrap_page(0, 10, 1, true).await.unwrap_err(),
        RewrapError::MemoryStore
    );
    let setup = Setup::new(outscope_testkit::shared_redis().url(), "static");
    assert_eq!(
        setup
            .vault(None, true)
            .rewrap_page(0, 10, 1, true)
            .await
            .unwrap_err(),
        RewrapError::NoEnvelope
    );
}

#[tokio::test]
async fn a_data_key_under_a_retired_transit_version_seals_nothing_until_a_new_key_is_fetched() {
    let (bao, redis) = (
        outscope_testkit::shared_openbao(),
        outscope_testkit::shared_redis(),
    );
    let root = client(bao.addr(), bao.root_token());
    let (mount, key) = transit(&root).await;
    let setup = Setup::new(redis.url(), "retired");
    let keys = Arc::new(DataKeys::new(&root, &mount, &key));
    let vault = setup.vault(Some(keys.clone()), false);
    keys.rotate().await.unwrap();
    let before = vault.tokenize(card(VISA)).await.unwrap().token;

    // The custodian rotates the transit key and retires version 1 at once.
    root.transit(&mount).rotate(&key).await.unwrap();
    let versions = keys.check_versions().await.unwrap();
    assert_eq!((versions.latest, versions.min_decryption), (2, 1));
    let stats = keys.stats();
    assert!(stats.behind_transit() && !stats.retired(), "{stats:?}");
    assert!(
        vault.can_seal(),
        "version 1 still decrypts: keep sealing until rotated"
    );
    root.transit(&mount)
        .set_min_decryption_version(&key, 2)
        .await
        .unwrap();
    keys.check_versions().await.unwrap();
    let stats = keys.stats();
    assert_eq!((stats.latest_version, stats.min_decryption_version), (2, 2));
    assert!(stats.retired(), "{stats:?}");
    assert!(!vault.can_seal());
    assert_eq!(
        vault.tokenize(card(MASTERCARD)).await.unwrap_err(),
        TokenizeError::unavailable(UnavailableCause::NoDataKey),
        "a card sealed now could never be opened by another instance"
    );
    // Known cards keep their tokens (the index needs no data key).
    assert_eq!(vault.tokenize(card(VISA)).await.unwrap().token, before);

    let current = keys.rotate().await.unwrap();
    assert_eq!(current.version, 2);
    assert!(vault.can_seal() && !keys.stats().behind_transit());
    let after = vault.tokenize(card(MASTERCARD)).await.unwrap().token;
    let fresh = setup.vault(Some(Arc::new(DataKeys::new(&root, &mount, &key))), false);
    assert_eq!(
        fresh.detokenize(&after).await.unwrap().expose(),
        MASTERCARD.as_bytes()
    );
    let stats = keys.stats();
    assert_eq!(
        (stats.version_checks_ok, stats.version_checks_failed),
        (2, 0)
    );
}

#[tokio::test]
async fn rewrap_counts_tampered_and_forged_records_as_failed_and_walks_on() {
    let (bao, redis) = (
        outscope_testkit::shared_openbao(),
        outscope_testkit::shared_redis(),
    );
    let root = client(bao.addr(), bao.root_token());
    let (mount, key) = transit(&root).await;
    let setup = Setup::new(redis.url(), "tampered");
    let keys = Arc::new(DataKeys::new(&root, &mount, &key));
    let vault = setup.vault(Some(keys.clone()), false);
    keys.rotate().await.unwrap();
    let mut tokens = Vec::new();
    for number in numbers(12) {
        tokens.push(vault.tokenize(card(&number)).await.unwrap().token);
    }
    // One record with a flipped GCM tag byte, one moved to another token's key, one
    // whose wrapped data key claims version 99 under the same (cached) key id.
    let mut tag = setup.record(&tokens[0]).await;
    *tag.last_mut().unwrap() ^= 1;
    setup.set_record(&tokens[0], &tag).await;
    let moved = setup.record(&tokens[2]).await;
    setup.set_record(&tokens[1], &moved).await;
    let forged = with_wrapped(&setup.record(&tokens[3]).await, "vault:v99:forged");
    setup.set_record(&tokens[3], &forged).await;
    for token in &tokens[..4] {
        let opened = vault.detokenize(token).await;
        if token == &tokens[2] {
            assert!(opened.is_ok());
        } else {
            assert_eq!(
                opened.err(),
                Some(TokenizeError::unavailable(UnavailableCause::StoreCorrupt)),
                "the key id in memory does not excuse a record"
            );
        }
    }

    root.transit(&mount).rotate(&key).await.unwrap();
    let latest = keys.latest_version().await.unwrap();
    let dry = rewrap_dry(&vault, latest).await;
    assert_eq!(
        (dry.scanned, dry.stale),
        (12, 11),
        "the forged record is neither stale nor current: {dry:?}"
    );
    keys.rotate().await.unwrap();
    let done = rewrap(&vault, 0, latest, 10_000).await;
    assert_eq!(done.cursor, 0, "the walk completes: {done:?}");
    assert_eq!(
        (done.scanned, done.rewrapped, done.failed, done.changed),
        (12, 9, 3, 0),
        "{done:?}"
    );
    for (i, token) in tokens.iter().enumerate().skip(4) {
        assert!(vault.detokenize(token).await.is_ok(), "record {i}");
    }
}
