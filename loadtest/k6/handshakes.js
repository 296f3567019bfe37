// TLS-handshake-heavy traffic: a new connection, and so a full TLS 1.3 handshake, for every
// request (noConnectionReuse), at a constant arrival rate. Small GETs, so the handshake is
// most of the work.
//
//   k6 run -e BASE_URL=https://pay.example.com -e RATE=100 loadtest/k6/handshakes.js
//
// Environment (see also lib/common.js: BASE_URL, RESOLVE, INSECURE, SUMMARY):
//   TARGET_PATH      request path (default /v1/ping); RATE (default 100); DURATION (default 30s)
//   PRE_VUS, MAX_VUS
//   SLO thresholds: MAX_ERROR_RATE (default 0.001), P99_MS (default 50, connect + TLS
//   handshake + request),
//   HANDSHAKE_P99_MS (default 20, the TLS part alone)
import http from 'k6/http';
import { check } from 'k6';
import { Trend } from 'k6/metrics';
import { BASE_URL, connection, num, summarize } from './lib/common.js';

const PATH = __ENV.TARGET_PATH || '/v1/ping';
const RATE = num('RATE', 100);
const MAX_ERROR_RATE = num('MAX_ERROR_RATE', 0.001);
// http_req_duration leaves out connecting and the TLS handshake; this is the whole request
// as the client sees it on a new connection: TCP connect + TLS handshake + request.
const withHandshake = new Trend('request_with_handshake', true);

export const options = Object.assign(connection(), {
  noConnectionReuse: true,
  scenarios: {
    handshakes: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV.DURATION || '30s',
      preAllocatedVUs: num('PRE_VUS', Math.ceil(RATE / 20) + 10),
      maxVUs: num('MAX_VUS', Math.min(300, Math.ceil(RATE / 5) + 20)),
      gracefulStop: '5s',
    },
  },
  thresholds: {
    http_req_failed: [`rate<=${MAX_ERROR_RATE}`],
    checks: [`rate>=${1 - MAX_ERROR_RATE}`],
    request_with_handshake: [`p(99)<${num('P99_MS', 50)}`],
    http_req_tls_handshaking: [`p(99)<${num('HANDSHAKE_P99_MS', 20)}`],
    dropped_iterations: ['count==0'],
  },
});

export default function () {
  const res = http.get(BASE_URL + PATH);
  const t = res.timings;
  withHandshake.add(t.connecting + t.tls_handshaking + t.duration);
  check(res, {
    'status is 200': (r) => r.status === 200,
    'negotiated TLS 1.3': (r) => r.tls_version === 'tls1.3',
  });
}

export function handleSummary(data) {
  return summarize('handshakes-summary.json', data);
}
