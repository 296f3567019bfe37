//! One story per rule: a config that breaks it, and the one problem that names it.
//!
//! Each case asserts the exact key path and a fragment of the message, and that the rule
//! produced exactly one problem (no cascades of follow-on noise).

mod common;

use common::{MINIMAL, before, case, case_among, check, edit, plus, route_first};

#[test]
fn the_minimal_fixture_is_valid() {
    common::ok(MINIMAL);
}

#[test]
fn structure() {
    check(vec![
        case(
            "a misspelt top-level section is refused",
            plus("[limit]\nmax_headers = 5"),
            "limit",
            "unknown key; did you mean `limits`?",
        ),
        case(
            "an unknown key unlike any known one lists the keys that are allowed",
            plus("[shutdown]\ngrace = \"5s\""),
            "shutdown.grace",
            "unknown key; expected one of `drain_delay`, `drain_timeout`",
        ),
        case(
            "an unknown key inside a nested table is refused with its full path",
            edit("[listeners.tls]", "[listeners.tls]\nsni = true"),
            "listeners[0].tls.sni",
            "unknown key",
        ),
        case(
            "an unknown key in a route is refused",
            route_first("name = \"b\"\npath = \"/b\"\nupstream = \"api\"\ntimeout = \"1s\""),
            "routes[0].timeout",
            "unknown key",
        ),
        case(
            "a config with no listeners is refused",
            MINIMAL
                .split("[[upstreams]]")
                .nth(1)
                .map(|rest| format!("[[upstreams]]{rest}"))
                .unwrap(),
            "listeners",
            "at least one [[listeners]] entry is required",
        ),
        case_among(
            "an empty upstream list is refused",
            before("upstreams = []").replace(
                "[[upstreams]]\nname = \"api\"\nurl = \"http://127.0.0.1:8080\"",
                "",
            ),
            "upstreams",
            "at least one [[upstreams]] entry",
        ),
        case(
            "a config with no routes is refused",
            MINIMAL.split("[[routes]]").next().unwrap().to_owned(),
            "routes",
            "at least one [[routes]] entry",
        ),
        case_among(
            "a single [table] where [[entries]] belong is explained",
            edit("[[upstreams]]", "[upstreams]"),
            "upstreams",
            "write each entry as [[upstreams]]",
        ),
        case(
            "a section that is not a table is refused",
            before("log = \"debug\""),
            "log",
            "expected a table, found a string",
        ),
    ]);
}

