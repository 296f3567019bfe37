// Soak (opt-in, long): the checkout mix at a moderate constant rate for a long time, to see
// latency drift, errors and memory growth (loadtest/run --soak samples the proxy's RSS).
//
//   k6 run -e BASE_URL=https://pay.example.com -e RATE=100 -e DURATION=2h loadtest/k6/soak.js
//
// Environment: as checkout.js (TARGET_PATH, RATE default 100, EXPECT_TOKENIZED, SIZE_MIX,
// CARD_MIX, P99_MS default 50, MAX_ERROR_RATE) with DURATION defaulting to 30m.
import checkout from './checkout.js';
import { connection, num, summarize } from './lib/common.js';

const RATE = num('RATE', 100);
const MAX_ERROR_RATE = num('MAX_ERROR_RATE', 0.001);

export const options = Object.assign(connection(), {
  scenarios: {
    soak: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV.DURATION || '30m',
      preAllocatedVUs: num('PRE_VUS', Math.ceil(RATE / 50) + 5),
      maxVUs: num('MAX_VUS', Math.min(300, Math.ceil(RATE / 5) + 20)),
      gracefulStop: '10s',
    },
  },
  thresholds: {
    http_req_failed: [`rate<=${MAX_ERROR_RATE}`],
    checks: [`rate>=${1 - MAX_ERROR_RATE}`],
    http_req_duration: [`p(99)<${num('P99_MS', 50)}`],
    dropped_iterations: ['count==0'],
  },
});

export default checkout;

export function handleSummary(data) {
  return summarize('soak-summary.json', data);
}
