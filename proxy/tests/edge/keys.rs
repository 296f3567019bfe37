//! The local vault's envelope keys, against a real OpenBao (transit) and Redis: outscope
//! fetches a data key at start with a least-privilege AppRole, a rotation (what SIGHUP
//! does) gives new cards a new data key while old tokens still open, an OpenBao outage
//! keeps the current key (counted, still ready) and an instance started during one fails
//! closed for new cards and is not ready; `outscope vault rewrap` moves every record to the
//! latest transit key version, resumably, and a rerun does nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use outscope::datakeys::Why;
use outscope_config::{
    CardRule, Envelope, LocalStore, LocalTokenizer, OnDetected, SecretRef, TokenFormat, Tokenizer,
    Vault, VaultAuth,
};
use outscope_testkit::{OpenBao, shared_openbao, shared_redis};
use outscope_tokenizer::{
    CardInput, DataKeys, KeyError, KeyRing, LocalOptions, LocalVault, Pan, RedisStoreOptions,
    StoreOptions, Tokenizer as Built,
};
use serde_json::{Value, json};
use vault_client::Client as VaultClient;

use crate::support::*;

const CARDS: [&str; 5] = [
    "4242424242424242",
    "5555555555554444",
    "4000056655665556",
    "6011111111111117",
    "378282246310005",
];
const FINGERPRINT_KEY: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