#[test]
fn listeners() {
    check(vec![
        case(
            "a listener address must be ip:port",
            edit(
                "address = \"127.0.0.1:8443\"",
                "address = \"localhost:8443\"",
            ),
            "listeners[0].address",
            "IP address and port",
        ),
        case(
            "listener names are unique",
            plus(
                "[[listeners]]\nname = \"public\"\naddress = \"127.0.0.1:9443\"\n[listeners.tls]\n[[listeners.tls.certificates]]\ncert = \"file:///c\"\nkey = \"file:///k\"",
            ),
            "listeners[1].name",
            "duplicate name; already used by listeners[0]",
        ),
        case(
            "two listeners cannot share an address",
            plus(
                "[[listeners]]\nname = \"second\"\naddress = \"127.0.0.1:8443\"\n[listeners.tls]\n[[listeners.tls.certificates]]\ncert = \"file:///c\"\nkey = \"file:///k\"",
            ),
            "listeners[1].address",
            "collides with listeners[0].address",
        ),
        case(
            "a wildcard address overlaps a specific one on the same port",
            plus(
                "[[listeners]]\nname = \"second\"\naddress = \"0.0.0.0:8443\"\n[listeners.tls]\n[[listeners.tls.certificates]]\ncert = \"file:///c\"\nkey = \"file:///k\"",
            ),
            "listeners[1].address",
            "collides with listeners[0].address",
        ),
        case(
            "a listener needs a tls table",
            edit(
                "[listeners.tls]\n\n[[listeners.tls.certificates]]\ncert = \"file:///etc/outscope/tls/api.crt\"\nkey = \"file:///etc/outscope/tls/api.key\"\n",
                "",
            ),
            "listeners[0].tls",
            "missing required key",
        ),
        case(
            "a listener needs at least one certificate",
            edit(
                "[[listeners.tls.certificates]]\ncert = \"file:///etc/outscope/tls/api.crt\"\nkey = \"file:///etc/outscope/tls/api.key\"\n",
                "certificates = []\n",
            ),
            "listeners[0].tls.certificates",
            "at least one certificate",
        ),
        case(
            "a certificate needs its key",
            edit("key = \"file:///etc/outscope/tls/api.key\"", ""),
            "listeners[0].tls.certificates[0].key",
            "missing required key",
        ),
        case(
            "client_auth = required needs a client_ca",
            edit(
                "[listeners.tls]",
                "[listeners.tls]\nclient_auth = \"required\"",
            ),
            "listeners[0].tls.client_ca",
            "missing required key",
        ),
        case(
            "client_auth = optional needs a client_ca too",
            edit(
                "[listeners.tls]",
                "[listeners.tls]\nclient_auth = \"optional\"",
            ),
            "listeners[0].tls.client_ca",
            "missing required key",
        ),
        case(
            "a client_ca without client auth is a mistake, not a no-op",
            edit(
                "[listeners.tls]",
                "[listeners.tls]\nclient_ca = \"file:///ca.pem\"",
            ),
            "listeners[0].tls.client_ca",
            "only used when client_auth",
        ),
        case(
            "client_auth takes one of three words",
            edit(
                "[listeners.tls]",
                "[listeners.tls]\nclient_auth = \"mandatory\"",
            ),
            "listeners[0].tls.client_auth",
            "expected one of \"none\", \"optional\", \"required\"",
        ),
        case(
            "server names are DNS names or wildcards",
            edit(
                "key = \"file:///etc/outscope/tls/api.key\"",
                "key = \"file:///k\"\nserver_names = [\"api.example.com\", \"api example\"]",
            ),
            "listeners[0].tls.certificates[0].server_names[1]",
            "DNS name or a wildcard",
        ),
        case(
            "a wildcard covers one level at the left only",
            edit(
                "key = \"file:///etc/outscope/tls/api.key\"",
                "key = \"file:///k\"\nserver_names = [\"api.*.com\"]",
            ),
            "listeners[0].tls.certificates[0].server_names[0]",
            "DNS name or a wildcard",
        ),
        case(
            "a server name is served by one certificate only",
            edit(
                "key = \"file:///etc/outscope/tls/api.key\"",
                "key = \"file:///k\"\nserver_names = [\"a.example.com\"]\n[[listeners.tls.certificates]]\ncert = \"file:///c2\"\nkey = \"file:///k2\"\nserver_names = [\"A.example.com\"]",
            ),
            "listeners[0].tls.certificates[1].server_names[0]",
            "duplicate server name; already listed at listeners[0].tls.certificates[0].server_names[0]",
        ),
        case(
            "only the first certificate may be the SNI-less default",
            edit(
                "key = \"file:///etc/outscope/tls/api.key\"",
                "key = \"file:///k\"\n[[listeners.tls.certificates]]\ncert = \"file:///c2\"\nkey = \"file:///k2\"",
            ),
            "listeners[0].tls.certificates[1]",
            "only the first certificate is the default",
        ),
        case(
            "alpn knows h2 and http/1.1",
            edit("[listeners.tls]", "[listeners.tls]\nalpn = [\"h3\"]"),
            "listeners[0].tls.alpn[0]",
            "expected one of \"h2\", \"http/1.1\"",
        ),
        case(
            "alpn cannot be empty",
            edit("[listeners.tls]", "[listeners.tls]\nalpn = []"),
            "listeners[0].tls.alpn",
            "at least one protocol",
        ),
        case(
            "alpn lists a protocol once",
            edit(
                "[listeners.tls]",
                "[listeners.tls]\nalpn = [\"h2\", \"h2\"]",
            ),
            "listeners[0].tls.alpn[1]",
            "listed twice",
        ),
    ]);
}

