//! Card data in, tokens out: every request on a route with inspection reaches the backend
//! without a card number or CVV, whatever the encoding, content type or place; what cannot
//! be inspected or tokenized is refused. The recording upstream keeps the exact bytes it
//! received, and each story checks them.

use std::io::Write;

use bytes::Bytes;
use outscope_config::{
    CardRule, Encoding, InspectionMode, LocalStore, LocalTokenizer, OnDetected, SecretRef,
    StripeObject, StripeTokenizer, TokenFormat, Tokenizer,
};
use outscope_scanner::{Mode, Scanner};
use outscope_testkit::{LocalStripe, RedisServer};

use crate::support::*;

const VISA: &str = "4242424242424242";
const MASTERCARD: &str = "5555555555554444";

/// A local vault tokenizer with keys written into the PKI directory.
fn local_vault(pki: &Pki, store: LocalStore) -> Tokenizer {
    let keys = pki.path("vault-keys");
    let fp = pki.path("vault-fingerprint");
    std::fs::write(&keys, "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n").unwrap();
    std::fs::write(&fp, "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\n").unwrap();
    Tokenizer::Local(LocalTokenizer {
        keys: Some(SecretRef::File(keys)),
        fingerprint_key: SecretRef::File(fp),
        store,
        token_format: TokenFormat::Random,
        envelope: None,
    })
}

fn card_rules() -> Vec<CardRule> {
    let rule = |json: Option<&str>, form: Option<&str>| CardRule {
        json_path: json.map(str::to_owned),
        form_prefix: form.map(str::to_owned),
        fields: Default::default(),
        output: Default::default(),
    };
    vec![
        rule(Some("$.card"), Some("card")),
        rule(Some("$.payment_method.card"), None),
    ]
}

/// A Stripe tokenizer at `url` with a test key written into the PKI directory.
fn stripe_tokenizer(
    pki: &Pki,
    url: String,
    create: StripeObject,
    timeout_ms: u64,
    max_retries: u32,
    breaker_failures: u32,
) -> Tokenizer {
    let key = pki.path("stripe-key");
    std::fs::write(&key, "sk_test_outscope").unwrap();
    let timeout = std::time::Duration::from_millis(timeout_ms);
    Tokenizer::Stripe(StripeTokenizer {
        api_base: url,
        secret_key: SecretRef::File(key),
        create,
        timeout,
        max_retries,
        breaker_failures,
        breaker_cool_down: std::time::Duration::from_secs(30),
        connect_timeout: timeout.min(std::time::Duration::from_millis(200)),
        ca: None,
    })
}

/// A stack whose catch-all route tokenizes with the local vault.
async fn tokenizing(on_detected: OnDetected) -> Stack {
    Stack::start(move |cfg, pki| {
        cfg.tokenizer = Some(local_vault(pki, LocalStore::Memory));
        cfg.routes[0].inspection.on_detected = on_detected;
        cfg.routes[0].inspection.cards = card_rules();
    })
    .await
}

/// Every byte the upstream received holds no card number (any reader) and no `needle`.
fn assert_clean(stack: &Stack, needles: &[&str]) {
    let raw = stack.upstream.raw();
    for mode in [Mode::Raw, Mode::Json, Mode::Form] {
        let found: Vec<_> = Scanner::new(mode)
            .scan(&raw)
            .into_iter()
            .filter(|f| f.pan().is_some())
            .collect();
        assert!(
            found.is_empty(),
            "{mode:?} scan found card data upstream: {found:?}"
        );
    }
    let text = String::from_utf8_lossy(&raw);
    for n in needles {
        assert!(!text.contains(n), "{n:?} reached the upstream");
    }
}

fn post(
    path: &str,
    content_type: &str,
    body: impl Into<Bytes>,
) -> http::Request<http_body_util::Full<Bytes>> {
    let mut req = request("POST", path, "localhost", body.into());
    if !content_type.is_empty() {
        req.headers_mut()
            .insert("content-type", content_type.parse().unwrap());
    }
    req
}

