//! Reading every reference of a configuration into a [`Resolved`] map.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use outscope_config::{Config, Envelope, SecretRef, Tokenizer, Vault};
use outscope_tokenizer::DataKeys;

use super::collect::{Wanted, collect};
use super::vault::VaultSession;
use super::{Secret, SecretError, describe};

/// Every secret of one configuration, by reference. What [`Runtime::build`] reads from.
///
/// [`Runtime::build`]: crate::runtime::Runtime::build
#[derive(Default)]
pub struct Resolved {
    values: HashMap<SecretRef, Arc<Secret>>,
    /// The local vault's envelope data keys (`tokenizer.transit_key`), through the same
    /// Vault client; one instance per process and transit key, so a rebuilt tokenizer
    /// keeps its data key and counters. Not a secret value: never compared.
    data_keys: Option<Arc<DataKeys>>,
}

impl Resolved {
    /// The value of `reference`; an error naming it when it was not read.
    pub fn get(&self, reference: &SecretRef) -> Result<&Secret, SecretError> {
        self.values
            .get(reference)
            .map(AsRef::as_ref)
            .ok_or_else(|| SecretError::NotResolved {
                reference: describe(reference),
            })
    }

    /// The envelope data keys for `tokenizer.transit_key`, when the configuration has one
    /// and a Vault client could be set up.
    pub fn data_keys(&self) -> Option<&Arc<DataKeys>> {
        self.data_keys.as_ref()
    }

    pub fn insert(&mut self, reference: SecretRef, secret: Secret) {
        self.values.insert(reference, Arc::new(secret));
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether every one of `references` has the same value here and in `other` (both
    /// unread counts as the same).
    pub fn same_values<'r>(
        &self,
        other: &Resolved,
        references: impl IntoIterator<Item = &'r SecretRef>,
    ) -> bool {
        references
            .into_iter()
            .all(|r| match (self.values.get(r), other.values.get(r)) {
                (Some(a), Some(b)) => a.expose() == b.expose(),
                (None, None) => true,
                _ => false,
            })
    }

    /// Whether the two maps hold the same references with the same values.
    pub fn same_as(&self, other: &Resolved) -> bool {
        self.values.len() == other.values.len() && self.same_values(other, self.values.keys())
    }

    /// Reads `file://` and `env://` references now (no Vault): for tools and benchmarks
    /// that build one part (a tokenizer) by hand.
    pub fn read_local<'r>(
        references: impl IntoIterator<Item = &'r SecretRef>,
    ) -> Result<Self, SecretError> {
        let mut out = Self::default();
        for reference in references {
            out.insert(reference.clone(), super::resolve(reference)?);
        }
        Ok(out)
    }

    fn keep_from(&mut self, fallback: Option<&Resolved>, reference: &SecretRef) -> bool {
        match fallback.and_then(|f| f.values.get(reference)) {
            Some(value) => {
                self.values.insert(reference.clone(), value.clone());
                true
            }
            None => false,
        }
    }
}

/// Why one reference could not be read. Never holds a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    File(std::io::ErrorKind),
    EnvUnset,
    /// No `[vault]` client could be set up (address, CA file, credentials); says why.
    VaultSetup(String),
    VaultNotFound,
    VaultPermissionDenied,
    VaultUnavailable,
    VaultTls,
    /// Vault refused the request for another reason; Vault's own error text (no values).
    VaultFailed(String),
    /// The secret exists but has no such key.
    KeyMissing,
    /// A synchronous reload has no Vault client: only values read before can be used.
    NotReadYet,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::File(kind) => write!(f, "file cannot be read ({kind})"),
            Reason::EnvUnset => f.write_str("environment variable is not set or not UTF-8"),
            Reason::VaultSetup(why) => write!(f, "no Vault client: {why}"),
            Reason::VaultNotFound => f.write_str("not found in Vault"),
            Reason::VaultPermissionDenied => f.write_str("Vault denied the read (policy or login)"),
            Reason::VaultUnavailable => f.write_str("Vault is unavailable"),
            Reason::VaultTls => f.write_str("the TLS handshake with Vault failed"),
            Reason::VaultFailed(why) => write!(f, "Vault refused the read: {why}"),
            Reason::KeyMissing => f.write_str("the Vault secret has no such key"),
            Reason::NotReadYet => {
                f.write_str("not read from Vault yet (reload with SIGHUP so that Vault is asked)")
            }
        }
    }
}

