//! Phases 6 to 9: card data in, tokens out. For each request on a route with inspection:
//! decode the body, read it by its type, plan edits for configured card objects and for
//! everything built-in detection finds (body, path, query, headers), carry them out
//! (tokenize, mask or refuse), and hand the rewritten request to the egress check.
//!
//! Fail closed throughout: a body we cannot decode or parse, an encoding or type the route
//! does not accept, a tokenizer that does not answer: the request ends here, and the
//! backend gets nothing.

mod build;
mod builtin;
mod decode;
pub mod egress;
mod form;
mod head;
mod json;
mod markup;
pub mod media;
pub mod metrics;
mod multipart;
mod plan;
pub mod resolve;
mod text;

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, HeaderValue};
use http::request::Parts;
use outscope_config::{InspectionMode, Route};
use outscope_scanner::{Mode, Scanner};
use outscope_tokenizer::Tokenizer;
use zeroize::Zeroizing;

use crate::body::RequestBody;
use crate::errors::ProxyError;
pub use build::{TokenizerError, build as build_tokenizer};
use media::Media;
use plan::Plan;
pub use resolve::Audited;

/// The protected request body and what was done.
pub struct Protected {
    pub body: Bytes,
    /// How the body was read (None: empty body or inspection off).
    pub media: Option<Media>,
    pub audit: Vec<Audited>,
    /// Card data found and deliberately forwarded.
    pub let_through: LetThrough,
    /// Whether the body bytes differ from what the planning scan read (edits were made).
    pub body_rewritten: bool,
}

/// Card data found and deliberately forwarded, counted per request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LetThrough {
    /// Shadow mode: findings reported, not acted on.
    pub shadowed: usize,
    /// Allow-listed false positives (`allow_key_paths`, `allow_shapes`).
    pub allowed: usize,
}

