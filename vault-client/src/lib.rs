#![doc = include_str!("../README.md")]

mod auth;
mod backoff;
mod body;
mod builder;
mod client;
mod clock;
mod connector;
mod error;
mod kv;
mod secret;
mod session;
mod tls;
mod token;
mod transit;
mod transport;

pub use auth::{Auth, KUBERNETES_JWT_PATH};
pub use backoff::Backoff;
pub use builder::{ClientBuilder, DEFAULT_ADDR};
pub use client::Client;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::Error;
pub use kv::{Kv2, KvMetadata, KvSecret};
pub use secret::{SecretBytes, SecretString};
pub use session::RenewalTask;
pub use token::{Renewal, TokenInfo};
pub use transit::{Ciphertext, DataKey, KeyInfo, Transit};
