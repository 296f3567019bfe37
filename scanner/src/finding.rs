//! What the scanner reports. Card data lives only in [`PanDigits`] and [`SecretBytes`]:
//! both zeroize on drop and implement neither `Debug` nor `Display`.

use std::fmt;
use std::ops::Range;

use zeroize::{Zeroize, Zeroizing};

/// A card brand from the IIN table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum Brand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    DinersClub,
    UnionPay,
    Maestro,
    Mir,
    RuPay,
    Elo,
    Hipercard,
    Verve,
    Troy,
    InterPayment,
    InstaPayment,
    Uatp,
    Dankort,
    Borica,
    Uzcard,
    Humo,
    LankaPay,
}

impl Brand {
    /// A stable lowercase name (`visa`, `mastercard`, `amex`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Brand::Visa => "visa",
            Brand::Mastercard => "mastercard",
            Brand::Amex => "amex",
            Brand::Discover => "discover",
            Brand::Jcb => "jcb",
            Brand::DinersClub => "diners",
            Brand::UnionPay => "unionpay",
            Brand::Maestro => "maestro",
            Brand::Mir => "mir",
            Brand::RuPay => "rupay",
            Brand::Elo => "elo",
            Brand::Hipercard => "hipercard",
            Brand::Verve => "verve",
            Brand::Troy => "troy",
            Brand::InterPayment => "interpayment",
            Brand::InstaPayment => "instapayment",
            Brand::Uatp => "uatp",
            Brand::Dankort => "dankort",
            Brand::Borica => "borica",
            Brand::Uzcard => "uzcard",
            Brand::Humo => "humo",
            Brand::LankaPay => "lankapay",
        }
    }
}

/// The normalized digits of a PAN (ASCII `0`-`9`, 12 to 19 of them). Zeroized on drop;
/// no `Debug`, no `Display`: call [`PanDigits::expose`] where the digits must go.
pub struct PanDigits {
    digits: [u8; 19],
    len: u8,
}

impl PanDigits {
    /// `values` are digit values 0..=9; the caller guarantees 12..=19 of them.
    pub(crate) fn from_values(values: &[u8]) -> PanDigits {
        let mut digits = [0u8; 19];
        let mut len = 0u8;
        for (slot, v) in digits.iter_mut().zip(values) {
            *slot = b'0' + v;
            len += 1;
        }
        PanDigits { digits, len }
    }

    /// The ASCII digits. Hand them only to the tokenizer.
    pub fn expose(&self) -> &[u8] {
        self.digits.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always false (a PAN has 12 to 19 digits); here for API completeness.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The last four digits (allowed to be shown under PCI DSS 3.4.1).
    pub fn last4(&self) -> [u8; 4] {
        let d = self.expose();
        let mut out = [b'0'; 4];
        for (o, s) in out
            .iter_mut()
            .zip(d.get(d.len().saturating_sub(4)..).unwrap_or(&[]))
        {
            *o = *s;
        }
        out
    }

    /// The masked form shown to people: BIN6, then `*`, then last4 (`424242******4242`).
    pub fn masked(&self) -> String {
        let d = self.expose();
        let n = d.len();
        let mut s = String::with_capacity(n);
        for (i, &b) in d.iter().enumerate() {
            s.push(if i < 6 || i + 4 >= n {
                char::from(b)
            } else {
                '*'
            });
        }
        s
    }
}

impl Clone for PanDigits {
    fn clone(&self) -> Self {
        PanDigits {
            digits: self.digits,
            len: self.len,
        }
    }
}

impl Drop for PanDigits {
    fn drop(&mut self) {
        self.digits.zeroize();
    }
}

impl PartialEq for PanDigits {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}
impl Eq for PanDigits {}

/// A decoded sensitive value (CVV, expiry, cardholder name): zeroized on drop, no
/// `Debug`/`Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub(crate) fn new(v: Vec<u8>) -> SecretBytes {
        SecretBytes(Zeroizing::new(v))
    }
    /// The decoded bytes. Hand them only to the tokenizer.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

/// How a finding was found: a small set of flags.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct How(u16);

