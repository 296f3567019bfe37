//! Where the vault keeps records: `token -> sealed record` and `fingerprint index -> token`.
//! Records hold only the key id, nonce and ciphertext; the index is a keyed HMAC.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, IntoConnectionInfo};
use tokio::sync::OnceCell;

use crate::error::{SetupError, TokenizeError, UnavailableCause};
use crate::secret::SecretString;

/// Where the local vault keeps its records.
#[derive(Clone, Default)]
pub enum StoreOptions {
    /// In this process only: tokens are lost on restart and not shared by instances.
    /// Holds at most [`MEMORY_MAX_RECORDS`] cards; past that, new cards fail closed
    /// (`Unavailable`, cause `StoreFull`) while known cards keep their tokens.
    #[default]
    Memory,
    /// Redis, shared by every instance pointing at it.
    Redis(RedisStoreOptions),
}

/// How to reach Redis.
#[derive(Clone)]
pub struct RedisStoreOptions {
    /// `redis://host:port[/db]` (credentials go in the fields below).
    pub url: String,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// First part of every key: `{prefix}:tok:{token}` and `{prefix}:fp:{hex}`.
    pub key_prefix: String,
    /// Deadline for each Redis command (connecting included).
    pub timeout: Duration,
}

impl RedisStoreOptions {
    pub fn new(url: &str, key_prefix: &str) -> RedisStoreOptions {
        RedisStoreOptions {
            url: url.to_owned(),
            username: None,
            password: None,
            key_prefix: key_prefix.to_owned(),
            timeout: Duration::from_millis(500),
        }
    }
}

impl std::fmt::Debug for RedisStoreOptions {
    /// The URL may hold a password: not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStoreOptions")
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreOptions::Memory => f.write_str("Memory"),
            StoreOptions::Redis(options) => f.debug_tuple("Redis").field(options).finish(),
        }
    }
}

/// The in-memory store's capacity (a few hundred bytes per card).
pub const MEMORY_MAX_RECORDS: usize = 1_000_000;

pub(crate) enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl Store {
    pub(crate) fn new(options: StoreOptions) -> Result<Store, SetupError> {
        Ok(match options {
            StoreOptions::Memory => Store::Memory(MemoryStore::with_limit(MEMORY_MAX_RECORDS)),
            StoreOptions::Redis(options) => Store::Redis(RedisStore::new(options)?),
        })
    }

    /// The token recorded for this fingerprint index.
    pub(crate) async fn token_for(&self, index: &str) -> Result<Option<String>, TokenizeError> {
        match self {
            Store::Memory(m) => Ok(m.lock().index.get(index).cloned()),
            Store::Redis(r) => r.get_string(&r.index_key(index)).await,
        }
    }

    /// Stores a record under a new token; `false` if the token is taken.
    pub(crate) async fn insert_record(
        &self,
        token: &str,
        record: &[u8],
    ) -> Result<bool, TokenizeError> {
        match self {
            Store::Memory(m) => {
                let mut inner = m.lock();
                if inner.records.contains_key(token) {
                    return Ok(false);
                }
                if inner.records.len() >= m.limit {
                    return Err(TokenizeError::unavailable(UnavailableCause::StoreFull));
                }
                inner.records.insert(token.to_owned(), record.to_vec());
                Ok(true)
            }
            Store::Redis(r) => r.set_nx(&r.record_key(token), record).await,
        }
    }

    /// Points the index at `token` unless it already points somewhere: returns the
    /// token that won.
    pub(crate) async fn link(&self, index: &str, token: &str) -> Result<String, TokenizeError> {
        match self {
            Store::Memory(m) => {
                let mut inner = m.lock();
                Ok(inner
                    .index
                    .entry(index.to_owned())
                    .or_insert_with(|| token.to_owned())
                    .clone())
            }
            Store::Redis(r) => {
                let key = r.index_key(index);
                if r.set_nx(&key, token.as_bytes()).await? {
                    return Ok(token.to_owned());
                }
                r.get_string(&key)
                    .await?
                    .ok_or(TokenizeError::unavailable(UnavailableCause::StoreCorrupt))
            }
        }
    }

    pub(crate) async fn remove_record(&self, token: &str) -> Result<(), TokenizeError> {
        match self {
            Store::Memory(m) => {
                m.lock().records.remove(token);
                Ok(())
            }
            Store::Redis(r) => r.del(&r.record_key(token)).await,
        }
    }

    /// Whether the store answers (Redis `PING`); always for memory.
    pub(crate) async fn ping(&self) -> Result<(), TokenizeError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(r) => {
                r.run(|mut c| async move { redis::cmd("PING").query_async::<()>(&mut c).await })
                    .await
            }
        }
    }

    pub(crate) async fn record(&self, token: &str) -> Result<Option<Vec<u8>>, TokenizeError> {
        match self {
            Store::Memory(m) => Ok(m.lock().records.get(token).cloned()),
            Store::Redis(r) => r.get_bytes(&r.record_key(token)).await,
        }
    }
}

/// Replaces a record only while it still holds the bytes it was read with (`outscope vault
/// rewrap`: a concurrent writer is never overwritten).
const REPLACE_IF_SAME: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
";

pub(crate) struct MemoryStore {
    inner: Mutex<MemoryInner>,
    limit: usize,
}

#[derive(Default)]
struct MemoryInner {
    records: HashMap<String, Vec<u8>>,
    index: HashMap<String, String>,
}

