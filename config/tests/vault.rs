//! `[vault]`: where `vault://` references are read from. Defaults, each login method, and
//! one story per rule.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{VAULT, case, check, edit, ok, plus};
use outscope_config::*;

const STRIPE_FROM_VAULT: &str = "[tokenizer]\nkind = \"stripe\"\n\
     secret_key = \"vault://secret/outscope/stripe#secret_key\"\n";

#[test]
fn defaults_and_approle() {
    let config = ok(&plus(&format!("{STRIPE_FROM_VAULT}{VAULT}")));
    let vault = config.vault.unwrap();
    assert_eq!(
        vault.address.as_deref(),
        Some("https://vault.internal:8200")
    );
    assert_eq!(vault.namespace, None);
    assert_eq!(vault.ca, None);
    assert_eq!(vault.refresh_interval, Duration::from_secs(300));
    assert_eq!(vault.timeout, Duration::from_secs(10));
    assert_eq!(
        vault.auth,
        VaultAuth::AppRole {
            mount: "approle".into(),
            role_id: PathBuf::from("/etc/outscope/vault-role-id"),
            secret_id: PathBuf::from("/etc/outscope/vault-secret-id"),
        }
    );
}

#[test]
fn every_key_is_read() {
    let text = plus(
        "[vault]\nnamespace = \"team-a/payments\"\nca = \"file://vault-ca.pem\"\n\
         refresh_interval = \"30s\"\ntimeout = \"2s\"\n\
         [vault.auth]\nmethod = \"kubernetes\"\nrole = \"outscope\"\nmount = \"/k8s/prod/\"\n",
    );
    let vault = ok(&text).vault.unwrap();
    assert_eq!(vault.address, None, "VAULT_ADDR at run time");
    assert_eq!(vault.namespace.as_deref(), Some("team-a/payments"));
    assert_eq!(vault.ca, Some(PathBuf::from("/etc/outscope/vault-ca.pem")));
    assert_eq!(vault.refresh_interval, Duration::from_secs(30));
    assert_eq!(vault.timeout, Duration::from_secs(2));
    assert_eq!(
        vault.auth,
        VaultAuth::Kubernetes {
            mount: "k8s/prod".into(),
            role: "outscope".into(),
            jwt: PathBuf::from("/var/run/secrets/kubernetes.io/serviceaccount/token"),
        }
    );
}

#[test]
fn a_token_comes_from_the_environment_or_a_file() {
    for (written, expected) in [
        ("env://VAULT_TOKEN", SecretRef::Env("VAULT_TOKEN".into())),
        (
            "file:///run/vault/token",
            SecretRef::File("/run/vault/token".into()),
        ),
    ] {
        let text = plus(&format!(
            "[vault]\naddress = \"http://127.0.0.1:8200\"\n[vault.auth]\nmethod = \"token\"\ntoken = \"{written}\"\n"
        ));
        let vault = ok(&text).vault.unwrap();
        assert_eq!(vault.auth, VaultAuth::Token { token: expected });
    }
}

#[test]
fn no_vault_section_means_none() {
    assert_eq!(ok(common::MINIMAL).vault, None);
}

#[test]
fn rules() {
    check(vec![
        case(
            "a vault:// reference without [vault] is refused where it is written",
            plus(STRIPE_FROM_VAULT),
            "tokenizer.secret_key",
            "vault:// references need a [vault] section",
        ),
        case(
            "a vault:// TLS key without [vault] names the listener's key path",
            edit(
                "key = \"file:///etc/outscope/tls/api.key\"",
                "key = \"vault://secret/outscope/tls#key\"",
            ),
            "listeners[0].tls.certificates[0].key",
            "vault:// references need a [vault] section",
        ),
        case(
            "[vault] needs an auth table",
            plus("[vault]\naddress = \"https://vault.internal\"\n"),
            "vault.auth",
            "missing required key",
        ),
        case(
            "plain http to a remote Vault is refused",
            plus(&VAULT.replace("https://vault.internal:8200", "http://vault.internal:8200")),
            "vault.address",
            "http:// is only allowed for a loopback host",
        ),
        case(
            "an address with a path is refused",
            plus(&VAULT.replace("https://vault.internal:8200", "https://vault.internal/v1")),
            "vault.address",
            "must not have a path",
        ),
        case(
            "an unknown method is refused",
            plus(&VAULT.replace("method = \"approle\"", "method = \"userpass\"")),
            "vault.auth.method",
            "expected one of \"token\", \"approle\", \"kubernetes\"",
        ),
        case(
            "an AppRole secret id must be a file",
            plus(&VAULT.replace(
                "file:///etc/outscope/vault-secret-id",
                "env://VAULT_SECRET_ID",
            )),
            "vault.auth.secret_id",
            "must be a file:// reference",
        ),
        case(
            "a token cannot come from Vault itself",
            plus("[vault]\n[vault.auth]\nmethod = \"token\"\ntoken = \"vault://secret/x#token\"\n"),
            "vault.auth.token",
            "must be an env:// or file:// reference",
        ),
        case(
            "a key of another method is refused",
            plus(&format!("{VAULT}role = \"outscope\"\n")),
            "vault.auth.role",
            "only applies with method = \"kubernetes\"",
        ),
        case(
            "kubernetes needs a role",
            plus("[vault]\n[vault.auth]\nmethod = \"kubernetes\"\n"),
            "vault.auth.role",
            "missing required key",
        ),
        case(
            "a zero refresh interval is refused",
            plus(&VAULT.replace("[vault.auth]", "refresh_interval = \"0s\"\n[vault.auth]")),
            "vault.refresh_interval",
            "must be longer than zero",
        ),
        case(
            "a literal secret is refused as always",
            plus(&VAULT.replace("file:///etc/outscope/vault-role-id", "role-123")),
            "vault.auth.role_id",
            "secrets cannot be written in the config",
        ),
        case(
            "an unknown key in [vault] is refused",
            plus(&VAULT.replace("[vault.auth]", "token = \"x\"\n[vault.auth]")),
            "vault.token",
            "unknown key",
        ),
    ]);
}