#[test]
fn secret_references() {
    let key = "key = \"file:///etc/outscope/tls/api.key\"";
    check(vec![
        case(
            "a private key pasted inline is refused, pointing at references",
            edit(key, "key = \"-----BEGIN PRIVATE KEY-----\""),
            "listeners[0].tls.certificates[0].key",
            "use a reference",
        ),
        case(
            "env references name a variable",
            edit(key, "key = \"env://TLS-KEY\""),
            "listeners[0].tls.certificates[0].key",
            "env:// reference needs a variable name",
        ),
        case(
            "vault references have a mount, a path and a key",
            edit(key, "key = \"vault://secret#tls\""),
            "listeners[0].tls.certificates[0].key",
            "vault://<mount>/<path>#<key>",
        ),
        case(
            "other schemes are refused",
            edit(key, "key = \"https://keys.example.com/k\""),
            "listeners[0].tls.certificates[0].key",
            "unsupported reference scheme",
        ),
        case(
            "a file reference needs a path",
            edit(key, "key = \"file://\""),
            "listeners[0].tls.certificates[0].key",
            "needs a path",
        ),
    ]);
}

#[test]
fn admin_limits_shutdown() {
    check(vec![
        case(
            "the admin port cannot be a listener's port",
            plus("[admin]\naddress = \"127.0.0.1:8443\""),
            "admin.address",
            "collides with listeners[0].address",
        ),
        case(
            "the admin address must parse",
            plus("[admin]\naddress = \"9901\""),
            "admin.address",
            "IP address and port",
        ),
        case(
            "limits are at least 1",
            plus("[limits]\nmax_headers = 0"),
            "limits.max_headers",
            "must be at least 1",
        ),
        case(
            "limits are not negative",
            plus("[limits]\nmax_body_bytes = -1"),
            "limits.max_body_bytes",
            "must not be negative",
        ),
        case(
            "limits are whole numbers",
            plus("[limits]\nmax_body_bytes = 1.5"),
            "limits.max_body_bytes",
            "expected a whole number, found a float",
        ),
        case(
            "limits fit their type",
            plus("[limits]\nh2_max_concurrent_streams = 5000000000"),
            "limits.h2_max_concurrent_streams",
            "too large",
        ),
        case(
            "a zero timeout is refused",
            plus("[limits]\nheader_read_timeout = \"0s\""),
            "limits.header_read_timeout",
            "longer than zero",
        ),
        case(
            "durations are strings with units",
            plus("[limits]\nidle_timeout = 60"),
            "limits.idle_timeout",
            "expected a string, found an integer",
        ),
        case(
            "durations use known units",
            plus("[limits]\nidle_timeout = \"60 seconds\""),
            "limits.idle_timeout",
            "expected a duration",
        ),
        case(
            "the drain timeout cannot be zero",
            plus("[shutdown]\ndrain_timeout = \"0s\""),
            "shutdown.drain_timeout",
            "longer than zero",
        ),
        case(
            "a runtime needs at least one worker",
            plus("[runtime]\nworker_threads = 0"),
            "runtime.worker_threads",
            "must be at least 1",
        ),
        case(
            "worker threads are bounded",
            plus("[runtime]\nworker_threads = 5000"),
            "runtime.worker_threads",
            "must be at most 1024",
        ),
        case(
            "the runtime section has one key",
            plus("[runtime]\nworkers = 2"),
            "runtime.workers",
            "unknown key; expected one of `worker_threads`",
        ),
    ]);
}

#[test]
fn log_request_id_forwarding() {
    check(vec![
        case(
            "log level is a filter directive",
            plus("[log]\nlevel = \"verbose\""),
            "log.level",
            "log filter",
        ),
        case(
            "log level targets need a level",
            plus("[log]\nlevel = \"outscope=\""),
            "log.level",
            "log filter",
        ),
        case(
            "log format is json or text",
            plus("[log]\nformat = \"xml\""),
            "log.format",
            "expected one of \"json\", \"text\"",
        ),
        case(
            "access_log is a boolean",
            plus("[log]\naccess_log = \"yes\""),
            "log.access_log",
            "expected true or false, found a string",
        ),
        case(
            "the request id header is a header name",
            plus("[request_id]\nheader = \"x request id\""),
            "request_id.header",
            "header name",
        ),
        case(
            "the request id cannot take over Host",
            plus("[request_id]\nheader = \"Host\""),
            "request_id.header",
            "choose another",
        ),
        case(
            "trusted proxies are networks",
            plus("[forwarding]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/33\"]"),
            "forwarding.trusted_proxies[1]",
            "IP network",
        ),
        case(
            "trusted proxies is a list",
            plus("[forwarding]\ntrusted_proxies = \"10.0.0.0/8\""),
            "forwarding.trusted_proxies",
            "expected an array",
        ),
    ]);
}