impl Reason {
    /// The readiness code of a Vault failure (`None`: not Vault's fault).
    fn vault_code(&self) -> Option<&'static str> {
        Some(match self {
            Reason::VaultSetup(_) => "config",
            Reason::VaultNotFound | Reason::KeyMissing => "not_found",
            Reason::VaultPermissionDenied => "permission_denied",
            Reason::VaultUnavailable => "unavailable",
            Reason::VaultTls => "tls",
            Reason::VaultFailed(_) => "failed",
            Reason::File(_) | Reason::EnvUnset | Reason::NotReadYet => return None,
        })
    }

    fn from_vault(error: &vault_client::Error) -> Self {
        if error.is_not_found() {
            Reason::VaultNotFound
        } else if error.is_permission_denied() {
            Reason::VaultPermissionDenied
        } else if error.is_unavailable() {
            Reason::VaultUnavailable
        } else if error.is_tls() {
            Reason::VaultTls
        } else if error.is_config() {
            Reason::VaultSetup(error.to_string())
        } else {
            Reason::VaultFailed(error.to_string())
        }
    }
}

/// One reference that could not be read: where it is configured, what it names, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveError {
    pub key_path: String,
    /// The reference as written (`vault://secret/outscope/tls#key`).
    pub reference: String,
    pub reason: Reason,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.key_path, self.reference, self.reason)
    }
}

/// Every reference that could not be read, in configuration order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ResolveErrors(pub Vec<ResolveError>);

impl fmt::Display for ResolveErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => f.write_str("no secret failed"),
            [one] => write!(f, "secret {one}"),
            [first, rest @ ..] => write!(
                f,
                "{} secrets could not be read; first: {first}",
                rest.len() + 1
            ),
        }
    }
}

/// How Vault answered during a resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultState {
    /// No `vault://` reference (Vault was not asked).
    Unused,
    /// Every Vault read succeeded.
    Up,
    /// At least one Vault read failed; the readiness reason code.
    Down(&'static str),
}

/// The result of reading every reference of a configuration.
pub struct Outcome {
    /// Every reference has a value (read now, or kept from the values in effect).
    /// `Err`: some reference could not be read and had no value to keep.
    pub resolved: Result<Resolved, ResolveErrors>,
    /// Every read that failed, including those covered by a kept value.
    pub failures: Vec<ResolveError>,
    pub vault: VaultState,
}

/// How many `(vault settings, transit key)` data key sets the resolver remembers.
const KNOWN_DATA_KEYS: usize = 4;

/// Reads references; holds the Vault client (and its token renewal) across refreshes.
#[derive(Default)]
pub struct Resolver {
    session: Mutex<Option<Arc<VaultSession>>>,
    /// The data keys of the last few `(vault settings, mount, key)` asked for, newest last:
    /// a reload that is refused (or a configuration tried and reverted) does not orphan the
    /// data keys in effect, so a later refresh keeps using them.
    data_keys: Mutex<Vec<(Vault, Envelope, Arc<DataKeys>)>>,
}

