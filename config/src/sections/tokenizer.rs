//! `[tokenizer]`: how card numbers become tokens: Stripe's API (`kind = "stripe"`) or
//! outscope's own vault (`kind = "local"`). Each key belongs to one kind; a key of the
//! other kind is refused rather than ignored.

use std::net::IpAddr;
use std::time::Duration;

use crate::model::{
    Envelope, LocalStore, LocalTokenizer, StripeObject, StripeTokenizer, TokenFormat, Tokenizer,
};
use crate::sections::Cx;
use crate::sections::read::{
    check, count, one_of, optional, or_default, positive, positive_duration, required, secret_ref,
};
use crate::url;
use crate::walk::{Node, Table};

const STRIPE_KEYS: &[&str] = &[
    "api_base",
    "secret_key",
    "create",
    "timeout",
    "connect_timeout",
    "max_retries",
    "breaker_failures",
    "breaker_cool_down",
    "ca",
];
const LOCAL_KEYS: &[&str] = &[
    "keys",
    "fingerprint_key",
    "store",
    "token_format",
    "transit_mount",
    "transit_key",
    "data_key_rotation",
];

/// A new data key every day unless `data_key_rotation` says otherwise.
const DATA_KEY_ROTATION: Duration = Duration::from_secs(24 * 3600);
/// Shorter periods would ask Vault for a key more often than a refresh interval.
const MIN_DATA_KEY_ROTATION: Duration = Duration::from_secs(60);
/// A data key's crypto-period is bounded: 30 days (`720h`).
const MAX_DATA_KEY_ROTATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Each retry may take a whole `timeout`; more than this only delays the 503.
const MAX_RETRIES: u32 = 10;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Copy)]
enum Kind {
    Stripe,
    Local,
}

/// Which other sections are present (a Redis store needs `[redis]`, envelope encryption
/// needs `[vault]`).
#[derive(Clone, Copy)]
pub(crate) struct Present {
    pub(crate) redis: bool,
    /// `[redis] cluster = true`.
    pub(crate) redis_cluster: bool,
    pub(crate) vault: bool,
}

pub(crate) fn tokenizer(
    cx: &mut Cx<'_>,
    node: &Node<'_, '_>,
    present: Present,
) -> Option<Tokenizer> {
    let mut t = node.table(cx)?;
    let kind = required(cx, &mut t, "kind", |cx, node| {
        one_of(
            cx,
            node,
            &[("stripe", Kind::Stripe), ("local", Kind::Local)],
        )
    });
    let built = match kind {
        Some(Kind::Stripe) => {
            refuse(cx, &mut t, LOCAL_KEYS, "local");
            stripe(cx, &mut t).map(Tokenizer::Stripe)
        }
        Some(Kind::Local) => {
            refuse(cx, &mut t, STRIPE_KEYS, "stripe");
            local(cx, &mut t, present).map(Tokenizer::Local)
        }
        None => {
            // The kind was reported; its keys are not unknown, only unchecked.
            for &key in STRIPE_KEYS.iter().chain(LOCAL_KEYS) {
                t.get(key);
            }
            None
        }
    };
    t.finish(cx);
    built
}

/// Reports each of `keys` present: they belong to the other kind.
fn refuse(cx: &mut Cx<'_>, t: &mut Table<'_, '_>, keys: &[&'static str], kind: &str) {
    for &key in keys {
        if let Some(node) = t.get(key) {
            node.report(cx, format!("only applies with kind = \"{kind}\""));
        }
    }
}

