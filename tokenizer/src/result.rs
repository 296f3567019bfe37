//! What a tokenizer returns: printable, no card data.

use serde::Serialize;

/// The token and the card facts that are safe to pass on (PCI DSS allows last4 and brand).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResult {
    /// `pm_...` or `tok_...` (Stripe), or the local vault's token (`tok_...` or an alias).
    pub token: String,
    /// The last four digits.
    pub last4: String,
    /// Lowercase brand name (`visa`, `mastercard`, `amex`, ... or `unknown`).
    pub brand: String,
    pub exp_month: Option<u8>,
    /// Four digits.
    pub exp_year: Option<u16>,
    /// Same card, same fingerprint (Stripe's, or the local vault's keyed HMAC).
    pub fingerprint: Option<String>,
}

/// Normalizes a Stripe brand: Tokens say `Visa`, `American Express`, `MasterCard`;
/// PaymentMethods say `visa`, `amex`, `mastercard`. We return the PaymentMethod names.
pub(crate) fn normalize_brand(brand: &str) -> String {
    let lower = brand.trim().to_ascii_lowercase();
    let name = match lower.as_str() {
        "american express" => "amex",
        "diners club" => "diners",
        "mastercard" => "mastercard",
        "" => "unknown",
        other => other,
    };
    // A brand is a short word; anything else is not passed on.
    if name.len() <= 32 && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        name.to_owned()
    } else {
        "unknown".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_brand;

    #[test]
    fn token_and_payment_method_brands_agree() {
        assert_eq!(normalize_brand("Visa"), "visa");
        assert_eq!(normalize_brand("American Express"), "amex");
        assert_eq!(normalize_brand("MasterCard"), "mastercard");
        assert_eq!(normalize_brand("Diners Club"), "diners");
        assert_eq!(normalize_brand("4242 4242"), "unknown");
    }
}