impl Resolver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads every reference of `config`: files and variables now, Vault with one KV read
    /// per secret path. A reference that cannot be read keeps its value from `fallback`
    /// (the values in effect) when it has one.
    pub async fn resolve(&self, config: &Config, fallback: Option<&Resolved>) -> Outcome {
        let wanted = collect(config);
        let mut out = Resolved::default();
        let mut failures: Vec<Failure> = Vec::new();
        let mut from_vault: BTreeMap<(&str, &str), Vec<&Wanted>> = BTreeMap::new();
        for w in &wanted {
            match &w.reference {
                SecretRef::Vault { mount, path, .. } => {
                    from_vault.entry((mount, path)).or_default().push(w);
                }
                _ => read_local(w, &mut out, &mut failures),
            }
        }
        let vault = if from_vault.is_empty() {
            VaultState::Unused
        } else {
            self.read_vault(config, from_vault, &mut out, &mut failures)
                .await
        };
        // Report in configuration order (Vault paths were read in path order).
        let position = |key_path: &str| wanted.iter().position(|w| w.key_path == key_path);
        failures.sort_by_key(|(_, e)| position(&e.key_path));
        out.data_keys = self.data_keys(config);
        finish(out, failures, fallback, vault)
    }

    /// The data keys for the configuration's `tokenizer.transit_key`: the same instance
    /// while the `[vault]` settings and the transit key stay the same.
    fn data_keys(&self, config: &Config) -> Option<Arc<DataKeys>> {
        let envelope = envelope(config)?;
        let settings = config.vault.as_ref()?;
        let mut known = self
            .data_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, keys)) = known
            .iter()
            .find(|(s, e, _)| s == settings && e.mount == envelope.mount && e.key == envelope.key)
        {
            return Some(keys.clone());
        }
        let session = match self.session(config) {
            Ok(session) => session,
            Err(reason) => {
                tracing::warn!(key_path = "tokenizer.transit_key", %reason, "no Vault client for data keys");
                return None;
            }
        };
        let keys = Arc::new(DataKeys::new(
            &session.client,
            &envelope.mount,
            &envelope.key,
        ));
        known.push((settings.clone(), envelope.clone(), keys.clone()));
        if known.len() > KNOWN_DATA_KEYS {
            known.remove(0);
        }
        Some(keys)
    }

    async fn read_vault(
        &self,
        config: &Config,
        wanted: BTreeMap<(&str, &str), Vec<&Wanted>>,
        out: &mut Resolved,
        failures: &mut Vec<Failure>,
    ) -> VaultState {
        let session = match self.session(config) {
            Ok(session) => session,
            Err(reason) => {
                let code = reason.vault_code().unwrap_or("config");
                for w in wanted.values().flatten() {
                    failures.push(failed(w, reason.clone()));
                }
                return VaultState::Down(code);
            }
        };
        let mut down: Option<Reason> = None;
        for ((mount, path), group) in wanted {
            // Once Vault is unreachable, do not wait on it again for every path.
            let read = match &down {
                Some(reason) => Err(reason.clone()),
                None => session
                    .client
                    .kv2(mount)
                    .read(path)
                    .await
                    .map_err(|e| Reason::from_vault(&e)),
            };
            match read {
                Ok(secret) => {
                    for w in group {
                        let SecretRef::Vault { key, .. } = &w.reference else {
                            continue;
                        };
                        match secret.get(key) {
                            Some(value) => out.insert(
                                w.reference.clone(),
                                Secret::new(value.expose().as_bytes().to_vec()),
                            ),
                            None => failures.push(failed(w, Reason::KeyMissing)),
                        }
                    }
                }
                Err(reason) => {
                    if reason == Reason::VaultUnavailable {
                        down = Some(reason.clone());
                    }
                    for w in group {
                        failures.push(failed(w, reason.clone()));
                    }
                }
            }
        }
        match failures.iter().find_map(|(_, f)| f.reason.vault_code()) {
            Some(code) => VaultState::Down(code),
            None => VaultState::Up,
        }
    }

    /// The Vault client for `config`'s `[vault]`, built (and its renewal started) when the
    /// section is new or changed.
    fn session(&self, config: &Config) -> Result<Arc<VaultSession>, Reason> {
        let Some(settings) = &config.vault else {
            return Err(Reason::VaultSetup(
                "the configuration has no [vault] section".into(),
            ));
        };
        let mut slot = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(session) = slot.as_ref().filter(|s| s.settings == *settings) {
            return Ok(session.clone());
        }
        let session = Arc::new(VaultSession::start(settings).map_err(Reason::VaultSetup)?);
        *slot = Some(session.clone());
        Ok(session)
    }
}