fn stripe(cx: &mut Cx<'_>, t: &mut Table<'_, '_>) -> Option<StripeTokenizer> {
    let api_base = or_default(
        cx,
        t,
        "api_base",
        "https://api.stripe.com".to_owned(),
        |cx, node| {
            let text = node.str(cx)?;
            check(cx, node, api_base(text))
        },
    );
    let secret_key = required(cx, t, "secret_key", secret_ref);
    let create = or_default(cx, t, "create", StripeObject::PaymentMethod, |cx, node| {
        let choices = [
            ("payment_method", StripeObject::PaymentMethod),
            ("token", StripeObject::Token),
        ];
        one_of(cx, node, &choices)
    });
    let timeout = or_default(cx, t, "timeout", Duration::from_secs(5), positive_duration);
    let connect_timeout = match t.get("connect_timeout") {
        Some(node) => positive_duration(cx, &node).and_then(|connect| match timeout {
            Some(timeout) if connect > timeout => {
                node.report(
                    cx,
                    "must not be longer than timeout (it is part of each attempt)",
                );
                None
            }
            _ => Some(connect),
        }),
        None => timeout.map(|timeout| CONNECT_TIMEOUT.min(timeout)),
    };
    let max_retries = or_default(cx, t, "max_retries", 2, |cx, node| {
        let retries = count::<u32>(cx, node)?;
        if retries > MAX_RETRIES {
            node.report(
                cx,
                format!("must be at most {MAX_RETRIES} (each retry may take a whole timeout)"),
            );
            return None;
        }
        Some(retries)
    });
    let breaker_failures = or_default(cx, t, "breaker_failures", 5, positive);
    let breaker_cool_down = or_default(
        cx,
        t,
        "breaker_cool_down",
        Duration::from_secs(10),
        positive_duration,
    );
    let ca = optional(cx, t, "ca", |cx, node| {
        let reference = secret_ref(cx, node)?;
        if api_base
            .as_ref()
            .is_some_and(|base| !base.starts_with("https://"))
        {
            node.report(cx, "only applies to an https:// api_base");
            return None;
        }
        Some(reference)
    });
    Some(StripeTokenizer {
        api_base: api_base?,
        secret_key: secret_key?,
        create: create?,
        timeout: timeout?,
        connect_timeout: connect_timeout?,
        max_retries: max_retries?,
        breaker_failures: breaker_failures?,
        breaker_cool_down: breaker_cool_down?,
        ca: ca?,
    })
}

/// `https://host[:port][/path]`, or `http://` to a loopback host (localstripe in tests).
/// Returned lower-case (scheme and host) and without a trailing slash.
fn api_base(text: &str) -> Result<String, &'static str> {
    let url = url::parse(text)?;
    match url.scheme {
        "https" => {}
        "http" if is_loopback(&url.host) => {}
        "http" => {
            return Err(
                "http:// is only allowed for a loopback host such as 127.0.0.1, \
                        [::1] or localhost (test servers); use https://",
            );
        }
        _ => return Err("scheme must be https://"),
    }
    let port = url.port.map(|p| format!(":{p}")).unwrap_or_default();
    let path = url.path.trim_end_matches('/');
    Ok(format!("{}://{}{port}{path}", url.scheme, url.host))
}

/// `localhost` or an address in 127.0.0.0/8 or `::1` (IPv6 in brackets, as in URLs).
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn local(cx: &mut Cx<'_>, t: &mut Table<'_, '_>, present: Present) -> Option<LocalTokenizer> {
    let envelope = envelope(cx, t, present.vault);
    let keys = match t.get("keys") {
        Some(node) => secret_ref(cx, &node).map(Some),
        None if matches!(envelope, Some(None)) => {
            t.missing(
                cx,
                "keys",
                "missing required key (or transit_key, for data keys from Vault transit)",
            );
            None
        }
        None => Some(None),
    };
    let fingerprint_key = required(cx, t, "fingerprint_key", |cx, node| {
        let reference = secret_ref(cx, node)?;
        if keys.as_ref().and_then(Option::as_ref) == Some(&reference) {
            node.report(
                cx,
                "must be a different secret from keys (the fingerprint key is not an \
                 encryption key)",
            );
            return None;
        }
        Some(reference)
    });
    let store = or_default(cx, t, "store", LocalStore::Memory, |cx, node| {
        let store = one_of(
            cx,
            node,
            &[("memory", LocalStore::Memory), ("redis", LocalStore::Redis)],
        )?;
        if store == LocalStore::Redis && !present.redis {
            node.report(cx, "store = \"redis\" needs a [redis] section");
            return None;
        }
        if store == LocalStore::Redis && present.redis_cluster {
            node.report(
                cx,
                "store = \"redis\" needs a single Redis node: a card's record and its \
                 index live in different cluster slots (cluster = true serves rate limits only)",
            );
            return None;
        }
        Some(store)
    });
    let token_format = or_default(cx, t, "token_format", TokenFormat::Random, |cx, node| {
        one_of(
            cx,
            node,
            &[
                ("random", TokenFormat::Random),
                ("alias", TokenFormat::Alias),
            ],
        )
    });
    Some(LocalTokenizer {
        keys: keys?,
        fingerprint_key: fingerprint_key?,
        store: store?,
        token_format: token_format?,
        envelope: envelope?,
    })
}