const LIMIT: &str =
    "[[rate_limits]]\nname = \"per-ip\"\nkey = \"client_ip\"\nrequests = 10\nper = \"1s\"\n";
const REDIS: &str = "[redis]\nurl = \"redis://127.0.0.1:6379/0\"\n";

#[test]
fn rate_limits_and_redis() {
    check(vec![
        case(
            "requests is at least 1",
            plus(&LIMIT.replace("requests = 10", "requests = 0")),
            "rate_limits[0].requests",
            "at least 1",
        ),
        case(
            "burst is at least 1",
            plus(&format!("{LIMIT}burst = 0")),
            "rate_limits[0].burst",
            "at least 1",
        ),
        case(
            "per is longer than zero",
            plus(&LIMIT.replace("\"1s\"", "\"0ms\"")),
            "rate_limits[0].per",
            "longer than zero",
        ),
        case(
            "requests is required",
            plus(&LIMIT.replace("requests = 10\n", "")),
            "rate_limits[0].requests",
            "missing required key",
        ),
        case(
            "key is one of the known kinds",
            plus(&LIMIT.replace("client_ip", "ip")),
            "rate_limits[0].key",
            "\"client_ip\", \"client_cert_subject\", \"route\" or \"header:<name>\"",
        ),
        case(
            "a header key names a valid header",
            plus(&LIMIT.replace("client_ip", "header:x api key")),
            "rate_limits[0].key",
            "header name",
        ),
        case(
            "rate limit names are unique",
            plus(&format!("{LIMIT}{LIMIT}")),
            "rate_limits[1].name",
            "duplicate name; already used by rate_limits[0]",
        ),
        case(
            "a client-certificate key needs a listener that asks for certificates",
            plus(&LIMIT.replace("client_ip", "client_cert_subject")),
            "rate_limits[0].key",
            "no listener asks for client certificates",
        ),
        case(
            "a redis backend needs a [redis] section",
            plus(&format!("{LIMIT}backend = \"redis\"")),
            "rate_limits[0].backend",
            "needs a [redis] section",
        ),
        case(
            "a Redis Cluster has only database 0",
            plus("[redis]\nurl = \"redis://10.0.0.5:6379/2\"\ncluster = true"),
            "redis.cluster",
            "a Redis Cluster has only database 0",
        ),
        case(
            "the backend is local or redis",
            plus(&format!("{LIMIT}backend = \"memcached\"")),
            "rate_limits[0].backend",
            "expected one of \"local\", \"redis\"",
        ),
        case(
            "on_redis_error means nothing without redis",
            plus(&format!("{LIMIT}on_redis_error = \"fail_open\"")),
            "rate_limits[0].on_redis_error",
            "only applies with backend = \"redis\"",
        ),
        case(
            "on_redis_error takes one of three modes",
            plus(&format!(
                "{REDIS}{LIMIT}backend = \"redis\"\non_redis_error = \"ignore\""
            )),
            "rate_limits[0].on_redis_error",
            "\"fail_open\", \"fail_closed\", \"local\"",
        ),
        case(
            "redis needs a url",
            plus("[redis]\ntimeout = \"1s\""),
            "redis.url",
            "missing required key",
        ),
        case(
            "redis credentials stay out of the url",
            plus("[redis]\nurl = \"redis://:hunter2@127.0.0.1:6379\""),
            "redis.url",
            "must not contain credentials",
        ),
        case(
            "the redis url is redis:// or rediss://",
            plus("[redis]\nurl = \"http://127.0.0.1:6379\""),
            "redis.url",
            "redis:// or rediss://",
        ),
        case(
            "the redis url path is a database number",
            plus("[redis]\nurl = \"redis://127.0.0.1:6379/cache\""),
            "redis.url",
            "database number",
        ),
        case(
            "the redis password is a reference",
            plus(&format!("{REDIS}password = \"hunter2\"")),
            "redis.password",
            "use a reference",
        ),
        case(
            "the key prefix is a plain name (outscope adds the Cluster hash tags)",
            plus(&format!("{REDIS}key_prefix = \"{{app}}\"")),
            "redis.key_prefix",
            "letters, digits",
        ),
    ]);
}

