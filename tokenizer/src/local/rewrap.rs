//! `outscope vault rewrap`, one page at a time: every record sealed under an older transit
//! key version (or by a static key, version 0) is opened and sealed again under the current
//! data key, and written back only if nobody changed it meanwhile.
//!
//! Safe to interrupt anywhere: each record is replaced atomically (a Redis script compares
//! the bytes it read), and a record already at the latest version is skipped, so a rerun
//! (or a resumed walk from a printed cursor) only does what is left.

use super::store::Store;
use super::{DataKeys, LocalVault, record};
use crate::error::{TokenizeError, UnavailableCause};

/// What one page did. Counts only: never a token, a record or key material.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RewrapPage {
    /// Where the next page starts; 0 when the walk is complete.
    pub cursor: u64,
    /// Records looked at.
    pub scanned: u64,
    /// Records under an older transit key version than the latest (or a static key).
    pub stale: u64,
    /// Stale records sealed again under the current data key.
    pub rewrapped: u64,
    /// Stale records another writer changed between our read and write (left as they
    /// were; a rerun looks at them again).
    pub changed: u64,
    /// Records that could not be opened or decoded (corrupt or tampered: a failed GCM tag,
    /// a record moved to another token, a key id that is not its wrapped key's; an unknown
    /// static key; an unwrap Vault refused, e.g. a retired version). Counted, never fatal:
    /// the walk goes on.
    pub failed: u64,
}

/// Why a page could not be done. Nothing was half-written: each record is replaced whole
/// or not at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewrapError {
    #[error(
        "the memory store lives inside each proxy process and dies with it; there is nothing \
         to rewrap (records are sealed under the data key current when they were made)"
    )]
    MemoryStore,
    #[error("the local vault has no transit_key (envelope encryption is off)")]
    NoEnvelope,
    #[error("no data key in memory: fetch one first")]
    NoDataKey,
    #[error(
        "the current data key is wrapped by transit key version {have}, older than the latest \
         ({latest}); fetch a new data key"
    )]
    StaleDataKey { have: u64, latest: u64 },
    /// Redis or Vault transit did not answer (or the data key stopped being usable);
    /// resume from the last printed cursor.
    #[error("{0}")]
    Unavailable(TokenizeError),
}

impl LocalVault {
    /// Rewraps the records of one `SCAN` step starting at `cursor` (about `count` keys)
    /// whose transit key version is older than `latest_version`. With `dry_run` nothing is
    /// written (and no data key is needed): `stale` counts what a real run would do.
    pub async fn rewrap_page(
        &self,
        cursor: u64,
        count: usize,
        latest_version: u64,
        dry_run: bool,
    ) -> Result<RewrapPage, RewrapError> {
        let keys = self
            .inner
            .envelope
            .as_ref()
            .ok_or(RewrapError::NoEnvelope)?;
        let Store::Redis(store) = &self.inner.store else {
            return Err(RewrapError::MemoryStore);
        };
        let current = if dry_run {
            None
        } else {
            Some(usable_key(keys, latest_version)?)
        };
        let (next, records) = store
            .scan_records(cursor, count)
            .await
            .map_err(RewrapError::Unavailable)?;
        let mut page = RewrapPage {
            cursor: next,
            ..RewrapPage::default()
        };
        for (token, stored) in records {
            page.scanned += 1;
            let Some(decoded) = record::decode(&stored) else {
                page.failed += 1;
                continue;
            };
            if decoded.transit_version() >= latest_version {
                continue;
            }
            page.stale += 1;
            if current.is_none() {
                continue;
            }
            let resealed = match self.open(&token, &stored).await {
                Ok(plain) => self.seal(&plain, &token),
                Err(e) => Err(e),
            };
            match resealed {
                Ok(new) => {
                    let replaced = store
                        .replace_record(&token, &stored, &new)
                        .await
                        .map_err(RewrapError::Unavailable)?;
                    if replaced {
                        page.rewrapped += 1;
                    } else {
                        page.changed += 1;
                    }
                }
                Err(e) if stops_the_walk(&e) => return Err(RewrapError::Unavailable(e)),
                // This record only: corrupt or tampered (failed tag, moved, key id not its
                // wrapped key's, bad key length), a static key not configured, an unwrap
                // Vault refused (retired version, policy).
                Err(_) => page.failed += 1,
            }
        }
        Ok(page)
    }
}

/// Whether an error opening or sealing one record means the next records would fail the
/// same way: Redis or Vault transit unreachable, or no data key to seal with. Anything
/// else is about that record alone and is counted in [`RewrapPage::failed`].
fn stops_the_walk(error: &TokenizeError) -> bool {
    matches!(
        error,
        TokenizeError::Timeout(_)
            | TokenizeError::Unavailable {
                cause: UnavailableCause::Store
                    | UnavailableCause::KeyService
                    | UnavailableCause::NoDataKey,
                ..
            }
    )
}

/// The current data key, if it is wrapped by the latest transit key version.
fn usable_key(keys: &DataKeys, latest_version: u64) -> Result<(), RewrapError> {
    let current = keys.sealing().ok_or(RewrapError::NoDataKey)?;
    if current.version < latest_version {
        return Err(RewrapError::StaleDataKey {
            have: current.version,
            latest: latest_version,
        });
    }
    Ok(())
}
