//! Card data as the tokenizers receive it. Every type here zeroizes on drop and has no
//! `Debug` or `Display` (only [`CardInput`] has a redacted `Debug`): the digits leave
//! these types only through `expose`, at the one place they are sent or encrypted.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

use crate::error::CardError;

/// Shortest and longest PAN we accept (ISO/IEC 7812).
const PAN_MIN: usize = 12;
const PAN_MAX: usize = 19;

/// A card number: 12 to 19 ASCII digits that pass the Luhn check.
pub struct Pan {
    digits: [u8; PAN_MAX],
    len: u8,
}

impl Pan {
    /// Parses ASCII digits (no separators: normalize first). Errors say what is wrong,
    /// never which digits.
    pub fn parse(digits: &[u8]) -> Result<Pan, CardError> {
        if !(PAN_MIN..=PAN_MAX).contains(&digits.len()) {
            return Err(CardError::PanLength);
        }
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(CardError::PanNotDigits);
        }
        if !luhn_valid(digits) {
            return Err(CardError::PanLuhn);
        }
        let mut pan = Pan {
            digits: [0; PAN_MAX],
            len: digits.len() as u8,
        };
        pan.digits[..digits.len()].copy_from_slice(digits);
        Ok(pan)
    }

    /// The digits, for the one place they must go (a Stripe request, the vault cipher).
    pub fn expose(&self) -> &[u8] {
        &self.digits[..usize::from(self.len)]
    }

    /// Number of digits (12..=19).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always false: a `Pan` has at least 12 digits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The last four digits, as text (`"4242"`).
    pub fn last4(&self) -> String {
        let digits = self.expose();
        String::from_utf8_lossy(&digits[digits.len() - 4..]).into_owned()
    }
}

impl Drop for Pan {
    fn drop(&mut self) {
        self.digits.zeroize();
        self.len.zeroize();
    }
}

impl PartialEq for Pan {
    fn eq(&self, other: &Pan) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Pan {}

/// A card verification code: 3 or 4 ASCII digits.
pub struct Cvc {
    digits: [u8; 4],
    len: u8,
}

impl Cvc {
    /// Parses 3 or 4 ASCII digits.
    pub fn parse(digits: &[u8]) -> Result<Cvc, CardError> {
        if !(3..=4).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) {
            return Err(CardError::Cvc);
        }
        let mut cvc = Cvc {
            digits: [0; 4],
            len: digits.len() as u8,
        };
        cvc.digits[..digits.len()].copy_from_slice(digits);
        Ok(cvc)
    }

    /// The digits, for the Stripe request only (the local vault never stores a CVC).
    pub fn expose(&self) -> &[u8] {
        &self.digits[..usize::from(self.len)]
    }
}

impl Drop for Cvc {
    fn drop(&mut self) {
        self.digits.zeroize();
        self.len.zeroize();
    }
}

/// The cardholder's name (any UTF-8, at most 256 bytes, no control characters).
pub struct HolderName(Zeroizing<String>);

impl HolderName {
    pub fn parse(name: &str) -> Result<HolderName, CardError> {
        if name.len() > 256 || name.chars().any(char::is_control) {
            return Err(CardError::HolderName);
        }
        Ok(HolderName(Zeroizing::new(name.to_owned())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// One card to tokenize. Expiry is optional because not every request carries it;
/// Stripe refuses a card without one (a [`crate::RejectCode`]), the local vault does not.
pub struct CardInput {
    pub number: Pan,
    /// 1..=12 (checked by [`CardInput::validate`]).
    pub exp_month: Option<u8>,
    /// Four digits, or two (`26` means 2026).
    pub exp_year: Option<u16>,
    pub cvc: Option<Cvc>,
    pub holder_name: Option<HolderName>,
}

impl CardInput {
    /// A card with a number only.
    pub fn new(number: Pan) -> CardInput {
        CardInput {
            number,
            exp_month: None,
            exp_year: None,
            cvc: None,
            holder_name: None,
        }
    }

    /// Sets the expiry.
    pub fn with_expiry(mut self, month: u8, year: u16) -> CardInput {
        self.exp_month = Some(month);
        self.exp_year = Some(year);
        self
    }

    /// Sets the CVC.
    pub fn with_cvc(mut self, cvc: Cvc) -> CardInput {
        self.cvc = Some(cvc);
        self
    }

    /// Sets the cardholder's name.
    pub fn with_holder_name(mut self, name: HolderName) -> CardInput {
        self.holder_name = Some(name);
        self
    }

    /// Checks the expiry fields (the number and CVC were checked when parsed).
    pub fn validate(&self) -> Result<(), CardError> {
        if let Some(month) = self.exp_month
            && !(1..=12).contains(&month)
        {
            return Err(CardError::ExpMonth);
        }
        if let Some(year) = self.exp_year
            && !(year < 100 || (2000..=2199).contains(&year))
        {
            return Err(CardError::ExpYear);
        }
        Ok(())
    }

    /// The expiry year with four digits (`26` becomes 2026).
    pub fn exp_year_full(&self) -> Option<u16> {
        self.exp_year.map(full_year)
    }
}

pub(crate) fn full_year(year: u16) -> u16 {
    if year < 100 { 2000 + year } else { year }
}

impl fmt::Debug for CardInput {
    /// Redacted: only which fields are present and the expiry.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardInput")
            .field("number", &"<redacted>")
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .field("cvc", &self.cvc.as_ref().map(|_| "<redacted>"))
            .field(
                "holder_name",
                &self.holder_name.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The Luhn (mod 10) check over ASCII digits.
pub fn luhn_valid(digits: &[u8]) -> bool {
    luhn_sum(digits).is_multiple_of(10)
}

pub(crate) fn luhn_sum(digits: &[u8]) -> u32 {
    digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let v = u32::from(d.wrapping_sub(b'0'));
            if i % 2 == 1 {
                let doubled = v * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                v
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pan_accepts_test_cards_and_refuses_bad_ones() {
        for good in ["4242424242424242", "378282246310005", "5555555555554444"] {
            assert!(Pan::parse(good.as_bytes()).is_ok(), "{good}");
        }
        assert_eq!(
            Pan::parse(b"4242424242424241").err(),
            Some(CardError::PanLuhn)
        );
        assert_eq!(Pan::parse(b"42424242").err(), Some(CardError::PanLength));
        assert_eq!(
            Pan::parse(b"4242 4242 4242 4242").err(),
            Some(CardError::PanNotDigits)
        );
        assert_eq!(Pan::parse(b"4242424242424242").unwrap().last4(), "4242");
    }

    #[test]
    fn cvc_is_three_or_four_digits() {
        assert!(Cvc::parse(b"123").is_ok());
        assert!(Cvc::parse(b"1234").is_ok());
        assert!(Cvc::parse(b"12").is_err());
        assert!(Cvc::parse(b"12a").is_err());
        assert!(Cvc::parse(b"12345").is_err());
    }
}