#[test]
fn upstreams() {
    let url = "url = \"http://127.0.0.1:8080\"";
    check(vec![
        case(
            "upstreams speak http or https",
            edit(url, "url = \"ftp://127.0.0.1\""),
            "upstreams[0].url",
            "http:// or https://",
        ),
        case(
            "upstream credentials stay out of the url",
            edit(url, "url = \"http://svc:pw@127.0.0.1\""),
            "upstreams[0].url",
            "must not contain credentials",
        ),
        case(
            "upstream urls have no query",
            edit(url, "url = \"http://127.0.0.1/x?debug=1\""),
            "upstreams[0].url",
            "query",
        ),
        case(
            "upstream urls have no fragment",
            edit(url, "url = \"http://127.0.0.1/#top\""),
            "upstreams[0].url",
            "fragment",
        ),
        case(
            "upstream urls name a host",
            edit(url, "url = \"http://:8080\""),
            "upstreams[0].url",
            "must name a host",
        ),
        case(
            "upstream ports are 1..65535",
            edit(url, "url = \"http://127.0.0.1:70000\""),
            "upstreams[0].url",
            "port",
        ),
        case(
            "tls settings need an https upstream",
            edit(
                url,
                "url = \"http://127.0.0.1:8080\"\n[upstreams.tls]\nserver_name = \"api.internal\"",
            ),
            "upstreams[0].tls",
            "only allowed for https://",
        ),
        case(
            "a client certificate comes with its key",
            edit(
                url,
                "url = \"https://127.0.0.1\"\n[upstreams.tls]\nclient_cert = \"file:///c.pem\"",
            ),
            "upstreams[0].tls.client_key",
            "missing required key",
        ),
        case(
            "a client key comes with its certificate",
            edit(
                url,
                "url = \"https://127.0.0.1\"\n[upstreams.tls]\nclient_key = \"file:///k.pem\"",
            ),
            "upstreams[0].tls.client_cert",
            "missing required key",
        ),
        case(
            "the upstream server name is a DNS name",
            edit(
                url,
                "url = \"https://127.0.0.1\"\n[upstreams.tls]\nserver_name = \"api_internal\"",
            ),
            "upstreams[0].tls.server_name",
            "DNS name",
        ),
        case(
            "upstream names are unique",
            plus("[[upstreams]]\nname = \"api\"\nurl = \"http://127.0.0.1:8081\""),
            "upstreams[1].name",
            "duplicate name; already used by upstreams[0]",
        ),
        case(
            "upstream timeouts are longer than zero",
            edit(url, "url = \"http://127.0.0.1\"\nconnect_timeout = \"0ms\""),
            "upstreams[0].connect_timeout",
            "longer than zero",
        ),
    ]);
}

