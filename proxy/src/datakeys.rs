//! The local vault's envelope data keys, seen from the proxy (`tokenizer.transit_key`): the
//! first fetch at start, a new data key every `tokenizer.data_key_rotation` and on SIGHUP,
//! readiness, and metrics. The keys themselves live in `outscope_tokenizer::DataKeys`.
//!
//! | metric | labels |
//! |---|---|
//! | `outscope_data_key_rotations_total` | `result` (`ok`, `failed`) |
//! | `outscope_data_key_unwraps_total` | `result` (`ok`, `failed`) |
//! | `outscope_data_key_created_timestamp_seconds` | (0: no data key) |
//! | `outscope_data_key_transit_version` | (0: no data key) |
//!
//! Readiness: the `data_key` check is *required* and down (`no_data_key`) only while no
//! data key is in memory, i.e. the instance cannot seal a single new card (tokenize answers
//! 503). A failed rotation with a key in hand keeps that key, is logged (transit key name,
//! never material) and counted, and leaves the instance ready.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use outscope_telemetry::encode::{Encoder, Kind};
use outscope_telemetry::{Check, Collect, Health, Requirement};
use outscope_tokenizer::{DataKeys, KeyError};
use tokio::sync::watch;

use crate::app::App;
use crate::runtime::Runtime;

/// How often the loop looks again at a configuration without `transit_key`.
const IDLE_CHECK: Duration = Duration::from_secs(60);
/// How soon a failed fetch is tried again (without a key: sooner, every request needs one).
const RETRY_WITHOUT_KEY: Duration = Duration::from_secs(5);
const RETRY_WITH_KEY: Duration = Duration::from_secs(30);

/// Why a data key was fetched, for the log line.
#[derive(Debug, Clone, Copy)]
pub enum Why {
    Start,
    Schedule,
    Sighup,
    Requested,
}

impl Why {
    fn as_str(self) -> &'static str {
        match self {
            Why::Start => "start",
            Why::Schedule => "schedule",
            Why::Sighup => "sighup",
            Why::Requested => "requested",
        }
    }
}

/// The `data_key` readiness check, registered once a configuration uses envelope keys.
pub struct KeyHealth {
    health: Arc<Health>,
    check: Mutex<Option<Check>>,
}

impl KeyHealth {
    pub fn new(health: Arc<Health>) -> Self {
        Self {
            health,
            check: Mutex::new(None),
        }
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
    match &result {
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
            kept_current = keys.has_current(),
            "data key rotation failed; the current data key (if any) stays in use"
        ),
    }
    health.note(rt);
    Some(result.map(drop))
}

/// Rotates when the current data key is older than `data_key_rotation` (or missing) until
/// the proxy stops.
pub async fn rotation_loop(app: Arc<App>, health: Arc<KeyHealth>, mut stop: watch::Receiver<bool>) {
    let mut last_failure: Option<SystemTime> = None;
    loop {
        let wait = next_wait(&app.runtime(), last_failure);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        let rt = app.runtime();
        if app.draining() || !next_wait(&rt, last_failure).is_zero() {
            continue;
        }
        let outcome = tokio::select! {
            outcome = rotate(&rt, &health, Why::Schedule) => outcome,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        last_failure = match outcome {
            Some(Err(_)) => Some(SystemTime::now()),
            _ => None,
        };
    }
}

/// How long until the next rotation is due (zero: now).
fn next_wait(rt: &Runtime, last_failure: Option<SystemTime>) -> Duration {
    let Some((keys, period)) = data_keys(rt) else {
        return IDLE_CHECK;
    };
    let current = keys.stats().current;
    let retry = if current.is_some() {
        RETRY_WITH_KEY
    } else {
        RETRY_WITHOUT_KEY
    };
    let since = |t: SystemTime| t.elapsed().unwrap_or_default();
    let due = match &current {
        Some(key) => period.saturating_sub(since(key.created)),
        None => Duration::ZERO,
    };
    let backoff = last_failure.map_or(Duration::ZERO, |t| retry.saturating_sub(since(t)));
    due.max(backoff)
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
    }
}
