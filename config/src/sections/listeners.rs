//! `[[listeners]]`: TLS listeners, their certificates and client authentication.

use std::net::SocketAddr;

use crate::model::{Alpn, Certificate, ClientAuth, Listener, ListenerTls, SecretRef};
use crate::report::KeyPath;
use crate::sections::read::{
    check, named, one_of, or_default, required, required_entries, secret_ref, socket_addr, tables,
};
use crate::sections::{At, Cx, Named, index_names};
use crate::syntax;
use crate::walk::{Node, Table};

/// What the listener section produced: the listeners (if all are valid) and their
/// addresses (for the admin collision check).
pub(crate) struct Listeners {
    pub(crate) built: Option<Vec<Listener>>,
    addresses: Vec<(SocketAddr, At)>,
}

impl Listeners {
    /// Whether some listener asks for client certificates; `None` when the listeners
    /// could not be read (so rules that depend on it stay quiet).
    pub(crate) fn any_client_auth(&self) -> Option<bool> {
        let listeners = self.built.as_ref()?;
        Some(
            listeners
                .iter()
                .any(|l| l.tls.client_auth != ClientAuth::None),
        )
    }
}

pub(crate) fn listeners(cx: &mut Cx<'_>, node: Option<Node<'_, '_>>) -> Listeners {
    let entries = required_entries(cx, "listeners", node.as_ref());
    let mut names = Vec::new();
    let mut addresses = Vec::new();
    let mut built = Vec::new();
    for (i, t) in entries.into_iter().enumerate() {
        let (named, address, listener) = listener(cx, t);
        names.push((i, named));
        addresses.extend(address);
        built.push(listener);
    }
    index_names(cx, names.iter().map(|(i, n)| (*i, n.as_ref())));
    check_distinct_addresses(cx, &addresses);
    let built = if names.is_empty() {
        None
    } else {
        built.into_iter().collect()
    };
    Listeners { built, addresses }
}

/// One entry: its name and address (for the cross checks) and the listener, each `None`
/// where a problem was reported.
type Entry = (Option<Named>, Option<(SocketAddr, At)>, Option<Listener>);

fn listener(cx: &mut Cx<'_>, mut t: Table<'_, '_>) -> Entry {
    let named = named(cx, &mut t);
    let address = t
        .required(cx, "address")
        .and_then(|node| socket_addr(cx, &node).map(|addr| (addr, node.at())));
    let tls = match t.required(cx, "tls") {
        Some(node) => node.table(cx).and_then(|tls| listener_tls(cx, tls)),
        None => None,
    };
    t.finish(cx);
    let listener = (|| {
        Some(Listener {
            name: named.as_ref()?.name.clone(),
            address: address.as_ref()?.0,
            tls: tls?,
        })
    })();
    (named, address, listener)
}

#[derive(Clone, Copy, PartialEq)]
enum AuthMode {
    None,
    Optional,
    Required,
}

fn listener_tls(cx: &mut Cx<'_>, mut t: Table<'_, '_>) -> Option<ListenerTls> {
    let alpn = or_default(cx, &mut t, "alpn", vec![Alpn::H2, Alpn::Http11], alpn);
    let mode = or_default(cx, &mut t, "client_auth", AuthMode::None, |cx, node| {
        let choices = [
            ("none", AuthMode::None),
            ("optional", AuthMode::Optional),
            ("required", AuthMode::Required),
        ];
        one_of(cx, node, &choices)
    });
    let ca_node = t.get("client_ca");
    let ca = ca_node.as_ref().map(|node| (node, secret_ref(cx, node)));
    let client_auth = client_auth(cx, &t, mode, ca);
    let certificates = required(cx, &mut t, "certificates", certificates);
    t.finish(cx);
    Some(ListenerTls {
        certificates: certificates?,
        client_auth: client_auth?,
        alpn: alpn?,
    })
}

fn client_auth(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    mode: Option<AuthMode>,
    ca: Option<(&Node<'_, '_>, Option<SecretRef>)>,
) -> Option<ClientAuth> {
    match (mode?, ca) {
        (AuthMode::None, None) => Some(ClientAuth::None),
        (AuthMode::None, Some((node, _))) => {
            node.report(
                cx,
                "client_ca is only used when client_auth is \"optional\" or \"required\"",
            );
            None
        }
        (_, None) => {
            let message = "missing required key (client_auth is \"optional\" or \"required\")";
            t.missing(cx, "client_ca", message);
            None
        }
        (AuthMode::Optional, Some((_, ca))) => Some(ClientAuth::Optional { ca: ca? }),
        (AuthMode::Required, Some((_, ca))) => Some(ClientAuth::Required { ca: ca? }),
    }
}