#[test]
fn routes() {
    let prefix = "path_prefix = \"/\"";
    check(vec![
        case(
            "a route's upstream must exist",
            edit("upstream = \"api\"", "upstream = \"apii\""),
            "routes[0].upstream",
            "does not name any [[upstreams]] entry",
        ),
        case(
            "a route's rate limits must exist",
            edit(prefix, "path_prefix = \"/\"\nrate_limits = [\"per-ip\"]"),
            "routes[0].rate_limits[0]",
            "does not name any [[rate_limits]] entry",
        ),
        case(
            "a route lists a rate limit once",
            plus(LIMIT).replace(
                prefix,
                "path_prefix = \"/\"\nrate_limits = [\"per-ip\", \"per-ip\"]",
            ),
            "routes[0].rate_limits[1]",
            "listed twice",
        ),
        case(
            "path and path_prefix exclude each other",
            edit(prefix, "path_prefix = \"/\"\npath = \"/x\""),
            "routes[0].path",
            "not both",
        ),
        case(
            "a route matches some path",
            edit(prefix, ""),
            "routes[0].path_prefix",
            "set path_prefix",
        ),
        case(
            "paths start with a slash",
            edit(prefix, "path_prefix = \"v1\""),
            "routes[0].path_prefix",
            "must start with `/`",
        ),
        case(
            "paths have no query",
            edit(prefix, "path = \"/pay?x=1\""),
            "routes[0].path",
            "query",
        ),
        case(
            "paths have no dot segments",
            edit(prefix, "path_prefix = \"/v1/../admin\""),
            "routes[0].path_prefix",
            "`..`",
        ),
        case(
            "hosts have no port",
            edit(
                prefix,
                "path_prefix = \"/\"\nhost = \"api.example.com:8443\"",
            ),
            "routes[0].host",
            "must not include a port",
        ),
        case(
            "hosts are DNS names",
            edit(prefix, "path_prefix = \"/\"\nhost = \"api example\""),
            "routes[0].host",
            "DNS name",
        ),
        case(
            "methods are tokens",
            edit(prefix, "path_prefix = \"/\"\nmethods = [\"GET\", \"GE T\"]"),
            "routes[0].methods[1]",
            "HTTP method",
        ),
        case(
            "CONNECT is never routed",
            edit(prefix, "path_prefix = \"/\"\nmethods = [\"connect\"]"),
            "routes[0].methods[0]",
            "never proxied",
        ),
        case(
            "a method is listed once",
            edit(prefix, "path_prefix = \"/\"\nmethods = [\"GET\", \"get\"]"),
            "routes[0].methods[1]",
            "listed twice",
        ),
        case(
            "host_header knows three forms",
            edit(prefix, "path_prefix = \"/\"\nhost_header = \"rewrite\""),
            "routes[0].host_header",
            "\"preserve\", \"upstream\" or \"set:<host>\"",
        ),
        case(
            "host_header set: needs a host",
            edit(prefix, "path_prefix = \"/\"\nhost_header = \"set:\""),
            "routes[0].host_header",
            "set:<host> needs",
        ),
        case(
            "a route's body limit is at least 1",
            edit(prefix, "path_prefix = \"/\"\nmax_body_bytes = 0"),
            "routes[0].max_body_bytes",
            "at least 1",
        ),
        case(
            "allow_upgrade is a boolean",
            edit(prefix, "path_prefix = \"/\"\nallow_upgrade = 1"),
            "routes[0].allow_upgrade",
            "expected true or false",
        ),
        case(
            "route names are unique",
            route_first("name = \"all\"\npath = \"/x\"\nupstream = \"api\""),
            "routes[1].name",
            "duplicate name; already used by routes[0]",
        ),
        case(
            "names are simple identifiers",
            edit("name = \"all\"", "name = \"all routes\""),
            "routes[0].name",
            "letters, digits",
        ),
        case(
            "a route needs a name",
            edit("name = \"all\"\n", ""),
            "routes[0].name",
            "missing required key",
        ),
    ]);
}

#[test]
fn unreachable_routes() {
    let second = |extra: &str| {
        plus(&format!(
            "[[routes]]\nname = \"second\"\nupstream = \"api\"\n{extra}"
        ))
    };
    check(vec![
        case(
            "a route after the catch-all can never match",
            second("path_prefix = \"/v1\""),
            "routes[1]",
            "unreachable: routes[0] matches every request this route matches",
        ),
        case(
            "an exact path below an earlier prefix can never match",
            MINIMAL.replace("path_prefix = \"/\"", "path_prefix = \"/v1/\"")
                + "[[routes]]\nname = \"pay\"\nupstream = \"api\"\nmethods = [\"POST\"]\nhost = \"api.example.com\"\npath = \"/v1/pay\"\n",
            "routes[1]",
            "unreachable: routes[0]",
        ),
    ]);
}

#[test]
fn syntax_errors_are_located_and_reworded() {
    check(vec![
        case(
            "an unquoted string value",
            plus("[log]\nlevel = debug"),
            "log.level",
            "invalid TOML: string values must be quoted",
        ),
        case(
            "a key set twice",
            edit("name = \"all\"", "name = \"all\"\nname = \"again\""),
            "",
            "invalid TOML: duplicate key",
        ),
    ]);
}
