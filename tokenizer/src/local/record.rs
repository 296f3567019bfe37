//! The stored record: what sealed a card, and its ciphertext. Never the PAN itself.
//!
//! ```text
//! v1 (static key ring): [1, id len, key id, nonce || ciphertext]
//! v2 (envelope):        [2, id len, key id, wrapped len (u16 BE), wrapped data key
//!                        (`vault:vN:...`), nonce || ciphertext]
//! ```

const V1: u8 = 1;
const V2: u8 = 2;

/// A decoded record, borrowing from the stored bytes. `Debug` shows key ids and lengths,
/// never the wrapped data key or the ciphertext.
#[derive(PartialEq, Eq)]
pub(crate) enum Record<'a> {
    Static {
        key_id: &'a str,
        sealed: &'a [u8],
    },
    Envelope {
        key_id: &'a str,
        wrapped: &'a str,
        sealed: &'a [u8],
    },
}

impl std::fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Record::Static { key_id, sealed } => f
                .debug_struct("Static")
                .field("key_id", key_id)
                .field("sealed_len", &sealed.len())
                .finish(),
            Record::Envelope {
                key_id,
                wrapped,
                sealed,
            } => f
                .debug_struct("Envelope")
                .field("key_id", key_id)
                .field("transit_version", &super::envelope::version_of(wrapped))
                .field("sealed_len", &sealed.len())
                .finish(),
        }
    }
}

impl Record<'_> {
    /// The transit key version that wrapped this record's data key; 0 for a record sealed
    /// by a static key (it predates envelope encryption).
    pub(crate) fn transit_version(&self) -> u64 {
        match self {
            Record::Static { .. } => 0,
            Record::Envelope { wrapped, .. } => super::envelope::version_of(wrapped).unwrap_or(0),
        }
    }
}

/// The record in `record`; `None` when it is malformed, and for a v2 record whose key id
/// is not the id of its wrapped data key (a forged or swapped wrapped key is refused here,
/// before any cached key is looked up or any version decision is made from its prefix).
pub(crate) fn decode(record: &[u8]) -> Option<Record<'_>> {
    let (&version, rest) = record.split_first()?;
    let (key_id, rest) = short_field(rest)?;
    match version {
        V1 => Some(Record::Static {
            key_id,
            sealed: rest,
        }),
        V2 => {
            let (len, rest) = rest.split_first_chunk::<2>()?;
            let len = usize::from(u16::from_be_bytes(*len));
            if rest.len() < len {
                return None;
            }
            let (wrapped, sealed) = rest.split_at(len);
            let wrapped = std::str::from_utf8(wrapped).ok()?;
            if super::envelope::key_id(wrapped) != key_id {
                return None;
            }
            Some(Record::Envelope {
                key_id,
                wrapped,
                sealed,
            })
        }
        _ => None,
    }
}

pub(crate) fn encode_static(key_id: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    let id_len = u8::try_from(key_id.len()).ok()?;
    let mut record = Vec::with_capacity(2 + key_id.len() + sealed.len());
    record.push(V1);
    record.push(id_len);
    record.extend_from_slice(key_id.as_bytes());
    record.extend_from_slice(sealed);
    Some(record)
}

pub(crate) fn encode_envelope(key_id: &str, wrapped: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    let id_len = u8::try_from(key_id.len()).ok()?;
    let wrapped_len = u16::try_from(wrapped.len()).ok()?;
    let mut record = Vec::with_capacity(4 + key_id.len() + wrapped.len() + sealed.len());
    record.push(V2);
    record.push(id_len);
    record.extend_from_slice(key_id.as_bytes());
    record.extend_from_slice(&wrapped_len.to_be_bytes());
    record.extend_from_slice(wrapped.as_bytes());
    record.extend_from_slice(sealed);
    Some(record)
}

/// A `[len u8, bytes]` UTF-8 field.
fn short_field(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let (&len, rest) = bytes.split_first()?;
    if rest.len() < usize::from(len) {
        return None;
    }
    let (field, rest) = rest.split_at(usize::from(len));
    Some((std::str::from_utf8(field).ok()?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_versioned_and_carry_their_key_id() {
        assert_eq!(
            decode(b"\x01\x02k1nonce"),
            Some(Record::Static {
                key_id: "k1",
                sealed: b"nonce"
            })
        );
        assert_eq!(decode(b"\x03\x02k1nonce"), None);
        assert_eq!(decode(b"\x01\x09k1"), None);
        assert_eq!(decode(b""), None);
    }

    #[test]
    fn envelope_records_carry_the_wrapped_data_key() {
        let id = super::super::envelope::key_id("vault:v4:abc");
        let record = encode_envelope(&id, "vault:v4:abc", b"sealed").unwrap_or_default();
        let decoded = decode(&record);
        assert_eq!(
            decoded,
            Some(Record::Envelope {
                key_id: &id,
                wrapped: "vault:v4:abc",
                sealed: b"sealed"
            })
        );
        assert_eq!(decoded.map(|r| r.transit_version()), Some(4));
        assert_eq!(
            decode(&record[..record.len() - 7]),
            None,
            "wrapped key cut short"
        );
        let v1 = encode_static("k1", b"x").unwrap_or_default();
        assert_eq!(decode(&v1).map(|r| r.transit_version()), Some(0));
    }

    #[test]
    fn an_envelope_record_whose_id_is_not_its_wrapped_keys_id_is_refused() {
        let id = super::super::envelope::key_id("vault:v1:real");
        for forged in ["vault:v1:other", "vault:v99:forged"] {
            let record = encode_envelope(&id, forged, b"sealed").unwrap_or_default();
            assert_eq!(decode(&record), None, "{forged}");
        }
    }

    #[test]
    fn debug_never_shows_the_wrapped_key() {
        let id = super::super::envelope::key_id("vault:v4:c2VjcmV0");
        let record = encode_envelope(&id, "vault:v4:c2VjcmV0", b"sealed").unwrap_or_default();
        let shown = format!("{:?}", decode(&record));
        assert!(
            !shown.contains("c2VjcmV0") && !shown.contains("vault:v"),
            "{shown}"
        );
        assert!(shown.contains(&id), "{shown}");
    }
}
