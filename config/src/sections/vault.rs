//! `[vault]`: the Vault / OpenBao server that `vault://` references are read from, and how
//! outscope logs in to it. The login credentials are `file://` (or, for a token, `env://`)
//! references: a `vault://` reference cannot say how to reach Vault.

use std::path::PathBuf;
use std::time::Duration;

use crate::model::{SecretRef, Vault, VaultAuth};
use crate::sections::read::{
    check, one_of, optional, or_default, positive_duration, required, secret_ref,
};
use crate::sections::{At, Cx};
use crate::url;
use crate::walk::{Node, Table};

/// Where a pod's projected service-account token lives.
pub(crate) const KUBERNETES_JWT: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

const TOKEN_KEYS: &[&str] = &["token"];
const APPROLE_KEYS: &[&str] = &["role_id", "secret_id", "mount"];
const KUBERNETES_KEYS: &[&str] = &["role", "jwt", "mount"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Token,
    AppRole,
    Kubernetes,
}

pub(crate) fn vault(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<Vault> {
    let mut t = node.table(cx)?;
    let address = optional(cx, &mut t, "address", |cx, node| {
        let text = node.str(cx)?;
        check(cx, node, address(text))
    });
    let namespace = optional(cx, &mut t, "namespace", |cx, node| {
        let text = node.str(cx)?;
        check(cx, node, namespace(text)).map(|()| text.to_owned())
    });
    let ca = optional(cx, &mut t, "ca", file_ref);
    let auth = match t.required(cx, "auth") {
        Some(node) => node.table(cx).and_then(|t| auth(cx, t)),
        None => None,
    };
    let refresh_interval = or_default(
        cx,
        &mut t,
        "refresh_interval",
        Duration::from_secs(300),
        positive_duration,
    );
    let timeout = or_default(
        cx,
        &mut t,
        "timeout",
        Duration::from_secs(10),
        positive_duration,
    );
    t.finish(cx);
    Some(Vault {
        address: address?,
        namespace: namespace?,
        ca: ca?,
        auth: auth?,
        refresh_interval: refresh_interval?,
        timeout: timeout?,
    })
}

/// Reports every `vault://` reference when there is no `[vault]` section to read it from.
pub(crate) fn require_vault(cx: &mut Cx<'_>, references: &[At], have_vault: bool) {
    if have_vault {
        return;
    }
    for at in references {
        at.report(
            cx,
            "vault:// references need a [vault] section (the server and how to log in)",
        );
    }
}

fn auth(cx: &mut Cx<'_>, mut t: Table<'_, '_>) -> Option<VaultAuth> {
    let method = required(cx, &mut t, "method", |cx, node| {
        one_of(
            cx,
            node,
            &[
                ("token", Method::Token),
                ("approle", Method::AppRole),
                ("kubernetes", Method::Kubernetes),
            ],
        )
    });
    let built = match method {
        Some(Method::Token) => {
            refuse(
                cx,
                &mut t,
                &["role_id", "secret_id", "mount", "role", "jwt"],
                "approle\" or \"kubernetes",
            );
            let token = required(cx, &mut t, "token", token_ref);
            token.map(|token| VaultAuth::Token { token })
        }
        Some(Method::AppRole) => {
            refuse(cx, &mut t, &["token"], "token");
            refuse(cx, &mut t, &["role", "jwt"], "kubernetes");
            let mount = mount(cx, &mut t, "approle");
            let role_id = required(cx, &mut t, "role_id", file_ref);
            let secret_id = required(cx, &mut t, "secret_id", file_ref);
            Some(VaultAuth::AppRole {
                mount: mount?,
                role_id: role_id?,
                secret_id: secret_id?,
            })
        }
        Some(Method::Kubernetes) => {
            refuse(cx, &mut t, &["token"], "token");
            refuse(cx, &mut t, &["role_id", "secret_id"], "approle");
            let mount = mount(cx, &mut t, "kubernetes");
            let role = required(cx, &mut t, "role", |cx, node| {
                let text = node.str(cx)?;
                check(cx, node, role(text)).map(|()| text.to_owned())
            });
            let jwt = or_default(cx, &mut t, "jwt", PathBuf::from(KUBERNETES_JWT), file_ref);
            Some(VaultAuth::Kubernetes {
                mount: mount?,
                role: role?,
                jwt: jwt?,
            })
        }
        None => {
            // The method was reported; its keys are not unknown, only unchecked.
            for &key in TOKEN_KEYS.iter().chain(APPROLE_KEYS).chain(KUBERNETES_KEYS) {
                t.get(key);
            }
            None
        }
    };
    t.finish(cx);
    built
}

/// Reports each of `keys` present: they belong to another method.
fn refuse(cx: &mut Cx<'_>, t: &mut Table<'_, '_>, keys: &[&'static str], method: &str) {
    for &key in keys {
        if let Some(node) = t.get(key) {
            node.report(cx, format!("only applies with method = \"{method}\""));
        }
    }
}

