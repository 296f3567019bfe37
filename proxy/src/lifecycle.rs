//! Starting, reloading, refreshing secrets and draining the proxy. The binary drives these
//! from signals (SIGHUP, SIGTERM) and a timer (`vault.refresh_interval`); tests drive them
//! directly.
//!
//! Every secret is read before a runtime is built ([`crate::secrets`]). A refresh reads
//! them all again; when a value changed, a new runtime is built from the same config and
//! swapped in exactly like a reload (new TLS configs for new connections, open connections
//! untouched, the tokenizer rebuilt when its secrets changed). A reference that cannot be
//! read keeps its last good value, is logged by key path and reference, counted, and turns
//! the `vault` dependency down (optional: the instance keeps serving and stays ready).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use outscope_config::Config;
use outscope_telemetry::{AdminState, Check, Health, Requirement};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{self, App};
use crate::datakeys::{self, DataKeyMetrics, KeyHealth, Why};
use crate::runtime::{BuildError, Runtime};
use crate::secrets::{
    Outcome, RefreshResult, ResolveError, ResolveErrors, Resolved, Resolver, SecretMetrics,
    VaultState, resolve_now,
};
use crate::server;
use outscope_tokenizer::KeyError;

/// How often the refresh task looks again at a configuration without `[vault]` (a reload
/// may add one).
const IDLE_CHECK: Duration = Duration::from_secs(60);

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Secrets(#[from] ResolveErrors),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot listen on {address} ({name}): {source}")]
    Bind {
        name: String,
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// Why a reload was refused (the old configuration stays in effect).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("invalid configuration: {0} problem(s), first: {1}")]
    Invalid(usize, String),
    #[error(transparent)]
    Secrets(#[from] ResolveErrors),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(
        "listeners and the admin address cannot be added, removed or moved by a reload; restart to change them"
    )]
    ListenersChanged,
    #[error("runtime.worker_threads cannot be changed by a reload; restart to change it")]
    RuntimeChanged,
    /// The configuration names another transit key (or another Vault) whose first data key
    /// could not be fetched: installing it would leave the instance unable to seal.
    #[error(
        "tokenizer.transit_key: no data key from the new transit key ({0}); the running configuration stays in effect"
    )]
    DataKey(outscope_tokenizer::KeyError),
}

/// A started proxy.
pub struct Running {
    pub app: Arc<App>,
    /// Bound addresses, parallel to the configured listeners (port 0 resolved).
    pub listen_addrs: Vec<SocketAddr>,
    /// The bound admin address.
    pub admin_addr: SocketAddr,
    secrets: Arc<Secrets>,
    keys: Arc<KeyHealth>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

async fn bind(name: &str, address: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind {
            name: name.to_owned(),
            address,
            source,
        })
}