fn alpn(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<Vec<Alpn>> {
    let items = node.strings(cx)?;
    if items.is_empty() {
        node.report(cx, "must list at least one protocol: \"h2\", \"http/1.1\"");
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (item, _) in &items {
        match one_of(cx, item, &[("h2", Alpn::H2), ("http/1.1", Alpn::Http11)]) {
            Some(p) if out.contains(&p) => {
                item.report(cx, "listed twice");
                ok = false;
            }
            Some(p) => out.push(p),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn certificates(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<Vec<Certificate>> {
    let entries = tables(cx, node);
    if entries.is_empty() {
        if node.value.get_ref().as_array().is_some() {
            node.report(cx, "at least one certificate is required");
        }
        return None;
    }
    let mut seen: Vec<(String, KeyPath)> = Vec::new();
    let mut out = Vec::new();
    for (i, t) in entries.into_iter().enumerate() {
        out.push(certificate(cx, t, i, &mut seen));
    }
    out.into_iter().collect()
}

fn certificate(
    cx: &mut Cx<'_>,
    mut t: Table<'_, '_>,
    index: usize,
    seen: &mut Vec<(String, KeyPath)>,
) -> Option<Certificate> {
    let cert = required(cx, &mut t, "cert", secret_ref);
    let key = required(cx, &mut t, "key", secret_ref);
    let server_names = or_default(cx, &mut t, "server_names", Vec::new(), |cx, node| {
        let items = node.strings(cx)?;
        let names: Vec<Option<String>> = items
            .iter()
            .map(|(item, text)| {
                let name = check(cx, item, syntax::server_name(text))?;
                if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                    item.report(
                        cx,
                        format!("duplicate server name; already listed at {first}"),
                    );
                    return None;
                }
                seen.push((name.clone(), item.path.clone()));
                Some(name)
            })
            .collect();
        names.into_iter().collect()
    });
    if index > 0 && server_names.as_ref().is_some_and(Vec::is_empty) {
        t.report(
            cx,
            "only the first certificate is the default; list the server_names this one serves",
        );
    }
    t.finish(cx);
    Some(Certificate {
        cert: cert?,
        key: key?,
        server_names: server_names?,
    })
}

/// Two sockets cannot bind the same port on overlapping addresses: the same address, or a
/// wildcard of the same family (or `[::]`, which is dual-stack on Linux by default). Port 0
/// (pick a free port) never collides.
fn collide(a: SocketAddr, b: SocketAddr) -> bool {
    let covers = |wild: SocketAddr, other: SocketAddr| {
        wild.ip().is_unspecified() && (wild.is_ipv6() || wild.is_ipv4() == other.is_ipv4())
    };
    a.port() != 0 && a.port() == b.port() && (a.ip() == b.ip() || covers(a, b) || covers(b, a))
}

fn check_distinct_addresses(cx: &mut Cx<'_>, addresses: &[(SocketAddr, At)]) {
    for (i, (addr, at)) in addresses.iter().enumerate() {
        let clash = addresses[..i]
            .iter()
            .find(|(other, _)| collide(*addr, *other));
        if let Some((_, first)) = clash {
            let message = format!(
                "collides with {} (same port on an overlapping address)",
                first.path
            );
            at.report(cx, message);
        }
    }
}

/// The admin listener must not share a port with a client-facing listener.
pub(crate) fn check_admin_address(
    cx: &mut Cx<'_>,
    admin: SocketAddr,
    at: &At,
    listeners: &Listeners,
) {
    for (addr, listener) in &listeners.addresses {
        if collide(admin, *addr) {
            let message = format!(
                "collides with {}; the admin listener needs its own address",
                listener.path
            );
            at.report(cx, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::collide;

    #[test]
    fn sockets_collide_on_the_same_port_and_an_overlapping_address() {
        let c = |a: &str, b: &str| collide(a.parse().unwrap(), b.parse().unwrap());
        assert!(c("127.0.0.1:8443", "127.0.0.1:8443"));
        assert!(c("0.0.0.0:8443", "127.0.0.1:8443"));
        assert!(c("127.0.0.1:8443", "[::]:8443"));
        assert!(c("[::]:8443", "[::1]:8443"));
        assert!(!c("127.0.0.1:8443", "127.0.0.1:9443"));
        assert!(!c("127.0.0.1:8443", "127.0.0.2:8443"));
        assert!(!c("0.0.0.0:8443", "[::1]:8443"));
        assert!(!c("127.0.0.1:0", "127.0.0.1:0"));
    }
}
