//! The local vault's envelope data keys, seen from the proxy (`tokenizer.transit_key`): the
//! first fetch at start, a new data key every `tokenizer.data_key_rotation`, on SIGHUP and
//! as soon as the transit key has a newer version, readiness, and metrics. The keys
//! themselves live in `outscope_tokenizer::DataKeys`.
//!
//! | metric | labels |
//! |---|---|
//! | `outscope_data_key_rotations_total` | `result` (`ok`, `failed`) |
//! | `outscope_data_key_unwraps_total` | `result` (`ok`, `failed`) |
//! | `outscope_data_key_version_checks_total` | `result` (`ok`, `failed`) |
//! | `outscope_data_key_created_timestamp_seconds` | (0: no data key) |
//! | `outscope_data_key_transit_version` | (0: no data key) |
//! | `outscope_data_key_transit_latest_version` | (0: not read yet) |
//! | `outscope_data_key_transit_min_decryption_version` | (0: not read yet) |
//!
//! Every [`VERSION_CHECK`] the loop reads the transit key's versions (`read` on
//! `keys/<key>`): a data key wrapped by an older version than the latest is replaced at
//! once, and one whose version is below `min_decryption_version` stops sealing at once.
//!
//! Readiness: the `data_key` check is *required* and down while the instance cannot seal a
//! single new card (tokenize answers 503): `no_data_key` (none in memory) or
//! `data_key_retired` (its transit version is below `min_decryption_version`). A failed
//! rotation with a usable key in hand keeps that key, is logged (transit key name, never
//! material) and counted, and leaves the instance ready.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, UNIX_EPOCH};

use outscope_telemetry::encode::{Encoder, Kind};
use outscope_telemetry::{Check, Collect, Health, Requirement};
use outscope_tokenizer::{CurrentKey, DataKeys, KeyError};
use tokio::sync::{Notify, watch};

use crate::app::App;
use crate::runtime::Runtime;

/// How often the loop looks again at a configuration without `transit_key`.
const IDLE_CHECK: Duration = Duration::from_secs(60);
/// How often the transit key's versions are read (and the longest the loop sleeps, so a
/// runtime swapped in by a reload is looked at within this time even without a wake-up).
pub const VERSION_CHECK: Duration = Duration::from_secs(60);
/// How soon a failed fetch is tried again (without a key: sooner, every request needs one).
const RETRY_WITHOUT_KEY: Duration = Duration::from_secs(5);
const RETRY_WITH_KEY: Duration = Duration::from_secs(30);

/// Why a data key was fetched, for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Start,
    Schedule,
    Sighup,
    Requested,
    /// The transit key has a newer version than the one wrapping the current data key.
    TransitRotated,
    /// A reload put a different transit key (or Vault) in effect.
    Reload,
}

impl Why {
    fn as_str(self) -> &'static str {
        match self {
            Why::Start => "start",
            Why::Schedule => "schedule",
            Why::Sighup => "sighup",
            Why::Requested => "requested",
            Why::TransitRotated => "transit_rotated",
            Why::Reload => "reload",
        }
    }
}

/// The `data_key` readiness check, registered once a configuration uses envelope keys.
pub struct KeyHealth {
    health: Arc<Health>,
    check: Mutex<Option<Check>>,
    /// Wakes the rotation loop when a reload swapped in another runtime.
    wake: Notify,
}

impl KeyHealth {
    pub fn new(health: Arc<Health>) -> Self {
        Self {
            health,
            check: Mutex::new(None),
            wake: Notify::new(),
        }
    }

    /// [`note`](Self::note), and wakes the rotation loop to look at the runtime now in
    /// effect (a reload may have brought other data keys or another period).
    pub fn changed(&self, rt: &Runtime) {
        self.note(rt);
        self.wake.notify_one();
    }

    /// Up when the runtime's vault can seal new cards (or does not use data keys).
    pub fn note(&self, rt: &Runtime) {
        let mut slot = self.check.lock().unwrap_or_else(PoisonError::into_inner);
        let keys = data_keys(rt);
        if slot.is_none() && keys.is_some() {
            *slot = Some(self.health.register("data_key", Requirement::Required));
        }
        let Some(check) = slot.as_ref() else { return };
        match keys {
            Some((keys, _)) if !keys.has_current() => check.set_down("no_data_key"),
            Some((keys, _)) if !keys.can_seal() => check.set_down("data_key_retired"),
            _ => check.set_up(),
        }
    }
}