/// Runs phases 6 to 8 on a request. Head edits are made in `parts`; the new body is
/// returned.
pub async fn protect(
    tokenizer: Option<&Tokenizer>,
    route: &Route,
    parts: &mut Parts,
    body: RequestBody,
) -> Result<Protected, ProxyError> {
    let policy = &route.inspection;
    if policy.mode == InspectionMode::Off {
        return Ok(Protected {
            body: body.into_bytes(),
            media: None,
            audit: Vec::new(),
            let_through: LetThrough::default(),
            body_rewritten: false,
        });
    }
    let BodyRead {
        body,
        encoding,
        decoded,
        media,
        plan: body_plan,
    } = if body.len() >= OFFLOAD_BODY_BYTES
        || (!body.is_empty() && parts.headers.contains_key(CONTENT_ENCODING))
    {
        // A large body keeps a core busy for a millisecond or more (an encoded one may
        // decode to one): read it on a blocking thread, so the connections this worker
        // serves are not held up behind it.
        let headers = parts.headers.clone();
        let policy = policy.clone();
        // At most one body per CPU at a time: under a burst of large bodies the rest wait
        // here, holding no thread, instead of growing the pool (and its memory). The
        // permit goes with the work, so a client that leaves does not free it early.
        let permit = offload_permits()
            .acquire()
            .await
            .map_err(|_| ProxyError::ShuttingDown)?;
        let read = move || {
            let _permit = permit;
            read_body(&headers, body, &policy)
        };
        match tokio::task::spawn_blocking(read).await {
            Ok(read) => read?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: only when the runtime itself is shutting down.
            Err(_) => return Err(ProxyError::ShuttingDown),
        }
    } else {
        read_body(&parts.headers, body, policy)?
    };
    let bytes: &[u8] = decoded.as_deref().map_or(body.as_bytes(), |d| d.as_slice());
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let path_plan = head::plan(path.as_bytes(), "path", policy);
    let query_plan = query
        .as_deref()
        .map(|q| head::plan(q.as_bytes(), "query", policy))
        .unwrap_or_default();
    // Plans for the headers holding card data, and the allow-listed numbers of all headers.
    let mut header_plans: Vec<(http::HeaderName, usize, Plan)> = Vec::new();
    let mut header_allowed = 0;
    for (i, (name, value)) in parts.headers.iter().enumerate() {
        // Most values cannot hold a card: skip them before naming their place.
        if head::cannot_hold_a_card(value.as_bytes()) {
            continue;
        }
        let plan = head::plan(
            value.as_bytes(),
            &format!("header:{}", name.as_str()),
            policy,
        );
        header_allowed += plan.allowed;
        if !plan.is_empty() {
            header_plans.push((name.clone(), i, plan));
        }
    }
    let allowed = body_plan.allowed + path_plan.allowed + query_plan.allowed + header_allowed;

    if policy.mode == InspectionMode::Shadow {
        let shadowed = body_plan.edits.len()
            + path_plan.edits.len()
            + query_plan.edits.len()
            + header_plans
                .iter()
                .map(|(_, _, p)| p.edits.len())
                .sum::<usize>();
        return Ok(Protected {
            body: body.into_bytes(),
            media: None,
            audit: Vec::new(),
            let_through: LetThrough { shadowed, allowed },
            body_rewritten: false,
        });
    }

    let on_detected = policy.on_detected;
    let body_rewritten = !body_plan.is_empty();
    let mut audit = Vec::new();
    let new_body: Bytes = if body_plan.is_empty() {
        match decoded {
            Some(d) => Bytes::copy_from_slice(&d),
            None => body.into_bytes(),
        }
    } else {
        let resolved = resolve::carry_out(bytes, body_plan, on_detected, tokenizer).await?;
        audit.extend(resolved.audit);
        Bytes::copy_from_slice(&resolved.bytes)
    };
    if encoding.is_some() {
        parts.headers.remove(CONTENT_ENCODING);
    }
    if !path_plan.is_empty() || !query_plan.is_empty() {
        let new_path =
            resolve::carry_out(path.as_bytes(), path_plan, on_detected, tokenizer).await?;
        audit.extend(new_path.audit);
        let mut target: Zeroizing<Vec<u8>> = new_path.bytes;
        if let Some(q) = &query {
            let new_query =
                resolve::carry_out(q.as_bytes(), query_plan, on_detected, tokenizer).await?;
            audit.extend(new_query.audit);
            target.push(b'?');
            target.extend_from_slice(&new_query.bytes);
        }
        let path_and_query = http::uri::PathAndQuery::try_from(target.as_slice())
            .map_err(|_| ProxyError::BadRequest("request target cannot be rewritten"))?;
        let mut uri_parts = std::mem::take(&mut parts.uri).into_parts();
        uri_parts.path_and_query = Some(path_and_query);
        parts.uri = http::Uri::from_parts(uri_parts)
            .map_err(|_| ProxyError::BadRequest("request target cannot be rewritten"))?;
    }
    for (name, index, plan) in header_plans {
        let Some(old) = parts
            .headers
            .iter()
            .nth(index)
            .map(|(_, v)| v.as_bytes().to_vec())
        else {
            continue;
        };
        let old = Zeroizing::new(old);
        let resolved = resolve::carry_out(&old, plan, on_detected, tokenizer).await?;
        audit.extend(resolved.audit);
        let value = HeaderValue::from_bytes(&resolved.bytes)
            .map_err(|_| ProxyError::BadRequest("header cannot be rewritten"))?;
        replace_nth(&mut parts.headers, &name, index, value);
    }
    Ok(Protected {
        body: new_body,
        media,
        audit,
        let_through: LetThrough {
            shadowed: 0,
            allowed,
        },
        body_rewritten,
    })
}

/// Bodies at least this large, and every body with a `Content-Encoding`, are read
/// (decoded, parsed, scanned, planned) on tokio's blocking pool instead of the worker
/// thread: about 0.3 ms of CPU at 64 KiB, 1.4 ms at 256 KiB, against some 20 us for the
/// hand-over.
pub const OFFLOAD_BODY_BYTES: usize = 64 * 1024;

/// Bodies being read on the blocking pool at once: one per CPU the process may use.
fn offload_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, usize::from))
    })
}

/// A body decoded, classified by its type and planned: the CPU-heavy half of phases 6
/// and 7, with no I/O.
struct BodyRead {
    body: RequestBody,
    encoding: Option<outscope_config::Encoding>,
    /// The decoded body, when it had a `Content-Encoding`.
    decoded: Option<Zeroizing<Vec<u8>>>,
    media: Option<Media>,
    plan: Plan,
}