impl How {
    /// Digits were separated (space, dash, Unicode space, zero-width, ...).
    pub const SEPARATED: How = How(1);
    /// At least one digit was a non-ASCII decimal digit.
    pub const UNICODE_DIGITS: How = How(1 << 1);
    /// At least one digit or separator came from a JSON `\u` escape.
    pub const JSON_ESCAPE: How = How(1 << 2);
    /// At least one digit or separator came from percent-encoding or `+`.
    pub const PERCENT_ENCODED: How = How(1 << 3);
    /// A JSON number with a fraction or exponent, normalized to an integer.
    pub const JSON_NUMBER: How = How(1 << 4);
    /// Found through the key name (CVV, expiry, cardholder, card number fields).
    pub const KEY_NAME: How = How(1 << 5);
    /// Found inside JSON that was itself inside a JSON string.
    pub const NESTED_JSON: How = How(1 << 6);
    /// Plain digits, nothing special.
    pub const PLAIN: How = How(0);

    /// True when every flag of `other` is set.
    pub fn contains(self, other: How) -> bool {
        self.0 & other.0 == other.0
    }
    pub(crate) fn union(self, other: How) -> How {
        How(self.0 | other.0)
    }
    /// The set flags' names, for logs and `outscope scan --json`.
    pub fn names(self) -> Vec<&'static str> {
        let all = [
            (How::SEPARATED, "separated"),
            (How::UNICODE_DIGITS, "unicode_digits"),
            (How::JSON_ESCAPE, "json_escape"),
            (How::PERCENT_ENCODED, "percent_encoded"),
            (How::JSON_NUMBER, "json_number"),
            (How::KEY_NAME, "key_name"),
            (How::NESTED_JSON, "nested_json"),
        ];
        all.iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
            .collect()
    }
}

impl fmt::Debug for How {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "How({:?})", self.names())
    }
}

/// A field recognized by its key name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Field {
    /// `cvc`, `cvv`, `cvv2`, `cid`, `csc`, `security_code`, `card_code`, ...
    Cvv,
    /// `exp`, `expiry`, `exp_month`, `expiration_date`, ... (and `month`/`year` under one).
    Expiry,
    /// `cardholder`, `cardholder_name`, `name_on_card`, ...
    Cardholder,
    /// `card_number`, `pan`, `cc_number`, ...
    CardNumber,
    /// `track1`, `track2`, `track_data`, ...
    TrackData,
}

/// The kind of a finding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Kind {
    /// A card number.
    Pan,
    /// Track 1 data (`%B` PAN `^` name `^` YYMM service code ...).
    Track1,
    /// Track 2 data (`;` PAN `=` YYMM service code ...).
    Track2,
    /// A field found by its key name.
    Field(Field),
}

/// A card number with its brand.
#[derive(Clone, PartialEq, Eq)]
pub struct Pan {
    pub(crate) digits: PanDigits,
    pub(crate) brand: Brand,
}

impl Pan {
    /// The normalized digits (zeroizing, no `Debug`).
    pub fn digits(&self) -> &PanDigits {
        &self.digits
    }
    /// The brand from the IIN table.
    pub fn brand(&self) -> Brand {
        self.brand
    }
    /// The last four digits.
    pub fn last4(&self) -> [u8; 4] {
        self.digits.last4()
    }
}

/// One finding. `span` is a byte range of the scanned input (for a stream: of the whole
/// stream), so the caller can splice a token in its place.
#[derive(Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was found.
    pub kind: Kind,
    /// The bytes to replace: for a PAN, first digit to last digit (or the whole JSON
    /// number token); for track data, sentinel to sentinel; for a field, the value token
    /// (JSON strings include their quotes; form values exclude `&`).
    pub span: Range<usize>,
    /// How it was found.
    pub how: How,
    /// Key path in JSON (`card.number`, `items[2].card.cvc`) or the form key (`card[cvc]`).
    /// Key segments that themselves look like card data are replaced by `<redacted>`.
    pub key_path: Option<String>,
    /// For field findings: the span of the key.
    pub key_span: Option<Range<usize>>,
    pub(crate) pan: Option<Pan>,
    pub(crate) value: Option<SecretBytes>,
}

impl Finding {
    /// The PAN of a `Pan`, `Track1` or `Track2` finding.
    pub fn pan(&self) -> Option<&Pan> {
        self.pan.as_ref()
    }
    /// The decoded value of a field finding (CVV digits, expiry text, cardholder name).
    pub fn value(&self) -> Option<&SecretBytes> {
        self.value.as_ref()
    }
}

impl fmt::Debug for Finding {
    /// Redacted: kind, span, how, key path, brand and last4; never the digits or value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Finding");
        d.field("kind", &self.kind)
            .field("span", &self.span)
            .field("how", &self.how);
        d.field("key_path", &self.key_path);
        if let Some(p) = &self.pan {
            let l4 = p.last4();
            d.field("brand", &p.brand)
                .field("last4", &String::from_utf8_lossy(&l4));
        }
        d.finish_non_exhaustive()
    }
}
