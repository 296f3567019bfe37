//! Generated, realistic JSON API traffic for the benches: NDJSON, one order-like document
//! per line (customers, addresses, UUIDs, timestamps, phone numbers, amounts). Deterministic.

/// A small xorshift generator (no dependency, same corpus on every machine).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len() as u64) as usize]
    }
    pub fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

const FIRST: &[&str] = &[
    "Jane", "John", "Amélie", "Søren", "Priya", "Chen", "Olu", "María", "Yuki", "Ahmed",
];
const LAST: &[&str] = &[
    "Doe", "Smith", "García", "Müller", "Okafor", "Tanaka", "Kowalski", "Nguyen", "Rossi",
];
const CITY: &[&str] = &[
    "Springfield",
    "São Paulo",
    "München",
    "Lagos",
    "Osaka",
    "Toronto",
    "Lyon",
    "Austin",
];
const STREET: &[&str] = &[
    "Main St",
    "Market Street",
    "Rue de Rivoli",
    "Hauptstraße",
    "Elm Ave",
    "King Rd",
];
const PANS: &[&str] = &[
    "4242424242424242",
    "4000056655665556",
    "5555555555554444",
    "2223003122003222",
    "378282246310005",
    "6011111111111117",
    "3566002020360505",
];

fn uuid(r: &mut Rng) -> String {
    format!(
        "{}-{}-4{}-a{}-{}",
        r.hex(8),
        r.hex(4),
        r.hex(3),
        r.hex(3),
        r.hex(12)
    )
}

fn timestamp(r: &mut Rng) -> String {
    format!(
        "2024-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        1 + r.below(12),
        1 + r.below(28),
        r.below(24),
        r.below(60),
        r.below(60),
        r.below(1000)
    )
}

/// One order document. `card`: include a payment card (a PAN and its fields).
pub fn order(r: &mut Rng, card: bool) -> String {
    let mut items = Vec::new();
    for _ in 0..1 + r.below(4) {
        items.push(format!(
            r#"{{"sku":"SKU-{}","name":"Item {}","quantity":{},"unit_price":{},"currency":"usd"}}"#,
            r.digits(5),
            r.hex(4),
            1 + r.below(5),
            100 + r.below(99_900)
        ));
    }
    let payment = if card {
        let pan = r.pick(PANS);
        format!(
            r#","payment_method":{{"type":"card","card":{{"number":"{pan}","exp_month":{},"exp_year":{},"cvc":"{}"}}}}"#,
            1 + r.below(12),
            2026 + r.below(8),
            r.digits(3)
        )
    } else {
        format!(
            r#","payment_method":{{"type":"card","token":"tok_{}","last4":"{}"}}"#,
            r.hex(24),
            r.digits(4)
        )
    };
    format!(
        concat!(
            r#"{{"id":"ord_{}","object":"order","created":"{}","updated_at":{},"#,
            r#""customer":{{"id":"cus_{}","name":"{} {}","email":"{}.{}@example.com","phone":"+1-555-{}-{}","#,
            r#""address":{{"line1":"{} {}","city":"{}","postal_code":"{}","country":"US"}}}},"#,
            r#""items":[{}],"amount":{},"tax":{}.{},"status":"{}","request_id":"{}","#,
            r#""ip":"203.0.113.{}","user_agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/{}.0"{}}}"#
        ),
        r.hex(16),
        timestamp(r),
        1_700_000_000_000 + r.below(100_000_000_000),
        r.hex(14),
        r.pick(FIRST),
        r.pick(LAST),
        r.pick(FIRST).to_lowercase(),
        r.pick(LAST).to_lowercase(),
        r.digits(3),
        r.digits(4),
        1 + r.below(9999),
        r.pick(STREET),
        r.pick(CITY),
        r.digits(5),
        items.join(","),
        100 + r.below(999_900),
        r.below(999),
        r.digits(2),
        r.pick(&["paid", "pending", "shipped", "refunded"]),
        uuid(r),
        r.below(255),
        100 + r.below(30),
        payment
    )
}

/// A document of numbers only: ids, epoch-millisecond timestamps, amounts, and long
/// numbers of every length from 1 to 20 digits (none of them a valid card number).
pub fn numeric(r: &mut Rng) -> String {
    let mut v = Vec::new();
    for _ in 0..24 {
        let len = 1 + r.below(20) as usize;
        let mut n = r.digits(len);
        if n.starts_with('0') && n.len() > 1 {
            n.replace_range(0..1, "1");
        }
        // Never a valid PAN: bump the last digit until the oracle finds nothing.
        while !outscope_scanner::oracle::raw(n.as_bytes()).is_empty() {
            let last = n.pop().map_or(0, |c| (c as u8 - b'0' + 1) % 10);
            n.push(char::from(b'0' + last));
        }
        v.push(n);
    }
    format!(
        r#"{{"ts":[{}],"values":[{}],"amount":{}.{}}}"#,
        (0..4)
            .map(|_| (1_700_000_000_000 + r.below(100_000_000_000)).to_string())
            .collect::<Vec<_>>()
            .join(","),
        v.join(","),
        r.below(1_000_000),
        r.digits(2)
    )
}

/// Which corpus.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Clean,
    PanDense,
    AllNumeric,
}

/// About `size` bytes of NDJSON; returns the bytes and the (start, end) of each document.
pub fn generate(kind: Kind, size: usize, seed: u64) -> (Vec<u8>, Vec<(usize, usize)>) {
    let mut r = Rng::new(seed);
    let mut out = Vec::with_capacity(size + 4096);
    let mut docs = Vec::new();
    let mut n = 0u64;
    while out.len() < size {
        let doc = match kind {
            Kind::Clean => order(&mut r, false),
            Kind::PanDense => order(&mut r, n.is_multiple_of(20)),
            Kind::AllNumeric => numeric(&mut r),
        };
        let start = out.len();
        out.extend_from_slice(doc.as_bytes());
        docs.push((start, out.len()));
        out.push(b'\n');
        n += 1;
    }
    (out, docs)
}
