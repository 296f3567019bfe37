//! Metrics of the card-data phases, exported through the admin listener:
//!
//! | metric | labels |
//! |---|---|
//! | `outscope_card_data_total` | `route`, `action` (`tokenized`, `masked`, `removed`, `shadowed`, `allowed`) |
//! | `outscope_egress_blocked_total` | `route` |
//! | `outscope_tokenizer_errors_total` | `tokenizer`, `kind` (`unavailable`, `failed`, `refused`) |
//!
//! Route names come from the configuration; actions and kinds are fixed sets.

use std::collections::BTreeMap;
use std::sync::Mutex;

use outscope_telemetry::Collect;
use outscope_telemetry::encode::{Encoder, Kind};

#[derive(Default)]
pub struct CardMetrics {
    card_data: Mutex<BTreeMap<(String, &'static str), u64>>,
    egress_blocked: Mutex<BTreeMap<String, u64>>,
    tokenizer_errors: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K, n: u64) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_default() += n;
    }
}

impl CardMetrics {
    pub fn card_data(&self, route: &str, action: &'static str, n: u64) {
        bump(&self.card_data, (route.to_owned(), action), n);
    }

    pub fn egress_blocked(&self, route: &str) {
        bump(&self.egress_blocked, route.to_owned(), 1);
    }

    pub fn tokenizer_error(&self, tokenizer: &'static str, kind: &'static str) {
        bump(&self.tokenizer_errors, (tokenizer, kind), 1);
    }
}

impl Collect for CardMetrics {
    fn collect(&self, enc: &mut Encoder<'_>) {
        const CARD: &str = "outscope_card_data_total";
        enc.family(
            CARD,
            "Card numbers and security codes handled, by route and action.",
            Kind::Counter,
        );
        if let Ok(m) = self.card_data.lock() {
            for ((route, action), n) in m.iter() {
                enc.sample_u64(CARD, &[("route", route), ("action", action)], *n);
            }
        }
        const EGRESS: &str = "outscope_egress_blocked_total";
        enc.family(
            EGRESS,
            "Requests the final egress check refused because card data remained.",
            Kind::Counter,
        );
        if let Ok(m) = self.egress_blocked.lock() {
            for (route, n) in m.iter() {
                enc.sample_u64(EGRESS, &[("route", route)], *n);
            }
        }
        const TOK: &str = "outscope_tokenizer_errors_total";
        enc.family(
            TOK,
            "Tokenizer failures, by tokenizer and kind.",
            Kind::Counter,
        );
        if let Ok(m) = self.tokenizer_errors.lock() {
            for ((tokenizer, kind), n) in m.iter() {
                enc.sample_u64(TOK, &[("tokenizer", tokenizer), ("kind", kind)], *n);
            }
        }
    }
}