fn json_body(seen: &Seen) -> serde_json::Value {
    serde_json::from_slice(&seen.body).unwrap()
}

use crate::support::upstream::Seen;

#[tokio::test]
async fn a_configured_card_object_becomes_a_token_with_last4_brand_and_expiry() {
    let stack = tokenizing(OnDetected::Reject).await;
    let body = format!(
        r#"{{"amount":1200,"card":{{"number":"{VISA}","exp_month":12,"exp_year":2030,"cvc":"123","nickname":"work"}}}}"#
    );
    let resp = stack
        .client()
        .send(post("/v1/payments", "application/json", body))
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_eq!(resp.header("outscope-tokenized"), Some("1"));
    let seen = stack.upstream.only();
    let v = json_body(&seen);
    let card = &v["card"];
    assert!(card["token"].as_str().unwrap().starts_with("tok_"), "{v}");
    assert_eq!(card["last4"], "4242");
    assert_eq!(card["brand"], "visa");
    assert_eq!(card["exp_month"], 12);
    assert_eq!(card["exp_year"], 2030);
    assert!(card["fingerprint"].is_string());
    assert_eq!(
        card["nickname"], "work",
        "other members of the card object are kept"
    );
    assert!(card.get("cvc").is_none() && card.get("number").is_none());
    assert_eq!(v["amount"], 1200);
    assert!(
        String::from_utf8_lossy(&seen.body).starts_with(r#"{"amount":1200,"card":{"#),
        "bytes outside the card object are untouched"
    );
    assert_clean(&stack, &[VISA, "\"123\""]);
}

#[tokio::test]
async fn the_same_card_gets_the_same_token() {
    let stack = tokenizing(OnDetected::Tokenize).await;
    for _ in 0..2 {
        let body = format!(r#"{{"card":{{"number":"{VISA}","cvc":"123"}}}}"#);
        assert_eq!(
            stack
                .client()
                .send(post("/", "application/json", body))
                .await
                .status,
            200
        );
    }
    let seen = stack.upstream.seen();
    assert_eq!(
        json_body(&seen[0])["card"]["token"],
        json_body(&seen[1])["card"]["token"]
    );
}

#[tokio::test]
async fn card_numbers_anywhere_in_json_are_tokenized_in_place() {
    let stack = tokenizing(OnDetected::Tokenize).await;
    let body = format!(
        r#"{{"note":"call me, card {VISA} thanks","as_number":{MASTERCARD},"escaped":"\u0034242424242424242","nested":"{{\"pan\":\"{MASTERCARD}\"}}","items":[{{"cc":"4242 4242 4242 4242"}}]}}"#
    );
    let resp = stack
        .client()
        .send(post("/", "application/json", body))
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let seen = stack.upstream.only();
    let v = json_body(&seen);
    assert!(
        v["note"]
            .as_str()
            .unwrap()
            .starts_with("call me, card tok_"),
        "{v}"
    );
    assert!(
        v["as_number"].as_str().unwrap().starts_with("tok_"),
        "a PAN as a JSON number becomes a string token"
    );
    assert!(v["escaped"].as_str().unwrap().starts_with("tok_"));
    assert!(v["items"][0]["cc"].as_str().unwrap().starts_with("tok_"));
    assert_clean(&stack, &[VISA, MASTERCARD]);
    assert_eq!(resp.header("outscope-tokenized"), Some("5"));
}

#[tokio::test]
async fn form_card_fields_and_detected_numbers_are_tokenized() {
    let stack = tokenizing(OnDetected::Tokenize).await;
    let body = format!(
        "amount=1200&card%5Bnumber%5D={VISA}&card[exp_month]=12&card[exp_year]=2030&card[cvc]=123&memo=pay+with+5555+5555+5555+4444"
    );
    let resp = stack
        .client()
        .send(post("/", "application/x-www-form-urlencoded", body))
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let seen = stack.upstream.only();
    let text = String::from_utf8_lossy(&seen.body).into_owned();
    assert!(
        text.starts_with("amount=1200&card%5Btoken%5D=tok_"),
        "{text}"
    );
    assert!(text.contains("card%5Blast4%5D=4242"), "{text}");
    assert!(!text.contains("cvc"), "{text}");
    assert_clean(&stack, &[VISA, "5555+5555"]);
}

#[tokio::test]
async fn multipart_parts_preamble_and_filenames_are_inspected() {
    let stack = tokenizing(OnDetected::Tokenize).await;
    let body = format!(
        "preamble {VISA}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"card[number]\"\r\n\r\n{MASTERCARD}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"card[cvc]\"\r\n\r\n123\r\n--XyZ\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"{VISA}.txt\"\r\nContent-Type: text/plain\r\n\r\nreceipt for 4242-4242-4242-4242\r\n--XyZ\r\nContent-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{{\"pan\":\"{VISA}\"}}\r\n--XyZ--\r\n"
    );
    let resp = stack
        .client()
        .send(post("/", "multipart/form-data; boundary=XyZ", body))
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_clean(&stack, &[VISA, MASTERCARD, "\r\n123\r\n"]);
    let text = String::from_utf8_lossy(&stack.upstream.only().body).into_owned();
    assert!(text.contains("name=\"card[number]\"\r\n\r\ntok_"), "{text}");
}

#[tokio::test]
async fn text_query_path_and_headers_are_inspected() {
    let stack = tokenizing(OnDetected::Tokenize).await;
    let mut req = post(
        &format!("/v1/cards/{VISA}?pan={MASTERCARD}&x=1"),
        "text/plain",
        format!("card: {VISA}"),
    );
    req.headers_mut()
        .insert("x-card", MASTERCARD.parse().unwrap());
    req.headers_mut()
        .insert("cookie", format!("a=1; pan={VISA}").parse().unwrap());
    let resp = stack.client().send(req).await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let seen = stack.upstream.only();
    assert!(seen.uri.starts_with("/v1/cards/tok_"), "{}", seen.uri);
    assert!(
        seen.uri.contains("pan=tok_") && seen.uri.ends_with("&x=1"),
        "{}",
        seen.uri
    );
    assert!(seen.headers["x-card"].to_str().unwrap().starts_with("tok_"));
    assert_clean(&stack, &[VISA, MASTERCARD]);
}

#[tokio::test]
async fn mask_mode_keeps_bin_and_last4_around_letters() {
    let stack = tokenizing(OnDetected::Mask).await;
    let resp = stack
        .client()
        .send(post(
            "/",
            "application/json",
            format!(r#"{{"note":"{VISA}"}}"#),
        ))
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        json_body(&stack.upstream.only())["note"],
        "424242XXXXXX4242"
    );
    assert_clean(&stack, &[VISA]);
}

#[tokio::test]
async fn reject_mode_refuses_detected_card_data_with_422() {
    let stack = tokenizing(OnDetected::Reject).await;
    let resp = stack
        .client()
        .send(post(
            "/",
            "application/json",
            format!(r#"{{"note":"{VISA}"}}"#),
        ))
        .await;
    assert_eq!(resp.status, 422);
    assert_eq!(resp.code(), "card_data_rejected");
    assert!(
        !String::from_utf8_lossy(&resp.body).contains("4242"),
        "the error never echoes card data"
    );
    let resp = stack
        .client()
        .send(post(
            "/",
            "application/json",
            r#"{"payment":{"cvv":"123"}}"#,
        ))
        .await;
    assert_eq!(resp.status, 422, "a CVV on its own is card data too");
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn allow_listed_key_paths_pass_unchanged() {
    let stack = Stack::start(|cfg, _| {
        cfg.routes[0].inspection.allow_key_paths = vec!["order.reference".into()];
    })
    .await;
    let body = format!(r#"{{"order":{{"reference":"{VISA}"}}}}"#);
    let resp = stack
        .client()
        .send(post("/", "application/json", body.clone()))
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_eq!(stack.upstream.only().body, body.as_bytes());
}

#[tokio::test]
async fn allow_listed_shapes_and_indexed_key_paths_pass_and_are_counted() {
    let stack = Stack::start(|cfg, _| {
        let inspection = &mut cfg.routes[0].inspection;
        inspection.allow_key_paths = vec!["items[*].sku".into()];
        inspection.allow_shapes =
            vec![outscope_config::Shape::parse("ORD-################").unwrap()];
    })
    .await;
    let body = format!(
        r#"{{"items":[{{"sku":"{VISA}"}},{{"sku":"{MASTERCARD}"}}],"note":"re ORD-{VISA}"}}"#
    );
    let resp = stack
        .client()
        .send(post("/", "application/json", body.clone()))
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_eq!(stack.upstream.only().body, body.as_bytes());
    let (_, metrics) = admin_get(stack.proxy.running.admin_addr, "/metrics").await;
    assert_eq!(
        sample(
            &metrics,
            r#"outscope_card_data_total{route="all",action="allowed"}"#
        ),
        Some(3.0),
        "{metrics}"
    );

    // The same number outside the shape (bare, spelt with spaces, another index-free key
    // path) is still refused.
    for outside in [
        format!(r#"{{"note":"re {VISA}"}}"#),
        r#"{"note":"re ORD-4242 4242 4242 4242"}"#.to_owned(),
        format!(r#"{{"item":{{"sku":"{VISA}"}}}}"#),
    ] {
        let resp = stack
            .client()
            .send(post("/", "application/json", outside))
            .await;
        assert_eq!(resp.status, 422, "{:?}", resp.body);
    }
    assert_eq!(stack.upstream.seen().len(), 1);
}

#[tokio::test]
async fn cards_tokenized_before_the_upstream_fails_are_still_counted() {
    // The tokens exist at the tokenizer once it answered; an upstream that cannot be
    // reached afterwards must not erase that from the record.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let stack = Stack::start(move |cfg, pki| {
        cfg.tokenizer = Some(local_vault(pki, LocalStore::Memory));
        cfg.routes[0].inspection.cards = card_rules();
        cfg.upstreams[0].url.port = port;
    })
    .await;
    let resp = stack
        .client()
        .send(post(
            "/",
            "application/json",
            format!(r#"{{"card":{{"number":"{VISA}","exp_month":12,"exp_year":2030}}}}"#),
        ))
        .await;
    assert_eq!(resp.status, 502, "{:?}", resp.body);
    let (_, metrics) = admin_get(stack.proxy.running.admin_addr, "/metrics").await;
    assert_eq!(
        sample(
            &metrics,
            r#"outscope_card_data_total{route="all",action="tokenized"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn compressed(encoding: Encoding, data: &[u8]) -> (&'static str, Vec<u8>) {
    match encoding {
        Encoding::Gzip => ("gzip", gzip(data)),
        Encoding::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            ("deflate", e.finish().unwrap())
        }
        Encoding::Zstd => (
            "zstd",
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest),
        ),
        Encoding::Br => ("br", include_bytes!("fixtures/card.json.br").to_vec()),
    }
}

#[tokio::test]
async fn compressed_bodies_are_decoded_inspected_and_forwarded_decoded() {
    let stack = tokenizing(OnDetected::Tokenize).await;
    let data = br#"{"card":{"number":"4242424242424242","cvc":"123"}}"#;
    for encoding in [
        Encoding::Gzip,
        Encoding::Deflate,
        Encoding::Br,
        Encoding::Zstd,
    ] {
        let (name, body) = compressed(encoding, data);
        let mut req = post("/", "application/json", body);
        req.headers_mut()
            .insert("content-encoding", name.parse().unwrap());
        let resp = stack.client().send(req).await;
        assert_eq!(resp.status, 200, "{name}: {:?}", resp.body);
    }
    for seen in stack.upstream.seen() {
        assert!(
            seen.headers.get("content-encoding").is_none(),
            "forwarded decoded"
        );
        assert!(
            json_body(&seen)["card"]["token"]
                .as_str()
                .unwrap()
                .starts_with("tok_")
        );
    }
    assert_clean(&stack, &[VISA]);
}

#[tokio::test]
async fn large_bodies_are_read_on_the_blocking_pool_and_fail_closed_the_same() {
    let stack = Stack::start(|cfg, pki| {
        cfg.tokenizer = Some(local_vault(pki, LocalStore::Memory));
        cfg.routes[0].inspection.on_detected = OnDetected::Tokenize;
        cfg.routes[0].inspection.cards = card_rules();
        cfg.limits.max_body_bytes = 1 << 20;
        cfg.routes[0].max_body_bytes = 1 << 20;
    })
    .await;
    let items: Vec<String> = (0..8000)
        .map(|i| format!(r#"{{"sku":"SKU-{i:05}","qty":1}}"#))
        .collect();
    let body = format!(
        r#"{{"card":{{"number":"{VISA}","cvc":"123"}},"items":[{}],"note":"backup card {MASTERCARD}"}}"#,
        items.join(",")
    );
    assert!(body.len() > outscope::protect::OFFLOAD_BODY_BYTES);
    let resp = stack
        .client()
        .send(post("/", "application/json", body.clone()))
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_eq!(resp.header("outscope-tokenized"), Some("2"));
    let v = json_body(&stack.upstream.only());
    assert!(v["card"]["token"].as_str().unwrap().starts_with("tok_"));
    assert!(v["note"].as_str().unwrap().starts_with("backup card tok_"));
    assert_eq!(v["items"].as_array().unwrap().len(), 8000);
    assert_clean(&stack, &[VISA, MASTERCARD, "\"123\""]);

    // The same body compressed (small on the wire, large once decoded), then broken:
    // refused, and nothing more reaches the upstream.
    let mut gz = post("/", "application/json", gzip(body.as_bytes()));
    gz.headers_mut()
        .insert("content-encoding", "gzip".parse().unwrap());
    assert_eq!(stack.client().send(gz).await.status, 200);
    let broken = format!("{}x", &body[..body.len() - 1]);
    let resp = stack
        .client()
        .send(post("/", "application/json", broken))
        .await;
    assert_eq!(resp.status, 400, "{:?}", resp.body);
    assert_eq!(
        stack.upstream.seen().len(),
        2,
        "the broken body was not forwarded"
    );
    assert_clean(&stack, &[VISA, MASTERCARD]);
}

#[tokio::test]
async fn what_cannot_be_read_is_refused() {
    let stack = tokenizing(OnDetected::Tokenize).await;
    let c = stack.client();
    let mut stacked = post("/", "application/json", gzip(&gzip(b"{}")));
    stacked
        .headers_mut()
        .insert("content-encoding", "gzip, gzip".parse().unwrap());
    assert_eq!(c.send(stacked).await.status, 415, "stacked encodings");
    let mut unknown = post("/", "application/json", "{}");
    unknown
        .headers_mut()
        .insert("content-encoding", "compress".parse().unwrap());
    assert_eq!(c.send(unknown).await.status, 415, "unknown encoding");
    let mut corrupt = post("/", "application/json", "not gzip at all");
    corrupt
        .headers_mut()
        .insert("content-encoding", "gzip".parse().unwrap());
    assert_eq!(c.send(corrupt).await.status, 400, "undecodable");
    let bomb = gzip(&vec![b' '; 20 * 1024 * 1024]);
    let mut bomb_req = post("/", "application/json", bomb);
    bomb_req
        .headers_mut()
        .insert("content-encoding", "gzip".parse().unwrap());
    assert_eq!(c.send(bomb_req).await.status, 413, "decompression bomb");
    assert_eq!(
        c.send(post(
            "/",
            "application/json",
            format!(r#"{{"card":"{VISA}""#)
        ))
        .await
        .status,
        400,
        "unparseable JSON"
    );
    assert_eq!(
        c.send(post("/", "application/json; charset=latin1", "{}"))
            .await
            .status,
        400,
        "foreign charset"
    );
    assert_eq!(
        c.send(post("/", "application/json", b"\xEF\xBB\xBF{}".to_vec()))
            .await
            .status,
        400,
        "BOM"
    );
    assert_eq!(
        c.send(post("/", "text/plain", b"4\x002\x004\x002\x00".to_vec()))
            .await
            .status,
        400,
        "UTF-16"
    );
    let dup = format!(r#"{{"card":{{"number":"{VISA}","number":"{MASTERCARD}"}}}}"#);
    assert_eq!(
        c.send(post("/", "application/json", dup)).await.status,
        400,
        "duplicate JSON keys"
    );
    let dup_form = format!("memo={VISA}&memo=x");
    assert_eq!(
        c.send(post("/", "application/x-www-form-urlencoded", dup_form))
            .await
            .status,
        400,
        "duplicate form parameters"
    );
    assert_eq!(
        c.send(post(
            "/",
            "application/json",
            r#"{"card":{"number":"4242424242424241"}}"#
        ))
        .await
        .status,
        422,
        "invalid configured card number"
    );
    assert!(
        stack.upstream.seen().is_empty(),
        "nothing reached the backend"
    );
}

#[tokio::test]
async fn content_types_a_route_does_not_accept_get_415() {
    let stack = Stack::start(|cfg, _| {
        cfg.routes[0].inspection.content_types = vec![outscope_config::BodyType::Json]
    })
    .await;
    assert_eq!(
        stack
            .client()
            .send(post("/", "text/plain", "hello"))
            .await
            .status,
        415
    );
    assert_eq!(
        stack
            .client()
            .send(post("/", "application/json", "{}"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn stripe_tokenizes_through_localstripe() {
    let stripe = LocalStripe::start();
    let url = stripe.url().to_owned();
    let stack = Stack::start(move |cfg, pki| {
        cfg.tokenizer = Some(stripe_tokenizer(
            pki,
            url,
            StripeObject::PaymentMethod,
            5000,
            1,
            5,
        ));
        cfg.routes[0].inspection.cards = card_rules();
        cfg.routes[0].inspection.on_detected = OnDetected::Tokenize;
    })
    .await;
    let body = format!(
        r#"{{"payment_method":{{"card":{{"number":"{VISA}","exp_month":12,"exp_year":2030,"cvc":"123"}}}}}}"#
    );
    let resp = stack
        .client()
        .send(post("/v1/checkout", "application/json", body))
        .await;
    assert_eq!(
        resp.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&resp.body)
    );
    let v = json_body(&stack.upstream.only());
    assert!(
        v["payment_method"]["card"]["token"]
            .as_str()
            .unwrap()
            .starts_with("pm_"),
        "{v}"
    );
    assert_eq!(v["payment_method"]["card"]["last4"], "4242");
    assert_clean(&stack, &[VISA, "\"123\""]);
}

#[tokio::test]
async fn stripe_down_means_503_and_nothing_forwarded() {
    let mut stripe = LocalStripe::start();
    let url = stripe.url().to_owned();
    stripe.stop();
    let stack = Stack::start(move |cfg, pki| {
        cfg.tokenizer = Some(stripe_tokenizer(pki, url, StripeObject::Token, 2000, 0, 5));
        cfg.routes[0].inspection.on_detected = OnDetected::Tokenize;
    })
    .await;
    let resp = stack
        .client()
        .send(post(
            "/",
            "application/json",
            format!(r#"{{"pan":"{VISA}"}}"#),
        ))
        .await;
    assert_eq!(resp.status, 503);
    assert_eq!(resp.code(), "tokenizer_unavailable");
    assert!(resp.header("retry-after").is_some());
    assert!(stack.upstream.seen().is_empty());
}

#[tokio::test]
async fn redis_down_for_the_local_vault_means_503() {
    let mut redis = RedisServer::start();
    let url = redis.url().to_owned();
    let stack = Stack::start(move |cfg, pki| {
        cfg.redis = Some(outscope_config::Redis {
            url,
            cluster: false,
            username: None,
            password: None,
            key_prefix: "outscope-cards".into(),
            key_secret: None,
            timeout: std::time::Duration::from_millis(300),
        });
        cfg.tokenizer = Some(local_vault(pki, LocalStore::Redis));
        cfg.routes[0].inspection.on_detected = OnDetected::Tokenize;
    })
    .await;
    let ok = stack
        .client()
        .send(post(
            "/",
            "application/json",
            format!(r#"{{"pan":"{VISA}"}}"#),
        ))
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    redis.stop();
    let resp = stack
        .client()
        .send(post(
            "/",
            "application/json",
            format!(r#"{{"pan":"{MASTERCARD}"}}"#),
        ))
        .await;
    assert_eq!(resp.status, 503);
    assert_eq!(stack.upstream.seen().len(), 1);
    assert_clean(&stack, &[VISA, MASTERCARD]);
}

#[tokio::test]
async fn shadow_mode_forwards_and_counts() {
    let stack = Stack::start(|cfg, _| cfg.routes[0].inspection.mode = InspectionMode::Shadow).await;
    let body = format!(r#"{{"pan":"{VISA}"}}"#);
    let resp = stack
        .client()
        .send(post("/", "application/json", body.clone()))
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        stack.upstream.only().body,
        body.as_bytes(),
        "shadow mode only reports"
    );
}

#[tokio::test]
async fn markup_that_hides_digits_is_refused_and_plain_xml_is_tokenized() {
    let stack = tokenizing(OnDetected::Tokenize).await;
    let c = stack.client();
    for hidden in [
        "<pay><pan>&#52;242424242424242</pan></pay>",
        "<pay><pan>42424242<!-- x -->42424242</pan></pay>",
        "<pay><pan><![CDATA[4242424242]]>424242</pan></pay>",
    ] {
        let resp = c.send(post("/", "application/xml", hidden)).await;
        assert_eq!(resp.status, 422, "{hidden}");
    }
    assert!(stack.upstream.seen().is_empty());
    let resp = c
        .send(post(
            "/",
            "application/xml",
            format!("<pay><pan>{VISA}</pan></pay>"),
        ))
        .await;
    assert_eq!(resp.status, 200);
    assert!(String::from_utf8_lossy(&stack.upstream.only().body).starts_with("<pay><pan>tok_"));
    assert_clean(&stack, &[VISA]);
}

#[tokio::test]
async fn unicode_spellings_and_mislabelled_bodies_are_still_found() {
    let stack = tokenizing(OnDetected::Tokenize).await;
    let c = stack.client();
    let spellings = [
        "4242\u{a0}4242\u{a0}4242\u{a0}4242",
        "4242\u{200b}4242\u{200b}4242\u{200b}4242",
        "\u{ff14}\u{ff12}\u{ff14}\u{ff12}\u{ff14}\u{ff12}\u{ff14}\u{ff12}\u{ff14}\u{ff12}\u{ff14}\u{ff12}\u{ff14}\u{ff12}\u{ff14}\u{ff12}",
        "4242_4242_4242_4242",
    ];
    for pan in spellings {
        let resp = c
            .send(post(
                "/",
                "application/json",
                format!(r#"{{"note":"{pan}"}}"#),
            ))
            .await;
        assert_eq!(resp.status, 200);
    }
    // JSON labelled as plain text is read as text: the number is still found.
    let resp = c
        .send(post(
            "/",
            "text/plain",
            format!(r#"{{"card":{{"number":"{MASTERCARD}"}}}}"#),
        ))
        .await;
    assert_eq!(resp.status, 200);
    for seen in stack.upstream.seen() {
        assert!(
            String::from_utf8_lossy(&seen.body).contains("tok_"),
            "{:?}",
            String::from_utf8_lossy(&seen.body)
        );
    }
    assert_clean(&stack, &[VISA, MASTERCARD, "\u{ff14}\u{ff12}"]);
}

/// A stand-in for Stripe that answers every request with one status after an optional
/// delay. A real Stripe (or localstripe) cannot be made to fail on demand; this stands in
/// only for those failures.
async fn failing_stripe(
    status: u16,
    delay: std::time::Duration,
) -> (String, tokio::task::JoinHandle<()>) {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(
                    move |_req: http::Request<hyper::body::Incoming>| async move {
                        tokio::time::sleep(delay).await;
                        let body = r#"{"error":{"type":"api_error","code":"card_declined","message":"x"}}"#;
                        let mut resp = http::Response::new(http_body_util::Full::new(
                            Bytes::from_static(body.as_bytes()),
                        ));
                        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
                        resp.headers_mut()
                            .insert("content-type", "application/json".parse().unwrap());
                        if status == 429 {
                            resp.headers_mut()
                                .insert("retry-after", "7".parse().unwrap());
                        }
                        Ok::<_, std::convert::Infallible>(resp)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    (url, task)
}

async fn stack_with_stripe_at(url: String) -> Stack {
    Stack::start(move |cfg, pki| {
        cfg.tokenizer = Some(stripe_tokenizer(
            pki,
            url,
            StripeObject::PaymentMethod,
            300,
            1,
            50,
        ));
        cfg.routes[0].inspection.cards = card_rules();
    })
    .await
}

#[tokio::test]
async fn stripe_failures_fail_closed_with_documented_statuses() {
    let body =
        format!(r#"{{"card":{{"number":"{VISA}","exp_month":12,"exp_year":2030,"cvc":"123"}}}}"#);
    let cases: [(u16, u64, u16, &str); 4] = [
        (500, 0, 503, "tokenizer_unavailable"),
        (429, 0, 503, "tokenizer_unavailable"),
        (200, 2000, 503, "tokenizer_unavailable"),
        (402, 0, 422, "card_refused"),
    ];
    for (stripe_status, delay_ms, want, code) in cases {
        let (url, task) =
            failing_stripe(stripe_status, std::time::Duration::from_millis(delay_ms)).await;
        let stack = stack_with_stripe_at(url).await;
        let resp = stack
            .client()
            .send(post("/", "application/json", body.clone()))
            .await;
        assert_eq!(
            resp.status, want,
            "Stripe answering {stripe_status} after {delay_ms} ms"
        );
        assert_eq!(resp.code(), code);
        if want == 503 {
            assert!(resp.header("retry-after").is_some());
        }
        assert!(
            stack.upstream.seen().is_empty(),
            "nothing is forwarded when Stripe fails"
        );
        task.abort();
    }
}

#[tokio::test]
async fn built_in_detection_sends_the_expiry_found_next_to_the_number_to_stripe() {
    let stripe = LocalStripe::start();
    let url = stripe.url().to_owned();
    let stack = Stack::start(move |cfg, pki| {
        cfg.tokenizer = Some(stripe_tokenizer(
            pki,
            url,
            StripeObject::PaymentMethod,
            5000,
            1,
            5,
        ));
        cfg.routes[0].inspection.on_detected = OnDetected::Tokenize;
    })
    .await;
    let body = format!(
        r#"{{"payment":{{"pan":"{VISA}","exp_month":"12","exp_year":"2030","cvv":"123"}}}}"#
    );
    let resp = stack
        .client()
        .send(post("/", "application/json", body))
        .await;
    assert_eq!(
        resp.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&resp.body)
    );
    let v = json_body(&stack.upstream.only());
    assert!(
        v["payment"]["pan"].as_str().unwrap().starts_with("pm_"),
        "{v}"
    );
    assert_clean(&stack, &[VISA, "\"123\""]);
}
