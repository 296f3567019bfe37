//! Secrets from Vault / OpenBao, against a real OpenBao dev server: outscope starts with
//! only the Vault address and an AppRole, reads the Stripe key and the TLS certificate and
//! key from KV v2, picks up rotations live (refreshes are driven from the test, never
//! waited for), and keeps serving on the last good secrets when OpenBao goes away.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use outscope::lifecycle::{self, StartError};
use outscope_config::{
    CardRule, OnDetected, SecretRef, StripeObject, StripeTokenizer, Tokenizer, Vault, VaultAuth,
};
use outscope_testkit::{LocalStripe, OpenBao, shared_openbao};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vault_client::Client as VaultClient;

use crate::support::*;

const VISA: &str = "4242424242424242";

/// A name nobody else on a shared server uses.
fn unique(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The operator's setup: a policy reading `secret/data/<prefix>/*`, an AppRole at a fresh
/// mount whose tokens carry it, and the role id and secret id written to files in `dir`.
async fn app_role(root: &VaultClient, prefix: &str, dir: &Path) -> VaultAuth {
    let rules = format!("path \"secret/data/{prefix}/*\" {{ capabilities = [\"read\"] }}");
    crate::support::app_role(
        root,
        &unique("outscope-read"),
        &rules,
        &unique("approle"),
        json!({ "token_ttl": "1h", "token_max_ttl": "4h" }),
        dir,
        "vault",
    )
    .await
}

fn vault_ref(prefix: &str, secret: &str, key: &str) -> SecretRef {
    SecretRef::Vault {
        mount: "secret".into(),
        path: format!("{prefix}/{secret}"),
        key: key.into(),
    }
}

fn vault_section(addr: &str, auth: VaultAuth) -> Vault {
    Vault {
        address: Some(addr.to_owned()),
        namespace: None,
        ca: None,
        auth,
        // The test drives every refresh itself.
        refresh_interval: Duration::from_secs(3600),
        timeout: Duration::from_secs(2),
    }
}

fn stripe(api_base: &str, secret_key: SecretRef) -> Tokenizer {
    Tokenizer::Stripe(StripeTokenizer {
        api_base: api_base.to_owned(),
        secret_key,
        create: StripeObject::PaymentMethod,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
        max_retries: 0,
        breaker_failures: 5,
        breaker_cool_down: Duration::from_secs(30),
        ca: None,
    })
}

fn card_rule() -> CardRule {
    CardRule {
        json_path: Some("$.card".into()),
        form_prefix: None,
        fields: Default::default(),
        output: Default::default(),
    }
}

/// POSTs a card object; returns the status and the token the upstream received (if any).
async fn checkout(client: &Client, upstream: &Upstream) -> (u16, Option<String>) {
    let before = upstream.seen().len();
    let body =
        format!(r#"{{"card":{{"number":"{VISA}","exp_month":12,"exp_year":2030,"cvc":"123"}}}}"#);
    let mut req = request("POST", "/v1/checkout", "localhost", Bytes::from(body));
    req.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    let resp = client.send(req).await;
    let seen = upstream.seen();
    let token = seen.get(before).map(|s| {
        let raw = String::from_utf8_lossy(&s.body).into_owned();
        assert!(!raw.contains(VISA), "the card number reached the upstream");
        let v: Value = serde_json::from_str(&raw).unwrap();
        v["card"]["token"].as_str().unwrap_or_default().to_owned()
    });
    (resp.status, token)
}

type Leaf = rustls_pki_types::CertificateDer<'static>;

fn leaf(tls: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> Leaf {
    tls.get_ref().1.peer_certificates().unwrap()[0].clone()
}

#[tokio::test]
async fn secrets_come_from_openbao_rotate_live_and_survive_an_outage() {
    let mut bao = OpenBao::start();
    let stripe_server = LocalStripe::start();
    let root = root(bao.addr(), bao.root_token());
    let pki = Pki::new("outscope vault test CA");
    let upstream = Upstream::spawn().await;
    let prefix = unique("outscope");

    // OpenBao holds the Stripe key and the listener's certificate and key; outscope gets
    // only the address and an AppRole.
    let first = pki.server("first", &["localhost"]);
    let kv = root.kv2("secret");
    kv.write(
        &format!("{prefix}/tls"),
        [("cert", &first.cert_pem), ("key", &first.key_pem)],
    )
    .await
    .unwrap();
    kv.write(
        &format!("{prefix}/stripe"),
        [("secret_key", "sk_test_from_openbao")],
    )
    .await
    .unwrap();
    let auth = app_role(&root, &prefix, &pki.dir).await;
    let mut cfg = config(&pki, &upstream);
    let certificate = &mut cfg.listeners[0].tls.certificates[0];
    certificate.cert = vault_ref(&prefix, "tls", "cert");
    certificate.key = vault_ref(&prefix, "tls", "key");
    certificate.server_names = vec!["localhost".into()];
    cfg.tokenizer = Some(stripe(
        stripe_server.url(),
        vault_ref(&prefix, "stripe", "secret_key"),
    ));
    cfg.routes[0].inspection.cards = vec![card_rule()];
    cfg.routes[0].inspection.on_detected = OnDetected::Tokenize;
    cfg.vault = Some(vault_section(bao.addr(), auth));
    let proxy = Proxy::start(cfg).await;
    let client = proxy.client(&pki);
    let admin = proxy.running.admin_addr;

    // A card is tokenized through localstripe with the key from OpenBao.
    let (status, token) = checkout(&client, &upstream).await;
    assert_eq!(status, 200);
    assert!(token.unwrap().starts_with("pm_"));
    let (ready, body) = admin_get(admin, "/readyz").await;
    assert_eq!(ready, 200, "{body}");
    let (_, metrics) = admin_get(admin, "/metrics").await;
    assert_eq!(
        sample(&metrics, "outscope_dependency_up{dependency=\"vault\"}"),
        Some(1.0),
        "{metrics}"
    );

    // Nothing changed: a refresh reads everything and keeps the runtime.
    let refresh = proxy.running.refresh_secrets().await;
    assert!(
        !refresh.rotated && refresh.failures.is_empty(),
        "{refresh:?}"
    );

    // The certificate is rotated in OpenBao: new connections get it, an open one keeps
    // working.
    let mut old_conn = client.connect().await.unwrap();
    let before = leaf(&old_conn);
    let second = pki.server("second", &["localhost"]);
    kv.write(
        &format!("{prefix}/tls"),
        [("cert", &second.cert_pem), ("key", &second.key_pem)],
    )
    .await
    .unwrap();
    let refresh = proxy.running.refresh_secrets().await;
    assert!(
        refresh.rotated && refresh.failures.is_empty(),
        "{refresh:?}"
    );
    let fresh = client.connect().await.unwrap();
    assert_ne!(
        leaf(&fresh),
        before,
        "new connections get the rotated certificate"
    );
    old_conn
        .write_all(b"GET /old HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    old_conn.read_to_string(&mut reply).await.unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 200"),
        "the connection opened before the rotation still works: {reply}"
    );

    // The Stripe key is rotated: the tokenizer is rebuilt with it. A key localstripe
    // refuses shows the new key is the one in use; a good one brings tokenizing back.
    kv.write(&format!("{prefix}/stripe"), [("secret_key", "revoked")])
        .await
        .unwrap();
    assert!(proxy.running.refresh_secrets().await.rotated);
    let (status, token) = checkout(&client, &upstream).await;
    assert_ne!(status, 200, "the refused key is in use");
    assert_eq!(token, None, "nothing reached the upstream");
    kv.write(
        &format!("{prefix}/stripe"),
        [("secret_key", "sk_test_rotated")],
    )
    .await
    .unwrap();
    assert!(proxy.running.refresh_secrets().await.rotated);
    let (status, token) = checkout(&client, &upstream).await;
    assert_eq!(status, 200);
    assert!(token.unwrap().starts_with("pm_"));

    // OpenBao goes away: the refresh fails, is counted, the dependency shows down, and
    // the proxy keeps serving on the last good secrets (and stays ready).
    bao.stop();
    let refresh = proxy.running.refresh_secrets().await;
    assert!(!refresh.rotated);
    assert_eq!(refresh.failures.len(), 3, "{refresh:?}");
    for failure in &refresh.failures {
        assert!(failure.contains("Vault is unavailable"), "{failure}");
        assert!(!failure.contains("sk_test"), "{failure}");
    }
    assert!(
        refresh.failures[0].starts_with("listeners[0].tls.certificates[0].cert: vault://secret/")
    );
    let (status, token) = checkout(&client, &upstream).await;
    assert_eq!(status, 200, "still serving on the last good secrets");
    assert!(token.unwrap().starts_with("pm_"));
    assert_eq!(leaf(&client.connect().await.unwrap()), leaf(&fresh));
    let (ready, body) = admin_get(admin, "/readyz").await;
    assert_eq!(ready, 200, "{body}");
    assert!(
        body.contains(r#"{"check":"vault","reason":"unavailable"}"#),
        "{body}"
    );
    let (_, metrics) = admin_get(admin, "/metrics").await;
    for (series, value) in [
        ("outscope_dependency_up{dependency=\"vault\"}", 0.0),
        ("outscope_secret_refresh_total{result=\"failed\"}", 1.0),
        ("outscope_secret_refresh_total{result=\"rotated\"}", 3.0),
        ("outscope_secret_refresh_total{result=\"unchanged\"}", 1.0),
    ] {
        assert_eq!(sample(&metrics, series), Some(value), "{series}\n{metrics}");
    }
    assert!(
        sample(
            &metrics,
            "outscope_secret_refresh_last_success_timestamp_seconds"
        )
        .is_some_and(|t| t > 1.0e9),
        "{metrics}"
    );
    assert!(!metrics.contains("sk_test"), "no secret value in metrics");
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_stops_the_start_and_names_its_key_path() {
    let bao = shared_openbao();
    let root = root(bao.addr(), bao.root_token());
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    let prefix = unique("outscope-missing");
    root.kv2("secret")
        .write(&format!("{prefix}/stripe"), [("other", "x")])
        .await
        .unwrap();
    let auth = app_role(&root, &prefix, &pki.dir).await;
    let mut cfg = config(&pki, &upstream);
    cfg.tokenizer = Some(stripe(
        "http://127.0.0.1:1",
        vault_ref(&prefix, "stripe", "secret_key"),
    ));
    cfg.listeners[0].tls.certificates[0].key = vault_ref(&prefix, "nowhere", "key");
    cfg.vault = Some(vault_section(bao.addr(), auth));
    let Err(StartError::Secrets(errors)) = lifecycle::start(cfg).await else {
        panic!("the proxy must not start without its secrets");
    };
    let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            format!(
                "listeners[0].tls.certificates[0].key: vault://secret/{prefix}/nowhere#key: \
                 not found in Vault"
            ),
            format!(
                "tokenizer.secret_key: vault://secret/{prefix}/stripe#secret_key: \
                 the Vault secret has no such key"
            ),
        ]
    );
}

#[tokio::test]
async fn a_reload_reads_vault_again_and_a_sync_reload_keeps_the_last_values() {
    let bao = shared_openbao();
    let root = root(bao.addr(), bao.root_token());
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    let prefix = unique("outscope-reload");
    let first = pki.server("first", &["localhost"]);
    let kv = root.kv2("secret");
    kv.write(
        &format!("{prefix}/tls"),
        [("cert", &first.cert_pem), ("key", &first.key_pem)],
    )
    .await
    .unwrap();
    let auth = app_role(&root, &prefix, &pki.dir).await;
    let mut cfg = config(&pki, &upstream);
    cfg.listeners[0].tls.certificates[0].cert = vault_ref(&prefix, "tls", "cert");
    cfg.listeners[0].tls.certificates[0].key = vault_ref(&prefix, "tls", "key");
    cfg.vault = Some(vault_section(bao.addr(), auth));
    let proxy = Proxy::start(cfg.clone()).await;
    let client = proxy.client(&pki);
    let before = leaf(&client.connect().await.unwrap());

    // A synchronous reload cannot wait on Vault: it keeps the values read last.
    let second = pki.server("second", &["localhost"]);
    kv.write(
        &format!("{prefix}/tls"),
        [("cert", &second.cert_pem), ("key", &second.key_pem)],
    )
    .await
    .unwrap();
    proxy.running.reload(cfg.clone()).unwrap();
    assert_eq!(leaf(&client.connect().await.unwrap()), before);

    // A reload that asks Vault (SIGHUP) picks the rotation up.
    proxy.running.reload_config(cfg.clone()).await.unwrap();
    assert_ne!(leaf(&client.connect().await.unwrap()), before);

    // A new vault:// reference that was never read refuses a synchronous reload.
    let mut more = cfg.clone();
    more.routes[0].inspection.on_detected = OnDetected::Tokenize;
    more.tokenizer = Some(stripe(
        "http://127.0.0.1:1",
        vault_ref(&prefix, "stripe", "secret_key"),
    ));
    let err = proxy.running.reload(more).unwrap_err();
    assert!(
        err.to_string()
            .contains("tokenizer.secret_key: vault://secret/"),
        "{err}"
    );
    assert_eq!(client.get("/still-served").await.status, 200);
}

#[tokio::test]
async fn validate_reads_vault_references_unless_offline_and_names_the_ones_that_fail() {
    let bao = shared_openbao();
    let root = root(bao.addr(), bao.root_token());
    let pki = Pki::new("ca");
    let prefix = unique("outscope-validate");
    let pair = pki.server("server", &["localhost"]);
    root.kv2("secret")
        .write(
            &format!("{prefix}/tls"),
            [("cert", &pair.cert_pem), ("key", &pair.key_pem)],
        )
        .await
        .unwrap();
    let VaultAuth::AppRole { mount, .. } = app_role(&root, &prefix, &pki.dir).await else {
        unreachable!("app_role sets up an AppRole");
    };
    let config = |key: &str| {
        format!(
            r#"
[[listeners]]
name = "public"
address = "127.0.0.1:0"
[listeners.tls]
[[listeners.tls.certificates]]
cert = "vault://secret/{prefix}/tls#cert"
key = "vault://secret/{prefix}/tls#{key}"
[[upstreams]]
name = "api"
url = "http://127.0.0.1:8080"
[[routes]]
name = "all"
path_prefix = "/"
upstream = "api"
[vault]
address = "{addr}"
[vault.auth]
method = "approle"
mount = "{mount}"
role_id = "file://vault-role-id"
secret_id = "file://vault-secret-id"
"#,
            addr = bao.addr()
        )
    };
    let validate = |name: &str, key: &str, offline: bool| {
        let path = pki.path(name);
        std::fs::write(&path, config(key)).unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_outscope"));
        cmd.args(["validate", "-c"]).arg(&path);
        if offline {
            cmd.arg("--offline");
        }
        let out = cmd.env_remove("VAULT_TOKEN").output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, stdout, stderr) = validate("good.toml", "key", false);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(": ok ("), "{stdout}");

    let (code, stdout, stderr) = validate("bad.toml", "nope", false);
    assert_eq!(code, Some(78), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "listeners[0].tls.certificates[0].key: vault://secret/{prefix}/tls#nope: \
             the Vault secret has no such key"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("PRIVATE KEY") && !stdout.contains("PRIVATE KEY"));

    let (code, stdout, stderr) = validate("offline.toml", "nope", true);
    assert_eq!(code, Some(0), "--offline reads no secret: {stdout}{stderr}");
}

#[tokio::test]
async fn file_secrets_are_refreshed_too_and_a_missing_file_keeps_the_last_good_value() {
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    let cfg = config(&pki, &upstream);
    let proxy = Proxy::start(cfg).await;
    let client = proxy.client(&pki);
    let before = leaf(&client.connect().await.unwrap());

    // The same files get a new certificate and key (what cert-manager or an agent does).
    pki.server("server", &["localhost", "api.test"]);
    let refresh = proxy.running.refresh_secrets().await;
    assert!(
        refresh.rotated && refresh.failures.is_empty(),
        "{refresh:?}"
    );
    let rotated = leaf(&client.connect().await.unwrap());
    assert_ne!(rotated, before);

    // The key file disappears: the refresh fails, names it, and the proxy keeps serving.
    std::fs::remove_file(pki.path("server.key")).unwrap();
    let refresh = proxy.running.refresh_secrets().await;
    assert!(!refresh.rotated);
    assert_eq!(refresh.failures.len(), 1, "{refresh:?}");
    assert!(
        refresh.failures[0].starts_with("listeners[0].tls.certificates[0].key: file://"),
        "{refresh:?}"
    );
    assert_eq!(leaf(&client.connect().await.unwrap()), rotated);
    assert_eq!(client.get("/still-served").await.status, 200);
    let (ready, body) = admin_get(proxy.running.admin_addr, "/readyz").await;
    assert_eq!(ready, 200, "{body}");
    assert!(
        !body.contains("vault"),
        "no [vault], no vault check: {body}"
    );
}

/// Polls `/metrics` until `series` reaches `at_least` (the timer runs on its own; the
/// deadline only bounds a failing test).
async fn metric_reaches(admin: std::net::SocketAddr, series: &str, at_least: f64) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        let (_, metrics) = admin_get(admin, "/metrics").await;
        if sample(&metrics, series).is_some_and(|v| v >= at_least) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn the_refresh_interval_timer_reads_vault_again_and_applies_a_rotation() {
    let bao = shared_openbao();
    let root = root(bao.addr(), bao.root_token());
    let pki = Pki::new("ca");
    let upstream = Upstream::spawn().await;
    let prefix = unique("outscope-timer");
    let first = pki.server("first", &["localhost"]);
    let kv = root.kv2("secret");
    kv.write(
        &format!("{prefix}/tls"),
        [("cert", &first.cert_pem), ("key", &first.key_pem)],
    )
    .await
    .unwrap();
    let auth = app_role(&root, &prefix, &pki.dir).await;
    let mut cfg = config(&pki, &upstream);
    cfg.listeners[0].tls.certificates[0].cert = vault_ref(&prefix, "tls", "cert");
    cfg.listeners[0].tls.certificates[0].key = vault_ref(&prefix, "tls", "key");
    let mut vault = vault_section(bao.addr(), auth);
    vault.refresh_interval = Duration::from_millis(300);
    cfg.vault = Some(vault);
    let proxy = Proxy::start(cfg).await;
    let client = proxy.client(&pki);
    let admin = proxy.running.admin_addr;
    let before = leaf(&client.connect().await.unwrap());

    // Nobody calls refresh_secrets here: the loop does, every refresh_interval.
    assert!(
        metric_reaches(
            admin,
            "outscope_secret_refresh_total{result=\"unchanged\"}",
            1.0
        )
        .await,
        "the timer never refreshed"
    );
    let second = pki.server("second", &["localhost"]);
    kv.write(
        &format!("{prefix}/tls"),
        [("cert", &second.cert_pem), ("key", &second.key_pem)],
    )
    .await
    .unwrap();
    assert!(
        metric_reaches(
            admin,
            "outscope_secret_refresh_total{result=\"rotated\"}",
            1.0
        )
        .await,
        "the timer never applied the rotation"
    );
    assert_ne!(leaf(&client.connect().await.unwrap()), before);
}