/// Reads `file://` and `env://` references of `config` now, and takes `vault://` ones from
/// `fallback` (for a reload that cannot wait on Vault).
pub fn resolve_now(config: &Config, fallback: Option<&Resolved>) -> Outcome {
    let mut out = Resolved::default();
    let mut failures: Vec<Failure> = Vec::new();
    for w in &collect(config) {
        if matches!(w.reference, SecretRef::Vault { .. }) {
            failures.push(failed(w, Reason::NotReadYet));
        } else {
            read_local(w, &mut out, &mut failures);
        }
    }
    // The data keys in effect, when this configuration asks for the same transit key.
    out.data_keys = match (
        envelope(config),
        fallback.and_then(|f| f.data_keys.as_ref()),
    ) {
        (Some(e), Some(keys)) if keys.transit_key() == format!("{}/{}", e.mount, e.key) => {
            Some(keys.clone())
        }
        _ => None,
    };
    let outcome = finish(out, failures, fallback, VaultState::Unused);
    // Vault values taken from the last read are not failures of this reload.
    let failures = outcome
        .failures
        .into_iter()
        .filter(|f: &ResolveError| f.reason != Reason::NotReadYet)
        .collect();
    Outcome {
        failures,
        ..outcome
    }
}

/// The configuration's `tokenizer.transit_key` settings, if any.
fn envelope(config: &Config) -> Option<&Envelope> {
    match &config.tokenizer {
        Some(Tokenizer::Local(l)) => l.envelope.as_ref(),
        _ => None,
    }
}

/// A failed read: the reference, and the error reported about it.
type Failure = (SecretRef, ResolveError);

fn read_local(w: &Wanted, out: &mut Resolved, failures: &mut Vec<Failure>) {
    if out.values.contains_key(&w.reference) {
        return;
    }
    match super::resolve(&w.reference) {
        Ok(secret) => out.insert(w.reference.clone(), secret),
        Err(SecretError::Io { kind, .. }) => failures.push(failed(w, Reason::File(kind))),
        Err(SecretError::MissingEnv { .. }) => failures.push(failed(w, Reason::EnvUnset)),
        Err(SecretError::NotResolved { .. }) => failures.push(failed(w, Reason::NotReadYet)),
    }
}

fn failed(w: &Wanted, reason: Reason) -> Failure {
    let error = ResolveError {
        key_path: w.key_path.clone(),
        reference: describe(&w.reference),
        reason,
    };
    (w.reference.clone(), error)
}

