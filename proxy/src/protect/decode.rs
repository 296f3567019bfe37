//! `Content-Encoding`: gzip, deflate (zlib), br and zstd bodies are decoded before
//! inspection, under a size cap and a ratio cap (decompression bombs), and forwarded
//! decoded. Unknown or stacked encodings are refused: a body we cannot read is a body we
//! cannot inspect.

use std::io::Read;

use http::HeaderMap;
use http::header::CONTENT_ENCODING;
use outscope_config::{Encoding, Inspection};
use zeroize::Zeroizing;

use crate::errors::ProxyError;

/// Below this decoded size the ratio cap does not apply: small bodies cannot be bombs, and
/// small JSON compresses very well.
const RATIO_FLOOR: u64 = 64 * 1024;

/// The body's encoding: `None` for identity. Refuses anything the route does not accept.
pub fn encoding(
    headers: &HeaderMap,
    accepted: &[Encoding],
) -> Result<Option<Encoding>, ProxyError> {
    let mut values = headers.get_all(CONTENT_ENCODING).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ProxyError::UnsupportedMedia(
            "more than one Content-Encoding",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| ProxyError::UnsupportedMedia("this Content-Encoding"))?;
    let tokens: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let encoding = match tokens.as_slice() {
        [] => return Ok(None),
        [one] if one.eq_ignore_ascii_case("identity") => return Ok(None),
        [one] if one.eq_ignore_ascii_case("gzip") || one.eq_ignore_ascii_case("x-gzip") => {
            Encoding::Gzip
        }
        [one] if one.eq_ignore_ascii_case("deflate") => Encoding::Deflate,
        [one] if one.eq_ignore_ascii_case("br") => Encoding::Br,
        [one] if one.eq_ignore_ascii_case("zstd") => Encoding::Zstd,
        [_] => return Err(ProxyError::UnsupportedMedia("this Content-Encoding")),
        _ => return Err(ProxyError::UnsupportedMedia("stacked Content-Encodings")),
    };
    if !accepted.contains(&encoding) {
        return Err(ProxyError::UnsupportedMedia("this Content-Encoding"));
    }
    Ok(Some(encoding))
}

/// Decodes `body`, refusing output over `max_decompressed_bytes` or over
/// `max_decompression_ratio` times the input (past a small floor).
pub fn decode(
    body: &[u8],
    encoding: Encoding,
    policy: &Inspection,
) -> Result<Zeroizing<Vec<u8>>, ProxyError> {
    let ratio_cap = (body.len() as u64)
        .saturating_mul(u64::from(policy.max_decompression_ratio))
        .max(RATIO_FLOOR);
    let cap = policy.max_decompressed_bytes.min(ratio_cap);
    match encoding {
        Encoding::Gzip => read_capped(flate2::read::MultiGzDecoder::new(body), cap),
        Encoding::Deflate => read_capped(flate2::read::ZlibDecoder::new(body), cap),
        Encoding::Br => read_capped(brotli_decompressor::Decompressor::new(body, 4096), cap),
        Encoding::Zstd => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(body)
                .map_err(|_| ProxyError::Undecodable("invalid zstd frame"))?;
            read_capped(decoder, cap)
        }
    }
}

/// Reads all of `reader` into a wiped-on-drop buffer, failing once more than `cap` bytes
/// come out.
fn read_capped(reader: impl Read, cap: u64) -> Result<Zeroizing<Vec<u8>>, ProxyError> {
    let mut out = Zeroizing::new(Vec::new());
    let mut limited = reader.take(cap.saturating_add(1));
    let mut chunk = Zeroizing::new([0u8; 16 * 1024]);
    loop {
        let n = limited
            .read(chunk.as_mut())
            .map_err(|_| ProxyError::Undecodable("corrupt compressed data"))?;
        if n == 0 {
            break;
        }
        if out.len() + n > usize::try_from(cap).unwrap_or(usize::MAX) {
            return Err(ProxyError::DecodedTooLarge);
        }
        if out.capacity() < out.len() + n {
            // Grow by copying into a fresh buffer so no partial copy is left unwiped.
            let mut bigger =
                Zeroizing::new(Vec::with_capacity((out.len() + n).next_power_of_two()));
            bigger.extend_from_slice(&out);
            out = bigger;
        }
        out.extend_from_slice(&chunk[..n]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, value.parse().unwrap());
        h
    }

    const ALL: [Encoding; 4] = [
        Encoding::Gzip,
        Encoding::Deflate,
        Encoding::Br,
        Encoding::Zstd,
    ];

    #[test]
    fn encodings_are_recognised_or_refused() {
        assert_eq!(encoding(&HeaderMap::new(), &ALL).unwrap(), None);
        assert_eq!(encoding(&headers("identity"), &ALL).unwrap(), None);
        assert_eq!(
            encoding(&headers("GZIP"), &ALL).unwrap(),
            Some(Encoding::Gzip)
        );
        assert_eq!(
            encoding(&headers("zstd"), &ALL).unwrap(),
            Some(Encoding::Zstd)
        );
        assert_eq!(
            encoding(&headers("gzip, br"), &ALL).unwrap_err().code(),
            "unsupported_media"
        );
        assert_eq!(
            encoding(&headers("compress"), &ALL).unwrap_err().code(),
            "unsupported_media"
        );
        assert_eq!(
            encoding(&headers("br"), &[Encoding::Gzip])
                .unwrap_err()
                .code(),
            "unsupported_media"
        );
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_and_zlib_round_trip() {
        let policy = Inspection::default();
        let data = br#"{"card":{"number":"4242424242424242"}}"#;
        assert_eq!(
            &decode(&gzip(data), Encoding::Gzip, &policy).unwrap()[..],
            data
        );
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(data).unwrap();
        assert_eq!(
            &decode(&z.finish().unwrap(), Encoding::Deflate, &policy).unwrap()[..],
            data
        );
    }

    #[test]
    fn zstd_round_trips() {
        let data = b"zstd body with 4242 4242 4242 4242 inside".repeat(10);
        let packed = ruzstd::encoding::compress_to_vec(
            &data[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        assert_eq!(
            &decode(&packed, Encoding::Zstd, &Inspection::default()).unwrap()[..],
            &data[..]
        );
    }

    #[test]
    fn bombs_are_refused_by_size_and_by_ratio() {
        let zeros = vec![b'0'; 4 * 1024 * 1024];
        let packed = gzip(&zeros);
        let mut policy = Inspection {
            max_decompressed_bytes: 1024 * 1024,
            ..Inspection::default()
        };
        assert_eq!(
            decode(&packed, Encoding::Gzip, &policy).unwrap_err().code(),
            "decoded_body_too_large"
        );
        policy.max_decompressed_bytes = 64 * 1024 * 1024;
        policy.max_decompression_ratio = 100;
        assert!(
            packed.len() * 100 < zeros.len(),
            "the fixture compresses better than 100:1"
        );
        assert_eq!(
            decode(&packed, Encoding::Gzip, &policy).unwrap_err().code(),
            "decoded_body_too_large"
        );
        policy.max_decompression_ratio = 100_000;
        assert_eq!(
            decode(&packed, Encoding::Gzip, &policy).unwrap().len(),
            zeros.len()
        );
    }

    #[test]
    fn corrupt_input_is_refused() {
        let policy = Inspection::default();
        for enc in ALL {
            assert_eq!(
                decode(b"definitely not compressed", enc, &policy)
                    .unwrap_err()
                    .code(),
                "undecodable_body",
                "{enc:?}"
            );
        }
    }
}