fn unique(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{what}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A transit engine at a fresh mount with one key; returns `(mount, key)`.
async fn transit(root: &VaultClient) -> (String, String) {
    let mount = unique("transit");
    root.write_raw(
        &format!("sys/mounts/{mount}"),
        &json!({ "type": "transit" }),
    )
    .await
    .unwrap();
    root.transit(&mount)
        .create_key("outscope-local", "aes256-gcm96")
        .await
        .unwrap();
    (mount, "outscope-local".to_owned())
}

/// The least privilege docs/key-management.md gives outscope: make data keys, unwrap
/// them, read the key's versions. Nothing else (no export, no rotate, no config).
async fn transit_app_role(root: &VaultClient, mount: &str, key: &str, dir: &Path) -> VaultAuth {
    transit_app_role_named(root, mount, key, dir).await.0
}

/// The three capabilities of docs/key-management.md on `mount/key`, as policy text;
/// `datakey` false leaves out `datakey/plaintext` (nothing new can be fetched).
fn transit_rules(mount: &str, key: &str, datakey: bool) -> String {
    let mut rules = format!(
        "path \"{mount}/decrypt/{key}\" {{ capabilities = [\"update\"] }}\n\
         path \"{mount}/keys/{key}\" {{ capabilities = [\"read\"] }}\n"
    );
    if datakey {
        rules.push_str(&format!(
            "path \"{mount}/datakey/plaintext/{key}\" {{ capabilities = [\"update\"] }}\n"
        ));
    }
    rules
}

async fn set_policy(root: &VaultClient, policy: &str, rules: &str) {
    root.write_raw(
        &format!("sys/policies/acl/{policy}"),
        &json!({ "policy": rules }),
    )
    .await
    .unwrap();
}

/// [`transit_app_role`], and the name of its policy (to change what it grants).
async fn transit_app_role_named(
    root: &VaultClient,
    mount: &str,
    key: &str,
    dir: &Path,
) -> (VaultAuth, String) {
    let policy = unique("outscope-transit");
    let auth = crate::support::app_role(
        root,
        &policy,
        &transit_rules(mount, key, true),
        &unique("approle"),
        json!({ "token_ttl": "1h" }),
        dir,
        "transit",
    )
    .await;
    (auth, policy)
}

fn envelope_vault(pki: &Pki, mount: &str, key: &str) -> Tokenizer {
    let fp = pki.dir.join("vault-fingerprint");
    std::fs::write(&fp, FINGERPRINT_KEY).unwrap();
    Tokenizer::Local(LocalTokenizer {
        keys: None,
        fingerprint_key: SecretRef::File(fp),
        store: LocalStore::Memory,
        token_format: TokenFormat::Random,
        envelope: Some(Envelope {
            mount: mount.to_owned(),
            key: key.to_owned(),
            rotation: Duration::from_secs(3600),
        }),
    })
}

fn vault_section(addr: &str, auth: VaultAuth) -> Vault {
    Vault {
        address: Some(addr.to_owned()),
        namespace: None,
        ca: None,
        auth,
        refresh_interval: Duration::from_secs(3600),
        timeout: Duration::from_secs(2),
    }
}

/// POSTs one card object; returns the status and the token the upstream got.
async fn checkout(client: &Client, upstream: &Upstream, number: &str) -> (u16, Option<String>) {
    let before = upstream.seen().len();
    let body = format!(r#"{{"card":{{"number":"{number}","exp_month":12,"exp_year":2030}}}}"#);
    let mut req = request("POST", "/v1/checkout", "localhost", Bytes::from(body));
    req.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    let status = client.send(req).await.status;
    let token = upstream.seen().get(before).map(|s| {
        let v: Value = serde_json::from_slice(&s.body).unwrap();
        v["card"]["token"].as_str().unwrap_or_default().to_owned()
    });
    (status, token)
}

async fn detokenize(proxy: &Proxy, token: &str) -> Vec<u8> {
    let rt = proxy.running.app.runtime();
    let Some(Built::Local(vault)) = rt.tokenizer.as_ref() else {
        panic!("a local vault")
    };
    vault.detokenize(token).await.unwrap().expose().to_vec()
}

fn current_key_id(proxy: &Proxy) -> String {
    let rt = proxy.running.app.runtime();
    let keys = rt.tokenizer.as_ref().and_then(Built::data_keys).unwrap();
    keys.stats().current.unwrap().id
}

fn card_rules(cfg: &mut outscope_config::Config) {
    cfg.routes[0].inspection.cards = vec![CardRule {
        json_path: Some("$.card".into()),
        form_prefix: None,
        fields: Default::default(),
        output: Default::default(),
    }];
    cfg.routes[0].inspection.on_detected = OnDetected::Tokenize;
}

#[tokio::test]
async fn data_keys_come_from_transit_rotate_and_outlive_an_openbao_outage() {
    let mut bao = OpenBao::start();
    let root = root(bao.addr(), bao.root_token());
    let (mount, key) = transit(&root).await;
    let pki = Pki::new("outscope keys test CA");
    let upstream = Upstream::spawn().await;
    let auth = transit_app_role(&root, &mount, &key, &pki.dir).await;
    let mut cfg = config(&pki, &upstream);
    card_rules(&mut cfg);
    cfg.tokenizer = Some(envelope_vault(&pki, &mount, &key));
    cfg.vault = Some(vault_section(bao.addr(), auth.clone()));
    let proxy = Proxy::start(cfg.clone()).await;
    let client = proxy.client(&pki);
    let admin = proxy.running.admin_addr;

    let (status, first) = checkout(&client, &upstream, CARDS[0]).await;
    assert_eq!(status, 200);
    let first = first.unwrap();
    assert!(first.starts_with("tok_"));
    let (ready, body) = admin_get(admin, "/readyz").await;
    assert_eq!(ready, 200, "{body}");
    let (_, metrics) = admin_get(admin, "/metrics").await;
    assert_eq!(
        sample(&metrics, "outscope_data_key_rotations_total{result=\"ok\"}"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "outscope_data_key_transit_version"),
        Some(1.0)
    );
    assert!(
        sample(&metrics, "outscope_data_key_created_timestamp_seconds").is_some_and(|t| t > 1e9)
    );

    // What SIGHUP does after the reload: a new data key for new cards; old tokens open.
    let before = current_key_id(&proxy);
    proxy.running.reload_config(cfg.clone()).await.unwrap();
    assert_eq!(
        proxy.running.rotate_data_key(Why::Sighup).await,
        Some(Ok(()))
    );
    assert_ne!(current_key_id(&proxy), before);
    let (_, second) = checkout(&client, &upstream, CARDS[1]).await;
    let second = second.unwrap();
    assert_eq!(
        checkout(&client, &upstream, CARDS[0]).await.1.as_deref(),
        Some(first.as_str())
    );
    assert_eq!(detokenize(&proxy, &first).await, CARDS[0].as_bytes());
    assert_eq!(detokenize(&proxy, &second).await, CARDS[1].as_bytes());

    // OpenBao goes away: the rotation fails and is counted, the current key stays in use
    // (new cards still tokenize), known tokens still open, and the instance stays ready.
    bao.stop();
    assert_eq!(
        proxy.running.rotate_data_key(Why::Sighup).await,
        Some(Err(KeyError::Unavailable))
    );
    let (status, third) = checkout(&client, &upstream, CARDS[2]).await;
    assert_eq!(status, 200);
    assert_eq!(
        detokenize(&proxy, &third.unwrap()).await,
        CARDS[2].as_bytes()
    );
    assert_eq!(detokenize(&proxy, &first).await, CARDS[0].as_bytes());
    let (ready, body) = admin_get(admin, "/readyz").await;
    assert_eq!(ready, 200, "{body}");
    let (_, metrics) = admin_get(admin, "/metrics").await;
    for (series, value) in [
        ("outscope_data_key_rotations_total{result=\"ok\"}", 2.0),
        ("outscope_data_key_rotations_total{result=\"failed\"}", 1.0),
    ] {
        assert_eq!(sample(&metrics, series), Some(value), "{series}\n{metrics}");
    }

    // An instance started while OpenBao is down: it starts, but has no data key, so new
    // cards get 503 (never forwarded) and it is not ready.
    let upstream2 = Upstream::spawn().await;
    let mut cfg2 = config(&pki, &upstream2);
    card_rules(&mut cfg2);
    cfg2.tokenizer = Some(envelope_vault(&pki, &mount, &key));
    cfg2.vault = Some(vault_section(bao.addr(), auth));
    let late = Proxy::start(cfg2).await;
    let (status, token) = checkout(&late.client(&pki), &upstream2, CARDS[3]).await;
    assert_eq!(status, 503);
    assert_eq!(token, None, "nothing reached the upstream");
    let (ready, body) = admin_get(late.running.admin_addr, "/readyz").await;
    assert_eq!(ready, 503, "{body}");
    assert!(
        body.contains(r#""check":"data_key","reason":"no_data_key""#),
        "{body}"
    );
    let (_, metrics) = admin_get(late.running.admin_addr, "/metrics").await;
    assert_eq!(
        sample(
            &metrics,
            "outscope_data_key_rotations_total{result=\"failed\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "outscope_data_key_created_timestamp_seconds"),
        Some(0.0)
    );
}

#[tokio::test]
async fn data_keys_rotate_on_their_schedule_and_old_tokens_keep_opening() {
    let bao = shared_openbao();
    let root = root(bao.addr(), bao.root_token());
    let (mount, key) = transit(&root).await;
    let pki = Pki::new("outscope scheduled rotation CA");
    let upstream = Upstream::spawn().await;
    let auth = transit_app_role(&root, &mount, &key, &pki.dir).await;
    let mut cfg = config(&pki, &upstream);
    card_rules(&mut cfg);
    let mut tokenizer = envelope_vault(&pki, &mount, &key);
    // The config file refuses periods under a minute; the in-process harness sets a short
    // one directly so the schedule can be watched within a test.
    if let Tokenizer::Local(local) = &mut tokenizer
        && let Some(envelope) = local.envelope.as_mut()
    {
        envelope.rotation = Duration::from_millis(400);
    }
    cfg.tokenizer = Some(tokenizer);
    cfg.vault = Some(vault_section(bao.addr(), auth));
    let proxy = Proxy::start(cfg).await;
    let client = proxy.client(&pki);
    let (status, first) = checkout(&client, &upstream, CARDS[0]).await;
    assert_eq!(status, 200);
    let first = first.unwrap();
    let first_key = current_key_id(&proxy);

    // No signal, no reload: only the schedule fetches new keys.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let rotations = loop {
        let (_, metrics) = admin_get(proxy.running.admin_addr, "/metrics").await;
        let ok = sample(&metrics, "outscope_data_key_rotations_total{result=\"ok\"}");
        if ok.is_some_and(|n| n >= 3.0) || tokio::time::Instant::now() > deadline {
            break ok;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(rotations.is_some_and(|n| n >= 3.0), "{rotations:?}");
    assert_ne!(current_key_id(&proxy), first_key);
    let (status, second) = checkout(&client, &upstream, CARDS[1]).await;
    assert_eq!(status, 200);
    assert_eq!(
        detokenize(&proxy, &second.unwrap()).await,
        CARDS[1].as_bytes()
    );
    assert_eq!(detokenize(&proxy, &first).await, CARDS[0].as_bytes());
    let (ready, body) = admin_get(proxy.running.admin_addr, "/readyz").await;
    assert_eq!(ready, 200, "{body}");
}

#[tokio::test]
async fn a_rotated_transit_key_is_followed_and_a_retired_version_never_seals_a_card() {
    let bao = shared_openbao();
    let root = root(bao.addr(), bao.root_token());
    let (mount, key) = transit(&root).await;
    let pki = Pki::new("outscope transit version CA");
    let upstream = Upstream::spawn().await;
    let (auth, policy) = transit_app_role_named(&root, &mount, &key, &pki.dir).await;
    let mut cfg = config(&pki, &upstream);
    card_rules(&mut cfg);
    cfg.tokenizer = Some(envelope_vault(&pki, &mount, &key));
    cfg.vault = Some(vault_section(bao.addr(), auth));
    let proxy = Proxy::start(cfg).await;
    let client = proxy.client(&pki);
    let admin = proxy.running.admin_addr;
    let (_, first) = checkout(&client, &upstream, CARDS[0]).await;
    let first = first.unwrap();
    let v1_key = current_key_id(&proxy);

    // The custodian rotates the transit key; the next version check (every minute in the
    // loop, driven here) sees it and fetches a data key of the new version at once, long
    // before data_key_rotation (1h) is due.
    root.transit(&mount).rotate(&key).await.unwrap();
    assert_eq!(proxy.running.check_data_key_versions().await, Some(Ok(())));
    assert_ne!(current_key_id(&proxy), v1_key);
    let (_, metrics) = admin_get(admin, "/metrics").await;
    for (series, value) in [
        ("outscope_data_key_transit_version", 2.0),
        ("outscope_data_key_transit_latest_version", 2.0),
        ("outscope_data_key_transit_min_decryption_version", 1.0),
    ] {
        assert_eq!(sample(&metrics, series), Some(value), "{series}\n{metrics}");
    }
    // The loop also checked once at start (it may race this test's checks).
    for series in [
        "outscope_data_key_version_checks_total{result=\"ok\"}",
        "outscope_data_key_rotations_total{result=\"ok\"}",
    ] {
        let n = sample(&metrics, series);
        assert!(n.is_some_and(|n| n >= 2.0), "{series}\n{metrics}");
    }

    // Rotated again and version 2 retired at once, while this instance cannot fetch a new
    // data key (its policy lost datakey/plaintext): it must not seal a single card under
    // its version 2 key (nobody else could ever open it), and says so in readiness.
    set_policy(&root, &policy, &transit_rules(&mount, &key, false)).await;
    root.transit(&mount).rotate(&key).await.unwrap();
    root.transit(&mount)
        .set_min_decryption_version(&key, 3)
        .await
        .unwrap();
    assert_eq!(
        proxy.running.check_data_key_versions().await,
        Some(Err(KeyError::PermissionDenied))
    );
    let (status, token) = checkout(&client, &upstream, CARDS[1]).await;
    assert_eq!(status, 503);
    assert_eq!(token, None, "nothing reached the upstream");
    let (ready, body) = admin_get(admin, "/readyz").await;
    assert_eq!(ready, 503, "{body}");
    assert!(
        body.contains(r#""check":"data_key","reason":"data_key_retired""#),
        "{body}"
    );

    // The policy is fixed: the next check fetches a version 3 key; new cards open anywhere.
    set_policy(&root, &policy, &transit_rules(&mount, &key, true)).await;
    assert_eq!(proxy.running.check_data_key_versions().await, Some(Ok(())));
    let (ready, body) = admin_get(admin, "/readyz").await;
    assert_eq!(ready, 200, "{body}");
    let (status, second) = checkout(&client, &upstream, CARDS[1]).await;
    assert_eq!(status, 200);
    assert_eq!(
        detokenize(&proxy, &second.unwrap()).await,
        CARDS[1].as_bytes()
    );
    assert_eq!(detokenize(&proxy, &first).await, CARDS[0].as_bytes());
    let (_, metrics) = admin_get(admin, "/metrics").await;
    assert_eq!(
        sample(&metrics, "outscope_data_key_transit_version"),
        Some(3.0),
        "{metrics}"
    );
}

/// A proxy configuration file: the harness's listener (TLS on 127.0.0.1:0), a route to
/// `upstream` tokenizing `$.card`, the local vault in memory with data keys from
/// `mount/key`, and Vault reached with `auth` (an AppRole).
fn proxy_config_file(
    pki: &Pki,
    upstream: &Upstream,
    bao: &str,
    auth: &VaultAuth,
    mount: &str,
    key: &str,
) -> PathBuf {
    let server = pki.server("reload-server", &["localhost"]);
    let (SecretRef::File(cert), SecretRef::File(tls_key)) = (&server.cert, &server.key) else {
        unreachable!()
    };
    let VaultAuth::AppRole {
        mount: approle,
        role_id,
        secret_id,
    } = auth
    else {
        unreachable!()
    };
    let fp = pki.dir.join("reload-fingerprint");
    std::fs::write(&fp, FINGERPRINT_KEY).unwrap();
    let text = format!(
        r#"
[[listeners]]
name = "public"
address = "127.0.0.1:0"
[listeners.tls]
[[listeners.tls.certificates]]
cert = "file://{cert}"
key = "file://{tls_key}"
[admin]
address = "127.0.0.1:0"
[vault]
address = "{bao}"
[vault.auth]
method = "approle"
mount = "{approle}"
role_id = "file://{role_id}"
secret_id = "file://{secret_id}"
[tokenizer]
kind = "local"
fingerprint_key = "file://{fp}"
store = "memory"
transit_mount = "{mount}"
transit_key = "{key}"
[[upstreams]]
name = "backend"
url = "http://{upstream}"
[[routes]]
name = "all"
path_prefix = "/"
upstream = "backend"
[routes.inspection]
on_detected = "tokenize"
[[routes.inspection.cards]]
json_path = "$.card"
"#,
        cert = cert.display(),
        tls_key = tls_key.display(),
        role_id = role_id.display(),
        secret_id = secret_id.display(),
        fp = fp.display(),
        upstream = upstream.addr,
    );
    let path = pki.dir.join("reload.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn transit_key_in_effect(proxy: &Proxy) -> String {
    let rt = proxy.running.app.runtime();
    let keys = rt.tokenizer.as_ref().and_then(Built::data_keys).unwrap();
    keys.transit_key()
}

#[tokio::test]
async fn a_reload_to_a_transit_key_that_gives_no_data_key_is_refused_until_it_does() {
    let bao = shared_openbao();
    let root = root(bao.addr(), bao.root_token());
    let (mount, key) = transit(&root).await;
    let next = "outscope-next";
    root.transit(&mount)
        .create_key(next, "aes256-gcm96")
        .await
        .unwrap();
    let pki = Pki::new("outscope transit reload CA");
    let upstream = Upstream::spawn().await;
    let (auth, policy) = transit_app_role_named(&root, &mount, &key, &pki.dir).await;
    let path = proxy_config_file(&pki, &upstream, bao.addr(), &auth, &mount, &key);
    let cfg = outscope_config::load_with(&path, &outscope_config::Checks::ALL).unwrap();
    let proxy = Proxy::start(cfg).await;
    let client = proxy.client(&pki);
    let admin = proxy.running.admin_addr;
    assert_eq!(checkout(&client, &upstream, CARDS[0]).await.0, 200);
    let first_key = current_key_id(&proxy);

    // SIGHUP with a file naming a transit key the AppRole may not use: refused, and the
    // instance keeps sealing with the key in effect (it used to swap in the new, empty
    // data keys and stay not ready until the next rotation, up to a day).
    let file = std::fs::read_to_string(&path).unwrap();
    let moved = file.replace(
        &format!("transit_key = \"{key}\""),
        &format!("transit_key = \"{next}\""),
    );
    std::fs::write(&path, &moved).unwrap();
    let refused = proxy.running.reload_file(&path).await;
    assert!(
        matches!(
            refused,
            Err(outscope::lifecycle::ReloadError::DataKey(
                KeyError::PermissionDenied
            ))
        ),
        "{refused:?}"
    );
    assert_eq!(transit_key_in_effect(&proxy), format!("{mount}/{key}"));
    let (ready, body) = admin_get(admin, "/readyz").await;
    assert_eq!(ready, 200, "{body}");
    assert_eq!(checkout(&client, &upstream, CARDS[1]).await.0, 200);
    assert_ne!(
        current_key_id(&proxy),
        first_key,
        "SIGHUP still rotated the key in effect"
    );

    // The policy is fixed: the same file is accepted, with a data key of the new key.
    let both = format!(
        "{}{}",
        transit_rules(&mount, &key, true),
        transit_rules(&mount, next, true)
    );
    set_policy(&root, &policy, &both).await;
    proxy.running.reload_file(&path).await.unwrap();
    assert_eq!(transit_key_in_effect(&proxy), format!("{mount}/{next}"));
    let (ready, body) = admin_get(admin, "/readyz").await;
    assert_eq!(ready, 200, "{body}");
    let (status, token) = checkout(&client, &upstream, CARDS[2]).await;
    assert_eq!(status, 200);
    assert_eq!(
        detokenize(&proxy, &token.unwrap()).await,
        CARDS[2].as_bytes()
    );
}

#[tokio::test]
async fn an_instance_started_without_a_data_key_gets_one_once_vault_allows_it() {
    let bao = shared_openbao();
    let root = root(bao.addr(), bao.root_token());
    let (mount, key) = transit(&root).await;
    let pki = Pki::new("outscope late data key CA");
    let upstream = Upstream::spawn().await;
    let (auth, policy) = transit_app_role_named(&root, &mount, &key, &pki.dir).await;
    set_policy(&root, &policy, &transit_rules(&mount, &key, false)).await;
    let mut cfg = config(&pki, &upstream);
    card_rules(&mut cfg);
    cfg.tokenizer = Some(envelope_vault(&pki, &mount, &key));
    cfg.vault = Some(vault_section(bao.addr(), auth));
    let proxy = Proxy::start(cfg).await;
    let admin = proxy.running.admin_addr;
    let (ready, body) = admin_get(admin, "/readyz").await;
    assert_eq!(ready, 503, "{body}");
    assert!(body.contains("no_data_key"), "{body}");

    // Nothing but the loop's retry (every 5 s without a key) brings the instance up.
    set_policy(&root, &policy, &transit_rules(&mount, &key, true)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (ready, body) = admin_get(admin, "/readyz").await;
        if ready == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, token) = checkout(&proxy.client(&pki), &upstream, CARDS[0]).await;
    assert_eq!(status, 200);
    assert_eq!(
        detokenize(&proxy, &token.unwrap()).await,
        CARDS[0].as_bytes()
    );
}

/// A configuration file for `outscope vault rewrap`: the local vault in Redis under
/// `key_prefix`, data keys from `mount/key`, Vault reached with the token in `VT`.
fn rewrap_config(
    pki: &Pki,
    redis_url: &str,
    key_prefix: &str,
    bao: &str,
    mount: &str,
    key: &str,
    store: &str,
) -> PathBuf {
    let server = pki.server("rewrap-server", &["localhost"]);
    let (SecretRef::File(cert), SecretRef::File(tls_key)) = (&server.cert, &server.key) else {
        unreachable!()
    };
    let fp = pki.dir.join("rewrap-fingerprint");
    std::fs::write(&fp, FINGERPRINT_KEY).unwrap();
    let text = format!(
        r#"
[[listeners]]
name = "public"
address = "127.0.0.1:0"
[listeners.tls]
[[listeners.tls.certificates]]
cert = "file://{cert}"
key = "file://{tls_key}"
[redis]
url = "{redis_url}"
key_prefix = "{key_prefix}"
[vault]
address = "{bao}"
[vault.auth]
method = "token"
token = "env://VT"
[tokenizer]
kind = "local"
fingerprint_key = "file://{fp}"
store = "{store}"
transit_mount = "{mount}"
transit_key = "{key}"
[[upstreams]]
name = "backend"
url = "http://127.0.0.1:9"
[[routes]]
name = "all"
path_prefix = "/"
upstream = "backend"
"#,
        cert = cert.display(),
        tls_key = tls_key.display(),
        fp = fp.display(),
    );
    let path = pki.dir.join(format!("rewrap-{store}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `outscope vault rewrap` with `args`; returns (exit code, stdout). Asserts it never
/// prints a card number or a wrapped key.
fn rewrap(config: &Path, token: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_outscope"))
        .args(["vault", "rewrap", "--config"])
        .arg(config)
        .args(args)
        .env("VT", token)
        .env_remove("OUTSCOPE_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for card in CARDS {
        assert!(!all.contains(card) && !all.contains(&card[6..]), "{all}");
    }
    assert!(!all.contains("vault:v"), "{all}");
    (out.status.code().unwrap_or(-1), stdout)
}

/// `n` distinct Luhn-valid 16-digit card numbers.
fn luhn_numbers(n: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let body = format!("400000{i:09}");
            let sum: u32 = body
                .bytes()
                .rev()
                .enumerate()
                .map(|(pos, b)| {
                    let d = u32::from(b - b'0');
                    match (pos % 2 == 0, d * 2) {
                        (true, d2) if d2 > 9 => d2 - 9,
                        (true, d2) => d2,
                        (false, _) => d,
                    }
                })
                .sum();
            format!("{body}{}", (10 - sum % 10) % 10)
        })
        .collect()
}

fn field(stdout: &str, name: &str) -> u64 {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("done"))
        .unwrap_or("");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {stdout}"))
}

#[tokio::test]
async fn vault_rewrap_moves_records_to_the_latest_version_resumably_and_once() {
    let (bao, redis) = (shared_openbao(), shared_redis());
    let root = root(bao.addr(), bao.root_token());
    let (mount, key) = transit(&root).await;
    let pki = Pki::new("rewrap CA");
    let prefix = unique("rewrap").replace('-', "_");
    let config = rewrap_config(
        &pki,
        redis.url(),
        &prefix,
        bao.addr(),
        &mount,
        &key,
        "redis",
    );

    // Records sealed under transit key version 1, as a running proxy would write them.
    let keys = Arc::new(DataKeys::new(&root, &mount, &key));
    keys.rotate().await.unwrap();
    let store = RedisStoreOptions::new(redis.url(), &format!("{prefix}.vault"));
    let vault = LocalVault::new(LocalOptions {
        keys: KeyRing::fingerprint_only(FINGERPRINT_KEY).unwrap(),
        format: outscope_tokenizer::TokenFormat::Random,
        store: StoreOptions::Redis(store),
        envelope: Some(keys.clone()),
    })
    .unwrap();
    // Many more records than one page, so --limit really stops the walk part way.
    let numbers: Vec<String> = CARDS
        .iter()
        .map(|c| (*c).to_owned())
        .chain(luhn_numbers(25))
        .collect();
    let total = numbers.len() as u64;
    let mut tokens = Vec::new();
    for number in &numbers {
        let card = CardInput::new(Pan::parse(number.as_bytes()).unwrap());
        tokens.push(vault.tokenize(card).await.unwrap().token);
    }
    root.transit(&mount).rotate(&key).await.unwrap();
    let token = bao.root_token();

    let (code, out) = rewrap(&config, token, &["--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        (field(&out, "stale"), field(&out, "rewrapped")),
        (total, 0),
        "{out}"
    );

    // Interrupted by --limit, then resumed from the printed cursor.
    let (code, out) = rewrap(&config, token, &["--limit", "1", "--batch", "1"]);
    assert_eq!(code, 0, "{out}");
    let first = field(&out, "rewrapped");
    assert!((1..total).contains(&first), "a partial first run: {out}");
    let line = out
        .lines()
        .find(|l| l.contains("resume with --cursor"))
        .unwrap_or_else(|| panic!("no resume line: {out}"));
    let cursor = line.rsplit(' ').next().unwrap();
    let (code, rest) = rewrap(&config, token, &["--cursor", cursor]);
    assert_eq!(code, 0, "{rest}");
    assert_eq!(first + field(&rest, "rewrapped"), total, "{out}\n{rest}");

    // A rerun finds nothing to do; every token still opens, with version 1 retired.
    let (code, out) = rewrap(&config, token, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        (field(&out, "stale"), field(&out, "rewrapped")),
        (0, 0),
        "{out}"
    );
    assert!(out.contains("min_decryption_version=2"), "{out}");
    root.transit(&mount)
        .set_min_decryption_version(&key, 2)
        .await
        .unwrap();
    let fresh = LocalVault::new(LocalOptions {
        keys: KeyRing::fingerprint_only(FINGERPRINT_KEY).unwrap(),
        format: outscope_tokenizer::TokenFormat::Random,
        store: StoreOptions::Redis(RedisStoreOptions::new(
            redis.url(),
            &format!("{prefix}.vault"),
        )),
        envelope: Some(Arc::new(DataKeys::new(&root, &mount, &key))),
    })
    .unwrap();
    for (token, number) in tokens.iter().zip(&numbers) {
        assert_eq!(
            fresh.detokenize(token).await.unwrap().expose(),
            number.as_bytes()
        );
    }

    // Version 2 retired before any rewrap to version 3: every record is unreadable, counted
    // as failed, and the command exits 1, with --limit too. --limit 0 is refused.
    root.transit(&mount).rotate(&key).await.unwrap();
    root.transit(&mount)
        .set_min_decryption_version(&key, 3)
        .await
        .unwrap();
    let (code, out) = rewrap(&config, token, &["--limit", "1", "--batch", "1"]);
    assert_eq!(code, 1, "{out}");
    assert!(field(&out, "failed") >= 1, "{out}");
    let (code, out) = rewrap(&config, token, &[]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        (field(&out, "failed"), field(&out, "rewrapped")),
        (total, 0),
        "{out}"
    );
    let (code, out) = rewrap(&config, token, &["--limit", "0"]);
    assert_eq!(code, 2, "{out}");

    // The memory store: nothing to rewrap, said plainly.
    let memory = rewrap_config(
        &pki,
        redis.url(),
        &prefix,
        bao.addr(),
        &mount,
        &key,
        "memory",
    );
    let (code, out) = rewrap(&memory, token, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Nothing to"), "{out}");
}
