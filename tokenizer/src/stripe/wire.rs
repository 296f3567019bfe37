//! The Stripe wire format: the form body we send and the JSON we read back. Parser errors
//! are dropped (serde_json's can quote input); callers see our own causes only.

use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

use super::Endpoint;
use crate::card::{CardInput, full_year};
use crate::error::{RejectCode, TokenizeError, UnavailableCause};
use crate::result::{TokenResult, normalize_brand};

/// The form body for one card, in a buffer wiped on drop.
pub(crate) fn form_body(endpoint: Endpoint, card: &CardInput) -> Zeroizing<Vec<u8>> {
    // Sized up front: a reallocation would leave an unwiped copy behind.
    let name_len = card.holder_name.as_ref().map_or(0, |n| n.expose().len());
    let mut body = Zeroizing::new(Vec::with_capacity(160 + 3 * name_len));
    if endpoint == Endpoint::PaymentMethods {
        body.extend_from_slice(b"type=card&");
    }
    body.extend_from_slice(b"card%5Bnumber%5D=");
    body.extend_from_slice(card.number.expose());
    if let Some(month) = card.exp_month {
        body.extend_from_slice(format!("&card%5Bexp_month%5D={month}").as_bytes());
    }
    if let Some(year) = card.exp_year {
        body.extend_from_slice(format!("&card%5Bexp_year%5D={}", full_year(year)).as_bytes());
    }
    if let Some(cvc) = &card.cvc {
        body.extend_from_slice(b"&card%5Bcvc%5D=");
        body.extend_from_slice(cvc.expose());
    }
    if let Some(name) = &card.holder_name {
        body.extend_from_slice(match endpoint {
            Endpoint::PaymentMethods => b"&billing_details%5Bname%5D=",
            Endpoint::Tokens => b"&card%5Bname%5D=",
        });
        percent_encode(name.expose().as_bytes(), &mut body);
    }
    body
}

/// `application/x-www-form-urlencoded` value encoding.
fn percent_encode(value: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b),
            b' ' => out.push(b'+'),
            _ => {
                out.push(b'%');
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
    }
}

#[derive(Deserialize)]
struct Created {
    id: String,
    card: CardFacts,
}

#[derive(Deserialize)]
struct CardFacts {
    last4: String,
    #[serde(default)]
    brand: Option<String>,
    #[serde(default)]
    exp_month: Option<u8>,
    #[serde(default)]
    exp_year: Option<u16>,
    #[serde(default)]
    fingerprint: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
}

/// Reads a 2xx answer.
pub(crate) fn parse_created(body: &[u8]) -> Result<TokenResult, TokenizeError> {
    let bad = || TokenizeError::unavailable(UnavailableCause::BadResponse);
    let created: Created = serde_json::from_slice(body).map_err(|_| bad())?;
    let safe_id = |s: &str| {
        (1..=255).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            // An id that is all digits could be a card number; Stripe's never are.
            && !s.bytes().all(|b| b.is_ascii_digit())
    };
    let last4 = &created.card.last4;
    if !safe_id(&created.id) || last4.len() != 4 || !last4.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let fingerprint = created.card.fingerprint.filter(|f| safe_id(f));
    Ok(TokenResult {
        token: created.id,
        last4: created.card.last4,
        brand: normalize_brand(created.card.brand.as_deref().unwrap_or("")),
        exp_month: created.card.exp_month,
        exp_year: created.card.exp_year,
        fingerprint,
    })
}

/// Classifies a non-2xx answer. Only Stripe's `code` is read, never its `message`.
pub(crate) fn classify_status(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> TokenizeError {
    match status {
        401 | 403 => TokenizeError::Misconfigured("stripe refused the API key"),
        404 | 405 => TokenizeError::Misconfigured("stripe api_base does not serve this endpoint"),
        429 => TokenizeError::Unavailable {
            cause: UnavailableCause::RateLimited,
            retry_after,
        },
        400..=499 => {
            let code = serde_json::from_slice::<ErrorBody>(body)
                .ok()
                .and_then(|e| e.error.code.or(e.error.decline_code))
                .map(|code| RejectCode::from_stripe(&code));
            let code = match (status, code) {
                (_, Some(code)) => code,
                (402, None) => RejectCode::CardDeclined,
                (_, None) => RejectCode::InvalidRequest,
            };
            TokenizeError::Rejected { code }
        }
        500..=599 => TokenizeError::Unavailable {
            cause: UnavailableCause::ServerError(status),
            retry_after,
        },
        _ => TokenizeError::unavailable(UnavailableCause::UnexpectedStatus(status)),
    }
}

/// Parses `Retry-After` in seconds (the HTTP-date form is ignored).
pub(crate) fn parse_retry_after(value: Option<&http::HeaderValue>) -> Option<Duration> {
    let seconds: u64 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_answer_is_our_own_error() {
        let err = parse_created(b"{\"id\": \"4242424242424242\"").unwrap_err();
        assert_eq!(
            err,
            TokenizeError::unavailable(UnavailableCause::BadResponse)
        );
        assert!(!err.to_string().contains("4242"));
    }

    #[test]
    fn stripe_codes_map_and_free_text_is_ignored() {
        let body =
            br#"{"error":{"code":"incorrect_number","message":"4242424242424241 is wrong"}}"#;
        let err = classify_status(402, body, None);
        assert_eq!(
            err,
            TokenizeError::Rejected {
                code: RejectCode::IncorrectNumber
            }
        );
        assert!(!format!("{err} {err:?}").contains("4242"));
        assert_eq!(
            classify_status(400, b"not json", None),
            TokenizeError::Rejected {
                code: RejectCode::InvalidRequest
            }
        );
    }

    #[test]
    fn names_are_percent_encoded() {
        let mut out = Vec::new();
        percent_encode("Zoë O'Neil&co".as_bytes(), &mut out);
        assert_eq!(out, b"Zo%C3%AB+O%27Neil%26co");
    }
}
