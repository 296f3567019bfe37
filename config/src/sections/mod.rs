//! From toml's document tree to the runtime [`Config`], one section per module.
//!
//! Each section reads its keys, reports every problem it sees and returns what it could
//! build; cross-section rules (names resolve, addresses do not collide) run on those parts.
//! The config is assembled only when nothing was reported.

mod card_names;
mod cards;
mod inspection;
mod listeners;
mod rate_limits;
mod read;
mod redis;
mod routes;
mod settings;
mod shadowing;
mod tokenizer;
mod upstreams;
mod vault;

use std::collections::HashMap;
use std::ops::{Deref, DerefMut, Range};
use std::path::Path;

use toml::Spanned;
use toml::de::DeTable;

use crate::model::{
    Admin, Config, Forwarding, Limits, Listener, Log, RateLimit, Redis, RequestId, Route, Runtime,
    Shutdown, Tokenizer, Upstream, Vault,
};
use crate::report::{KeyPath, Report};
use crate::walk::Table;
use crate::{Checks, Problem, Problems};

/// The walk's context: the problem report, the directory relative files resolve against
/// and the optional checks against the environment.
pub(crate) struct Cx<'t> {
    pub(crate) report: Report<'t>,
    pub(crate) base_dir: &'t Path,
    pub(crate) checks: &'t Checks,
    /// Where each `vault://` reference was written (they need a `[vault]` section).
    pub(crate) vault_refs: Vec<At>,
}

impl<'t> Deref for Cx<'t> {
    type Target = Report<'t>;
    fn deref(&self) -> &Report<'t> {
        &self.report
    }
}

impl DerefMut for Cx<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.report
    }
}

/// Where something was written: its key path and source span.
#[derive(Clone)]
pub(crate) struct At {
    pub(crate) path: KeyPath,
    pub(crate) span: Range<usize>,
}

impl At {
    pub(crate) fn report(&self, report: &mut Report<'_>, message: impl Into<String>) {
        report.at(&self.path, self.span.clone(), message);
    }
}

/// A name as written in a section entry, with where it was written.
pub(crate) struct Named {
    pub(crate) name: String,
    pub(crate) at: At,
}

/// Builds a name -> index map, reporting each name used twice (at its second use).
pub(crate) fn index_names<'n>(
    cx: &mut Cx<'_>,
    names: impl IntoIterator<Item = (usize, Option<&'n Named>)>,
) -> HashMap<String, usize> {
    let mut seen: HashMap<String, (usize, KeyPath)> = HashMap::new();
    for (index, named) in names {
        let Some(named) = named else { continue };
        if let Some((_, first)) = seen.get(&named.name) {
            let message = format!("duplicate name; already used by {}", parent(first));
            named.at.report(cx, message);
        } else {
            seen.insert(named.name.clone(), (index, named.at.path.clone()));
        }
    }
    seen.into_iter()
        .map(|(name, (index, _))| (name, index))
        .collect()
}

/// `routes[1]` for `routes[1].name`.
fn parent(path: &KeyPath) -> String {
    let text = path.to_string();
    text.rsplit_once('.')
        .map_or(text.clone(), |(head, _)| head.to_owned())
}

/// Validates the parsed document.
pub(crate) fn build(
    text: &str,
    doc: &Spanned<DeTable<'_>>,
    base_dir: &Path,
    checks: &Checks,
) -> Result<Config, Problems> {
    let mut cx = Cx {
        report: Report::new(text),
        base_dir,
        checks,
        vault_refs: Vec::new(),
    };
    let parts = read(&mut cx, doc);
    match parts.assemble() {
        Some(config) if cx.is_clean() => Ok(config),
        _ if !cx.is_clean() => Err(cx.report.finish()),
        _ => Err(Problems(vec![Problem {
            key_path: String::new(),
            line: None,
            column: None,
            message: "internal error: the configuration was rejected without a reason; \
                      please report this"
                .into(),
        }])),
    }
}

