#!/usr/bin/env python3
"""Static checks of deploy/ that no off-the-shelf linter covers; run by scripts/check-deploy.

    deploy_checks.py dockerfile  DOCKERFILE
    deploy_checks.py chart       RENDERED.yaml OUTSCOPE_BIN [--vault] [--hpa] [--servicemonitor] [--prestop]
    deploy_checks.py systemd     UNIT TOML
    deploy_checks.py compose     COMPOSE.yaml
    deploy_checks.py context     REPO_ROOT OUT_DIR
    deploy_checks.py binary      OUTSCOPE_BIN              (links only what distroless/cc-debian12 has)
    deploy_checks.py echo        PORT                      (an upstream answering with what it got)
    deploy_checks.py smoke       LISTENER_PORT ADMIN_PORT  (requests through the compose config)
    deploy_checks.py reloaded    ADMIN_PORT                (waits for a successful SIGHUP reload)
    deploy_checks.py trace       STRACE.txt UNIT           (what outscope did, against the image and unit promises)
    deploy_checks.py metrics     METRICS.txt DASHBOARD.json ALERTS.yaml OUT_RULES.yaml DOC.rs...

DOC.rs are the Rust files whose `//! | `metric` | ... | labels |` tables document the labels.

Each prints one line per problem and exits 1 when there is any. Needs PyYAML; Python 3.11+
(tomllib).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import yaml

problems: list[str] = []


def fail(msg: str) -> None:
    problems.append(msg)
    print(f"  FAIL {msg}")


def ok(msg: str) -> None:
    print(f"  ok   {msg}")


def expect(cond: bool, msg: str) -> None:
    (ok if cond else fail)(msg)


def seconds(duration: str) -> float:
    """outscope's duration strings: "250ms", "10s", "5m", "1h", sums such as "1m30s"."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+)(ms|s|m|h)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a duration: {duration!r}")
    return sum(int(n) * units[u] for n, u in parts)


def drain_seconds(config: dict) -> float:
    shutdown = config.get("shutdown", {})
    return seconds(shutdown.get("drain_delay", "5s")) + seconds(shutdown.get("drain_timeout", "30s"))


# --- Dockerfile ----------------------------------------------------------------------------


def check_dockerfile(path: str) -> None:
    text = Path(path).read_text()
    # Join continuation lines so each instruction is one line.
    lines = [l.strip() for l in re.sub(r"\\\n", " ", text).splitlines()]
    instr = [l for l in lines if l and not l.startswith("#")]
    froms = [i for i, l in enumerate(instr) if l.upper().startswith("FROM ")]
    expect(len(froms) >= 2, "multi-stage build (at least two FROM)")
    final = instr[froms[-1]:]
    expect(final[0].split()[1] == "gcr.io/distroless/cc-debian12:nonroot",
           "final stage is gcr.io/distroless/cc-debian12:nonroot")
    builder = instr[froms[0]:froms[-1]]
    build_runs = " ".join(l for l in builder if l.upper().startswith("RUN "))
    expect("cargo build" in build_runs and "--locked" in build_runs and "--release" in build_runs,
           "builder runs cargo build --locked --release")
    expect(build_runs.count("--mount=type=cache") >= 2, "builder uses cargo cache mounts")
    expect("debian12" in final[0] and "bookworm" in instr[froms[0]],
           "builder (bookworm) and runtime (debian12) share a glibc")
    expect(not any(l.upper().startswith("RUN ") for l in final),
           "no RUN in the final stage (distroless has no shell)")
    expect(not any(l.upper().startswith("VOLUME ") for l in final),
           "no VOLUME (read-only root filesystem friendly)")
    expect("USER 65532:65532" in final, "USER 65532:65532")
    expect(any(re.fullmatch(r'HEALTHCHECK .*CMD \["/outscope", "healthcheck"\]', l) for l in final),
           'HEALTHCHECK CMD ["/outscope", "healthcheck"]')
    expect('ENTRYPOINT ["/outscope"]' in final, 'ENTRYPOINT ["/outscope"]')
    expect('CMD ["run", "-c", "/etc/outscope/outscope.toml"]' in final,
           'CMD ["run", "-c", "/etc/outscope/outscope.toml"]')
    expect("STOPSIGNAL SIGTERM" in final, "STOPSIGNAL SIGTERM")
    labels = " ".join(l for l in final if l.upper().startswith("LABEL "))
    for key in ("title", "description", "licenses", "version", "revision", "created"):
        expect(f"org.opencontainers.image.{key}=" in labels, f"OCI label org.opencontainers.image.{key}")


