#!/usr/bin/env python3
"""Writes loadtest/run's results: a Markdown table and a PNG chart from k6 JSON summaries.

Input is runs.tsv, one measured k6 run a line:
kind, target, offered rate, summary JSON path, proxy CPU ticks during the run, proxy RSS
(KiB) after it, k6 exit code (0 all thresholds passed, 99 some failed, other: k6 failed),
and k6's CPU time over the run's wall-clock time in percent (how busy it kept core 1).
"""
import argparse
import json
import platform

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SIZES = ["1k", "16k", "256k"]


def load_runs(path, clk_tck):
    runs = []
    with open(path) as f:
        for line in f:
            kind, target, rate, summary, ticks, rss, rc, k6cpu = line.rstrip("\n").split("\t")
            try:
                with open(summary) as s:
                    data = json.load(s)
            except (OSError, ValueError):
                data = None
            runs.append(dict(kind=kind, target=target, rate=int(rate), data=data,
                             cpu_s=int(ticks) / clk_tck, rss_mib=int(rss) / 1024, rc=int(rc),
                             k6cpu=int(k6cpu)))
    return runs


def metric(run, name, stat):
    if run["data"] is None:
        return None
    m = run["data"]["metrics"].get(name)
    if m is None:
        return None
    # A threshold's sub-metric exists even when no sample matched (all zeros): no value.
    if m.get("type") == "trend" and not any(m["values"].values()):
        return None
    return m["values"].get(stat)


def derived(run):
    count = metric(run, "http_reqs", "count") or 0
    secs = run["data"]["state"]["testRunDurationMs"] / 1000 if run["data"] else 0
    failed = [f"{n} {e}" for n, m in (run["data"] or {}).get("metrics", {}).items()
              for e, t in m.get("thresholds", {}).items() if not t["ok"]]
    return dict(
        count=count,
        rps=metric(run, "http_reqs", "rate"),
        p50=metric(run, "http_req_duration", "med"),
        p99=metric(run, "http_req_duration", "p(99)"),
        tls_p99=metric(run, "http_req_tls_handshaking", "p(99)"),
        size_p99={s: metric(run, "http_req_duration{size:%s}" % s, "p(99)") for s in SIZES},
        errors=metric(run, "http_req_failed", "rate"),
        dropped=metric(run, "dropped_iterations", "count") or 0,
        cpu_per_1k=run["cpu_s"] / (count / 1000) if count else None,
        cpu_pct=100 * run["cpu_s"] / secs if secs else None,
        failed=failed,
        slo="k6 failed (exit %d)" % run["rc"] if run["rc"] not in (0, 99)
        else ("pass" if run["rc"] == 0 else "FAIL: " + "; ".join(failed)),
    )