/// `transit_key` (and its `transit_mount`, `data_key_rotation`): `Some(None)` when the
/// vault uses static keys only.
fn envelope(cx: &mut Cx<'_>, t: &mut Table<'_, '_>, have_vault: bool) -> Option<Option<Envelope>> {
    let key = optional(cx, t, "transit_key", |cx, node| {
        let text = node.str(cx)?;
        check(cx, node, transit_name(text))?;
        if !have_vault {
            node.report(
                cx,
                "needs a [vault] section (the Vault or OpenBao that holds the transit key)",
            );
            return None;
        }
        Some(text.to_owned())
    });
    let mount = optional(cx, t, "transit_mount", |cx, node| {
        let text = node.str(cx)?;
        check(cx, node, transit_name(text)).map(|()| text.to_owned())
    });
    let rotation = optional(cx, t, "data_key_rotation", |cx, node| {
        let value = positive_duration(cx, node)?;
        if value < MIN_DATA_KEY_ROTATION {
            node.report(cx, "must be at least 1m");
            return None;
        }
        if value > MAX_DATA_KEY_ROTATION {
            node.report(
                cx,
                "must be at most 720h (30 days: a data key's crypto-period)",
            );
            return None;
        }
        Some(value)
    });
    let (key, mount, rotation) = (key?, mount?, rotation?);
    if key.is_none() {
        for (name, present) in [
            ("transit_mount", mount.is_some()),
            ("data_key_rotation", rotation.is_some()),
        ] {
            if present && let Some(node) = t.get(name) {
                node.report(cx, "only applies with transit_key");
            }
        }
        if mount.is_some() || rotation.is_some() {
            return None;
        }
    }
    Some(key.map(|key| Envelope {
        mount: mount.unwrap_or_else(|| "transit".to_owned()),
        key,
        rotation: rotation.unwrap_or(DATA_KEY_ROTATION),
    }))
}

/// A transit mount or key name: 1 to 128 characters of `[A-Za-z0-9_.-]`, plus `/` inside
/// a mount path (no empty segment).
fn transit_name(text: &str) -> Result<(), &'static str> {
    let ok = (1..=128).contains(&text.len())
        && text.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        });
    if ok {
        Ok(())
    } else {
        Err(
            "must be 1 to 128 characters of letters, digits, `_`, `.`, `-` (and `/` between \
             path segments)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{api_base, is_loopback};

    #[test]
    fn api_bases_are_https_or_loopback_http_and_lose_trailing_slashes() {
        assert_eq!(
            api_base("https://api.stripe.com/").as_deref(),
            Ok("https://api.stripe.com")
        );
        assert_eq!(
            api_base("http://127.0.0.1:12111").as_deref(),
            Ok("http://127.0.0.1:12111")
        );
        assert_eq!(
            api_base("https://Egress.Internal:8443/stripe/").as_deref(),
            Ok("https://egress.internal:8443/stripe")
        );
        assert_eq!(
            api_base("http://[::1]:9000").as_deref(),
            Ok("http://[::1]:9000")
        );
        for bad in [
            "http://api.stripe.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "HTTPS://api.stripe.com",
            "https://user:pw@api.stripe.com",
            "api.stripe.com",
        ] {
            assert!(api_base(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "127.0.0.1", "127.9.9.9", "[::1]"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["10.0.0.1", "localhost.example.com", "[::2]", "0.0.0.0"] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
