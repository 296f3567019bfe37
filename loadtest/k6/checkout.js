// Steady checkout traffic at a constant arrival rate: JSON orders of 1 KiB, 16 KiB and
// 256 KiB carrying no card, one card object ($.card) or several cards ($.card plus stored
// cards that built-in detection finds). Checks every response is 200 and, against outscope,
// that `outscope-tokenized` counts the cards (absent when there is none).
//
//   k6 run -e BASE_URL=https://pay.example.com -e RATE=200 -e DURATION=1m loadtest/k6/checkout.js
//
// Environment (see also lib/common.js: BASE_URL, RESOLVE, INSECURE, SUMMARY):
//   TARGET_PATH       request path (default /v1/checkout)
//   RATE        requests per second offered (default 100); DURATION (default 30s)
//   PRE_VUS, MAX_VUS   VUs allocated up front / at most (default from RATE)
//   EXPECT_TOKENIZED   "false" when the target is not outscope (a baseline proxy)
//   SIZE_MIX    weights, default "1k=0.75,16k=0.2,256k=0.05"
//   CARD_MIX    weights, default "none=0.3,one=0.5,several=0.2"
//   SLO thresholds: MAX_ERROR_RATE (default 0.001), P99_MS (overall, default 50),
//   P99_MS_1K (default 10), P99_MS_16K (default 20), P99_MS_256K (default 100)
import http from 'k6/http';
import { check } from 'k6';
import { BASE_URL, connection, num, summarize } from './lib/common.js';
import { build, draw, mix } from './lib/bodies.js';

const PATH = __ENV.TARGET_PATH || '/v1/checkout';
const RATE = num('RATE', 100);
const EXPECT_TOKENIZED = __ENV.EXPECT_TOKENIZED !== 'false';
const VARIANTS = build(mix(__ENV));
const MAX_ERROR_RATE = num('MAX_ERROR_RATE', 0.001);

export const options = Object.assign(connection(), {
  scenarios: {
    checkout: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV.DURATION || '30s',
      preAllocatedVUs: num('PRE_VUS', Math.ceil(RATE / 10) + 10),
      maxVUs: num('MAX_VUS', Math.min(300, Math.ceil(RATE / 5) + 20)),
      gracefulStop: '5s',
    },
  },
  thresholds: {
    http_req_failed: [`rate<=${MAX_ERROR_RATE}`],
    checks: [`rate>=${1 - MAX_ERROR_RATE}`],
    http_req_duration: [`p(99)<${num('P99_MS', 50)}`],
    'http_req_duration{size:1k}': [`p(99)<${num('P99_MS_1K', 10)}`],
    'http_req_duration{size:16k}': [`p(99)<${num('P99_MS_16K', 20)}`],
    'http_req_duration{size:256k}': [`p(99)<${num('P99_MS_256K', 100)}`],
    // The offered load must really be offered: iterations dropped for lack of VUs mean the
    // load generator, not the target, set the pace.
    dropped_iterations: ['count==0'],
  },
});

export default function () {
  const variant = draw(VARIANTS);
  const tags = { size: variant.size, cards: variant.cards };
  const res = http.post(BASE_URL + PATH, variant.body, {
    headers: { 'Content-Type': 'application/json' },
    tags,
  });
  check(res, { 'status is 200': (r) => r.status === 200 }, tags);
  if (EXPECT_TOKENIZED && res.status === 200) {
    const got = res.headers['Outscope-Tokenized'];
    const want = variant.count === 0 ? undefined : String(variant.count);
    check(res, { 'outscope-tokenized counts the cards': () => got === want }, tags);
  }
}

export function handleSummary(data) {
  return summarize('checkout-summary.json', data);
}