/// The runtime's data keys and rotation period, when its local vault uses them.
pub fn data_keys(rt: &Runtime) -> Option<(Arc<DataKeys>, Duration)> {
    let keys = rt.tokenizer.as_ref()?.data_keys()?.clone();
    let period = match &rt.config.tokenizer {
        Some(outscope_config::Tokenizer::Local(l)) => l.envelope.as_ref()?.rotation,
        _ => return None,
    };
    Some((keys, period))
}

/// Fetches a new data key for `rt`'s vault (nothing without `transit_key`), logs the
/// outcome by transit key name and key id (never material), and updates readiness.
pub async fn rotate(rt: &Runtime, health: &KeyHealth, why: Why) -> Option<Result<(), KeyError>> {
    let (keys, _) = data_keys(rt)?;
    let result = keys.rotate().await;
    log_rotation(&keys, &result, why);
    health.note(rt);
    Some(result.map(drop))
}

fn log_rotation(keys: &DataKeys, result: &Result<CurrentKey, KeyError>, why: Why) {
    match result {
        Ok(current) => tracing::info!(
            transit_key = %keys.transit_key(),
            key_id = %current.id,
            transit_version = current.version,
            reason = why.as_str(),
            "new data key in use"
        ),
        Err(e) => tracing::warn!(
            transit_key = %keys.transit_key(),
            error = e.as_str(),
            reason = why.as_str(),
            kept_current = keys.can_seal(),
            "data key rotation failed; the current data key (if any, and not retired) stays in use"
        ),
    }
}

/// Fetches the first data key of data keys a reload is about to put in effect; logs as
/// [`rotate`] does.
pub async fn first_key(keys: &DataKeys) -> Result<(), KeyError> {
    let result = keys.rotate().await;
    log_rotation(keys, &result, Why::Reload);
    result.map(drop)
}

/// Reads the transit key's versions for `rt`'s vault (nothing without `transit_key`) and
/// acts on them: readiness goes down at once when the current data key's version is
/// retired, and a new data key is fetched when the transit key has a newer version. Logs
/// names and versions only.
pub async fn check_versions(rt: &Runtime, health: &KeyHealth) -> Option<Result<(), KeyError>> {
    let (keys, _) = data_keys(rt)?;
    match keys.check_versions().await {
        Ok(versions) => {
            let stats = keys.stats();
            health.note(rt);
            if stats.retired() {
                tracing::warn!(
                    transit_key = %keys.transit_key(),
                    transit_version = stats.current.as_ref().map_or(0, |k| k.version),
                    min_decryption_version = versions.min_decryption,
                    "the current data key's transit version is retired; new cards fail closed until a new data key is fetched"
                );
            }
            if stats.has_key_behind() {
                return rotate(rt, health, Why::TransitRotated).await;
            }
            Some(Ok(()))
        }
        Err(e) => {
            tracing::warn!(
                transit_key = %keys.transit_key(),
                error = e.as_str(),
                "cannot read the transit key's versions"
            );
            Some(Err(e))
        }
    }
}

/// Rotates when the current data key is older than `data_key_rotation` (or missing, or
/// wrapped by an older transit key version than the latest) and reads the transit key's
/// versions every [`VERSION_CHECK`], until the proxy stops.
pub async fn rotation_loop(app: Arc<App>, health: Arc<KeyHealth>, mut stop: watch::Receiver<bool>) {
    let mut state = Schedule::default();
    loop {
        let rt = app.runtime();
        let keys = data_keys(&rt);
        state.follow(keys.as_ref().map(|(k, _)| k));
        let next = if app.draining() {
            Next::Wait(IDLE_CHECK)
        } else {
            plan(Instant::now(), inputs(keys.as_ref()).as_ref(), &state)
        };
        let work = async {
            match next {
                Next::Wait(wait) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = health.wake.notified() => {}
                    }
                    None
                }
                Next::Rotate(why) => Some((true, rotate(&rt, &health, why).await)),
                Next::CheckVersions => Some((false, check_versions(&rt, &health).await)),
            }
        };
        let done = tokio::select! {
            done = work => done,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        let now = Instant::now();
        match done {
            Some((true, outcome)) => {
                state.last_failure = matches!(outcome, Some(Err(_))).then_some(now);
            }
            Some((false, _)) => state.last_check = Some(now),
            None => {}
        }
    }
}

