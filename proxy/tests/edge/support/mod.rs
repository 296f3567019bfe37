//! The in-process harness: a test PKI, a recording upstream, a proxy started from a config
//! on port 0, and a TLS client. Tests read: build a stack, tweak its config, send, assert.

#![allow(dead_code)]

pub mod client;
pub mod pki;
pub mod upstream;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use outscope::lifecycle::{self, Running};
use outscope_config::*;

pub use client::{Client, request};
pub use pki::Pki;
pub use upstream::{Behaviour, Upstream};

/// A configuration with one TLS listener on 127.0.0.1:0 (certificate for `localhost` and
/// `api.test`), one upstream and one catch-all route.
pub fn config(pki: &Pki, upstream: &Upstream) -> Config {
    let server = pki.server("server", &["localhost", "api.test"]);
    Config {
        listeners: vec![Listener {
            name: "public".into(),
            address: "127.0.0.1:0".parse().unwrap(),
            tls: ListenerTls {
                certificates: vec![Certificate {
                    cert: server.cert,
                    key: server.key,
                    server_names: vec!["localhost".into(), "api.test".into()],
                }],
                client_auth: ClientAuth::None,
                alpn: vec![Alpn::H2, Alpn::Http11],
            },
        }],
        admin: Admin {
            address: "127.0.0.1:0".parse().unwrap(),
        },
        limits: Limits {
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(5),
            body_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(5),
            max_connections: 100,
            h2_max_concurrent_streams: 32,
        },
        shutdown: Shutdown {
            drain_delay: Duration::ZERO,
            drain_timeout: Duration::from_secs(5),
        },
        runtime: outscope_config::Runtime::default(),
        log: Log {
            level: "warn".into(),
            format: LogFormat::Text,
            access_log: false,
        },
        request_id: RequestId {
            header: "x-request-id".into(),
            trust_incoming: false,
        },
        forwarding: Forwarding {
            trusted_proxies: vec![],
        },
        redis: None,
        rate_limits: vec![],
        upstreams: vec![upstream_config("backend", upstream.addr)],
        routes: vec![route("all", PathMatch::Prefix("/".into()), 0)],
        tokenizer: None,
        vault: None,
    }
}

pub fn upstream_config(name: &str, addr: SocketAddr) -> outscope_config::Upstream {
    outscope_config::Upstream {
        name: name.into(),
        url: UpstreamUrl {
            https: false,
            host: addr.ip().to_string(),
            port: addr.port(),
            base_path: String::new(),
        },
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        pool_idle_timeout: Duration::from_secs(30),
        pool_max_idle_per_host: 8,
        tls: None,
    }
}

pub fn route(name: &str, path: PathMatch, upstream: usize) -> Route {
    Route {
        name: name.into(),
        host: None,
        methods: vec![],
        path,
        upstream,
        rate_limits: vec![],
        host_header: HostHeader::Preserve,
        allow_upgrade: false,
        max_body_bytes: 64 * 1024,
        inspection: Inspection::default(),
    }
}

/// A limit of `requests` per minute with `burst`: slow enough that no token comes back
/// while a test runs, however loaded the machine (the stories count exact bursts).
pub fn per_minute(
    name: &str,
    key: RateLimitKey,
    requests: u32,
    burst: u32,
    backend: RateLimitBackend,
) -> RateLimit {
    RateLimit {
        name: name.into(),
        key,
        requests: NonZeroU32::new(requests).unwrap(),
        per: Duration::from_secs(60),
        burst: NonZeroU32::new(burst).unwrap(),
        backend,
    }
}

/// A running proxy and what a test needs to talk to it.
pub struct Proxy {
    pub running: Running,
    pub addr: SocketAddr,
}

impl Proxy {
    pub async fn start(config: Config) -> Self {
        let running = lifecycle::start(config).await.expect("proxy starts");
        let addr = running.listen_addrs[0];
        Self { running, addr }
    }

    pub fn client(&self, pki: &Pki) -> Client {
        Client::new(pki, self.addr)
    }
}

/// The usual stack: PKI, recording upstream, proxy with `tweak` applied to the default
/// config.
pub struct Stack {
    pub pki: Pki,
    pub upstream: Upstream,
    pub proxy: Proxy,
}

impl Stack {
    pub async fn start(tweak: impl FnOnce(&mut Config, &Pki)) -> Self {
        let pki = Pki::new("outscope test CA");
        let upstream = Upstream::spawn().await;
        let mut cfg = config(&pki, &upstream);
        tweak(&mut cfg, &pki);
        let proxy = Proxy::start(cfg).await;
        Self {
            pki,
            upstream,
            proxy,
        }
    }

    pub fn client(&self) -> Client {
        self.proxy.client(&self.pki)
    }
}

/// A plain HTTP/1.1 GET against the admin listener: (status, body).
pub async fn admin_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.unwrap();
    let status = out.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The value of the first sample line starting with `prefix`.
pub fn sample(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A Vault client with the dev server's root token, for setting OpenBao up in a test.
pub fn root(addr: &str, token: &str) -> vault_client::Client {
    vault_client::Client::builder(addr)
        .auth(vault_client::Auth::token(vault_client::SecretString::from(
            token,
        )))
        .build()
        .expect("a Vault client for the dev server")
}

/// The operator's AppRole setup: a policy `policy` holding `rules`, an AppRole auth method
/// at `mount` whose role `outscope` issues tokens with that policy and `token` settings
/// (`token_ttl`, ...), and the role id and secret id written to `dir/<files>-role-id` and
/// `dir/<files>-secret-id`.
pub async fn app_role(
    root: &vault_client::Client,
    policy: &str,
    rules: &str,
    mount: &str,
    mut token: serde_json::Value,
    dir: &std::path::Path,
    files: &str,
) -> VaultAuth {
    use serde_json::json;
    root.write_raw(
        &format!("sys/policies/acl/{policy}"),
        &json!({ "policy": rules }),
    )
    .await
    .expect("policy written");
    root.write_raw(&format!("sys/auth/{mount}"), &json!({ "type": "approle" }))
        .await
        .expect("approle enabled");
    let role = format!("auth/{mount}/role/outscope");
    token["token_policies"] = json!([policy]);
    root.write_raw(&role, &token).await.expect("role written");
    let role_id = root
        .read_raw(&format!("{role}/role-id"))
        .await
        .expect("role id");
    let secret_id = root
        .write_raw(&format!("{role}/secret-id"), &json!({}))
        .await
        .expect("secret id");
    let text = |v: &serde_json::Value, p: &str| {
        v.pointer(p)
            .and_then(serde_json::Value::as_str)
            .expect("a string field")
            .to_owned()
    };
    let role_id_file = dir.join(format!("{files}-role-id"));
    let secret_id_file = dir.join(format!("{files}-secret-id"));
    std::fs::write(&role_id_file, text(&role_id, "/data/role_id")).expect("role id file");
    std::fs::write(&secret_id_file, text(&secret_id, "/data/secret_id")).expect("secret id file");
    VaultAuth::AppRole {
        mount: mount.to_owned(),
        role_id: role_id_file,
        secret_id: secret_id_file,
    }
}