/// Reads every secret (Vault included), builds the runtime (all certificates loaded, all
/// clients built), binds every listener and the admin address, and starts serving.
/// Nothing is bound unless every secret could be read and everything could be built.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let config = Arc::new(config);
    let metrics = app::new_metrics();
    let health = Arc::new(Health::new());
    let secrets = Arc::new(Secrets::new(health.clone()));
    let outcome = secrets.resolver.resolve(&config, None).await;
    secrets.note_vault(&config, outcome.vault);
    let resolved = outcome.resolved?;
    secrets.metrics.loaded(SystemTime::now());
    let runtime = Runtime::build(config.clone(), Arc::new(resolved), &metrics, None)?;
    // Envelope encryption: the first data key. Without it the proxy still starts (known
    // cards keep their tokens, other routes work) but new cards get 503 and the instance
    // is not ready until the rotation loop gets one.
    let keys = Arc::new(KeyHealth::new(health.clone()));
    datakeys::rotate(&runtime, &keys, Why::Start).await;
    let mut listeners = Vec::new();
    for l in &config.listeners {
        listeners.push(bind(&l.name, l.address).await?);
    }
    let admin = bind("admin", config.admin.address).await?;
    let admin_addr = admin.local_addr().map_err(|source| StartError::Bind {
        name: "admin".into(),
        address: config.admin.address,
        source,
    })?;
    let app = App::new(runtime, metrics, health);
    let (stop, stop_rx) = watch::channel(false);
    let mut listen_addrs = Vec::new();
    let mut tasks = Vec::new();
    for (index, socket) in listeners.into_iter().enumerate() {
        let l = &config.listeners[index];
        let addr = socket.local_addr().map_err(|source| StartError::Bind {
            name: l.name.clone(),
            address: l.address,
            source,
        })?;
        listen_addrs.push(addr);
        tasks.push(tokio::spawn(server::accept_loop(
            app.clone(),
            index,
            socket,
            stop_rx.clone(),
        )));
    }
    tasks.push(tokio::spawn(refresh_loop(
        app.clone(),
        secrets.clone(),
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(datakeys::rotation_loop(
        app.clone(),
        keys.clone(),
        stop_rx.clone(),
    )));
    let admin_state = AdminState::new(app.metrics.clone(), app.health.clone())
        .with_collector(app.cards.clone())
        .with_collector(secrets.metrics.clone())
        .with_collector(Arc::new(DataKeyMetrics(app.clone())));
    let mut admin_stop = stop_rx.clone();
    let admin_task = tokio::spawn(outscope_telemetry::serve_admin(
        admin,
        admin_state,
        async move {
            let _ = admin_stop.wait_for(|stop| *stop).await;
        },
    ));
    tasks.push(admin_task);
    Ok(Running {
        app,
        listen_addrs,
        admin_addr,
        secrets,
        keys,
        stop,
        tasks,
    })
}

impl Running {
    /// Puts a new validated configuration into effect, or keeps the old one and says why.
    /// Either outcome is counted in `outscope_config_reloads_total`.
    ///
    /// Synchronous: `file://` and `env://` references are read again now, `vault://` ones
    /// keep the values last read from Vault (a reference Vault was never asked for is an
    /// error). [`reload_config`](Self::reload_config) asks Vault too.
    pub fn reload(&self, config: Config) -> Result<(), ReloadError> {
        let result = self.try_reload(config);
        if result.is_err() {
            self.app.metrics.reload_failed();
        }
        self.keys.changed(&self.app.runtime());
        result
    }

    /// [`reload`](Self::reload), reading every reference again, Vault included.
    pub async fn reload_config(&self, config: Config) -> Result<(), ReloadError> {
        let result = self.try_reload_config(config).await;
        if result.is_err() {
            self.app.metrics.reload_failed();
        }
        self.keys.changed(&self.app.runtime());
        result
    }

    /// Reads, validates and applies the configuration file at `path`, reading every secret
    /// again (SIGHUP). With `tokenizer.transit_key`, a new data key is fetched afterwards
    /// whether or not the file was accepted (a failed fetch keeps the current key). A file
    /// naming another transit key (or Vault) is accepted only once that key gave a first
    /// data key.
    pub async fn reload_file(&self, path: &Path) -> Result<(), ReloadError> {
        let result = self.reload_path(path).await;
        self.rotate_data_key(Why::Sighup).await;
        result
    }

    /// Fetches a new envelope data key for the local vault in effect (`None`: it uses no
    /// transit key). A failure keeps the current key; both outcomes are counted.
    pub async fn rotate_data_key(
        &self,
        why: Why,
    ) -> Option<Result<(), outscope_tokenizer::KeyError>> {
        datakeys::rotate(&self.app.runtime(), &self.keys, why).await
    }

    /// What the data key loop does every minute: reads the transit key's versions, turns
    /// readiness down while the current data key's version is retired, and fetches a new
    /// data key when the transit key has a newer version (`None`: no transit key).
    pub async fn check_data_key_versions(
        &self,
    ) -> Option<Result<(), outscope_tokenizer::KeyError>> {
        datakeys::check_versions(&self.app.runtime(), &self.keys).await
    }

    async fn reload_path(&self, path: &Path) -> Result<(), ReloadError> {
        match outscope_config::load_with(path, &outscope_config::Checks::ALL) {
            Ok(config) => self.reload_config(config).await,
            Err(problems) => {
                self.app.metrics.reload_failed();
                let first = problems
                    .0
                    .first()
                    .map(|p| format!("{}: {}", p.key_path, p.message))
                    .unwrap_or_default();
                Err(ReloadError::Invalid(problems.0.len(), first))
            }
        }
    }

    /// Reads every secret of the configuration in effect again and, when a value changed,
    /// builds a new runtime and swaps it in (`vault.refresh_interval` does this on a timer).
    pub async fn refresh_secrets(&self) -> Refresh {
        refresh(&self.app, &self.secrets).await
    }

    fn try_reload(&self, config: Config) -> Result<(), ReloadError> {
        let current = self.app.runtime();
        check_listeners(&current.config, &config)?;
        let outcome = resolve_now(&config, Some(&current.secrets));
        log_failures(&outcome.failures);
        let resolved = outcome.resolved?;
        self.secrets
            .install(&self.app, None, Arc::new(config), resolved)?;
        Ok(())
    }

    async fn try_reload_config(&self, config: Config) -> Result<(), ReloadError> {
        let _one = self.secrets.refreshing.lock().await;
        let current = self.app.runtime();
        check_listeners(&current.config, &config)?;
        let outcome = self
            .secrets
            .resolver
            .resolve(&config, Some(&current.secrets))
            .await;
        self.secrets.note_vault(&config, outcome.vault);
        log_failures(&outcome.failures);
        let result = match &outcome.resolved {
            _ if !outcome.failures.is_empty() => RefreshResult::Failed,
            Ok(resolved) if resolved.same_as(&current.secrets) => RefreshResult::Unchanged,
            Ok(_) => RefreshResult::Rotated,
            Err(_) => RefreshResult::Failed,
        };
        self.secrets.metrics.refreshed(result);
        let resolved = outcome.resolved?;
        first_data_key(&current, &resolved)
            .await
            .map_err(ReloadError::DataKey)?;
        self.secrets
            .install(&self.app, None, Arc::new(config), resolved)?;
        Ok(())
    }

    /// Drains and stops: readiness turns false, after `drain_delay` the listeners close and
    /// connections are asked to finish, and after at most `drain_timeout` the rest are
    /// dropped. Returns whether every connection finished in time.
    pub async fn shutdown(self) -> bool {
        let config = self.app.runtime().config.clone();
        self.app.health.start_draining();
        tokio::time::sleep(config.shutdown.drain_delay).await;
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.app
            .connections_closed(config.limits.max_connections, config.shutdown.drain_timeout)
            .await
    }
}

/// Fetches the first data key of `next`'s data keys when they are not the ones in effect
/// (another transit key, or another `[vault]`) and have none yet, so a runtime is never
/// swapped in unable to seal while the one it replaces could.
async fn first_data_key(current: &Runtime, next: &Resolved) -> Result<(), KeyError> {
    let Some(keys) = next.data_keys() else {
        return Ok(());
    };
    let in_effect = current
        .secrets
        .data_keys()
        .is_some_and(|k| Arc::ptr_eq(k, keys));
    if in_effect || keys.can_seal() {
        return Ok(());
    }
    datakeys::first_key(keys).await
}

fn check_listeners(current: &Config, next: &Config) -> Result<(), ReloadError> {
    let same = current.admin.address == next.admin.address
        && current.listeners.len() == next.listeners.len()
        && current
            .listeners
            .iter()
            .zip(&next.listeners)
            .all(|(a, b)| a.name == b.name && a.address == b.address);
    if !same {
        Err(ReloadError::ListenersChanged)
    } else if current.runtime != next.runtime {
        Err(ReloadError::RuntimeChanged)
    } else {
        Ok(())
    }
}

/// What a secret refresh did.
#[derive(Debug)]
pub struct Refresh {
    /// A value changed and a runtime built from the new values is in effect.
    pub rotated: bool,
    /// Every failure, as `key path: reference: reason`. Read failures keep their last good
    /// value; a rotation that did not build keeps the whole runtime.
    pub failures: Vec<String>,
}

impl Refresh {
    /// The `result` label it is counted under.
    pub fn result(&self) -> RefreshResult {
        if !self.failures.is_empty() {
            RefreshResult::Failed
        } else if self.rotated {
            RefreshResult::Rotated
        } else {
            RefreshResult::Unchanged
        }
    }
}

/// Secret reading shared by start, reloads and refreshes.
struct Secrets {
    resolver: Resolver,
    metrics: Arc<SecretMetrics>,
    health: Arc<Health>,
    /// The `vault` dependency, registered once a configuration has `[vault]`.
    vault_check: Mutex<Option<Check>>,
    /// One resolution at a time (refreshes and full reloads).
    refreshing: tokio::sync::Mutex<()>,
    /// Build and install happen under this lock (never held across an await), so a
    /// refresh cannot replace a runtime a reload installed meanwhile.
    installing: Mutex<()>,
}

impl Secrets {
    fn new(health: Arc<Health>) -> Self {
        Self {
            resolver: Resolver::new(),
            metrics: Arc::default(),
            health,
            vault_check: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            installing: Mutex::new(()),
        }
    }

    /// Keeps the `vault` dependency current. Optional: an instance that is running has
    /// read every secret once (start is all or nothing), so a Vault outage only stops
    /// rotations; taking every instance out of the load balancer would turn it into an
    /// outage. `outscope_dependency_up{dependency="vault"}` and the `degraded` list of
    /// `/readyz` show it.
    fn note_vault(&self, config: &Config, state: VaultState) {
        let mut slot = self
            .vault_check
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() && config.vault.is_some() {
            *slot = Some(self.health.register("vault", Requirement::Optional));
        }
        let Some(check) = slot.as_ref() else { return };
        match state {
            VaultState::Down(code) => check.set_down(code),
            VaultState::Up | VaultState::Unused => check.set_up(),
        }
    }

    /// Builds a runtime from `config` and `secrets` and swaps it in, unless `expected` is
    /// given and is no longer the runtime in effect (then nothing happens: `Ok(false)`).
    fn install(
        &self,
        app: &App,
        expected: Option<&Arc<Runtime>>,
        config: Arc<Config>,
        secrets: Resolved,
    ) -> Result<bool, BuildError> {
        let _guard = self
            .installing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = app.runtime();
        if expected.is_some_and(|e| !Arc::ptr_eq(e, &current)) {
            return Ok(false);
        }
        let runtime = Runtime::build(config, Arc::new(secrets), &app.metrics, Some(&current))?;
        app.install(runtime);
        Ok(true)
    }
}

/// Reads every secret of the runtime in effect again; swaps in a new runtime when a value
/// changed.
async fn refresh(app: &App, secrets: &Secrets) -> Refresh {
    let _one = secrets.refreshing.lock().await;
    let current = app.runtime();
    let Outcome {
        resolved,
        failures,
        vault,
    } = secrets
        .resolver
        .resolve(&current.config, Some(&current.secrets))
        .await;
    secrets.note_vault(&current.config, vault);
    log_failures(&failures);
    let mut failures: Vec<String> = failures.iter().map(ToString::to_string).collect();
    let mut rotated = false;
    match resolved {
        Err(errors) => failures.extend(errors.0.iter().map(ToString::to_string)),
        Ok(resolved) if resolved.same_as(&current.secrets) => {}
        Ok(resolved) => {
            let config = current.config.clone();
            if let Err(e) = first_data_key(&current, &resolved).await {
                failures.push(ReloadError::DataKey(e).to_string());
                let refresh = Refresh { rotated, failures };
                secrets.metrics.refreshed(refresh.result());
                return refresh;
            }
            match secrets.install(app, Some(&current), config, resolved) {
                Ok(installed) => {
                    rotated = installed;
                    if installed {
                        tracing::info!("rotated secrets are in effect");
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "rotated secrets did not build; keeping the running configuration");
                    failures.push(e.to_string());
                }
            }
        }
    }
    let refresh = Refresh { rotated, failures };
    secrets.metrics.refreshed(refresh.result());
    refresh
}

/// Logs each reference that could not be read: key path, reference and reason, never a
/// value.
fn log_failures(failures: &[ResolveError]) {
    for f in failures {
        tracing::warn!(
            key_path = %f.key_path,
            reference = %f.reference,
            reason = %f.reason,
            "secret could not be read; keeping its last good value"
        );
    }
}

/// Refreshes every `vault.refresh_interval` until the proxy stops.
async fn refresh_loop(app: Arc<App>, secrets: Arc<Secrets>, mut stop: watch::Receiver<bool>) {
    loop {
        let every = app
            .runtime()
            .config
            .vault
            .as_ref()
            .map(|v| v.refresh_interval);
        tokio::select! {
            () = tokio::time::sleep(every.unwrap_or(IDLE_CHECK)) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        if every.is_none() || app.draining() {
            continue;
        }
        tokio::select! {
            _ = refresh(&app, &secrets) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}
