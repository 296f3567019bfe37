// A burst well above a route's rate limit: expects some requests through (200) and the
// rest refused with 429 carrying `retry-after`, `ratelimit-policy` and `ratelimit`
// (draft-ietf-httpapi-ratelimit-headers). Nothing else is acceptable.
//
//   k6 run -e BASE_URL=https://pay.example.com -e TARGET_PATH=/v1/limited -e RATE=500 loadtest/k6/burst.js
//
// Environment (see also lib/common.js: BASE_URL, RESOLVE, INSECURE, SUMMARY):
//   TARGET_PATH      a rate-limited route (default /limited); RATE (default 400); DURATION (default 5s)
//   MIN_LIMITED  the share of requests that must be refused (default 0.3): set it from
//              your limit, e.g. 1 - (burst + requests_per_s * seconds) / (RATE * seconds)
//   ALLOWED_MAX  if set, at most this many requests may get 200 (the limit's capacity over
//              the run: burst + rate * seconds, plus a margin for timing)
import http from 'k6/http';
import { check } from 'k6';
import { Counter, Rate } from 'k6/metrics';
import { BASE_URL, connection, num, summarize } from './lib/common.js';

const PATH = __ENV.TARGET_PATH || '/limited';
const RATE = num('RATE', 400);
const limited = new Rate('rate_limited');
const allowed = new Counter('allowed');

const thresholds = {
  // 200 and 429 are both expected answers here; anything else is an error.
  checks: ['rate==1'],
  rate_limited: [`rate>=${num('MIN_LIMITED', 0.3)}`],
};
if (__ENV.ALLOWED_MAX) thresholds.allowed = [`count<=${num('ALLOWED_MAX', 0)}`];

export const options = Object.assign(connection(), {
  scenarios: {
    burst: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV.DURATION || '5s',
      preAllocatedVUs: num('PRE_VUS', 20),
      maxVUs: num('MAX_VUS', 100),
      gracefulStop: '5s',
    },
  },
  thresholds,
});

export default function () {
  const res = http.get(BASE_URL + PATH, { responseCallback: http.expectedStatuses(200, 429) });
  limited.add(res.status === 429);
  if (res.status === 200) allowed.add(1);
  check(res, {
    'status is 200 or 429': (r) => r.status === 200 || r.status === 429,
    '429 carries retry-after': (r) => r.status !== 429 || Number(r.headers['Retry-After']) >= 1,
    '429 carries ratelimit-policy': (r) => r.status !== 429 || /;q=\d+/.test(r.headers['Ratelimit-Policy'] || ''),
    '429 carries ratelimit': (r) => r.status !== 429 || /;r=0\b/.test(r.headers['Ratelimit'] || ''),
  });
}

export function handleSummary(data) {
  return summarize('burst-summary.json', data);
}
