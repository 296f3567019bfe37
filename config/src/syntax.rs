//! Small syntax checks for names, hosts, headers, methods, paths and log filters.
//!
//! Each returns `Err` with fixed text describing the rule; none repeats the input.

/// Names of listeners, upstreams, routes and rate limits (they appear in logs and metrics).
pub(crate) fn name(text: &str) -> Result<(), &'static str> {
    let ok = (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err("must be 1 to 64 characters of letters, digits, `-`, `_` or `.`")
    }
}

/// A DNS host name (`api.example.com`); returns it lower-cased.
pub(crate) fn dns_name(text: &str) -> Result<String, &'static str> {
    const RULE: &str = "must be a DNS name such as api.example.com \
                        (labels of letters, digits and `-`, separated by dots)";
    let name = text.strip_suffix('.').unwrap_or(text);
    let labels_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if labels_ok {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(RULE)
    }
}

/// A server name for SNI matching: a DNS name or `*.` followed by one (lower-cased).
pub(crate) fn server_name(text: &str) -> Result<String, &'static str> {
    match text.strip_prefix("*.") {
        Some(rest) => dns_name(rest)
            .map(|n| format!("*.{n}"))
            .map_err(|_| "must be a DNS name or a wildcard such as *.example.com"),
        None => {
            dns_name(text).map_err(|_| "must be a DNS name or a wildcard such as *.example.com")
        }
    }
}

/// An HTTP token (RFC 9110 `tchar`s), the syntax of header names and methods.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// A header name, returned lower-cased.
pub(crate) fn header_name(text: &str) -> Result<String, &'static str> {
    if is_token(text) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err("must be a header name (letters, digits and `-`, e.g. x-request-id)")
    }
}

/// An HTTP method, returned upper-cased.
pub(crate) fn method(text: &str) -> Result<String, &'static str> {
    if !is_token(text) {
        return Err("must be an HTTP method such as GET or POST");
    }
    let upper = text.to_ascii_uppercase();
    if upper == "CONNECT" {
        return Err("CONNECT is never proxied (outscope is not a forward proxy)");
    }
    Ok(upper)
}

/// A request path to match: starts with `/`, printable ASCII, no query, fragment or
/// `.`/`..` segments (requests are matched after normalisation, so those never match).
pub(crate) fn request_path(text: &str) -> Result<(), &'static str> {
    if !text.starts_with('/') {
        return Err("must start with `/`");
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces (percent-encode other bytes)");
    }
    if text.contains(['?', '#']) {
        return Err("must not contain a query (`?`) or fragment (`#`)");
    }
    if text
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err("must not contain `.` or `..` segments");
    }
    Ok(())
}

/// A `tracing` filter: comma-separated `level` or `target=level` directives.
///
/// A bare target (`outscope`, meaning "everything from outscope") is valid for tracing but
/// is refused here: `level = "verbose"` is far more often a typo than a target.
pub(crate) fn log_filter(text: &str) -> Result<(), &'static str> {
    const RULE: &str = "must be a log filter such as \"info\" or \"outscope=debug,warn\" \
                        (levels: trace, debug, info, warn, error, off)";
    let directive_ok = |d: &str| {
        let (target, level) = match d.split_once('=') {
            Some((t, l)) => (t, Some(l)),
            None if is_level(d) => ("", None),
            None => return false,
        };
        let target_ok = target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-' | b'.'));
        let level_ok = level.is_none_or(is_level);
        target_ok && level_ok && !(target.is_empty() && level.is_some())
    };
    if !text.is_empty() && text.split(',').all(|d| !d.is_empty() && directive_ok(d)) {
        Ok(())
    } else {
        Err(RULE)
    }
}

fn is_level(text: &str) -> bool {
    ["trace", "debug", "info", "warn", "error", "off"]
        .iter()
        .any(|l| l.eq_ignore_ascii_case(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name("public-api_v1.2").is_ok());
        for bad in ["", "has space", "ünï", &"x".repeat(65)] {
            assert!(name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dns_and_server_names() {
        assert_eq!(
            dns_name("API.Example.com").as_deref(),
            Ok("api.example.com")
        );
        assert_eq!(dns_name("localhost.").as_deref(), Ok("localhost"));
        assert_eq!(server_name("*.Example.com").as_deref(), Ok("*.example.com"));
        for bad in [
            "",
            ".",
            "a..b",
            "-a.com",
            "a-.com",
            "a_b.com",
            "a.com:443",
            "*",
            "*.",
            "a.*.com",
        ] {
            assert!(server_name(bad).is_err(), "{bad:?}");
        }
        assert!(dns_name("*.example.com").is_err());
    }

    #[test]
    fn header_names_and_methods() {
        assert_eq!(header_name("X-Request-Id").as_deref(), Ok("x-request-id"));
        assert!(header_name("x request").is_err());
        assert!(header_name("").is_err());
        assert!(header_name("x:y").is_err());
        assert_eq!(method("post").as_deref(), Ok("POST"));
        assert!(method("GET /").is_err());
        assert!(method("connect").is_err());
    }

    #[test]
    fn request_paths() {
        for good in ["/", "/v1/", "/v1/payments", "/a%20b", "/~user"] {
            assert!(request_path(good).is_ok(), "{good}");
        }
        for bad in ["", "v1", "/a b", "/a?b", "/a#b", "/a/../b", "/./a", "/é"] {
            assert!(request_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn log_filters() {
        for good in [
            "info",
            "WARN",
            "outscope=debug",
            "outscope::tls=trace,hyper=warn,info",
        ] {
            assert!(log_filter(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "info,",
            "=info",
            "outscope=loud",
            "a b",
            "verbose",
            "outscope[span]=info",
        ] {
            assert!(log_filter(bad).is_err(), "{bad}");
        }
    }
}
