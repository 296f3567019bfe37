//! A secret string (API keys): zeroized on drop, no `Debug` or `Display`.

use zeroize::Zeroizing;

/// An API key or password. The proxy resolves the reference (file, env, Vault) and hands
/// the value over in this type. A clone is wiped on drop too.
#[derive(Clone)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    pub fn new(value: String) -> SecretString {
        SecretString(Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> SecretString {
        SecretString::new(value)
    }
}

/// Bytes that are zeroized when the last [`bytes::Bytes`] pointing at them is dropped.
pub(crate) struct ZeroOnDrop(pub(crate) Vec<u8>);

impl AsRef<[u8]> for ZeroOnDrop {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for ZeroOnDrop {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// `Bytes` over a buffer that is wiped when the last clone is dropped.
pub(crate) fn zeroizing_bytes(mut buffer: Zeroizing<Vec<u8>>) -> bytes::Bytes {
    // Moves the heap buffer out (no copy); the emptied `Zeroizing` has nothing to wipe.
    bytes::Bytes::from_owner(ZeroOnDrop(std::mem::take(&mut *buffer)))
}