def f(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def checkout_section(runs, out):
    rows = [r for r in runs if r["kind"] == "checkout"]
    out.append("| offered req/s | proxy | req/s | p50 ms | p99 ms | p99 1k / 16k / 256k ms "
               "| CPU s per 1k req | proxy CPU % | k6 CPU % | RSS MiB | errors % | dropped | SLO |")
    out.append("|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        d = derived(r)
        sizes = " / ".join(f(d["size_p99"][s]) for s in SIZES)
        out.append(f"| {r['rate']} | {r['target']} | {f(d['rps'], 0)} | {f(d['p50'])} | {f(d['p99'])} "
                   f"| {sizes} | {f(d['cpu_per_1k'], 3)} | {f(d['cpu_pct'], 0)} | {r['k6cpu']} "
                   f"| {f(r['rss_mib'], 1)} "
                   f"| {f(100 * d['errors'] if d['errors'] is not None else None, 3)} | {d['dropped']} "
                   f"| {d['slo']} |")
    busy = sorted({r["rate"] for r in rows if r["k6cpu"] >= 85})
    if busy:
        out.append("")
        out.append("k6 used 85 % or more of its core at " + ", ".join(f"{b} req/s" for b in busy)
                   + ": latency there includes the load generator's own queueing, for both proxies.")
    out.append("")
    out.append("Ratios in the same run, outscope against nginx at each offered rate:")
    out.append("")
    out.append("| offered req/s | req/s ratio | p99 ratio | added p99 ms | CPU per request ratio |")
    out.append("|---:|---:|---:|---:|---:|")
    cpu_ratios, added_p99 = [], []
    for rate in sorted({r["rate"] for r in rows}):
        pair = {r["target"]: derived(r) for r in rows if r["rate"] == rate}
        n, o = pair.get("nginx"), pair.get("outscope")
        if not n or not o:
            continue
        added = None if o["p99"] is None or n["p99"] is None else o["p99"] - n["p99"]
        if added is not None:
            added_p99.append((rate, added))
        if ratio(o["cpu_per_1k"], n["cpu_per_1k"]) is not None:
            cpu_ratios.append(ratio(o["cpu_per_1k"], n["cpu_per_1k"]))
        out.append(f"| {rate} | {f(ratio(o['rps'], n['rps']))}x | {f(ratio(o['p99'], n['p99']))}x "
                   f"| {'-' if added is None else f'{added:+.2f}'} "
                   f"| {f(ratio(o['cpu_per_1k'], n['cpu_per_1k']))}x |")
    if cpu_ratios and added_p99:
        out.append("")
        worse = "more" if min(cpu_ratios) > 1 else "less" if max(cpu_ratios) < 1 else "about the same"
        out.append(f"In this run outscope used {min(cpu_ratios):.2f}x to {max(cpu_ratios):.2f}x nginx's CPU "
                   f"per request ({worse}), and its p99 was "
                   + ", ".join(f"{a:+.2f} ms at {r}/s" for r, a in added_p99)
                   + " against nginx's (the goal: under +1 ms at half of saturation).")
    return rows


def size_section(runs, out):
    rows = [r for r in runs if r["kind"].startswith("size-")]
    if not rows:
        return
    out.append("| body | offered req/s | proxy | req/s | p50 ms | p99 ms | CPU s per 1k req "
               "| body MB per CPU second | proxy CPU % | RSS MiB | errors % | dropped | SLO |")
    out.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    sizes = {"1k": 1024, "16k": 16384, "256k": 262144}
    ratios = []
    for size in SIZES:
        pair = {}
        for r in (r for r in rows if r["kind"] == "size-" + size):
            d = derived(r)
            pair[r["target"]] = d
            mbps = sizes[size] / (d["cpu_per_1k"] / 1000) / 1e6 if d["cpu_per_1k"] else None
            out.append(f"| {size[:-1]} KiB | {r['rate']} | {r['target']} | {f(d['rps'], 0)} | {f(d['p50'])} "
                       f"| {f(d['p99'])} | {f(d['cpu_per_1k'], 3)} | {f(mbps, 0)} | {f(d['cpu_pct'], 0)} "
                       f"| {f(r['rss_mib'], 1)} | {f(100 * d['errors'] if d['errors'] is not None else None, 3)} "
                       f"| {d['dropped']} | {d['slo']} |")
        if "nginx" in pair and "outscope" in pair:
            n, o = pair["nginx"], pair["outscope"]
            ratios.append(f"{size[:-1]} KiB: CPU per request {f(ratio(o['cpu_per_1k'], n['cpu_per_1k']))}x, "
                          f"p50 {f(ratio(o['p50'], n['p50']))}x, p99 {f(ratio(o['p99'], n['p99']))}x")
    if ratios:
        out.append("")
        out.append("outscope/nginx, same run: " + "; ".join(ratios) + ".")


def handshake_section(runs, out):
    rows = [r for r in runs if r["kind"] == "handshakes"]
    if not rows:
        return
    out.append("| offered conn/s | proxy | req/s | p50 ms | p99 ms | TLS handshake p50 / p99 ms "
               "| CPU s per 1k handshakes | proxy CPU % | k6 CPU % | RSS MiB | errors % | dropped "
               "| SLO |")
    out.append("|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|")
    byt = {}
    for r in rows:
        d = derived(r)
        byt[r["target"]] = d
        full50 = metric(r, "request_with_handshake", "med")
        full99 = metric(r, "request_with_handshake", "p(99)")
        d["full99"] = full99
        out.append(f"| {r['rate']} | {r['target']} | {f(d['rps'], 0)} | {f(full50)} | {f(full99)} "
                   f"| {f(metric(r, 'http_req_tls_handshaking', 'med'))} / {f(d['tls_p99'])} "
                   f"| {f(d['cpu_per_1k'], 3)} | {f(d['cpu_pct'], 0)} | {r['k6cpu']} "
                   f"| {f(r['rss_mib'], 1)} | {f(100 * d['errors'] if d['errors'] is not None else None, 3)} "
                   f"| {d['dropped']} | {d['slo']} |")
    if "nginx" in byt and "outscope" in byt:
        n, o = byt["nginx"], byt["outscope"]
        out.append("")
        out.append(f"outscope/nginx: CPU per handshake {f(ratio(o['cpu_per_1k'], n['cpu_per_1k']))}x, "
                   f"p99 {f(ratio(o['full99'], n['full99']))}x. Handshakes per CPU second (the capacity of "
                   f"one core): nginx {f(1000 / n['cpu_per_1k'] if n['cpu_per_1k'] else None, 0)}, "
                   f"outscope {f(1000 / o['cpu_per_1k'] if o['cpu_per_1k'] else None, 0)}.")


def burst_section(runs, out):
    for r in (r for r in runs if r["kind"] == "burst"):
        d = derived(r)
        allowed = metric(r, "allowed", "count") or 0
        limited = metric(r, "rate_limited", "rate")
        checks_ok = metric(r, "checks", "passes")
        checks_bad = metric(r, "checks", "fails")
        out.append(f"{d['count']} requests at {r['rate']}/s for 5 s against the route limited to 100/s "
                   f"with a burst of 50: {allowed} answered 200, "
                   f"{f(100 * limited if limited is not None else None, 1)} % refused with 429. "
                   f"Checks (every answer 200 or 429; every 429 with `retry-after`, `ratelimit-policy` "
                   f"and `ratelimit: ...;r=0`): {checks_ok} passed, {checks_bad} failed. "
                   f"p99 {f(d['p99'])} ms. Thresholds: {d['slo']}.")


def soak_section(runs, rss_path, out):
    rows = [r for r in runs if r["kind"] == "soak"]
    if not rows:
        return
    samples = []
    with open(rss_path) as fh:
        for line in fh:
            t, kb = line.split()
            samples.append(int(kb) / 1024)
    for r in rows:
        d = derived(r)
        out.append(f"{d['count']} requests at {r['rate']}/s: p50 {f(d['p50'])} ms, p99 {f(d['p99'])} ms, "
                   f"errors {f(100 * (d['errors'] or 0), 3)} %, CPU {f(d['cpu_per_1k'], 3)} s per 1k requests, "
                   f"SLO {d['slo']}.")
        if samples:
            out.append(f"outscope RSS (every 10 s): first {samples[0]:.1f} MiB, last {samples[-1]:.1f} MiB, "
                       f"max {max(samples):.1f} MiB over {len(samples)} samples.")


def chart(rows, png):
    fig, (lat, cpu) = plt.subplots(1, 2, figsize=(10, 4), dpi=90)
    colours = {"nginx": "tab:blue", "outscope": "tab:orange"}
    for target in ("nginx", "outscope"):
        pts = sorted((r["rate"], derived(r)) for r in rows if r["target"] == target)
        if not pts:
            continue
        x = [p[0] for p in pts]
        lat.plot(x, [p[1]["p99"] for p in pts], "o-", color=colours[target], label=f"{target} p99")
        lat.plot(x, [p[1]["p50"] for p in pts], "s--", color=colours[target], label=f"{target} p50")
        cpu.plot(x, [p[1]["cpu_pct"] for p in pts], "o-", color=colours[target], label=target)
    rates = sorted({r["rate"] for r in rows})
    for ax in (lat, cpu):
        ax.set_xscale("log")
        ax.set_xticks(rates)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    lat.set_yscale("log")
    lat.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    lat.set_xlabel("offered load (req/s, checkout mix)")
    lat.set_ylabel("latency (ms)")
    lat.set_title("Latency against offered load")
    lat.grid(True, which="both", alpha=0.3)
    lat.legend(fontsize=8)
    cpu.set_xlabel("offered load (req/s, checkout mix)")
    cpu.set_ylabel("proxy CPU (% of core 0)")
    cpu.set_title("Proxy CPU against offered load")
    cpu.grid(True, which="both", alpha=0.3)
    cpu.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png)


def main():
    p = argparse.ArgumentParser()
    for a in ("runs", "soak-rss", "md", "png", "command", "elapsed", "load-before", "load-after",
              "outscope-version", "nginx-version", "k6-version", "openssl-version", "step", "binary"):
        p.add_argument("--" + a, required=True)
    p.add_argument("--clk-tck", type=int, required=True)
    a = p.parse_args()
    runs = load_runs(a.runs, a.clk_tck)
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    day = a.md.rsplit("/", 1)[-1][:-3]
    out = [f"# k6 suite: outscope against nginx proxy_pass, {day}", ""]
    out.append("Reproduce (from the repository root, on an otherwise idle 2-core machine):")
    out.append("")
    out.append("```sh")
    out.append(a.command)
    out.append("```")
    out.append("")
    out.append(f"- Machine: {cpu_model}, 2 cores used, Linux {platform.release()}. Load average "
               f"(1/5/15 min) before: {a.load_before}; after: {a.load_after}. The machine is shared; "
               f"other work on it shows up as noise in these figures.")
    out.append(f"- {a.outscope_version} ({a.binary}); {a.nginx_version}; {a.openssl_version}; {a.k6_version}.")
    out.append("- Both proxies on 127.0.0.1, TLS 1.3 only, the same self-signed ECDSA P-256 certificate, "
               "HTTP/1.1 (no h2 offered), one worker (nginx `worker_processes 1`, outscope "
               "`[runtime] worker_threads = 1`), pinned with the backend nginx to core 0; k6 pinned to core 1 "
               "and verifying the certificate. Same backend (nginx reading the whole body, answering "
               "`{\"ok\":true}`), pooled keep-alive upstream connections for both.")
    out.append("- outscope: local vault tokenizer (memory store), card rule on `$.card`, "
               "`on_detected = \"tokenize\"` (built-in detection everywhere), egress check on. "
               "nginx forwards the card data untouched: this compares a tokenizing proxy against a "
               "plain one.")
    out.append("- Checkout mix (`loadtest/k6/checkout.js` defaults): JSON bodies of 1 KiB (75 %), 16 KiB "
               "(20 %) and 256 KiB (5 %); no card (30 %), one card object (50 %), three cards (20 %). "
               f"Constant arrival rate, {a.step} per rate, nginx then outscope at each rate, after a 5 s "
               "warm-up of each. Against outscope every response is checked for `outscope-tokenized` "
               "equal to the number of cards.")
    out.append("- CPU: utime + stime of the proxy's processes (nginx master + worker; outscope's process "
               "with all its threads) from /proc/<pid>/stat before and after each k6 run, divided by "
               "the requests k6 completed. RSS: VmRSS after the run. The backend's CPU is not counted.")
    out.append(f"- Whole run: {a.elapsed} s.")
    out.append("")
    out.append("## Checkout, keep-alive, constant arrival rate")
    out.append("")
    rows = checkout_section(runs, out)
    out.append("")
    out.append(f"![latency against offered load]({a.png.rsplit('/', 1)[-1]})")
    out.append("")
    out.append("A run whose req/s falls short of the offered rate, or with dropped iterations, was "
               "saturated (the proxy core or k6's core); its latency is queueing, not service time. "
               "Proxy CPU % is the proxy's share of core 0 during the k6 test; k6 CPU % its share of "
               "core 1 over the whole k6 run (including start-up, so a little low). "
               "Default SLO thresholds: errors <= 0.1 %, p99 < 50 ms overall, < 10 / 20 / 100 ms for "
               "1 KiB / 16 KiB / 256 KiB bodies, no dropped iterations.")
    out.append("")
    out.append("## Checkout, one body size at a time")
    out.append("")
    out.append("The same script with `SIZE_MIX=<size>=1` (card mix unchanged): where the CPU goes.")
    out.append("")
    size_section(runs, out)
    out.append("")
    out.append("## New TLS connection per request (`loadtest/k6/handshakes.js`)")
    out.append("")
    handshake_section(runs, out)
    out.append("")
    out.append("p50/p99 here are the whole request on a new connection (TCP connect + TLS 1.3 handshake + "
               "request), k6's `request_with_handshake`; the TLS column is k6's `http_req_tls_handshaking`. "
               "k6 does not resume TLS sessions (checked against nginx with `$ssl_session_reused`), so every "
               "handshake is a full one: X25519 key exchange (k6 also offers X25519MLKEM768, which "
               "neither OpenSSL 3.0 nor outscope's ring provider accepts) and an ECDSA P-256 signature.")
    out.append("")
    out.append("## Burst against a rate-limited route (`loadtest/k6/burst.js`, outscope only)")
    out.append("")
    burst_section(runs, out)
    if any(r["kind"] == "soak" for r in runs):
        out.append("")
        out.append("## Soak (`loadtest/k6/soak.js`, outscope only)")
        out.append("")
        soak_section(runs, a.soak_rss, out)
    out.append("")
    with open(a.md, "w") as fh:
        fh.write("\n".join(out))
    chart(rows, a.png)


if __name__ == "__main__":
    main()
