// Settings every script shares, all from __ENV so that an operator can point the suite at
// their own deployment:
//   BASE_URL   https://host:port of the proxy (default https://localhost:8443)
//   RESOLVE    "name=ip[,name=ip]" like curl --resolve: connect to ip for name (SNI and
//              Host stay name), e.g. RESOLVE=localhost=127.0.0.1
//   INSECURE   "true" skips certificate verification; otherwise k6 verifies against the
//              system roots (or the PEM file named by SSL_CERT_FILE)
//   SUMMARY    where handleSummary writes the JSON summary (default <script>-summary.json)

export const BASE_URL = (__ENV.BASE_URL || 'https://localhost:8443').replace(/\/+$/, '');

export function hosts() {
  const out = {};
  for (const pair of (__ENV.RESOLVE || '').split(',').filter(Boolean)) {
    const [name, ip] = pair.split('=');
    if (!name || !ip) throw new Error(`RESOLVE: expected name=ip, got "${pair}"`);
    out[name] = ip;
  }
  return out;
}

// Connection options common to all scripts: TLS 1.3 only, as outscope serves it.
export function connection() {
  return {
    hosts: hosts(),
    insecureSkipTLSVerify: __ENV.INSECURE === 'true',
    tlsVersion: { min: 'tls1.3', max: 'tls1.3' },
    discardResponseBodies: true,
    summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'max'],
  };
}

export function num(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name}: expected a number, got "${raw}"`);
  return v;
}

function fmt(v, unit) {
  if (v === undefined || v === null) return '-';
  return unit === 'ms' ? v.toFixed(2) + ' ms' : String(Math.round(v * 1000) / 1000);
}

// handleSummary: the full data as JSON to SUMMARY, and a short text summary on stdout
// (k6 prints nothing else once handleSummary exists; no remote jslib is needed).
export function summarize(defaultFile, data) {
  const m = data.metrics;
  const lines = [];
  const d = m.http_req_duration && m.http_req_duration.values;
  const reqs = m.http_reqs && m.http_reqs.values;
  if (reqs) lines.push(`requests: ${reqs.count} (${fmt(reqs.rate)} /s)`);
  if (d) lines.push(`http_req_duration: p50 ${fmt(d.med, 'ms')}, p90 ${fmt(d['p(90)'], 'ms')}, p99 ${fmt(d['p(99)'], 'ms')}, max ${fmt(d.max, 'ms')}`);
  if (m.http_req_failed) lines.push(`http_req_failed: ${fmt(m.http_req_failed.values.rate * 100)} %`);
  if (m.checks) lines.push(`checks: ${m.checks.values.passes} passed, ${m.checks.values.fails} failed`);
  const dropped = m.dropped_iterations ? m.dropped_iterations.values.count : 0;
  if (dropped) lines.push(`dropped_iterations: ${dropped} (the load generator or its VUs could not keep up)`);
  const failed = [];
  for (const [name, metric] of Object.entries(m)) {
    for (const [expr, t] of Object.entries(metric.thresholds || {})) {
      if (!t.ok) failed.push(`${name} ${expr}`);
    }
  }
  lines.push(failed.length ? `thresholds FAILED: ${failed.join('; ')}` : 'thresholds: all passed');
  return {
    [__ENV.SUMMARY || defaultFile]: JSON.stringify(data, null, 1),
    stdout: lines.join('\n') + '\n',
  };
}