/// The auth mount (`approle`, `kubernetes`, or where the operator enabled it).
fn mount(cx: &mut Cx<'_>, t: &mut Table<'_, '_>, default: &str) -> Option<String> {
    or_default(cx, t, "mount", default.to_owned(), |cx, node| {
        let text = node.str(cx)?;
        check(cx, node, mount_path(text))
    })
}

/// A `file://` reference, as the path the Vault client reads (again at every login).
fn file_ref(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<PathBuf> {
    match secret_ref(cx, node)? {
        SecretRef::File(path) => Some(path),
        _ => {
            node.report(
                cx,
                "must be a file:// reference (the Vault client reads it again at every login)",
            );
            None
        }
    }
}

/// A token: `env://` (read once) or `file://` (read again when Vault refuses it).
fn token_ref(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<SecretRef> {
    let reference = secret_ref(cx, node)?;
    if matches!(reference, SecretRef::Vault { .. }) {
        node.report(
            cx,
            "must be an env:// or file:// reference (a vault:// reference cannot log in to Vault)",
        );
        return None;
    }
    Some(reference)
}

/// `https://host[:port]`, or `http://` to a loopback host (a dev server, an agent on the
/// same machine). No path, credentials, query or fragment.
pub(crate) fn address(text: &str) -> Result<String, &'static str> {
    let parsed = url::parse(text)?;
    match parsed.scheme {
        "https" => {}
        "http" if is_loopback(&parsed.host) => {}
        "http" => {
            return Err(
                "http:// is only allowed for a loopback host such as 127.0.0.1 \
                        (a local agent or dev server); use https://",
            );
        }
        _ => return Err("scheme must be https://"),
    }
    if !parsed.path.trim_end_matches('/').is_empty() {
        return Err("must not have a path (the API lives under /v1/)");
    }
    let port = parsed.port.map(|p| format!(":{p}")).unwrap_or_default();
    Ok(format!("{}://{}{port}", parsed.scheme, parsed.host))
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A namespace path such as `team-a` or `team-a/payments`.
fn namespace(text: &str) -> Result<(), &'static str> {
    let ok = !text.is_empty()
        && text.split('/').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(
            "must be a namespace path such as \"team-a\" or \"team-a/payments\" (letters, digits, \"-\", \"_\", \".\")",
        )
    }
}

/// An auth mount path, returned without surrounding slashes.
fn mount_path(text: &str) -> Result<String, &'static str> {
    let trimmed = text.trim_matches('/');
    namespace(trimmed).map_err(|_| {
        "must be an auth mount path such as \"approle\" or \"k8s/prod\" (letters, digits, \"-\", \"_\", \".\")"
    })?;
    Ok(trimmed.to_owned())
}

/// A Kubernetes auth role name.
fn role(text: &str) -> Result<(), &'static str> {
    let ok = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err("must be a role name (letters, digits, \"-\", \"_\", \".\")")
    }
}

#[cfg(test)]
mod tests {
    use super::{address, mount_path, namespace};

    #[test]
    fn addresses_are_https_or_loopback_http_without_paths() {
        assert_eq!(
            address("https://Vault.Internal:8200/").as_deref(),
            Ok("https://vault.internal:8200")
        );
        assert_eq!(
            address("http://127.0.0.1:8200").as_deref(),
            Ok("http://127.0.0.1:8200")
        );
        for bad in [
            "http://vault.internal:8200",
            "https://vault.internal/v1",
            "https://token@vault.internal",
            "vault.internal:8200",
            "ftp://127.0.0.1",
        ] {
            assert!(address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespaces_and_mounts() {
        assert!(namespace("team-a/payments").is_ok());
        assert!(namespace("team a").is_err());
        assert!(namespace("a//b").is_err());
        assert_eq!(mount_path("/k8s/prod/").as_deref(), Ok("k8s/prod"));
        assert!(mount_path("").is_err());
    }
}