/// What the loop remembers between wake-ups, about the data keys it last looked at.
#[derive(Debug, Default)]
struct Schedule {
    /// The data keys these times are about (a reload may swap in others).
    keys: Option<std::sync::Weak<DataKeys>>,
    last_failure: Option<Instant>,
    last_check: Option<Instant>,
}

impl Schedule {
    /// Starts over when the runtime's data keys are not the ones last seen.
    fn follow(&mut self, keys: Option<&Arc<DataKeys>>) {
        let same = match (&self.keys, keys) {
            (Some(seen), Some(now)) => std::ptr::eq(seen.as_ptr(), Arc::as_ptr(now)),
            (None, None) => true,
            _ => false,
        };
        if !same {
            *self = Schedule {
                keys: keys.map(Arc::downgrade),
                ..Schedule::default()
            };
        }
    }
}

/// What the schedule needs to know about the data keys in effect.
#[derive(Debug, Clone, Copy)]
struct Inputs {
    period: Duration,
    /// When the current data key was fetched (`None`: no key).
    fetched: Option<Instant>,
    /// The current key is wrapped by an older version than the latest, or is retired.
    behind: bool,
}

fn inputs(keys: Option<&(Arc<DataKeys>, Duration)>) -> Option<Inputs> {
    let (keys, period) = keys?;
    let stats = keys.stats();
    Some(Inputs {
        period: *period,
        fetched: stats.current.as_ref().map(|k| k.fetched),
        behind: stats.has_key_behind(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Wait(Duration),
    Rotate(Why),
    CheckVersions,
}

/// The loop's next step at `now` (monotonic clock: a wall clock step changes nothing).
fn plan(now: Instant, keys: Option<&Inputs>, state: &Schedule) -> Next {
    let Some(keys) = keys else {
        return Next::Wait(IDLE_CHECK);
    };
    let retry = if keys.fetched.is_some() {
        RETRY_WITH_KEY
    } else {
        RETRY_WITHOUT_KEY
    };
    let (due, why) = match keys.fetched {
        None => (now, Why::Schedule),
        Some(_) if keys.behind => (now, Why::TransitRotated),
        Some(fetched) => (fetched + keys.period, Why::Schedule),
    };
    let rotate_at = match state.last_failure {
        Some(failed) => due.max(failed + retry),
        None => due,
    };
    if rotate_at <= now {
        return Next::Rotate(why);
    }
    let check_at = state.last_check.map_or(now, |t| t + VERSION_CHECK);
    if check_at <= now {
        return Next::CheckVersions;
    }
    let wait = rotate_at.min(check_at).saturating_duration_since(now);
    Next::Wait(wait.min(VERSION_CHECK))
}

/// The data key metrics of whatever runtime is in effect.
pub struct DataKeyMetrics(pub Arc<App>);

impl Collect for DataKeyMetrics {
    fn collect(&self, enc: &mut Encoder<'_>) {
        let Some((keys, _)) = data_keys(&self.0.runtime()) else {
            return;
        };
        let stats = keys.stats();
        let pairs = |ok: u64, failed: u64| [("ok", ok), ("failed", failed)];
        const ROTATIONS: &str = "outscope_data_key_rotations_total";
        enc.family(
            ROTATIONS,
            "Local vault data key fetches from Vault transit (start, schedule, SIGHUP), by result.",
            Kind::Counter,
        );
        for (result, n) in pairs(stats.rotations_ok, stats.rotations_failed) {
            enc.sample_u64(ROTATIONS, &[("result", result)], n);
        }
        const UNWRAPS: &str = "outscope_data_key_unwraps_total";
        enc.family(
            UNWRAPS,
            "Wrapped data keys sent to Vault transit to open a record whose key was not in memory.",
            Kind::Counter,
        );
        for (result, n) in pairs(stats.unwraps_ok, stats.unwraps_failed) {
            enc.sample_u64(UNWRAPS, &[("result", result)], n);
        }
        const CHECKS: &str = "outscope_data_key_version_checks_total";
        enc.family(
            CHECKS,
            "Reads of the transit key's versions (every minute), by result.",
            Kind::Counter,
        );
        for (result, n) in pairs(stats.version_checks_ok, stats.version_checks_failed) {
            enc.sample_u64(CHECKS, &[("result", result)], n);
        }
        const CREATED: &str = "outscope_data_key_created_timestamp_seconds";
        enc.family(
            CREATED,
            "Unix time the current data key was fetched (0: none; new cards get 503).",
            Kind::Gauge,
        );
        let created = stats.current.as_ref().map_or(0.0, |k| {
            k.created
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        });
        enc.sample_f64(CREATED, &[], created);
        const VERSION: &str = "outscope_data_key_transit_version";
        enc.family(
            VERSION,
            "Transit key version that wraps the current data key (0: none).",
            Kind::Gauge,
        );
        let version = stats.current.as_ref().map_or(0, |k| k.version);
        enc.sample_u64(VERSION, &[], version);
        const LATEST: &str = "outscope_data_key_transit_latest_version";
        enc.family(
            LATEST,
            "The transit key's latest version as last read by this instance (0: not read yet).",
            Kind::Gauge,
        );
        enc.sample_u64(LATEST, &[], stats.latest_version);
        const MIN: &str = "outscope_data_key_transit_min_decryption_version";
        enc.family(
            MIN,
            "The transit key's min_decryption_version as last read by this instance (0: not read yet).",
            Kind::Gauge,
        );
        enc.sample_u64(MIN, &[], stats.min_decryption_version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn key(fetched: Instant, behind: bool) -> Inputs {
        Inputs {
            period: HOUR,
            fetched: Some(fetched),
            behind,
        }
    }

    #[test]
    fn without_transit_key_the_loop_idles() {
        assert_eq!(
            plan(Instant::now(), None, &Schedule::default()),
            Next::Wait(IDLE_CHECK)
        );
    }

    #[test]
    fn a_key_is_fetched_when_missing_then_retried_every_few_seconds() {
        let t0 = Instant::now();
        let none = Inputs {
            period: HOUR,
            fetched: None,
            behind: true,
        };
        let mut state = Schedule::default();
        assert_eq!(plan(t0, Some(&none), &state), Next::Rotate(Why::Schedule));
        state.last_failure = Some(t0);
        state.last_check = Some(t0);
        assert_eq!(plan(t0, Some(&none), &state), Next::Wait(RETRY_WITHOUT_KEY));
        assert_eq!(
            plan(t0 + RETRY_WITHOUT_KEY, Some(&none), &state),
            Next::Rotate(Why::Schedule)
        );
    }

    #[test]
    fn versions_are_read_every_minute_and_the_key_rotates_on_its_period() {
        let t0 = Instant::now();
        let mut state = Schedule::default();
        let fresh = key(t0, false);
        assert_eq!(plan(t0, Some(&fresh), &state), Next::CheckVersions);
        state.last_check = Some(t0);
        assert_eq!(plan(t0, Some(&fresh), &state), Next::Wait(VERSION_CHECK));
        let later = t0 + VERSION_CHECK;
        assert_eq!(plan(later, Some(&fresh), &state), Next::CheckVersions);
        state.last_check = Some(t0 + HOUR - Duration::from_secs(1));
        assert_eq!(
            plan(t0 + HOUR - Duration::from_secs(1), Some(&fresh), &state),
            Next::Wait(Duration::from_secs(1))
        );
        assert_eq!(
            plan(t0 + HOUR, Some(&fresh), &state),
            Next::Rotate(Why::Schedule)
        );
    }

    #[test]
    fn a_key_behind_the_transit_key_rotates_at_once_with_backoff_after_a_failure() {
        let t0 = Instant::now();
        let mut state = Schedule {
            last_check: Some(t0),
            ..Schedule::default()
        };
        let behind = key(t0, true);
        assert_eq!(
            plan(t0, Some(&behind), &state),
            Next::Rotate(Why::TransitRotated)
        );
        state.last_failure = Some(t0);
        assert_eq!(plan(t0, Some(&behind), &state), Next::Wait(RETRY_WITH_KEY));
        assert_eq!(
            plan(t0 + RETRY_WITH_KEY, Some(&behind), &state),
            Next::Rotate(Why::TransitRotated)
        );
    }

    #[test]
    fn the_loop_never_sleeps_longer_than_a_version_check() {
        let t0 = Instant::now();
        let state = Schedule {
            last_check: Some(t0),
            ..Schedule::default()
        };
        let long = Inputs {
            period: Duration::from_secs(30 * 86400),
            fetched: Some(t0),
            behind: false,
        };
        assert_eq!(plan(t0, Some(&long), &state), Next::Wait(VERSION_CHECK));
    }
}
