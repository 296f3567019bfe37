//! A deliberately small URL parser for upstream and Redis URLs.
//!
//! It accepts `scheme://host[:port][/path]` and refuses userinfo, queries and fragments,
//! because each of those in an upstream URL is either a leaked credential or a surprise.

use std::net::Ipv6Addr;

use crate::syntax;

/// The parts of an accepted URL. The host is lower-case; IPv6 literals are kept in brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url<'t> {
    pub(crate) scheme: &'t str,
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
    /// Empty or starting with `/`.
    pub(crate) path: &'t str,
}

/// Splits a URL; messages describe the rule broken, never the URL.
pub(crate) fn parse(text: &str) -> Result<Url<'_>, &'static str> {
    let (scheme, rest) = text
        .split_once("://")
        .ok_or("must be a URL such as http://127.0.0.1:8080")?;
    if rest.contains('#') {
        return Err("must not have a fragment (`#...`)");
    }
    if rest.contains('?') {
        return Err("must not have a query (`?...`)");
    }
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    if authority.contains('@') {
        return Err("must not contain credentials (`user:password@`); the value is not shown");
    }
    let (host, port) = split_host_port(authority)?;
    if let Some(path) = Some(path).filter(|p| !p.is_empty()) {
        syntax::request_path(path)
            .map_err(|_| "path must be printable ASCII without spaces, `.` or `..` segments")?;
    }
    Ok(Url {
        scheme,
        host,
        port,
        path,
    })
}

/// `host[:port]`, with `[v6]` literals. Used for URL authorities and `Host` values.
pub(crate) fn split_host_port(authority: &str) -> Result<(String, Option<u16>), &'static str> {
    const NO_HOST: &str = "must name a host";
    const BAD_PORT: &str = "port must be a number from 1 to 65535";
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or("has an unclosed `[` in the host")?;
        addr.parse::<Ipv6Addr>()
            .map_err(|_| "has an invalid IPv6 address")?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(BAD_PORT)?),
        };
        (format!("[{}]", addr.to_ascii_lowercase()), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err(NO_HOST);
        }
        let host = if host.parse::<std::net::Ipv4Addr>().is_ok() {
            host.to_owned()
        } else {
            syntax::dns_name(host).map_err(|_| "host must be a DNS name or an IP address")?
        };
        (host, port)
    };
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0).ok_or(BAD_PORT)?),
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::{parse, split_host_port};

    #[test]
    fn splits_scheme_host_port_and_path() {
        let url = parse("http://Backend.Internal:8080/base/").unwrap();
        assert_eq!(url.scheme, "http");
        assert_eq!(url.host, "backend.internal");
        assert_eq!(url.port, Some(8080));
        assert_eq!(url.path, "/base/");
        let url = parse("https://[::1]").unwrap();
        assert_eq!((url.host.as_str(), url.port, url.path), ("[::1]", None, ""));
    }

    #[test]
    fn refuses_credentials_queries_fragments_and_missing_hosts() {
        for bad in [
            "http://user:pw@host",
            "http://host/?q=1",
            "http://host/#f",
            "http://",
            "http://:80",
            "http://host:0",
            "http://host:99999",
            "http://host:x",
            "http://[::1",
            "http://[zz]:80",
            "host:80",
            "http://ho st/",
            "http://host/a b",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_header_values() {
        assert_eq!(
            split_host_port("api.example.com"),
            Ok(("api.example.com".into(), None))
        );
        assert_eq!(
            split_host_port("10.0.0.1:8443"),
            Ok(("10.0.0.1".into(), Some(8443)))
        );
        assert!(split_host_port("").is_err());
    }
}
