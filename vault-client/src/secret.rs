//! Zeroizing containers for what Vault hands out: tokens, secret values, plaintexts, keys.
//!
//! None of them implements `Display`; their `Debug` prints `<redacted>` and the length only,
//! so a stray `{:?}` in a log line cannot leak a value. Memory is wiped on drop. Copies
//! made inside hyper's and rustls' own buffers are outside this crate's reach.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use zeroize::Zeroizing;

/// A secret text value: a Vault token, a KV v2 field, a secret id.
///
/// `==` is for tests: it is not constant-time, so never use it to check a caller-supplied
/// value against a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The value itself. Keep the borrow short and never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretString(<redacted>, {} bytes)", self.0.len())
    }
}

/// Secret binary data: a transit plaintext, a data key. `==` is not constant-time (see
/// [`SecretString`]).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub fn new(value: Vec<u8>) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The bytes themselves. Keep the borrow short and never log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(value: Vec<u8>) -> Self {
        Self::new(value)
    }
}

impl From<&[u8]> for SecretBytes {
    fn from(value: &[u8]) -> Self {
        Self::new(value.to_vec())
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<redacted>, {} bytes)", self.0.len())
    }
}

/// KV values are usually strings; numbers and booleans keep their JSON text, and nested
/// objects or arrays their compact JSON encoding. JSON `null` becomes the empty string.
impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = SecretString;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a secret value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(SecretString::from(v))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(SecretString::new(v))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(SecretString::new(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(SecretString::new(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(SecretString::new(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(SecretString::new(v.to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(SecretString::new(String::new()))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let value = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(SecretString::new(value.to_string()))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let value = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(SecretString::new(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let token = SecretString::from("hvs.very-secret");
        let key = SecretBytes::from(&b"\x01\x02key"[..]);
        let printed = format!("{token:?} {key:?}");
        assert!(!printed.contains("very-secret"), "{printed}");
        assert!(!printed.contains("key"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn kv_values_of_any_json_type_become_text() {
        let json = r#"{"s":"pw","n":42,"f":1.5,"b":true,"z":null,"o":{"a":[1]}}"#;
        let map: std::collections::BTreeMap<String, SecretString> =
            serde_json::from_str(json).unwrap();
        let text = |k: &str| map[k].expose().to_owned();
        assert_eq!(text("s"), "pw");
        assert_eq!(text("n"), "42");
        assert_eq!(text("f"), "1.5");
        assert_eq!(text("b"), "true");
        assert_eq!(text("z"), "");
        assert_eq!(text("o"), r#"{"a":[1]}"#);
    }
}