fn read_body(
    headers: &http::HeaderMap,
    body: RequestBody,
    policy: &outscope_config::Inspection,
) -> Result<BodyRead, ProxyError> {
    let encoding = if body.is_empty() {
        None
    } else {
        decode::encoding(headers, &policy.encodings)?
    };
    let decoded = match encoding {
        Some(enc) => Some(decode::decode(body.as_bytes(), enc, policy)?),
        None => None,
    };
    let bytes: &[u8] = decoded.as_deref().map_or(body.as_bytes(), |d| d.as_slice());
    let (media, plan) = if bytes.is_empty() {
        (None, Plan::default())
    } else {
        let media = media::classify(headers, bytes, &policy.content_types)?;
        let plan = match &media {
            Media::Json => json::plan(bytes, policy, &Scanner::new(Mode::Json))?,
            Media::Form => form::plan(bytes, policy, &Scanner::new(Mode::Form))?,
            Media::Multipart(boundary) => multipart::plan(bytes, boundary, policy)?,
            Media::Text => text::plan(bytes, policy, &Scanner::new(Mode::Raw))?,
        };
        (Some(media), plan)
    };
    Ok(BodyRead {
        body,
        encoding,
        decoded,
        media,
        plan,
    })
}

/// Replaces the value at overall position `index` (which has name `name`).
fn replace_nth(
    headers: &mut http::HeaderMap,
    name: &http::HeaderName,
    index: usize,
    value: HeaderValue,
) {
    let position = headers
        .iter()
        .take(index)
        .filter(|(n, _)| *n == name)
        .count();
    let mut values: Vec<HeaderValue> = headers.get_all(name).iter().cloned().collect();
    if let Some(slot) = values.get_mut(position) {
        *slot = value;
    }
    headers.remove(name);
    for v in values {
        headers.append(name.clone(), v);
    }
}

#[cfg(test)]
mod tests {
    use outscope_config::{Inspection, OnDetected};
    use outscope_scanner::{Mode, Scanner};
    use proptest::prelude::*;
    use serde_json::Value;

    use super::{json, resolve};

    /// Public test card numbers, written the ways clients write them.
    const PANS: [(&str, &str); 6] = [
        ("4242424242424242", "424242XXXXXX4242"),
        ("4242 4242 4242 4242", "424242XXXXXX4242"),
        ("5555-5555-5555-4444", "555555XXXXXX4444"),
        ("378282246310005", "378282XXXXX0005"),
        ("6011111111111117", "601111XXXXXX1117"),
        ("2223003122003222", "222300XXXXXX3222"),
    ];

    /// A JSON value with card numbers planted in some leaves, and the value we expect
    /// the backend to get (each planted number masked, everything else equal).
    fn planted() -> impl Strategy<Value = (Value, Value)> {
        let plain = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0i64..100_000).prop_map(Value::from),
            "[a-z ]{0,8}".prop_map(Value::String),
        ]
        .prop_map(|v| (v.clone(), v));
        let card =
            (0..PANS.len(), "[a-z]{0,5}", any::<bool>()).prop_map(|(i, prefix, as_number)| {
                let (pan, masked) = PANS[i];
                if as_number && !pan.contains([' ', '-']) {
                    (
                        Value::from(pan.parse::<u64>().unwrap_or(0)),
                        Value::String(masked.into()),
                    )
                } else {
                    (
                        Value::String(format!("{prefix} {pan}")),
                        Value::String(format!("{prefix} {masked}")),
                    )
                }
            });
        let leaf = prop_oneof![3 => plain, 1 => card];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(|items| {
                    let (a, b): (Vec<_>, Vec<_>) = items.into_iter().unzip();
                    (Value::Array(a), Value::Array(b))
                }),
                prop::collection::btree_map("k[a-z]{0,4}", inner, 0..5).prop_map(|m| {
                    let a = m.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect();
                    let b = m.into_iter().map(|(k, (_, v))| (k, v)).collect();
                    (Value::Object(a), Value::Object(b))
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// For any JSON document with card numbers planted anywhere, what is forwarded holds
        /// no card number and is otherwise the same document.
        #[test]
        fn planted_card_numbers_never_survive_and_nothing_else_changes((input, expected) in planted()) {
            let body = serde_json::to_vec(&input).unwrap();
            let policy = Inspection { on_detected: OnDetected::Mask, ..Inspection::default() };
            let plan = json::plan(&body, &policy, &Scanner::new(Mode::Json)).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let out = rt.block_on(resolve::carry_out(&body, plan, OnDetected::Mask, None)).unwrap();
            for mode in [Mode::Raw, Mode::Json] {
                prop_assert!(Scanner::new(mode).scan(&out.bytes).iter().all(|f| f.pan().is_none()));
            }
            let forwarded: Value = serde_json::from_slice(&out.bytes).unwrap();
            prop_assert_eq!(forwarded, expected);
        }
    }
}
