//! outscope-tokenizer: turns a card into a token the backend may hold.
//!
//! Two backends behind one [`Tokenizer`]:
//! - [`StripeTokenizer`]: creates a Stripe PaymentMethod (`pm_...`) or Token (`tok_...`).
//! - [`LocalVault`]: outscope's own vault (AES-256-GCM at rest, in memory or Redis).
//!
//! ```no_run
//! use outscope_tokenizer::{
//!     CardInput, Cvc, Pan, SecretString, StripeOptions, Tokenizer, StripeTokenizer,
//! };
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SecretString::new(std::env::var("STRIPE_KEY")?);
//! let tokenizer = Tokenizer::Stripe(StripeTokenizer::new(StripeOptions::new(
//!     "https://api.stripe.com",
//!     key,
//! ))?);
//! let card = CardInput::new(Pan::parse(b"4242424242424242")?)
//!     .with_expiry(12, 2030)
//!     .with_cvc(Cvc::parse(b"123")?);
//! match tokenizer.tokenize(card).await {
//!     Ok(result) => assert_eq!(result.last4, "4242"),
//!     Err(err) => eprintln!("{} ({})", err, err.kind().as_str()), // never card data
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Errors ([`TokenizeError`], classed by [`ErrorKind`]); every one fails closed:
//!
//! | kind | when | suggested answer |
//! | --- | --- | --- |
//! | `unavailable` | connect/transport failure, 5xx, 429 (after retries), unreadable answer, store down or full, no envelope data key (Vault transit down) | 503 + `Retry-After` (or 502) |
//! | `timeout` | no answer within the per-attempt timeout (not retried) | 504 / 503 |
//! | `rejected` | the provider refused the card: [`RejectCode`] (`card_declined`, `invalid_number`, ...) | 422 (402 for declines) |
//! | `misconfigured` | 401/403 (bad key), 404/405 (wrong `api_base`), vault key id missing | 500/502 + alert |
//! | `circuit_open` | the breaker is open; nothing was sent | 503 + `Retry-After` |
//! | `invalid_card` | bad expiry month/year in the input ([`CardError`]) | 400 / 422 |
//!
//! Card data lives only in [`Pan`], [`Cvc`] and [`HolderName`]: zeroized on drop, no
//! `Debug`/`Display`. Errors carry our own text only, never card data, keys or a
//! provider's or parser's message. Nothing here logs.

mod card;
mod circuit;
mod clock;
mod error;
mod local;
mod result;
mod secret;
mod stripe;

pub use card::{CardInput, Cvc, HolderName, Pan, luhn_valid};
pub use circuit::{CircuitOptions, CircuitState};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{
    CardError, ErrorKind, KeyFileError, RejectCode, SetupError, TokenizeError, UnavailableCause,
};
pub use local::{
    CurrentKey, DataKeys, KeyError, KeyRing, KeyStats, LocalOptions, LocalVault,
    MEMORY_MAX_RECORDS, RedisStoreOptions, RewrapError, RewrapPage, StoreOptions, TokenFormat,
    TransitVersions,
};
pub use result::TokenResult;
pub use secret::SecretString;
pub use stripe::{Endpoint, RetryOptions, StripeOptions, StripeTokenizer};

/// The tokenizer the proxy holds. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Tokenizer {
    Stripe(StripeTokenizer),
    Local(LocalVault),
}

impl Tokenizer {
    /// Tokenizes one card. The card (PAN, CVC, name) is wiped when this returns.
    pub async fn tokenize(&self, card: CardInput) -> Result<TokenResult, TokenizeError> {
        match self {
            Tokenizer::Stripe(stripe) => stripe.tokenize(card).await,
            Tokenizer::Local(vault) => vault.tokenize(card).await,
        }
    }

    /// Stripe's circuit breaker state (`None` for the local vault), for readiness and
    /// metrics.
    pub fn circuit_state(&self) -> Option<CircuitState> {
        match self {
            Tokenizer::Stripe(stripe) => Some(stripe.circuit_state()),
            Tokenizer::Local(_) => None,
        }
    }

    /// The local vault's envelope data keys, when it uses them.
    pub fn data_keys(&self) -> Option<&std::sync::Arc<DataKeys>> {
        match self {
            Tokenizer::Stripe(_) => None,
            Tokenizer::Local(vault) => vault.data_keys(),
        }
    }

    /// `stripe` or `local`, for metric labels.
    pub fn name(&self) -> &'static str {
        match self {
            Tokenizer::Stripe(_) => "stripe",
            Tokenizer::Local(_) => "local",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    fn assert_send<T: Send>(_: &T) {}

    /// The proxy holds one tokenizer across tasks of a multi-threaded runtime.
    #[test]
    fn tokenizers_and_their_futures_can_cross_threads() {
        let keys = KeyRing::parse(&format!(
            "{}\n{}\n",
            KeyRing::generate_line("fingerprint").as_str(),
            KeyRing::generate_line("k1").as_str()
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let tokenizer = Tokenizer::Local(
            LocalVault::new(LocalOptions::new(keys)).unwrap_or_else(|e| panic!("{e}")),
        );
        assert_send_sync(&tokenizer);
        let Ok(pan) = Pan::parse(b"4242424242424242") else {
            panic!("test card")
        };
        let future = tokenizer.tokenize(CardInput::new(pan));
        assert_send(&future);
        if let Tokenizer::Local(vault) = &tokenizer {
            assert_send(&vault.detokenize("tok_x"));
        }
    }
}
