//! Services shared by a whole test run when `scripts/test` started them.

use crate::{LocalStripe, OpenBao, RedisServer, env};

fn from_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// Redis from [`env::REDIS_URL`], or a private [`RedisServer`] when it is unset.
/// Do not stop a shared service; start a private one for that.
pub fn shared_redis() -> SharedRedis {
    match from_env(env::REDIS_URL) {
        Some(url) => SharedRedis { url, owned: None },
        None => {
            let server = RedisServer::start();
            SharedRedis {
                url: server.url().to_owned(),
                owned: Some(server),
            }
        }
    }
}

/// OpenBao from [`env::BAO_ADDR`] + [`env::BAO_TOKEN`], or a private [`OpenBao`].
pub fn shared_openbao() -> SharedOpenBao {
    match (from_env(env::BAO_ADDR), from_env(env::BAO_TOKEN)) {
        (Some(addr), Some(token)) => SharedOpenBao {
            addr,
            token,
            owned: None,
        },
        _ => {
            let server = OpenBao::start();
            SharedOpenBao {
                addr: server.addr().to_owned(),
                token: server.root_token().to_owned(),
                owned: Some(server),
            }
        }
    }
}

/// localstripe from [`env::STRIPE_URL`], or a private [`LocalStripe`].
pub fn shared_stripe() -> SharedStripe {
    match from_env(env::STRIPE_URL) {
        Some(url) => SharedStripe { url, owned: None },
        None => {
            let server = LocalStripe::start();
            SharedStripe {
                url: server.url().to_owned(),
                owned: Some(server),
            }
        }
    }
}

/// A Redis for this test: the run's shared one or a private one (kept alive by this handle).
#[derive(Debug)]
pub struct SharedRedis {
    url: String,
    owned: Option<RedisServer>,
}

impl SharedRedis {
    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether this handle started (and will kill) its own server.
    pub fn is_private(&self) -> bool {
        self.owned.is_some()
    }
}

/// An OpenBao for this test: the run's shared one or a private one.
pub struct SharedOpenBao {
    addr: String,
    token: String,
    owned: Option<OpenBao>,
}

impl SharedOpenBao {
    /// `http://127.0.0.1:PORT`
    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn root_token(&self) -> &str {
        &self.token
    }

    pub fn is_private(&self) -> bool {
        self.owned.is_some()
    }
}

impl std::fmt::Debug for SharedOpenBao {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedOpenBao")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// A localstripe for this test: the run's shared one or a private one.
#[derive(Debug)]
pub struct SharedStripe {
    url: String,
    owned: Option<LocalStripe>,
}

impl SharedStripe {
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_private(&self) -> bool {
        self.owned.is_some()
    }
}
