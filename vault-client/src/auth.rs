//! How the client gets a token: a fixed token, a token file, AppRole or Kubernetes.
//!
//! Credentials kept in files are read again at every login, so a rotated token file or a
//! new secret id is picked up without a restart.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use zeroize::Zeroizing;

use crate::Error;
use crate::secret::SecretString;

/// Where the projected service-account token lives in a pod.
pub const KUBERNETES_JWT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// An authentication method. `Debug` shows the method and file paths, never a credential.
#[derive(Clone)]
pub struct Auth(Method);

#[derive(Clone)]
enum Method {
    Token(SecretString),
    TokenFile(PathBuf),
    AppRole {
        mount: String,
        role_id_file: PathBuf,
        secret_id_file: PathBuf,
    },
    Kubernetes {
        mount: String,
        role: String,
        jwt_file: PathBuf,
    },
}

impl Auth {
    /// A fixed token (`VAULT_TOKEN`). It cannot be replaced when Vault refuses it.
    pub fn token(token: SecretString) -> Self {
        Self(Method::Token(token))
    }

    /// A token read from a file, read again whenever Vault refuses the current one (for
    /// a token rotated by an agent or an operator).
    pub fn token_file(path: impl Into<PathBuf>) -> Self {
        Self(Method::TokenFile(path.into()))
    }

    /// AppRole login at `auth/approle` with the role id and secret id read from files.
    pub fn app_role(role_id_file: impl Into<PathBuf>, secret_id_file: impl Into<PathBuf>) -> Self {
        Self(Method::AppRole {
            mount: "approle".to_owned(),
            role_id_file: role_id_file.into(),
            secret_id_file: secret_id_file.into(),
        })
    }

    /// Kubernetes login at `auth/kubernetes` as `role` with the service-account JWT read
    /// from `jwt_file` (usually [`KUBERNETES_JWT_PATH`]).
    pub fn kubernetes(role: impl Into<String>, jwt_file: impl Into<PathBuf>) -> Self {
        Self(Method::Kubernetes {
            mount: "kubernetes".to_owned(),
            role: role.into(),
            jwt_file: jwt_file.into(),
        })
    }

    /// Logs in at `auth/<mount>` instead of the method's default mount. No effect on
    /// token methods.
    pub fn at_mount(mut self, mount: impl Into<String>) -> Self {
        let new = mount.into().trim_matches('/').to_owned();
        match &mut self.0 {
            Method::AppRole { mount, .. } | Method::Kubernetes { mount, .. } => *mount = new,
            Method::Token(_) | Method::TokenFile(_) => {}
        }
        self
    }

    /// Whether a refused token can be replaced by logging in again.
    pub(crate) fn can_log_in_again(&self) -> bool {
        !matches!(self.0, Method::Token(_))
    }

    /// What logging in takes: a token to look up, or a login call to make.
    pub(crate) fn login_step(&self) -> Result<LoginStep, Error> {
        match &self.0 {
            Method::Token(token) => Ok(LoginStep::Token(token.clone())),
            Method::TokenFile(path) => Ok(LoginStep::Token(read_credential(path, "token")?)),
            Method::AppRole {
                mount,
                role_id_file,
                secret_id_file,
            } => {
                let role_id = read_credential(role_id_file, "AppRole role id")?;
                let secret_id = read_credential(secret_id_file, "AppRole secret id")?;
                let body = AppRoleLogin {
                    role_id: role_id.expose(),
                    secret_id: secret_id.expose(),
                };
                Ok(LoginStep::Call {
                    path: format!("auth/{mount}/login"),
                    body: to_secret_json(&body)?,
                })
            }
            Method::Kubernetes {
                mount,
                role,
                jwt_file,
            } => {
                let jwt = read_credential(jwt_file, "service-account token")?;
                let body = KubernetesLogin {
                    role,
                    jwt: jwt.expose(),
                };
                Ok(LoginStep::Call {
                    path: format!("auth/{mount}/login"),
                    body: to_secret_json(&body)?,
                })
            }
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Method::Token(_) => f.write_str("Auth::Token(<redacted>)"),
            Method::TokenFile(path) => write!(f, "Auth::TokenFile({})", path.display()),
            Method::AppRole {
                mount,
                role_id_file,
                secret_id_file,
            } => write!(
                f,
                "Auth::AppRole(auth/{mount}, role id {}, secret id {})",
                role_id_file.display(),
                secret_id_file.display()
            ),
            Method::Kubernetes {
                mount,
                role,
                jwt_file,
            } => write!(
                f,
                "Auth::Kubernetes(auth/{mount}, role {role}, jwt {})",
                jwt_file.display()
            ),
        }
    }
}

