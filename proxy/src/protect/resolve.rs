//! Phases 7 and 8: carrying out a plan. Card objects and (with `on_detected = "tokenize"`)
//! detected numbers go to the tokenizer; masks and blanks are written directly; then the
//! buffer is spliced. Refusals happen here, before any byte is forwarded.

use outscope_config::{CardOutput, OnDetected};
use outscope_inspect::form;
use outscope_inspect::splice::Splice;
use outscope_scanner::PanDigits;
use outscope_tokenizer::{
    CardInput, Cvc, ErrorKind, HolderName, Pan, TokenResult, TokenizeError, Tokenizer,
};
use zeroize::Zeroizing;

use super::plan::{Action, CardParts, Plan, Render, Syntax};
use crate::errors::ProxyError;

/// What was done, for the audit event and the response header. No card data: brand and
/// last4 only (PCI DSS 3.4.1 allows both).
#[derive(Debug, Clone)]
pub struct Audited {
    pub place: String,
    pub action: &'static str,
    pub brand: String,
    pub last4: String,
}

/// The rewritten bytes and what was done to them.
pub struct Resolved {
    pub bytes: Zeroizing<Vec<u8>>,
    pub audit: Vec<Audited>,
}

/// Carries out `plan` over `input`.
pub async fn carry_out(
    input: &[u8],
    plan: Plan,
    on_detected: OnDetected,
    tokenizer: Option<&Tokenizer>,
) -> Result<Resolved, ProxyError> {
    let mut splice = Splice::new();
    let mut audit = Vec::new();
    for edit in plan.edits {
        let (bytes, entry) = match edit.action {
            Action::Card {
                parts,
                render,
                output,
            } => {
                let tokenizer = tokenizer.ok_or(ProxyError::TokenizerFailed)?;
                let result = tokenize(tokenizer, card_input(*parts)?).await?;
                let entry = audited(&edit.place, "tokenized", &result.brand, &result.last4);
                (render_card(&render, &output, &result, input), Some(entry))
            }
            Action::Pan {
                pan,
                syntax,
                cvc,
                expiry,
            } => {
                let brand_last4 = last4(&pan);
                match on_detected {
                    OnDetected::Reject => {
                        return Err(ProxyError::CardDataRejected("a card number was found"));
                    }
                    OnDetected::Mask => (
                        quoted(masked(&pan).into_bytes(), syntax),
                        Some(audited(&edit.place, "masked", "", &brand_last4)),
                    ),
                    OnDetected::Tokenize => {
                        let tokenizer = tokenizer.ok_or(ProxyError::TokenizerFailed)?;
                        let mut card = CardInput::new(to_pan(&pan)?);
                        if let Some((month, year)) = expiry {
                            card = card.with_expiry(month, year);
                        }
                        if let Some(cvc) = cvc.as_deref().and_then(|c| Cvc::parse(c).ok()) {
                            card = card.with_cvc(cvc);
                        }
                        let result = tokenize(tokenizer, card).await?;
                        let entry = audited(&edit.place, "tokenized", &result.brand, &result.last4);
                        (quoted(result.token.into_bytes(), syntax), Some(entry))
                    }
                }
            }
            Action::Blank(with) => {
                if on_detected == OnDetected::Reject
                    && !edit.place.is_empty()
                    && !is_card_rule_field(&edit.place)
                {
                    return Err(ProxyError::CardDataRejected(
                        "a card security code was found",
                    ));
                }
                (with.to_vec(), Some(audited(&edit.place, "removed", "", "")))
            }
        };
        splice.replace(edit.span, bytes);
        audit.extend(entry);
    }
    let bytes = splice
        .apply(input)
        .map_err(|_| ProxyError::Ambiguous("overlapping card data"))?;
    Ok(Resolved {
        bytes: Zeroizing::new(bytes),
        audit,
    })
}

/// Blanks planned for a configured card rule's own fields (`card[cvc]`) are part of the
/// card's tokenization, not a detection to refuse.
fn is_card_rule_field(place: &str) -> bool {
    place.ends_with(']') && place.contains('[') && !place.starts_with("query:")
}

fn audited(place: &str, action: &'static str, brand: &str, last4: &str) -> Audited {
    Audited {
        place: place.to_owned(),
        action,
        brand: brand.to_owned(),
        last4: last4.to_owned(),
    }
}

fn last4(pan: &PanDigits) -> String {
    String::from_utf8_lossy(&pan.last4()).into_owned()
}

/// BIN6, then `X`s, then last4: never digits where digits were removed, so never a PAN.
pub fn masked(pan: &PanDigits) -> String {
    let d = pan.expose();
    d.iter()
        .enumerate()
        .map(|(i, b)| {
            if i < 6 || i + 4 >= d.len() {
                char::from(*b)
            } else {
                'X'
            }
        })
        .collect()
}

fn quoted(bytes: Vec<u8>, syntax: Syntax) -> Vec<u8> {
    match syntax {
        Syntax::Bare => bytes,
        Syntax::JsonString => [&b"\""[..], &bytes, b"\""].concat(),
    }
}