impl MemoryStore {
    pub(crate) fn with_limit(limit: usize) -> MemoryStore {
        MemoryStore {
            inner: Mutex::default(),
            limit,
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemoryInner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub(crate) struct RedisStore {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    prefix: String,
    timeout: Duration,
}

impl RedisStore {
    fn new(options: RedisStoreOptions) -> Result<RedisStore, SetupError> {
        let prefix = &options.key_prefix;
        if !(1..=64).contains(&prefix.len())
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err(SetupError::RedisPrefix);
        }
        let mut info = options
            .url
            .as_str()
            .into_connection_info()
            .map_err(|_| SetupError::RedisUrl)?;
        if options.username.is_some() {
            info.redis.username = options.username;
        }
        if let Some(password) = &options.password {
            info.redis.password = Some(password.expose().to_owned());
        }
        let client = redis::Client::open(info).map_err(|_| SetupError::RedisUrl)?;
        Ok(RedisStore {
            client,
            connection: OnceCell::new(),
            prefix: options.key_prefix,
            timeout: options.timeout,
        })
    }

    fn record_key(&self, token: &str) -> String {
        format!("{}:tok:{token}", self.prefix)
    }

    fn index_key(&self, index: &str) -> String {
        format!("{}:fp:{index}", self.prefix)
    }

    /// Runs one command under the deadline; any Redis failure or timeout is
    /// `Unavailable(Store)`: fail closed, never a fallback that would forget tokens.
    async fn run<T, F, Fut>(&self, command: F) -> Result<T, TokenizeError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let unavailable = || TokenizeError::unavailable(UnavailableCause::Store);
        let work = async {
            let connection = self.connection().await.map_err(|_| unavailable())?;
            command(connection).await.map_err(|_| unavailable())
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| Err(unavailable()))
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(0);
        let client = self.client.clone();
        self.connection
            .get_or_try_init(|| ConnectionManager::new_with_config(client, config))
            .await
            .cloned()
    }

    async fn get_string(&self, key: &str) -> Result<Option<String>, TokenizeError> {
        self.run(|mut c| async move { c.get::<_, Option<String>>(key).await })
            .await
    }

    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, TokenizeError> {
        self.run(|mut c| async move { c.get::<_, Option<Vec<u8>>>(key).await })
            .await
    }

    async fn set_nx(&self, key: &str, value: &[u8]) -> Result<bool, TokenizeError> {
        self.run(|mut c| async move { c.set_nx::<_, _, bool>(key, value).await })
            .await
    }

    /// One `SCAN` step over the records: the next cursor (0 when the walk is done) and the
    /// `(token, record)` pairs found (records removed meanwhile are left out).
    pub(crate) async fn scan_records(
        &self,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<(String, Vec<u8>)>), TokenizeError> {
        let pattern = format!("{}:tok:*", self.prefix);
        let (next, keys): (u64, Vec<String>) = self
            .run(|mut c| async move {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(count)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        if keys.is_empty() {
            return Ok((next, Vec::new()));
        }
        let values: Vec<Option<Vec<u8>>> = self
            .run(|mut c| {
                let keys = &keys;
                async move { redis::cmd("MGET").arg(keys).query_async(&mut c).await }
            })
            .await?;
        let strip = format!("{}:tok:", self.prefix);
        let records = keys
            .iter()
            .zip(values)
            .filter_map(|(key, value)| {
                let token = key.strip_prefix(&strip)?;
                Some((token.to_owned(), value?))
            })
            .collect();
        Ok((next, records))
    }

    /// Writes `new` for `token` if the record is still `old`; whether it did.
    pub(crate) async fn replace_record(
        &self,
        token: &str,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, TokenizeError> {
        let key = self.record_key(token);
        let script = redis::Script::new(REPLACE_IF_SAME);
        let replaced: i64 = self
            .run(|mut c| {
                let (script, key) = (&script, &key);
                async move { script.key(key).arg(old).arg(new).invoke_async(&mut c).await }
            })
            .await?;
        Ok(replaced == 1)
    }

    async fn del(&self, key: &str) -> Result<(), TokenizeError> {
        self.run(|mut c| async move { c.del::<_, ()>(key).await })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rewrap write: replaced only while the record is still what was read.
    #[tokio::test]
    async fn a_record_changed_after_it_was_read_is_not_overwritten() {
        let redis = outscope_testkit::shared_redis();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let prefix = format!("t-cas-{}-{nanos}", std::process::id());
        let Ok(store) = RedisStore::new(RedisStoreOptions::new(redis.url(), &prefix)) else {
            panic!("redis store")
        };
        assert_eq!(
            store.set_nx(&store.record_key("tok_a"), b"one").await,
            Ok(true)
        );
        assert_eq!(
            store.replace_record("tok_a", b"old", b"two").await,
            Ok(false)
        );
        assert_eq!(
            store.get_bytes(&store.record_key("tok_a")).await,
            Ok(Some(b"one".to_vec()))
        );
        assert_eq!(
            store.replace_record("tok_a", b"one", b"two").await,
            Ok(true)
        );
        assert_eq!(
            store.get_bytes(&store.record_key("tok_a")).await,
            Ok(Some(b"two".to_vec()))
        );
        assert_eq!(store.replace_record("tok_gone", b"", b"x").await, Ok(false));
        let (_, found) = store.scan_records(0, 1000).await.unwrap_or_default();
        assert!(
            found
                .iter()
                .any(|(token, record)| token == "tok_a" && record == b"two")
        );
    }
}