/// One step of logging in.
pub(crate) enum LoginStep {
    /// Use this token; look it up to learn its TTL.
    Token(SecretString),
    /// POST this JSON body to `/v1/<path>`; the answer's `auth` holds the token.
    Call {
        path: String,
        body: Zeroizing<Vec<u8>>,
    },
}

#[derive(Serialize)]
struct AppRoleLogin<'a> {
    role_id: &'a str,
    secret_id: &'a str,
}

#[derive(Serialize)]
struct KubernetesLogin<'a> {
    role: &'a str,
    jwt: &'a str,
}

/// Reads a credential file, trimming the surrounding whitespace editors and `echo` add.
fn read_credential(path: &Path, what: &str) -> Result<SecretString, Error> {
    let raw = std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| Error::config(format!("reading the {what} file {}: {e}", path.display())))?;
    let text = std::str::from_utf8(&raw)
        .map_err(|_| Error::config(format!("the {what} file {} is not UTF-8", path.display())))?;
    let value = text.trim();
    if value.is_empty() {
        return Err(Error::config(format!(
            "the {what} file {} is empty",
            path.display()
        )));
    }
    Ok(SecretString::from(value))
}

/// Serializes a request body into a buffer that is wiped on drop.
pub(crate) fn to_secret_json(value: &impl Serialize) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut out = Zeroizing::new(Vec::with_capacity(256));
    serde_json::to_writer(&mut *out, value)
        .map_err(|e| Error::protocol(format!("encoding a request body: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary file, removed when dropped.
    struct ScratchFile(PathBuf);

    impl ScratchFile {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for ScratchFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn scratch_file(name: &str, contents: &str) -> ScratchFile {
        let file = format!("vault-client-auth-{}-{name}", std::process::id());
        let path = std::env::temp_dir().join(file);
        std::fs::write(&path, contents).unwrap();
        ScratchFile(path)
    }

    fn call_of(auth: &Auth) -> (String, serde_json::Value) {
        match auth.login_step().unwrap() {
            LoginStep::Call { path, body } => (path, serde_json::from_slice(&body).unwrap()),
            LoginStep::Token(_) => panic!("expected a login call"),
        }
    }

    #[test]
    fn kubernetes_login_posts_the_role_and_the_service_account_jwt() {
        let jwt = scratch_file("k8s-jwt", "eyJhbGciOi.payload.sig\n");
        let auth = Auth::kubernetes("outscope", jwt.path());
        let (path, body) = call_of(&auth);
        assert_eq!(path, "auth/kubernetes/login");
        assert_eq!(
            body,
            serde_json::json!({"role": "outscope", "jwt": "eyJhbGciOi.payload.sig"})
        );
        let (path, _) = call_of(&auth.at_mount("/k8s-prod/"));
        assert_eq!(path, "auth/k8s-prod/login");
    }

    #[test]
    fn approle_login_reads_both_files_every_time() {
        let role = scratch_file("role-id", "  role-123\n");
        let secret = scratch_file("secret-id", "secret-1");
        let auth = Auth::app_role(role.path(), secret.path());
        let (path, body) = call_of(&auth);
        assert_eq!(path, "auth/approle/login");
        assert_eq!(body["role_id"], "role-123");
        assert_eq!(body["secret_id"], "secret-1");

        std::fs::write(secret.path(), "secret-2").unwrap();
        assert_eq!(
            call_of(&auth).1["secret_id"],
            "secret-2",
            "a rotated secret id is used"
        );
    }

    #[test]
    fn a_missing_or_empty_credential_file_is_a_config_error_naming_the_file() {
        let auth = Auth::token_file("/nonexistent/vault-token");
        let err = auth.login_step().err().unwrap();
        assert!(err.is_config());
        assert!(
            err.to_string().contains("/nonexistent/vault-token"),
            "{err}"
        );

        let empty = scratch_file("empty-token", " \n");
        let err = Auth::token_file(empty.path()).login_step().err().unwrap();
        assert!(err.to_string().contains("is empty"), "{err}");
    }

    #[test]
    fn debug_names_the_method_and_files_but_no_credential() {
        let shown = format!("{:?}", Auth::token(SecretString::from("hvs.top-secret")));
        assert_eq!(shown, "Auth::Token(<redacted>)");
        let shown = format!("{:?}", Auth::app_role("/etc/role", "/etc/secret"));
        assert!(
            shown.contains("/etc/secret") && shown.contains("auth/approle"),
            "{shown}"
        );
    }
}
