//! Header rewriting on the way up and down: hop-by-hop removal, `X-Forwarded-*`, request
//! id, `Host`.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

/// Headers that describe one connection and never cross a proxy (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop headers, including every header the `Connection` header names.
/// `Upgrade` is removed too unless `keep_upgrade`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .filter(|name| !(keep_upgrade && name == header::UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    if !keep_upgrade {
        headers.remove(header::UPGRADE);
    }
}

/// Whether `peer` is one of the configured trusted proxies.
pub fn is_trusted(peer: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&peer))
}

/// The client's IP: the peer, or, when the peer is a trusted proxy, the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        for part in text.split(',') {
            match part.trim().parse() {
                Ok(ip) => hops.push(ip),
                Err(_) => return peer,
            }
        }
    }
    hops.into_iter()
        .rev()
        .find(|ip| !is_trusted(*ip, trusted))
        .unwrap_or(peer)
}

/// Sets `X-Forwarded-For` (appending to a trusted peer's chain, replacing an untrusted
/// one's) and `X-Forwarded-Proto: https`; drops an untrusted `Forwarded`.
pub fn set_forwarded(headers: &mut HeaderMap, peer: IpAddr, trusted: &[IpNet]) {
    let trusted_peer = is_trusted(peer, trusted);
    let prior: Option<String> = if trusted_peer {
        let parts: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    } else {
        headers.remove(header::FORWARDED);
        None
    };
    let value = match prior {
        Some(chain) => format!("{chain}, {peer}"),
        None => peer.to_string(),
    };
    headers.remove("x-forwarded-for");
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), v);
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static("https"),
    );
}

/// An incoming request id worth keeping: 1 to 128 characters of `[A-Za-z0-9._-]`.
pub fn acceptable_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=128).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A fresh request id: 26 random lower-case letters (about 122 bits), the base-26 digits
/// of one 128-bit random draw. Letters only, so no log scrubber ever mistakes part of it
/// for a card number.
pub fn new_request_id() -> HeaderValue {
    let mut n: u128 = rand::random();
    let mut id = [0u8; 26];
    for letter in &mut id {
        // `n % 26` is below 26: the cast cannot truncate.
        *letter = b'a' + (n % 26) as u8;
        n /= 26;
    }
    HeaderValue::from_bytes(&id).unwrap_or(HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("x-kept", "yes"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let names: Vec<_> = h.keys().map(|k| k.as_str().to_owned()).collect();
        assert_eq!(names, vec!["x-kept"]);
    }

    #[test]
    fn upgrade_survives_only_when_allowed() {
        let mut h = map(&[("connection", "upgrade"), ("upgrade", "websocket")]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
    }

    #[test]
    fn client_ip_believes_forwarded_for_only_from_trusted_peers() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = map(&[("x-forwarded-for", "203.0.113.9, 10.1.1.1")]);
        assert_eq!(
            client_ip("10.2.2.2".parse().unwrap(), &h, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip("198.51.100.1".parse().unwrap(), &h, &trusted),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        let junk = map(&[("x-forwarded-for", "not-an-ip")]);
        assert_eq!(
            client_ip("10.2.2.2".parse().unwrap(), &junk, &trusted),
            "10.2.2.2".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn forwarded_for_is_replaced_for_untrusted_peers_and_appended_for_trusted() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = map(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")]);
        set_forwarded(&mut h, "198.51.100.1".parse().unwrap(), &trusted);
        assert_eq!(h.get("x-forwarded-for").unwrap(), "198.51.100.1");
        assert!(h.get("forwarded").is_none());
        let mut h = map(&[("x-forwarded-for", "1.2.3.4")]);
        set_forwarded(&mut h, "10.0.0.7".parse().unwrap(), &trusted);
        assert_eq!(h.get("x-forwarded-for").unwrap(), "1.2.3.4, 10.0.0.7");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "https");
    }

    #[test]
    fn request_ids_are_validated() {
        assert!(acceptable_request_id(&HeaderValue::from_static(
            "abc-123_x.y"
        )));
        assert!(!acceptable_request_id(&HeaderValue::from_static("")));
        assert!(!acceptable_request_id(&HeaderValue::from_static("a b")));
        let id = new_request_id();
        assert_eq!(id.len(), 26);
        assert!(id.as_bytes().iter().all(u8::is_ascii_lowercase));
        assert_ne!(new_request_id(), new_request_id());
        // Every letter position varies (the last ones come from the high bits of the draw).
        let ids: Vec<HeaderValue> = (0..64).map(|_| new_request_id()).collect();
        for at in 0..26 {
            let first = ids[0].as_bytes()[at];
            assert!(
                ids.iter().any(|id| id.as_bytes()[at] != first),
                "letter {at}"
            );
        }
    }
}
