//! Shared helpers for the vault-client stories: clients of a real OpenBao dev server,
//! names no other test uses, credential files, and a scripted fake server for what a
//! real one cannot be made to do on demand (answer 503, present an unknown certificate).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed test"
)]

pub mod fake;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use vault_client::{Auth, Backoff, Client, ClientBuilder, SecretString};

/// A name no other test (or run) on a shared server uses.
pub fn unique(what: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{what}-{}-{}-{nanos}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Retries that finish in milliseconds, so failure stories stay fast.
pub fn fast_retries(builder: ClientBuilder) -> ClientBuilder {
    builder
        .backoff(Backoff::new(Duration::from_millis(1), Duration::from_millis(5), 2.0).unwrap())
        .max_attempts(3)
        .connect_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(10))
}

/// A client holding the dev server's root token (the operator setting things up).
pub fn root_client(addr: &str, root_token: &str) -> Client {
    fast_retries(Client::builder(addr))
        .auth(Auth::token(SecretString::from(root_token)))
        .build()
        .unwrap()
}

/// A fresh directory for credential files, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("vault-client-test"));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` in the directory; returns the file's path.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Enables an auth method or secrets engine of `kind` at a fresh mount; returns the mount.
pub async fn enable(root: &Client, api: &str, kind: &str) -> String {
    let mount = unique(kind);
    root.write_raw(&format!("{api}/{mount}"), &json!({ "type": kind }))
        .await
        .unwrap();
    mount
}

/// A policy allowing reads of `secret/data/<prefix>/*`; returns its name.
pub async fn read_policy(root: &Client, prefix: &str) -> String {
    let name = unique("read");
    let policy = format!("path \"secret/data/{prefix}/*\" {{ capabilities = [\"read\"] }}");
    root.write_raw(
        &format!("sys/policies/acl/{name}"),
        &json!({ "policy": policy }),
    )
    .await
    .unwrap();
    name
}

/// An AppRole at a fresh mount whose tokens get `policy`, `ttl` and `max_ttl`; returns the
/// mount and the role id and secret id files.
pub async fn app_role(root: &Client, policy: &str, ttl: &str, max_ttl: &str) -> AppRole {
    let mount = enable(root, "sys/auth", "approle").await;
    let role = format!("auth/{mount}/role/outscope");
    let settings =
        json!({ "token_policies": [policy], "token_ttl": ttl, "token_max_ttl": max_ttl });
    root.write_raw(&role, &settings).await.unwrap();
    let role_id = root.read_raw(&format!("{role}/role-id")).await.unwrap();
    let secret_id = root
        .write_raw(&format!("{role}/secret-id"), &json!({}))
        .await
        .unwrap();
    let scratch = Scratch::new();
    AppRole {
        role_id_file: scratch.file("role-id", text(&role_id, "/data/role_id")),
        secret_id_file: scratch.file("secret-id", text(&secret_id, "/data/secret_id")),
        mount,
        _scratch: scratch,
    }
}

pub struct AppRole {
    pub mount: String,
    pub role_id_file: PathBuf,
    pub secret_id_file: PathBuf,
    _scratch: Scratch,
}

impl AppRole {
    pub fn auth(&self) -> Auth {
        Auth::app_role(&self.role_id_file, &self.secret_id_file).at_mount(&self.mount)
    }
}

/// A child token created by root with `policies`, `ttl` and renewability.
pub async fn child_token(root: &Client, policies: &[&str], ttl: &str, renewable: bool) -> String {
    let body = json!({ "policies": policies, "ttl": ttl, "renewable": renewable });
    let created = root.write_raw("auth/token/create", &body).await.unwrap();
    text(&created, "/auth/client_token").to_owned()
}

pub async fn revoke(root: &Client, token: &str) {
    root.write_raw("auth/token/revoke", &json!({ "token": token }))
        .await
        .unwrap();
}

pub fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer}"))
}