/// Every section as far as it could be built; `None` where a problem was reported.
struct Parts {
    admin: Option<Admin>,
    limits: Option<Limits>,
    shutdown: Option<Shutdown>,
    runtime: Option<Runtime>,
    log: Option<Log>,
    request_id: Option<RequestId>,
    forwarding: Option<Forwarding>,
    redis: Option<Option<Redis>>,
    listeners: Option<Vec<Listener>>,
    rate_limits: Option<Vec<RateLimit>>,
    upstreams: Option<Vec<Upstream>>,
    routes: Option<Vec<Route>>,
    tokenizer: Option<Option<Tokenizer>>,
    vault: Option<Option<Vault>>,
}

impl Parts {
    fn assemble(self) -> Option<Config> {
        Some(Config {
            listeners: self.listeners?,
            admin: self.admin?,
            limits: self.limits?,
            shutdown: self.shutdown?,
            runtime: self.runtime?,
            log: self.log?,
            request_id: self.request_id?,
            forwarding: self.forwarding?,
            redis: self.redis?,
            rate_limits: self.rate_limits?,
            upstreams: self.upstreams?,
            routes: self.routes?,
            tokenizer: self.tokenizer?,
            vault: self.vault?,
        })
    }
}

/// Reads every section, then runs the rules that span sections.
fn read(cx: &mut Cx<'_>, doc: &Spanned<DeTable<'_>>) -> Parts {
    let empty = DeTable::new();
    let mut root = Table::new(KeyPath::root(), doc.span(), doc.get_ref());
    let mut section = |cx: &mut Cx<'_>, key: &'static str| match root.get(key) {
        Some(node) => node.table(cx),
        None => Some(Table::new(KeyPath::root().key(key), 0..0, &empty)),
    };
    let admin = section(cx, "admin").and_then(|t| settings::admin(cx, t));
    let limits = section(cx, "limits").and_then(|t| settings::limits(cx, t));
    let shutdown = section(cx, "shutdown").and_then(|t| settings::shutdown(cx, t));
    let runtime = section(cx, "runtime").and_then(|t| settings::runtime(cx, t));
    let log = section(cx, "log").and_then(|t| settings::log(cx, t));
    let request_id = section(cx, "request_id").and_then(|t| settings::request_id(cx, t));
    let forwarding = section(cx, "forwarding").and_then(|t| settings::forwarding(cx, t));
    let redis_node = root.get("redis");
    let redis = match &redis_node {
        Some(node) => redis::redis(cx, node).map(Some),
        None => Some(None),
    };
    let listeners = listeners::listeners(cx, root.get("listeners"));
    let rate_limits = rate_limits::rate_limits(cx, root.get("rate_limits"));
    let upstreams = upstreams::upstreams(cx, root.get("upstreams"));
    let targets = routes::Targets {
        upstreams: &upstreams.names,
        rate_limits: &rate_limits.names,
        max_body_bytes: limits.as_ref().map(|l| l.max_body_bytes),
    };
    let routes = routes::routes(cx, root.get("routes"), &targets);
    let tokenizer_node = root.get("tokenizer");
    let vault_node = root.get("vault");
    let present = tokenizer::Present {
        redis: redis_node.is_some(),
        redis_cluster: matches!(&redis, Some(Some(r)) if r.cluster),
        vault: vault_node.is_some(),
    };
    let tokenizer = match &tokenizer_node {
        Some(node) => tokenizer::tokenizer(cx, node, present).map(Some),
        None => Some(None),
    };
    let vault = match &vault_node {
        Some(node) => vault::vault(cx, node).map(Some),
        None => Some(None),
    };
    let vault_refs = std::mem::take(&mut cx.vault_refs);
    vault::require_vault(cx, &vault_refs, vault_node.is_some());
    inspection::require_tokenizer(cx, &routes.tokenizes, tokenizer_node.is_some());
    rate_limits::require_redis(cx, &rate_limits, redis_node.is_some());
    if let Some(any) = listeners.any_client_auth() {
        rate_limits::require_client_auth(cx, &rate_limits, any);
    }
    if let Some((admin, admin_at)) = &admin {
        listeners::check_admin_address(cx, admin.address, admin_at, &listeners);
    }
    root.finish(cx);
    Parts {
        admin: admin.map(|(admin, _)| admin),
        limits,
        shutdown,
        runtime,
        log,
        request_id,
        forwarding,
        redis,
        listeners: listeners.built,
        rate_limits: rate_limits.built,
        upstreams: upstreams.built,
        routes: routes.built,
        tokenizer,
        vault,
    }
}
