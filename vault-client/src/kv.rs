//! KV version 2: versioned secrets with metadata.

use std::collections::BTreeMap;
use std::fmt;

use http::Method;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::auth::to_secret_json;
use crate::client::{Client, checked_path};
use crate::error::{Error, Kind};
use crate::secret::SecretString;
use crate::transport::Retry;

/// A KV v2 secrets engine mounted at one path. Get it from [`Client::kv2`].
#[derive(Clone, Debug)]
pub struct Kv2 {
    client: Client,
    mount: String,
}

/// One version of a secret: its fields and metadata. `Debug` lists field names only.
pub struct KvSecret {
    data: BTreeMap<String, SecretString>,
    metadata: KvMetadata,
}

/// What Vault records about a secret version.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KvMetadata {
    pub version: u64,
    /// RFC 3339, as Vault wrote it.
    pub created_time: String,
    /// Empty when the version is live.
    #[serde(default)]
    pub deletion_time: String,
    #[serde(default)]
    pub destroyed: bool,
    /// The secret's custom metadata (shared by all its versions).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub custom_metadata: BTreeMap<String, String>,
}

impl Client {
    /// The KV v2 engine mounted at `mount` (the dev server's is `secret`).
    pub fn kv2(&self, mount: &str) -> Kv2 {
        Kv2 {
            client: self.clone(),
            mount: mount.trim_matches('/').to_owned(),
        }
    }
}

impl Kv2 {
    /// The latest version of the secret at `path`. A missing path, or a latest version that
    /// was deleted or destroyed, is [`Error::is_not_found`].
    pub async fn read(&self, path: &str) -> Result<KvSecret, Error> {
        self.read_at(path, None).await
    }

    /// A given version of the secret at `path`.
    pub async fn read_version(&self, path: &str, version: u64) -> Result<KvSecret, Error> {
        self.read_at(path, Some(version)).await
    }

    async fn read_at(&self, path: &str, version: Option<u64>) -> Result<KvSecret, Error> {
        let mut api = self.api("data", path)?;
        if let Some(version) = version {
            api.push_str(&format!("?version={version}"));
        }
        let answer: ReadEnvelope = self
            .client
            .json(Method::GET, &api, None, Retry::Idempotent)
            .await?;
        let Some(data) = answer.data.data else {
            return Err(Error::new(
                Kind::NotFound,
                format!(
                    "vault KV {}/{path}: version {} has no data",
                    self.mount, answer.data.metadata.version
                ),
            ));
        };
        Ok(KvSecret {
            data,
            metadata: answer.data.metadata,
        })
    }

    /// Writes a new version of the secret at `path` and returns its metadata.
    pub async fn write<K, V>(
        &self,
        path: &str,
        data: impl IntoIterator<Item = (K, V)>,
    ) -> Result<KvMetadata, Error>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        self.write_with(path, data, None).await
    }

    /// Writes a new version only if the current version is `cas` (0: only if none exists).
    /// A mismatch is a rejected request (HTTP 400).
    pub async fn write_cas<K, V>(
        &self,
        path: &str,
        data: impl IntoIterator<Item = (K, V)>,
        cas: u64,
    ) -> Result<KvMetadata, Error>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        self.write_with(path, data, Some(cas)).await
    }

    async fn write_with<K, V>(
        &self,
        path: &str,
        data: impl IntoIterator<Item = (K, V)>,
        cas: Option<u64>,
    ) -> Result<KvMetadata, Error>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let pairs: Vec<(K, V)> = data.into_iter().collect();
        let body = WriteBody {
            data: Pairs(&pairs),
            options: cas.map(|cas| WriteOptions { cas }),
        };
        let api = self.api("data", path)?;
        let answer: WriteEnvelope = self
            .client
            .json(
                Method::POST,
                &api,
                Some(to_secret_json(&body)?),
                Retry::UnlessActedOn,
            )
            .await?;
        Ok(answer.data)
    }

    /// Replaces the secret's custom metadata (labels such as an owner or a rotation date;
    /// not secret).
    pub async fn set_custom_metadata(
        &self,
        path: &str,
        custom_metadata: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let body = serde_json::json!({ "custom_metadata": custom_metadata });
        let api = self.api("metadata", path)?;
        self.client
            .call(
                Method::POST,
                &api,
                Some(to_secret_json(&body)?),
                Retry::Idempotent,
            )
            .await
            .map(drop)
    }

    fn api(&self, kind: &str, path: &str) -> Result<String, Error> {
        checked_path(&format!("{}/{kind}/{}", self.mount, path.trim_matches('/')))
    }
}

impl KvSecret {
    /// The value of one field.
    pub fn get(&self, key: &str) -> Option<&SecretString> {
        self.data.get(key)
    }

    /// Field names.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.data.keys().map(String::as_str)
    }

    pub fn metadata(&self) -> &KvMetadata {
        &self.metadata
    }

    /// All fields, for callers that keep them.
    pub fn into_data(self) -> BTreeMap<String, SecretString> {
        self.data
    }
}

impl fmt::Debug for KvSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvSecret")
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .field("metadata", &self.metadata)
            .finish()
    }
}

#[derive(Deserialize)]
struct ReadEnvelope {
    data: ReadData,
}

#[derive(Deserialize)]
struct ReadData {
    data: Option<BTreeMap<String, SecretString>>,
    metadata: KvMetadata,
}

#[derive(Deserialize)]
struct WriteEnvelope {
    data: KvMetadata,
}

#[derive(Serialize)]
#[serde(bound = "K: AsRef<str>, V: AsRef<str>")]
struct WriteBody<'a, K, V> {
    data: Pairs<'a, K, V>,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<WriteOptions>,
}

#[derive(Serialize)]
struct WriteOptions {
    cas: u64,
}

/// Serializes borrowed pairs as a JSON object without copying the values.
struct Pairs<'a, K, V>(&'a [(K, V)]);

impl<K: AsRef<str>, V: AsRef<str>> Serialize for Pairs<'_, K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key.as_ref(), value.as_ref())?;
        }
        map.end()
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::deserialize(deserializer)?.unwrap_or_default())
}
