//! Labelled families.
//!
//! - [`EnumCounters`]: one counter per value of a [`LabelEnum`], an array indexed by it.
//! - [`CodeCounters`]: one counter per `&'static str` from a list fixed at construction
//!   (plus `other`), for vocabularies owned by another crate such as error codes.
//! - [`Keyed`]: series keyed by names from the validated config. Handles (`Arc`s) are
//!   resolved when a config is loaded; the hot path never looks a name up.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::labels::LabelEnum;
use crate::primitives::Counter;

/// One counter per value of `E`.
#[derive(Debug)]
pub struct EnumCounters<E: LabelEnum> {
    counters: Box<[Counter]>,
    _label: std::marker::PhantomData<E>,
}

impl<E: LabelEnum> Default for EnumCounters<E> {
    fn default() -> Self {
        let counters = E::ALL.iter().map(|_| Counter::default()).collect();
        Self {
            counters,
            _label: std::marker::PhantomData,
        }
    }
}

impl<E: LabelEnum> EnumCounters<E> {
    pub fn get(&self, e: E) -> &Counter {
        // ALL has one entry per variant and `index` is the variant's position, so the
        // lookup cannot miss; fall back to the last counter rather than panic anyway.
        match self.counters.get(e.index()) {
            Some(c) => c,
            None => &self.counters[self.counters.len() - 1],
        }
    }

    pub fn inc(&self, e: E) {
        self.get(e).inc();
    }

    /// `(value, count)` for every label value, zeros included.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        E::ALL.iter().map(|e| (e.as_str(), self.get(*e).get()))
    }
}

/// The label value [`CodeCounters`] uses for a code it was not built with.
pub const OTHER_CODE: &str = "other";

/// One counter per code in a fixed list, plus [`OTHER_CODE`].
#[derive(Debug)]
pub struct CodeCounters {
    codes: Box<[&'static str]>,
    counters: Box<[Counter]>,
    other: Counter,
}

impl CodeCounters {
    /// Duplicates and [`OTHER_CODE`] itself are dropped from `codes` (each would be a
    /// duplicate series, which makes the whole exposition invalid).
    pub fn new(codes: &'static [&'static str]) -> Self {
        let mut unique: Vec<&'static str> = Vec::with_capacity(codes.len());
        for c in codes {
            if *c != OTHER_CODE && !unique.contains(c) {
                unique.push(c);
            }
        }
        let counters = unique.iter().map(|_| Counter::default()).collect();
        Self {
            codes: unique.into(),
            counters,
            other: Counter::default(),
        }
    }

    /// Counts `code`; a code outside the list counts as `other`. A linear scan over a
    /// few dozen short static strings: no allocation, no lock.
    pub fn inc(&self, code: &str) {
        let i = self.codes.iter().position(|c| *c == code);
        match i.and_then(|i| self.counters.get(i)) {
            Some(c) => c.inc(),
            None => self.other.inc(),
        }
    }

    pub fn get(&self, code: &str) -> u64 {
        self.iter().find(|(c, _)| *c == code).map_or(0, |(_, n)| n)
    }

    /// Every code (zeros included), then `other`.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.codes
            .iter()
            .zip(self.counters.iter())
            .map(|(c, n)| (*c, n.get()))
            .chain(std::iter::once((OTHER_CODE, self.other.get())))
    }
}

/// Series keyed by config names (`K` is `Box<str>` or a tuple of them).
///
/// [`bind`](Keyed::bind) is the config-load operation: it resolves handles for exactly
/// the given keys, keeps the existing series for keys that stay (so counters continue
/// across a reload) and stops exporting keys that are gone. Handles to a dropped series
/// stay valid; their later updates are simply not exported.
#[derive(Debug)]
pub struct Keyed<K: Ord, S> {
    map: Mutex<BTreeMap<K, Arc<S>>>,
}

impl<K: Ord, S> Default for Keyed<K, S> {
    fn default() -> Self {
        Self {
            map: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<K: Ord + Clone, S: Default> Keyed<K, S> {
    /// The series for `key`, created if new. Does not drop any other key.
    pub fn get_or_create(&self, key: K) -> Arc<S> {
        let mut map = self.lock();
        Arc::clone(map.entry(key).or_default())
    }

    /// Handles for `keys`, in order (duplicates share a series); every other key is
    /// dropped from the export.
    pub fn bind(&self, keys: impl IntoIterator<Item = K>) -> Vec<Arc<S>> {
        let mut map = self.lock();
        let mut next = BTreeMap::new();
        let handles = keys
            .into_iter()
            .map(|k| {
                let s = map
                    .remove(&k)
                    .or_else(|| next.get(&k).cloned())
                    .unwrap_or_default();
                next.insert(k, Arc::clone(&s));
                s
            })
            .collect();
        *map = next;
        handles
    }

    /// A copy of the current keys and handles, for export.
    pub fn snapshot(&self) -> Vec<(K, Arc<S>)> {
        self.lock()
            .iter()
            .map(|(k, s)| (k.clone(), Arc::clone(s)))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<K, Arc<S>>> {
        // The map is never left half-updated by a panic; keep serving after one.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::ReloadResult;

    #[test]
    fn bind_keeps_surviving_series_and_drops_the_rest() {
        let k: Keyed<Box<str>, Counter> = Keyed::default();
        let first = k.bind(["a".into(), "b".into()]);
        first[0].add(5);
        first[1].add(7);
        let second = k.bind(["a".into(), "c".into()]);
        assert_eq!(second[0].get(), 5, "a continues across the reload");
        assert_eq!(second[1].get(), 0);
        let keys: Vec<_> = k.snapshot().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![Box::from("a"), Box::from("c")]);
    }

    #[test]
    fn bind_with_duplicate_keys_shares_one_series() {
        let k: Keyed<Box<str>, Counter> = Keyed::default();
        let h = k.bind(["a".into(), "a".into()]);
        h[0].inc();
        h[1].inc();
        assert_eq!(h[0].get(), 2);
        assert_eq!(k.snapshot().len(), 1);
    }

    #[test]
    fn code_counters_count_unknown_codes_as_other() {
        let c = CodeCounters::new(&["no_route", "body_too_large"]);
        c.inc("no_route");
        c.inc("4111111111111111");
        c.inc("");
        let all: Vec<_> = c.iter().collect();
        assert_eq!(
            all,
            vec![("no_route", 1), ("body_too_large", 0), ("other", 2)]
        );
    }

    #[test]
    fn code_lists_with_duplicates_or_other_still_export_each_value_once() {
        let c = CodeCounters::new(&["a", "other", "a", "b"]);
        c.inc("a");
        c.inc("other");
        let all: Vec<_> = c.iter().collect();
        assert_eq!(all, vec![("a", 1), ("b", 0), ("other", 1)]);
    }

    #[test]
    fn enum_counters_cover_every_value() {
        let c: EnumCounters<ReloadResult> = EnumCounters::default();
        c.inc(ReloadResult::Failure);
        let all: Vec<_> = c.iter().collect();
        assert_eq!(all, vec![("success", 0), ("failure", 1)]);
    }
}
