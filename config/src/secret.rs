//! Secret references: where a secret lives, never the secret itself.

use std::fmt;
use std::path::Path;

use crate::model::SecretRef;
use crate::{Checks, io_reason};

/// Why text is not a secret reference. Messages never repeat the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SecretRefError {
    #[error(
        "secrets cannot be written in the config; use a reference such as \
         \"file:///etc/outscope/secret\", \"env://NAME\" or \"vault://mount/path#key\" \
         (the value is not shown)"
    )]
    Literal,
    #[error("unsupported reference scheme; use file://, env:// or vault://")]
    Scheme,
    #[error("file:// reference needs a path")]
    EmptyPath,
    #[error(
        "env:// reference needs a variable name of letters, digits and `_`, not starting with a digit"
    )]
    EnvName,
    #[error("vault:// reference must look like vault://<mount>/<path>#<key>, with no empty part")]
    Vault,
}

/// Parses a reference; relative `file://` paths are resolved against `base_dir`.
pub(crate) fn parse(text: &str, base_dir: &Path) -> Result<SecretRef, SecretRefError> {
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(SecretRefError::Literal);
    };
    match scheme {
        "file" => parse_file(rest, base_dir),
        "env" => parse_env(rest),
        "vault" => parse_vault(rest),
        _ => Err(SecretRefError::Scheme),
    }
}

fn parse_file(path: &str, base_dir: &Path) -> Result<SecretRef, SecretRefError> {
    if path.is_empty() || path == "/" {
        return Err(SecretRefError::EmptyPath);
    }
    // `file:///abs` leaves `/abs`; `file://rel/x` leaves `rel/x`, relative to the config.
    Ok(SecretRef::File(base_dir.join(path)))
}

fn parse_env(name: &str) -> Result<SecretRef, SecretRefError> {
    let valid = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Ok(SecretRef::Env(name.to_owned()))
    } else {
        Err(SecretRefError::EnvName)
    }
}

fn parse_vault(rest: &str) -> Result<SecretRef, SecretRefError> {
    let (location, key) = rest.split_once('#').ok_or(SecretRefError::Vault)?;
    let (mount, path) = location.split_once('/').ok_or(SecretRefError::Vault)?;
    let parts_ok = !mount.is_empty()
        && !key.is_empty()
        && !key.contains('#')
        && !path.is_empty()
        && path.split('/').all(|segment| !segment.is_empty());
    if !parts_ok {
        return Err(SecretRefError::Vault);
    }
    Ok(SecretRef::Vault {
        mount: mount.to_owned(),
        path: path.to_owned(),
        key: key.to_owned(),
    })
}

/// Checks that the reference can be resolved on this machine, as far as `checks` ask.
/// Files are opened, never read; messages name no path and no content.
pub(crate) fn check(reference: &SecretRef, checks: &Checks) -> Result<(), String> {
    match reference {
        SecretRef::File(path) if checks.files => {
            let file = std::fs::File::open(path)
                .map_err(|e| format!("referenced file cannot be opened: {}", io_reason(&e)))?;
            let is_file = file.metadata().map(|m| m.is_file()).unwrap_or(false);
            if is_file {
                Ok(())
            } else {
                Err("referenced file is not a regular file".to_owned())
            }
        }
        SecretRef::Env(name) if checks.env && std::env::var_os(name).is_none() => {
            Err("referenced environment variable is not set".to_owned())
        }
        _ => Ok(()),
    }
}

/// The reference as written (absolute for files), which is safe to log.
impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::File(path) => write!(f, "file://{}", path.display()),
            SecretRef::Env(name) => write!(f, "env://{name}"),
            SecretRef::Vault { mount, path, key } => write!(f, "vault://{mount}/{path}#{key}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{SecretRefError, parse};
    use crate::model::SecretRef;
    use std::path::{Path, PathBuf};

    const BASE: &str = "/etc/outscope";

    #[test]
    fn absolute_and_relative_files() {
        let base = Path::new(BASE);
        assert_eq!(
            parse("file:///tls/a.pem", base),
            Ok(SecretRef::File("/tls/a.pem".into()))
        );
        assert_eq!(
            parse("file://tls/a.pem", base),
            Ok(SecretRef::File(PathBuf::from("/etc/outscope/tls/a.pem")))
        );
        assert_eq!(parse("file://", base), Err(SecretRefError::EmptyPath));
    }

    #[test]
    fn env_names() {
        let base = Path::new(BASE);
        assert_eq!(
            parse("env://REDIS_PASSWORD", base),
            Ok(SecretRef::Env("REDIS_PASSWORD".into()))
        );
        for bad in ["env://", "env://1X", "env://A-B", "env://A B"] {
            assert_eq!(parse(bad, base), Err(SecretRefError::EnvName), "{bad}");
        }
    }

    #[test]
    fn vault_references() {
        let base = Path::new(BASE);
        assert_eq!(
            parse("vault://secret/outscope/redis#password", base),
            Ok(SecretRef::Vault {
                mount: "secret".into(),
                path: "outscope/redis".into(),
                key: "password".into()
            })
        );
        for bad in [
            "vault://secret#k",
            "vault://secret/p",
            "vault:///p#k",
            "vault://s/p#",
            "vault://s//p#k",
        ] {
            assert_eq!(parse(bad, base), Err(SecretRefError::Vault), "{bad}");
        }
    }

    #[test]
    fn literals_and_unknown_schemes_are_refused() {
        let base = Path::new(BASE);
        assert_eq!(parse("hunter2", base), Err(SecretRefError::Literal));
        assert_eq!(
            parse("-----BEGIN PRIVATE KEY-----", base),
            Err(SecretRefError::Literal)
        );
        assert_eq!(
            parse("https://example.com/key", base),
            Err(SecretRefError::Scheme)
        );
    }

    #[test]
    fn display_round_trips_the_reference() {
        let base = Path::new(BASE);
        for text in ["file:///etc/outscope/a.pem", "env://X", "vault://kv/a/b#c"] {
            assert_eq!(
                parse(text, base).map(|r| r.to_string()).as_deref(),
                Ok(text)
            );
        }
    }
}
