// Checkout request bodies: an order of a given size with no card, one card object at
// $.card, or several cards ($.card plus stored cards found by built-in detection).
//
// Only public test card numbers (Stripe's test numbers). Bodies are built in the init
// context, once per VU (about 1 MiB of strings per VU with the default mix).

export const SIZES = { '1k': 1024, '16k': 16 * 1024, '256k': 256 * 1024 };

// Test numbers in the order they are used: the first is the card object, the rest stored cards.
const TEST_CARDS = ['4242424242424242', '5555555555554444', '378282246310005'];
export const CARD_COUNTS = { none: 0, one: 1, several: TEST_CARDS.length };

// The default mix: most checkouts are small and carry one card. Weights multiply.
const DEFAULT_SIZE_WEIGHTS = { '1k': 0.75, '16k': 0.2, '256k': 0.05 };
const DEFAULT_CARD_WEIGHTS = { none: 0.3, one: 0.5, several: 0.2 };

const COLOURS = ['blue', 'grey', 'white'];

// One line item, always 103 bytes of JSON with a leading comma: realistic short numbers only
// (no digit run long enough to look like a card number).
function item(i) {
  const sku = String(i % 100000).padStart(5, '0');
  const price = String(1000 + (i % 50) * 100);
  return `,{"sku":"SKU-${sku}","qty":${1 + (i % 3)},"price":${price},"title":"Cotton shirt, size M, colour ${COLOURS[i % 3].padEnd(5, '_')}"}`;
}

// An order of exactly `size` bytes of JSON: the fixed fields, the cards, line items, and a
// "note" padded to the exact length.
function order(size, cards) {
  const o = {
    order_id: 'ord_8f3a2c',
    currency: 'eur',
    amount: 12999,
    customer: { email: 'jane@example.com', name: 'Jane Doe' },
    shipping: { line1: '1 Main Street', city: 'Berlin', postal_code: '10115', country: 'DE' },
  };
  if (cards >= 1) {
    o.card = { number: TEST_CARDS[0], exp_month: 12, exp_year: 2030, cvc: '123' };
  }
  if (cards >= 2) {
    o.stored_cards = TEST_CARDS.slice(1, cards).map((n) => ({ number: n, label: 'backup' }));
  }
  // {...fields,"items":[first,rest...],"note":"..."}
  const head = JSON.stringify(o).slice(0, -1) + ',"items":[';
  const tail = '],"note":"';
  const end = '"}';
  const fixed = head.length + tail.length + end.length;
  const parts = [];
  let len = fixed;
  const per = item(0).length;
  for (let i = 0; len + per <= size; i++) {
    const it = item(i);
    parts.push(i === 0 ? it.slice(1) : it);
    len += i === 0 ? it.length - 1 : it.length;
  }
  if (len > size) throw new Error(`body of ${size} bytes cannot hold the fixed fields (${len})`);
  return head + parts.join('') + tail + 'x'.repeat(size - len) + end;
}

// Parses "1k=0.75,16k=0.2,256k=0.05" (keys from `known`); null when unset.
function weights(spec, known, fallback) {
  if (!spec) return fallback;
  const out = {};
  for (const part of spec.split(',')) {
    const [k, v] = part.split('=');
    if (!(k in known) || !(Number(v) >= 0)) throw new Error(`bad weight "${part}" (keys: ${Object.keys(known)})`);
    out[k] = Number(v);
  }
  return out;
}

// Every (size, cards) variant with its probability, from SIZE_MIX and CARD_MIX.
export function mix(env) {
  const sw = weights(env.SIZE_MIX, SIZES, DEFAULT_SIZE_WEIGHTS);
  const cw = weights(env.CARD_MIX, CARD_COUNTS, DEFAULT_CARD_WEIGHTS);
  const variants = [];
  for (const s of Object.keys(sw)) {
    for (const c of Object.keys(cw)) {
      const w = sw[s] * cw[c];
      if (w > 0) variants.push({ size: s, cards: c, count: CARD_COUNTS[c], weight: w });
    }
  }
  const total = variants.reduce((a, v) => a + v.weight, 0);
  if (!(total > 0)) throw new Error('SIZE_MIX and CARD_MIX leave nothing to send');
  let acc = 0;
  for (const v of variants) {
    acc += v.weight / total;
    v.upTo = acc;
  }
  return variants;
}

// Builds the body of every variant; call it in the init context (once per VU, a few ms).
export function build(variants) {
  for (const v of variants) v.body = order(SIZES[v.size], v.count);
  return variants;
}

// A variant drawn at random from the mix.
export function draw(variants) {
  const r = Math.random();
  return variants.find((x) => r < x.upTo) || variants[variants.length - 1];
}