/// Fills the failed references from `fallback`; fatal are those with nothing to keep.
fn finish(
    mut out: Resolved,
    failures: Vec<Failure>,
    fallback: Option<&Resolved>,
    vault: VaultState,
) -> Outcome {
    let mut fatal = Vec::new();
    let mut all = Vec::new();
    for (reference, error) in failures {
        // The same reference under several key paths: kept once, reported once each.
        if !out.values.contains_key(&reference) && !out.keep_from(fallback, &reference) {
            fatal.push(error.clone());
        }
        all.push(error);
    }
    let resolved = if fatal.is_empty() {
        Ok(out)
    } else {
        Err(ResolveErrors(fatal))
    };
    Outcome {
        resolved,
        failures: all,
        vault,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> SecretRef {
        SecretRef::File(name.into())
    }

    fn map(entries: &[(&str, &str)]) -> Resolved {
        let mut r = Resolved::default();
        for (name, value) in entries {
            r.insert(file(name), Secret::new(value.as_bytes().to_vec()));
        }
        r
    }

    #[test]
    fn values_compare_by_reference() {
        let a = map(&[("/a", "1"), ("/b", "2")]);
        let b = map(&[("/a", "1"), ("/b", "3")]);
        assert!(a.same_values(&b, [&file("/a")]));
        assert!(!a.same_values(&b, [&file("/b")]));
        assert!(!a.same_as(&b));
        assert!(a.same_as(&map(&[("/b", "2"), ("/a", "1")])));
        assert!(!a.same_as(&map(&[("/a", "1")])), "a reference went away");
        assert!(a.same_values(&b, [&file("/unread")]));
    }

    #[test]
    fn an_unread_reference_is_an_error_naming_it() {
        let err = map(&[]).get(&file("/etc/outscope/x.key")).err().unwrap();
        assert_eq!(
            err.to_string(),
            "file:///etc/outscope/x.key was not read before the runtime was built"
        );
    }

    #[test]
    fn a_failed_read_keeps_the_last_good_value_and_is_still_reported() {
        let failure = ResolveError {
            key_path: "tokenizer.keys".into(),
            reference: "file:///a".into(),
            reason: Reason::File(std::io::ErrorKind::NotFound),
        };
        let failed = || vec![(file("/a"), failure.clone())];
        let last_good = map(&[("/a", "old")]);
        let outcome = finish(
            Resolved::default(),
            failed(),
            Some(&last_good),
            VaultState::Unused,
        );
        let resolved = outcome.resolved.unwrap();
        assert_eq!(resolved.get(&file("/a")).unwrap().expose(), b"old");
        assert_eq!(outcome.failures, vec![failure.clone()]);

        let outcome = finish(Resolved::default(), failed(), None, VaultState::Unused);
        assert_eq!(outcome.resolved.err(), Some(ResolveErrors(vec![failure])));
    }

    #[test]
    fn errors_name_the_key_path_and_reference_only() {
        let errors = ResolveErrors(vec![
            ResolveError {
                key_path: "tokenizer.secret_key".into(),
                reference: "vault://secret/outscope/stripe#secret_key".into(),
                reason: Reason::VaultUnavailable,
            },
            ResolveError {
                key_path: "redis.password".into(),
                reference: "env://REDIS_PASSWORD".into(),
                reason: Reason::EnvUnset,
            },
        ]);
        assert_eq!(
            errors.to_string(),
            "2 secrets could not be read; first: tokenizer.secret_key: \
             vault://secret/outscope/stripe#secret_key: Vault is unavailable"
        );
    }

    #[test]
    fn files_and_variables_are_read_now_and_vault_values_come_from_the_last_read() {
        let dir = std::env::temp_dir().join(format!("outscope-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("k"),
            "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        )
        .unwrap();
        let text = "[[listeners]]\nname = \"l\"\naddress = \"127.0.0.1:0\"\n[listeners.tls]\n\
             [[listeners.tls.certificates]]\ncert = \"vault://kv/tls#cert\"\nkey = \"file://k\"\n\
             [[upstreams]]\nname = \"u\"\nurl = \"http://127.0.0.1:1\"\n\
             [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n\
             [vault]\n[vault.auth]\nmethod = \"token\"\ntoken = \"env://VAULT_TOKEN\"\n";
        let config = outscope_config::parse(text, &dir).unwrap();
        let outcome = resolve_now(&config, None);
        let errors = outcome.resolved.err().unwrap();
        assert_eq!(errors.0.len(), 1);
        assert_eq!(
            errors.0[0].key_path,
            "listeners[0].tls.certificates[0].cert"
        );
        assert_eq!(errors.0[0].reason, Reason::NotReadYet);

        let vault_ref = SecretRef::Vault {
            mount: "kv".into(),
            path: "tls".into(),
            key: "cert".into(),
        };
        let mut last = Resolved::default();
        last.insert(vault_ref.clone(), Secret::new(b"PEM".to_vec()));
        let outcome = resolve_now(&config, Some(&last));
        assert!(outcome.failures.is_empty());
        let resolved = outcome.resolved.unwrap();
        assert_eq!(resolved.get(&vault_ref).unwrap().expose(), b"PEM");
        assert_eq!(
            resolved
                .get(&SecretRef::File(dir.join("k")))
                .unwrap()
                .expose(),
            b"k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