fn to_pan(pan: &PanDigits) -> Result<Pan, ProxyError> {
    Pan::parse(pan.expose()).map_err(|_| ProxyError::CardRefused("the card number is not valid"))
}

fn card_input(parts: CardParts) -> Result<CardInput, ProxyError> {
    let mut card = CardInput::new(to_pan(&parts.number)?);
    if let (Some(m), Some(y)) = (parts.exp_month, parts.exp_year) {
        card = card.with_expiry(m, y);
    }
    if let Some(cvc) = parts.cvc {
        card = card.with_cvc(
            Cvc::parse(&cvc)
                .map_err(|_| ProxyError::CardRefused("the card security code is not valid"))?,
        );
    }
    if let Some(name) = parts.name
        && let Ok(text) = std::str::from_utf8(&name)
        && let Ok(holder) = HolderName::parse(text)
    {
        card = card.with_holder_name(holder);
    }
    card.validate()
        .map_err(|_| ProxyError::CardRefused("the card details are not valid"))?;
    Ok(card)
}

async fn tokenize(tokenizer: &Tokenizer, card: CardInput) -> Result<TokenResult, ProxyError> {
    tokenizer
        .tokenize(card)
        .await
        .map_err(|e| tokenize_error(&e))
}

/// Maps a tokenizer failure to what the client sees; never forwards.
pub fn tokenize_error(e: &TokenizeError) -> ProxyError {
    match e.kind() {
        ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::CircuitOpen => {
            ProxyError::TokenizerUnavailable {
                retry_after: e.retry_after(),
            }
        }
        ErrorKind::Rejected | ErrorKind::InvalidCard => ProxyError::CardRefused(match e {
            TokenizeError::Rejected { code } => code.as_str(),
            _ => "invalid_card",
        }),
        ErrorKind::Misconfigured => ProxyError::TokenizerFailed,
    }
}

/// Writes a card's token result in the shape the rule asks for.
fn render_card(
    render: &Render,
    output: &CardOutput,
    result: &TokenResult,
    input: &[u8],
) -> Vec<u8> {
    let fields = output_fields(output, result);
    match render {
        Render::TokenOnly => result.token.clone().into_bytes(),
        Render::JsonObject { keep } => {
            let kept: usize = keep.iter().map(|r| r.len() + 1).sum();
            let mut out = Vec::with_capacity(128 + kept);
            out.push(b'{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(&mut out, k);
                out.push(b':');
                match v {
                    Value::Text(s) => write_json_str(&mut out, s),
                    Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
                }
            }
            for member in keep.iter().filter_map(|r| input.get(r.clone())) {
                out.push(b',');
                out.extend_from_slice(member);
            }
            out.push(b'}');
            out
        }
        Render::FormPairs { prefix } => {
            let pairs: Vec<Vec<u8>> = fields
                .iter()
                .map(|(k, v)| {
                    let key = form::encode(format!("{prefix}[{k}]").as_bytes());
                    [key, b"=".to_vec(), form::encode(v.as_text().as_bytes())].concat()
                })
                .collect();
            pairs.join(&b"&"[..])
        }
    }
}

enum Value {
    Text(String),
    Int(u64),
}

impl Value {
    fn as_text(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            Value::Int(n) => n.to_string(),
        }
    }
}

/// Appends `s` as a JSON string: quotes, and escapes for `"`, `\\` and control characters
/// (what `serde_json` writes, without building a `Value` per field).
fn write_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn output_fields(output: &CardOutput, r: &TokenResult) -> Vec<(String, Value)> {
    let mut fields = vec![(output.token.clone(), Value::Text(r.token.clone()))];
    let mut add = |name: &Option<String>, value: Option<Value>| {
        if let (Some(name), Some(value)) = (name, value) {
            fields.push((name.clone(), value));
        }
    };
    add(&output.last4, Some(Value::Text(r.last4.clone())));
    add(&output.brand, Some(Value::Text(r.brand.clone())));
    add(
        &output.exp_month,
        r.exp_month.map(|m| Value::Int(u64::from(m))),
    );
    add(
        &output.exp_year,
        r.exp_year.map(|y| Value::Int(u64::from(y))),
    );
    add(&output.fingerprint, r.fingerprint.clone().map(Value::Text));
    fields
}

#[cfg(test)]
mod tests {
    use super::write_json_str;

    #[test]
    fn json_strings_are_written_as_serde_json_writes_them() {
        for s in [
            "tok_4eC39HqLyjWDarjtT1zdp7dc",
            "visa",
            "a\"b\\c\n\r\t\u{1}\u{8}\u{c}\u{1f}",
            "é€😀",
            "",
        ] {
            let mut out = Vec::new();
            write_json_str(&mut out, s);
            let expected = serde_json::Value::String(s.to_owned()).to_string();
            assert_eq!(String::from_utf8_lossy(&out), expected);
        }
    }
}