def dockerignore_patterns(root: Path) -> list[str]:
    pats = []
    for line in (root / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            if line.startswith("!"):
                raise SystemExit(".dockerignore exceptions (!) are not supported by this check")
            pats.append(line.rstrip("/"))
    return pats


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rules for the patterns we use: `name` and `a/b` match from the context root
    (and everything below a match), `**/x` matches at any depth."""
    from fnmatch import fnmatchcase
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pat in patterns:
        if pat.startswith("**/"):
            tail = pat[3:]
            if any(fnmatchcase("/".join(parts[i:j]), tail) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)):
                return True
        elif any(fnmatchcase(pre, pat) for pre in prefixes):
            return True
    return False


def check_context(root_dir: str, out_dir: str) -> None:
    """Copy the files `docker build .` would send (tracked files minus .dockerignore) and
    check that the workspace still resolves with `cargo metadata --locked` there."""
    import shutil
    root = Path(root_dir)
    pats = dockerignore_patterns(root)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout.decode().split("\0")
    kept = [f for f in files if f and not ignored(f, pats) and (root / f).is_file()]
    out = Path(out_dir)
    for f in kept:
        (out / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f, out / f)
    ok(f"build context: {len(kept)} of {len([f for f in files if f])} tracked files")
    expect(not any(f.startswith(("target/", ".git/", "deploy/")) for f in kept), "context leaves out target/, .git/, deploy/")
    expect((out / "Cargo.lock").is_file() and (out / "Cargo.toml").is_file(), "context holds Cargo.toml and Cargo.lock")
    r = subprocess.run(["cargo", "metadata", "--locked", "--format-version", "1"], cwd=out, capture_output=True, text=True)
    expect(r.returncode == 0, "cargo metadata --locked resolves the workspace in the build context"
           + ("" if r.returncode == 0 else ": " + r.stderr.strip()[-800:]))
    if r.returncode == 0:
        meta = json.loads(r.stdout)
        names = {p["name"] for p in meta["packages"] if p["id"] in meta["workspace_members"]}
        expect("outscope" in names, "package outscope is a workspace member there")


# Shared libraries in gcr.io/distroless/cc-debian12 (glibc 2.36, libgcc) that outscope may link.
DISTROLESS_CC_LIBS = {"libc.so.6", "libm.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
                      "libpthread.so.0", "libdl.so.2", "librt.so.1", "libstdc++.so.6"}
DISTROLESS_GLIBC = (2, 36)


def check_binary(path: str) -> None:
    """The binary built on this Debian 12 host stands in for the one the bookworm builder
    stage makes: it must need no library the distroless runtime lacks, nor a newer glibc."""
    dyn = subprocess.run(["readelf", "-d", "-W", path], capture_output=True, text=True, check=True).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn))
    expect(needed <= DISTROLESS_CC_LIBS, f"shared libraries {sorted(needed)} are all in distroless/cc"
           + ("" if needed <= DISTROLESS_CC_LIBS else f" (missing: {sorted(needed - DISTROLESS_CC_LIBS)})"))
    syms = subprocess.run(["readelf", "--dyn-syms", "-W", path], capture_output=True, text=True, check=True).stdout
    versions = {tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", syms)}
    newest = max(versions, default=(0,))
    expect(newest <= DISTROLESS_GLIBC, f"newest glibc symbol version {'.'.join(map(str, newest))} <= 2.36 (Debian 12)")


# --- Helm: one rendered manifest -----------------------------------------------------------


def check_chart(rendered: str, outscope: str, flags: list[str]) -> None:
    docs = [d for d in yaml.safe_load_all(Path(rendered).read_text()) if d]
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    for kind in ("Deployment", "ConfigMap", "Service", "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount"):
        expect(kind in by_kind, f"renders a {kind}")
    expect(("HorizontalPodAutoscaler" in by_kind) == ("--hpa" in flags),
           f"HorizontalPodAutoscaler {'present' if '--hpa' in flags else 'absent'}")
    expect(("ServiceMonitor" in by_kind) == ("--servicemonitor" in flags),
           f"ServiceMonitor {'present' if '--servicemonitor' in flags else 'absent'}")
    if problems:
        return
    dep = by_kind["Deployment"][0]
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    (c,) = [c for c in spec["containers"] if c["name"] == "outscope"]
    psc, csc = spec.get("securityContext", {}), c.get("securityContext", {})
    expect(psc.get("runAsNonRoot") is True and csc.get("runAsNonRoot") is True, "runAsNonRoot (pod and container)")
    expect(psc.get("runAsUser") == 65532 and csc.get("runAsUser") == 65532, "runs as uid 65532")
    expect(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccomp RuntimeDefault")
    expect(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    expect(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false")
    expect(csc.get("capabilities", {}).get("drop") == ["ALL"] and not csc.get("capabilities", {}).get("add"),
           "capabilities: drop ALL, add none")
    expect(csc.get("privileged") in (None, False), "not privileged")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz"), ("startupProbe", "/livez")):
        get = c.get(probe, {}).get("httpGet", {})
        expect(get.get("path") == path and get.get("port") == "admin", f"{probe} GET {path} on the admin port")

    # The configuration the pods will load.
    (cm,) = [m for m in by_kind["ConfigMap"] if m["metadata"]["name"] == dep["metadata"]["name"]]
    toml_text = cm["data"]["outscope.toml"]
    config = tomllib.loads(toml_text)
    admin = config.get("admin", {}).get("address", "127.0.0.1:9901")
    expect(admin == f"0.0.0.0:{ports['admin']}" or admin == f"[::]:{ports['admin']}",
           f"[admin] address {admin} listens on all interfaces, port {ports['admin']} (probes, scrapes)")
    listener_ports = {int(l["address"].rsplit(":", 1)[1]) for l in config.get("listeners", [])}
    expect(ports["https"] in listener_ports, f"a listener on containerPort https ({ports['https']})")
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp, "outscope.toml")
        f.write_text(toml_text)
        r = subprocess.run([outscope, "validate", "--offline", "-c", str(f)], capture_output=True, text=True)
        expect(r.returncode == 0, f"outscope validate --offline on the ConfigMap: {(r.stdout + r.stderr).strip()}")

    # Termination: preStop sleep + drain_delay + drain_timeout must fit in the grace period.
    grace = spec.get("terminationGracePeriodSeconds", 30)
    pre = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    need = pre + drain_seconds(config)
    expect(grace > need, f"terminationGracePeriodSeconds {grace} > preStop {pre} + drain {drain_seconds(config):g}")
    expect(("--prestop" in flags) == (pre > 0), "preStop sleep only when asked for")

    ann = pod["metadata"].get("annotations", {})
    expect(re.fullmatch(r"[0-9a-f]{64}", ann.get("checksum/config", "")) is not None, "checksum/config annotation")
    vault = "--vault" in flags
    expect((ann.get("vault.hashicorp.com/agent-inject") == "true") == vault,
           f"Vault Agent injection {'on' if vault else 'off'}")
    expect(spec.get("automountServiceAccountToken") is vault,
           f"service account token mounted only for Vault Agent ({vault})")
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    expect(all(m.get("readOnly") for m in mounts.values()), "every volume mount read-only")
    expect("/etc/outscope/outscope.toml" in mounts, "config mounted at /etc/outscope/outscope.toml")
    expect(c.get("args") == ["run", "-c", "/etc/outscope/outscope.toml"], "args: run -c /etc/outscope/outscope.toml")

    services = {s["metadata"]["name"]: s for s in by_kind["Service"]}
    main = services[dep["metadata"]["name"]]
    admin_svc = services.get(dep["metadata"]["name"] + "-admin")
    expect([p["targetPort"] for p in main["spec"]["ports"]] == ["https"], "client Service exposes https only")
    expect(admin_svc is not None and admin_svc["spec"]["type"] == "ClusterIP"
           and [p["targetPort"] for p in admin_svc["spec"]["ports"]] == ["admin"], "admin Service is ClusterIP, admin only")
    sel = dep["spec"]["selector"]["matchLabels"]
    for kind in ("PodDisruptionBudget",):
        expect(by_kind[kind][0]["spec"]["selector"]["matchLabels"] == sel, f"{kind} selects the pods")
    np = by_kind["NetworkPolicy"][0]
    expect(np["spec"]["podSelector"]["matchLabels"] == sel, "NetworkPolicy selects the pods")
    np_ports = {p["port"] for rule in np["spec"]["ingress"] for p in rule.get("ports", [])}
    expect(np_ports == {"https", "admin"}, "NetworkPolicy admits https and admin only")
    if "--hpa" in flags:
        hpa = by_kind["HorizontalPodAutoscaler"][0]
        expect(hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"], "HPA targets the Deployment")
        expect("replicas" not in dep["spec"], "no fixed replicas with the HPA")
    if "--servicemonitor" in flags:
        sm = by_kind["ServiceMonitor"][0]
        labels = admin_svc["metadata"]["labels"]
        expect(all(labels.get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items()),
               "ServiceMonitor selects the admin Service")
        expect(sm["spec"]["endpoints"][0]["port"] == "admin" and sm["spec"]["endpoints"][0]["path"] == "/metrics",
               "ServiceMonitor scrapes admin /metrics")


# --- systemd -------------------------------------------------------------------------------


def unit_directives(path: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        k, _, v = line.partition("=")
        out.setdefault(k.strip(), []).append(v.strip())
    return out


def check_systemd(unit: str, toml_path: str) -> None:
    d = unit_directives(unit)
    one = lambda k: d.get(k, [""])[-1]  # noqa: E731
    expect(any(re.search(r"outscope validate -c ", v) for v in d.get("ExecStartPre", [])), "ExecStartPre=outscope validate")
    expect(re.search(r"outscope run -c ", one("ExecStart")) is not None, "ExecStart=outscope run -c ...")
    expect("/bin/kill -HUP $MAINPID" in d.get("ExecReload", []), "ExecReload=/bin/kill -HUP $MAINPID")
    expect(one("KillSignal") == "SIGTERM", "KillSignal=SIGTERM")
    expect(one("User") not in ("", "root") or one("DynamicUser") == "yes", "a dedicated or dynamic user")
    required = {
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "NoNewPrivileges": "yes",
        "MemoryDenyWriteExecute": "yes", "LimitCORE": "0", "PrivateDevices": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE", "SystemCallArchitectures": "native",
        "RestrictNamespaces": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes",
        "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
        "RestartPreventExitStatus": "78",
    }
    for k, v in required.items():
        expect(one(k) == v, f"{k}={v}")
    expect("@system-service" in d.get("SystemCallFilter", []), "SystemCallFilter=@system-service")
    config = tomllib.loads(Path(toml_path).read_text())
    stop = seconds(one("TimeoutStopSec") or "90s")
    expect(stop > drain_seconds(config),
           f"TimeoutStopSec {stop:g}s > drain_delay + drain_timeout {drain_seconds(config):g}s of {toml_path}")


# --- compose -------------------------------------------------------------------------------


def check_compose(path: str) -> None:
    base = Path(path).parent
    doc = yaml.safe_load(Path(path).read_text())
    services = doc.get("services", {})
    for name in ("outscope", "whoami", "redis", "openbao", "prometheus", "grafana"):
        expect(name in services, f"service {name}")
    o = services.get("outscope", {})
    expect(o.get("read_only") is True, "outscope: read_only")
    expect(str(o.get("user")) == "65532:65532", "outscope: user 65532:65532")
    expect(o.get("cap_drop") == ["ALL"], "outscope: cap_drop ALL")
    expect(Path(base, o.get("build", {}).get("context", "."), o.get("build", {}).get("dockerfile", "")).is_file(),
           "outscope: builds deploy/Dockerfile")
    # Every bind mount's host side exists (relative to the compose file).
    for name, svc in services.items():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith((".", "/")):
                expect(Path(base, src).exists(), f"{name}: mount source {src} exists")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in o.get("volumes", [])}
    cfg = mounts.get("/etc/outscope/outscope.toml")
    expect(cfg is not None, "outscope: config mounted at /etc/outscope/outscope.toml")
    if cfg:
        config = tomllib.loads(Path(base, cfg).read_text())
        grace = seconds(o.get("stop_grace_period", "10s"))
        expect(grace > drain_seconds(config), f"stop_grace_period {grace:g}s > drain {drain_seconds(config):g}s")
        expect(config.get("admin", {}).get("address", "").startswith("0.0.0.0:"),
               "outscope: admin on 0.0.0.0 (reachable by Prometheus and the HEALTHCHECK)")


# --- metrics: dashboard and alert rules against what outscope exports ----------------------

# Families a later issue adds, which alert rules may name ahead of time (with a comment
# "<family> lands with the <issue>"): none at the moment; every rule names exported families.
FUTURE: dict[str, set[str]] = {}
# Families exported only when a feature is configured (the scraped instance runs without
# it): envelope data keys from Vault transit (`tokenizer.transit_key`).
CONDITIONAL: dict[str, set[str]] = {
    "outscope_data_key_rotations_total": {"result"},
    "outscope_data_key_unwraps_total": {"result"},
    "outscope_data_key_created_timestamp_seconds": set(),
    "outscope_data_key_transit_version": set(),
    "outscope_data_key_transit_latest_version": set(),
    "outscope_data_key_transit_min_decryption_version": set(),
    "outscope_data_key_version_checks_total": {"result"},
}
ALWAYS_LABELS = {"job", "instance", "__name__"}
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "by", "without", "on", "ignoring", "group_left", "group_right",
    "rate", "irate", "increase", "changes", "histogram_quantile", "time", "and", "or", "unless", "bool",
    "label_values", "offset", "up", "abs", "clamp_min", "clamp_max", "topk", "bottomk", "vector", "scalar",
}


def scraped_families(metrics_txt: str) -> dict[str, str]:
    fams = {}
    for line in Path(metrics_txt).read_text().splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            fams[m.group(1)] = m.group(2)
    return fams


def documented_labels(docs: list[str]) -> dict[str, set[str]]:
    """Metric tables in crate docs: `//! | `name` | [type |] `label`, `label` (`value`, ...) |`."""
    labels = {}
    for doc in docs:
        if not Path(doc).is_file():
            continue
        for line in Path(doc).read_text().splitlines():
            m = re.match(r"//! \| `([a-z_]+)` \|(.*)\|\s*$", line)
            if m:
                last = re.sub(r"\([^)]*\)", "", m.group(2).split("|")[-1])  # drop "(`value`, ...)"
                labels[m.group(1)] = set(re.findall(r"`([a-z_]+)`", last))
    return labels


def series_names(fams: dict[str, str]) -> dict[str, str]:
    """Every series name a family exposes -> its family."""
    out = {}
    for name, kind in fams.items():
        out[name] = name
        if kind == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                out[name + suffix] = name
    return out


def substitute(expr: str) -> str:
    expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    return re.sub(r"\$\{?[a-z_]+\}?", ".*", expr)


def check_expr(where: str, expr: str, names: dict[str, str], labels: dict[str, set[str]], future_ok: bool) -> set[str]:
    used = set()
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals are not identifiers
    for ident in re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", stripped):
        if ident.startswith(("outscope_", "process_")):
            if ident in names:
                used.add(names[ident])
            elif future_ok and (ident in FUTURE or ident in CONDITIONAL):
                used.add(ident)
            else:
                fail(f"{where}: metric {ident} is not exported by outscope")
    allowed = set(ALWAYS_LABELS) | {"le"}
    for fam in used:
        allowed |= labels.get(fam, set()) | FUTURE.get(fam, set()) | CONDITIONAL.get(fam, set())
    if "up" in re.findall(r"\b[a-z_]+\b", stripped):
        allowed |= {"job", "instance"}
    named = set(re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", stripped))
    for group in named:
        for label in filter(None, (s.strip() for s in group.split(","))):
            if label not in allowed:
                fail(f"{where}: label {label} is not a label of {sorted(used)}")
    for matcher in re.findall(r"\{([^}]*)\}", stripped):
        for label in re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matcher):
            if label not in allowed:
                fail(f"{where}: label {label} is not a label of {sorted(used)}")
    return used


def check_metrics(metrics_txt: str, dashboard: str, alerts: str, out_rules: str, *docs: str) -> None:
    fams = scraped_families(metrics_txt)
    expect(len(fams) >= 20, f"{len(fams)} metric families scraped from a running outscope")
    labels = documented_labels(list(docs))
    for fam in fams:
        if fam not in labels and not fam.startswith("process_"):
            print(f"  note {fam} is exported but its labels are documented in none of {list(docs)}")
    for fam in FUTURE:
        if fam not in fams:
            print(f"  note {fam} is not exported by this binary yet; rules and panels may name it ahead")
    names = series_names(fams)

    dash = json.loads(Path(dashboard).read_text())
    exprs: list[tuple[str, str]] = []
    ids, boxes = set(), []
    for p in dash["panels"]:
        expect(p["id"] not in ids, f"panel id {p['id']} unique")
        ids.add(p["id"])
        g = p["gridPos"]
        if g["x"] + g["w"] > 24:
            fail(f"panel {p['title']!r} is wider than the grid")
        for other_title, o in boxes:
            if (g["x"] < o["x"] + o["w"] and o["x"] < g["x"] + g["w"]
                    and g["y"] < o["y"] + o["h"] and o["y"] < g["y"] + g["h"]):
                fail(f"panel {p['title']!r} overlaps {other_title!r}")
        boxes.append((p["title"], g))
        if p["type"] == "row":
            continue
        if not p.get("targets"):
            fail(f"panel {p['title']!r} has no query")
        if p.get("datasource", {}).get("uid") != "${datasource}":
            fail(f"panel {p['title']!r} does not use the $datasource variable")
        for t in p.get("targets", []):
            exprs.append((f"panel {p['title']!r}", t["expr"]))
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            exprs.append((f"annotation {a['name']!r}", a["expr"]))
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            inner = re.fullmatch(r"label_values\((.*),\s*[a-z_]+\)", v["definition"])
            expect(inner is not None, f"variable {v['name']} is label_values(...)")
            if inner:
                exprs.append((f"variable {v['name']}", inner.group(1)))
    used = set()
    for where, e in exprs:
        used |= check_expr(where, e, names, labels, future_ok=True)
    for fam in ("outscope_requests_total", "outscope_request_duration_seconds", "outscope_requests_rejected_total",
                "outscope_rate_limited_total", "outscope_rate_limit_fallback_total", "outscope_upstream_errors_total",
                "outscope_connections_active", "outscope_tls_handshake_errors_total",
                "outscope_tls_certificate_expiry_timestamp_seconds", "outscope_config_reloads_total",
                "outscope_draining", "outscope_dependency_up", "outscope_card_data_total",
                "outscope_egress_blocked_total", "outscope_tokenizer_errors_total"):
        expect(fam in used, f"dashboard shows {fam}")

    alert_text = Path(alerts).read_text()
    rules = yaml.safe_load(alert_text)
    alert_names = set()
    for g in rules["groups"]:
        for r in g["rules"]:
            alert_names.add(r.get("alert"))
            check_expr(f"alert {r.get('alert')}", r["expr"], names, labels, future_ok=True)
    for fam in FUTURE:
        if fam in alert_text:
            expect(re.search(rf"{fam} lands with the ", alert_text) is not None,
                   f"{fam} is marked as landing with a later issue")
    for name in ("OutscopeHighErrorRate", "OutscopeHighLatencyP99", "OutscopeHighRateLimitedRatio",
                 "OutscopeRateLimitRedisFallback", "OutscopeDependencyDown", "OutscopeUpstreamErrors",
                 "OutscopeTokenizerErrors", "OutscopeEgressCheckBlocked", "OutscopeCertificateExpiringSoon",
                 "OutscopeConfigReloadFailed", "OutscopeInstanceNotReady",
                 "OutscopeShadowModeForwardsCardData", "OutscopeHighOverheadP99",
                 "OutscopeDataKeyRotationFailing", "OutscopeDataKeyOverdue", "OutscopeSecretRefreshFailing",
                 "OutscopeSecretsStale"):
        expect(name in alert_names, f"alert {name}")

    # The dashboard's queries as recording rules, so promtool parses every one of them.
    out = {"groups": [{"name": "dashboard-queries", "rules": [
        {"record": f"dashboard:query_{i}", "expr": substitute(e)} for i, (_, e) in enumerate(exprs)]}]}
    Path(out_rules).write_text(yaml.safe_dump(out, sort_keys=False))
    ok(f"{len(exprs)} dashboard queries written to {os.path.basename(out_rules)} for promtool")


# --- compose configuration, run for real without Docker -------------------------------------


def serve_echo(port: str) -> None:
    import http.server

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            out = json.dumps({"path": self.path, "body": body.decode(errors="replace")}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args) -> None:
            pass

    http.server.HTTPServer(("127.0.0.1", int(port)), Echo).serve_forever()


def smoke(listener_port: str, admin_port: str) -> None:
    """The compose stack's promise: a card on /v1/checkout reaches the backend as a token,
    a card anywhere else is refused, and the metrics say so."""
    import ssl
    import urllib.error
    import urllib.request

    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    pan = "4242424242424242"

    def post(path: str, doc: dict) -> tuple[int, str]:
        req = urllib.request.Request(f"https://127.0.0.1:{listener_port}{path}", data=json.dumps(doc).encode(),
                                     headers={"content-type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, context=tls, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    status, body = post("/v1/checkout", {"amount": 1200, "card": {"number": pan, "exp_month": 12, "exp_year": 2030, "cvc": "123"}})
    seen = json.loads(body).get("body", "") if status == 200 else ""
    expect(status == 200 and pan not in body and '"cvc"' not in seen, f"/v1/checkout: 200, no PAN or CVC reaches the backend ({status})")
    card = json.loads(seen).get("card", {}) if seen else {}
    expect(str(card.get("token", "")).startswith("tok_") and card.get("last4") == "4242" and card.get("brand") == "visa",
           "/v1/checkout: the backend gets token, last4 and brand")
    status, body = post("/anything", {"hello": "world"})
    passed = json.loads(json.loads(body)["body"]) if status == 200 else None
    expect(passed == {"hello": "world"}, f"/anything: a request without card data passes unchanged ({status})")
    status, body = post("/elsewhere", {"note": pan})
    expect(status == 422 and pan not in body and "card_data_rejected" in body, f"/elsewhere: a card number is refused with 422 ({status})")
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5).read().decode()
    expect('outscope_card_data_total{route="checkout",action="tokenized"} 1' in metrics, "metrics: one card tokenized on checkout")
    expect('outscope_dependency_up{dependency="redis"} 1' in metrics, "metrics: redis up")


def reloaded(admin_port: str) -> None:
    import time
    import urllib.request
    for _ in range(50):
        text = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5).read().decode()
        if 'outscope_config_reloads_total{result="success"} 1' in text:
            ok("SIGHUP reload succeeded (outscope_config_reloads_total)")
            return
        time.sleep(0.1)
    fail("no successful reload counted within 5 s of SIGHUP")


def syscall_group(name: str, seen: set[str] | None = None) -> set[str]:
    """A systemd syscall group, nested groups expanded (systemd-analyze syscall-filter)."""
    seen = set() if seen is None else seen
    if name in seen:
        return set()
    seen.add(name)
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True, text=True, check=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        calls |= syscall_group(item, seen) if item.startswith("@") else {item}
    return calls


def check_trace(trace: str, unit: str) -> None:
    """An strace of outscope from start to drain (a tokenized request, a scrape) against what
    the image and the systemd unit forbid: writing files, syscalls outside the unit's
    SystemCallFilter, socket families outside RestrictAddressFamilies, and writable
    executable memory (MemoryDenyWriteExecute)."""
    lines = Path(trace).read_text().splitlines()
    calls = [m for m in (re.match(r"(\d+)\s+([a-z0-9_]+)\((.*)", l) for l in lines) if m]
    expect(any(m.group(2) == "execve" for m in calls) and len(calls) > 100, f"trace holds {len(calls)} syscalls")
    writes = [m.group(0) for m in calls
              if (m.group(2) in ("open", "openat", "openat2") and re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", m.group(3))
                  and '"/dev/null"' not in m.group(3))
              or m.group(2) in ("creat", "mkdir", "mkdirat", "unlink", "unlinkat", "rename", "renameat", "renameat2",
                                "truncate", "symlink", "symlinkat", "link", "linkat")]
    expect(not writes, "no file opened for writing, created or removed (read-only root filesystem)"
           + ("" if not writes else ": " + "; ".join(writes[:5])))

    d = unit_directives(unit)
    allowed: set[str] = set()
    denied: set[str] = set()
    for value in d.get("SystemCallFilter", []):
        deny = value.startswith("~")
        for item in value.lstrip("~").split():
            group = syscall_group(item) if item.startswith("@") else {item}
            (denied if deny else allowed).update(group)
    permitted = allowed - denied
    used = {m.group(2) for m in calls}
    outside = sorted(used - permitted)
    expect(not outside, f"{len(used)} distinct syscalls, all within the unit's SystemCallFilter"
           + ("" if not outside else f"; outside: {outside}"))

    families = set(d.get("RestrictAddressFamilies", [""])[-1].split())
    used_families = {f for m in calls if m.group(2) in ("socket", "socketpair") for f in re.findall(r"^(AF_[A-Z0-9]+)", m.group(3))}
    expect(used_families <= families, f"socket families {sorted(used_families)} within RestrictAddressFamilies")

    wx = [m.group(0) for m in calls if m.group(2) in ("mmap", "mprotect", "pkey_mprotect")
          and "PROT_WRITE" in m.group(3) and "PROT_EXEC" in m.group(3)]
    expect(not wx, "no writable and executable memory (MemoryDenyWriteExecute)" + ("" if not wx else ": " + wx[0]))


def main(argv: list[str]) -> int:
    cmd, args = argv[1], argv[2:]
    flags = [a for a in args if a.startswith("--")]
    args = [a for a in args if not a.startswith("--")]
    {
        "dockerfile": lambda: check_dockerfile(*args),
        "chart": lambda: check_chart(args[0], args[1], flags),
        "systemd": lambda: check_systemd(*args),
        "compose": lambda: check_compose(*args),
        "context": lambda: check_context(*args),
        "binary": lambda: check_binary(*args),
        "echo": lambda: serve_echo(*args),
        "smoke": lambda: smoke(*args),
        "trace": lambda: check_trace(*args),
        "reloaded": lambda: reloaded(*args),
        "metrics": lambda: check_metrics(*args),
    }[cmd]()
    if problems:
        print(f"  {len(problems)} problem(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
