//! Readers shared by every section: typed values with the rules that apply everywhere.

use std::net::SocketAddr;
use std::time::Duration;

use crate::model::SecretRef;
use crate::report::KeyPath;
use crate::sections::{Cx, Named};
use crate::walk::{Node, Table};
use crate::{duration, secret, syntax};

/// The value of `key`, read by `read`, or `default` when the key is absent.
pub(crate) fn or_default<'a, 'i, T>(
    cx: &mut Cx<'_>,
    table: &mut Table<'a, 'i>,
    key: &'static str,
    default: T,
    read: impl FnOnce(&mut Cx<'_>, &Node<'a, 'i>) -> Option<T>,
) -> Option<T> {
    match table.get(key) {
        Some(node) => read(cx, &node),
        None => Some(default),
    }
}

/// The value of a required `key`, read by `read`.
pub(crate) fn required<'a, 'i, T>(
    cx: &mut Cx<'_>,
    table: &mut Table<'a, 'i>,
    key: &'static str,
    read: impl FnOnce(&mut Cx<'_>, &Node<'a, 'i>) -> Option<T>,
) -> Option<T> {
    let node = table.required(cx, key)?;
    read(cx, &node)
}

/// Reports `rule` at `node` when `result` is an error.
pub(crate) fn check<T>(cx: &mut Cx<'_>, node: &Node<'_, '_>, result: Result<T, &str>) -> Option<T> {
    result.map_err(|rule| node.report(cx, rule)).ok()
}

/// A duration string; zero allowed.
pub(crate) fn duration(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<Duration> {
    let text = node.str(cx)?;
    check(cx, node, duration::parse(text).ok_or(duration::EXPECTED))
}

/// A duration string greater than zero.
pub(crate) fn positive_duration(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<Duration> {
    let value = duration(cx, node)?;
    check(
        cx,
        node,
        if value.is_zero() {
            Err("must be longer than zero")
        } else {
            Ok(value)
        },
    )
}

/// A whole number of at least 1 that fits `T`.
pub(crate) fn positive<T: TryFrom<u64>>(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<T> {
    let value = node.uint(cx)?;
    if value == 0 {
        node.report(cx, "must be at least 1");
        return None;
    }
    in_range(cx, node, value)
}

/// A whole number (zero allowed) that fits `T`.
pub(crate) fn count<T: TryFrom<u64>>(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<T> {
    let value = node.uint(cx)?;
    in_range(cx, node, value)
}

fn in_range<T: TryFrom<u64>>(cx: &mut Cx<'_>, node: &Node<'_, '_>, value: u64) -> Option<T> {
    let converted = T::try_from(value).ok();
    if converted.is_none() {
        node.report(cx, "is too large");
    }
    converted
}

pub(crate) fn boolean(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<bool> {
    node.bool(cx)
}

/// `ip:port`, e.g. `127.0.0.1:9901` or `[::1]:9901`.
pub(crate) fn socket_addr(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<SocketAddr> {
    let text = node.str(cx)?;
    let parsed = text.parse::<SocketAddr>().map_err(|_| {
        "must be an IP address and port such as \"127.0.0.1:8443\" or \"[::1]:8443\" \
         (host names are not resolved)"
    });
    check(cx, node, parsed)
}

/// A secret reference; relative `file://` paths resolve against the config's directory.
pub(crate) fn secret_ref(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<SecretRef> {
    let text = node.str(cx)?;
    match secret::parse(text, cx.base_dir) {
        Ok(reference) => {
            if matches!(reference, SecretRef::Vault { .. }) {
                cx.vault_refs.push(node.at());
            }
            if let Err(reason) = secret::check(&reference, cx.checks) {
                node.report(cx, reason);
            }
            Some(reference)
        }
        Err(e) => {
            node.report(cx, e.to_string());
            None
        }
    }
}

/// Reads an entry's required `name`, remembering where it was written.
pub(crate) fn named(cx: &mut Cx<'_>, t: &mut Table<'_, '_>) -> Option<Named> {
    let node = t.required(cx, "name")?;
    let name = name(cx, &node)?;
    Some(Named {
        name,
        at: node.at(),
    })
}

/// A section entry's `name`.
pub(crate) fn name(cx: &mut Cx<'_>, node: &Node<'_, '_>) -> Option<String> {
    let text = node.str(cx)?;
    check(cx, node, syntax::name(text)).map(|()| text.to_owned())
}

/// A string that must be one of `choices`; maps it to its value.
pub(crate) fn one_of<T: Copy>(
    cx: &mut Cx<'_>,
    node: &Node<'_, '_>,
    choices: &[(&str, T)],
) -> Option<T> {
    let text = node.str(cx)?;
    let found = choices
        .iter()
        .find(|(word, _)| *word == text)
        .map(|(_, v)| *v);
    if found.is_none() {
        let words: Vec<String> = choices.iter().map(|(w, _)| format!("{w:?}")).collect();
        node.report(cx, format!("expected one of {}", words.join(", ")));
    }
    found
}

/// Entries of a section that needs at least one (`[[listeners]]`, ...); reports it absent
/// or empty.
pub(crate) fn required_entries<'a, 'i>(
    cx: &mut Cx<'_>,
    key: &'static str,
    node: Option<&Node<'a, 'i>>,
) -> Vec<Table<'a, 'i>> {
    let message = format!("at least one [[{key}]] entry is required");
    let Some(node) = node else {
        cx.nowhere(&KeyPath::root().key(key), message);
        return Vec::new();
    };
    let entries = tables(cx, node);
    // A value of the wrong type was reported already; an empty array was not.
    if entries.is_empty()
        && node
            .value
            .get_ref()
            .as_array()
            .is_some_and(|a| a.is_empty())
    {
        node.report(cx, message);
    }
    entries
}

/// Entries of an array of tables, each with its `path[i]`; wrong-typed entries reported.
pub(crate) fn tables<'a, 'i>(cx: &mut Cx<'_>, node: &Node<'a, 'i>) -> Vec<Table<'a, 'i>> {
    if node.value.get_ref().as_table().is_some() {
        let header: String = node
            .path
            .to_string()
            .split('.')
            .map(|k| k.split('[').next().unwrap_or(k))
            .collect::<Vec<_>>()
            .join(".");
        node.report(
            cx,
            format!("expected an array of tables; write each entry as [[{header}]]"),
        );
        return Vec::new();
    }
    let Some(items) = node.array(cx) else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| item.table(cx))
        .collect()
}

/// An optional `key`: `Some(None)` when absent, `Some(Some(v))` when valid, `None` when
/// invalid (already reported).
pub(crate) fn optional<'a, 'i, T>(
    cx: &mut Cx<'_>,
    table: &mut Table<'a, 'i>,
    key: &'static str,
    read: impl FnOnce(&mut Cx<'_>, &Node<'a, 'i>) -> Option<T>,
) -> Option<Option<T>> {
    match table.get(key) {
        Some(node) => read(cx, &node).map(Some),
        None => Some(None),
    }
}
