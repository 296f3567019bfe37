//! What `[tokenizer]` and `[routes.inspection]` turn into: defaults, normalisation, and the
//! shapes the rules allow.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{MINIMAL, ok, plus};
use outscope_config::*;

const STRIPE: &str = "[tokenizer]\nkind = \"stripe\"\nsecret_key = \"env://STRIPE_SECRET_KEY\"";

fn stripe(config: &Config) -> &StripeTokenizer {
    match &config.tokenizer {
        Some(Tokenizer::Stripe(s)) => s,
        other => panic!("expected a stripe tokenizer, got {other:?}"),
    }
}

fn local(config: &Config) -> &LocalTokenizer {
    match &config.tokenizer {
        Some(Tokenizer::Local(l)) => l,
        other => panic!("expected a local tokenizer, got {other:?}"),
    }
}

#[test]
fn without_the_tables_there_is_no_tokenizer_and_routes_enforce_and_reject() {
    let config = ok(MINIMAL);
    assert_eq!(config.tokenizer, None);
    let inspection = &config.routes[0].inspection;
    assert_eq!(*inspection, Inspection::default());
    assert_eq!(inspection.mode, InspectionMode::Enforce);
    assert_eq!(inspection.on_detected, OnDetected::Reject);
    // An empty table is the same as none.
    assert_eq!(
        ok(&plus("[routes.inspection]")).routes[0].inspection,
        Inspection::default()
    );
}

#[test]
fn a_stripe_tokenizer_gets_its_defaults() {
    let config = ok(&plus(STRIPE));
    assert_eq!(
        *stripe(&config),
        StripeTokenizer {
            api_base: "https://api.stripe.com".into(),
            secret_key: SecretRef::Env("STRIPE_SECRET_KEY".into()),
            create: StripeObject::PaymentMethod,
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            max_retries: 2,
            breaker_failures: 5,
            breaker_cool_down: Duration::from_secs(10),
            ca: None,
        }
    );
}

#[test]
fn stripe_settings_are_read_and_the_api_base_normalised() {
    let config = ok(&plus(&format!(
        "{STRIPE}\napi_base = \"http://LocalHost:12111/\"\ncreate = \"token\"\ntimeout = \"1s\"\n\
         max_retries = 0\nbreaker_failures = 3\nbreaker_cool_down = \"1m\""
    )));
    let s = stripe(&config);
    assert_eq!(s.api_base, "http://localhost:12111");
    assert_eq!(s.create, StripeObject::Token);
    assert_eq!(s.timeout, Duration::from_secs(1));
    // The default connect timeout never exceeds the timeout.
    assert_eq!(s.connect_timeout, Duration::from_secs(1));
    assert_eq!((s.max_retries, s.breaker_failures), (0, 3));
    assert_eq!(s.breaker_cool_down, Duration::from_secs(60));

    let config = ok(&plus(&format!(
        "{STRIPE}\napi_base = \"https://egress.internal:8443/stripe\"\n\
         connect_timeout = \"500ms\"\nca = \"file://tls/egress-ca.pem\""
    )));
    let s = stripe(&config);
    assert_eq!(s.api_base, "https://egress.internal:8443/stripe");
    assert_eq!(s.connect_timeout, Duration::from_millis(500));
    assert_eq!(
        s.ca,
        Some(SecretRef::File(PathBuf::from(
            "/etc/outscope/tls/egress-ca.pem"
        )))
    );
}

#[test]
fn a_local_tokenizer_defaults_to_random_tokens_in_memory() {
    let config = ok(&plus(
        "[tokenizer]\nkind = \"local\"\nkeys = \"file://vault-keys\"\nfingerprint_key = \"env://FP\"",
    ));
    assert_eq!(
        *local(&config),
        LocalTokenizer {
            keys: Some(SecretRef::File(
                Path::new("/etc/outscope/vault-keys").into()
            )),
            fingerprint_key: SecretRef::Env("FP".into()),
            store: LocalStore::Memory,
            token_format: TokenFormat::Random,
            envelope: None,
        }
    );
}

#[test]
fn a_local_tokenizer_may_take_data_keys_from_vault_transit() {
    let vault = "[vault]\naddress = \"https://vault.internal:8200\"\n\
                 [vault.auth]\nmethod = \"token\"\ntoken = \"env://VAULT_TOKEN\"\n";
    let config = ok(&plus(&format!(
        "{vault}[tokenizer]\nkind = \"local\"\nfingerprint_key = \"env://FP\"\n\
         transit_key = \"outscope-local\""
    )));
    let l = local(&config);
    assert_eq!(l.keys, None);
    assert_eq!(
        l.envelope,
        Some(Envelope {
            mount: "transit".into(),
            key: "outscope-local".into(),
            rotation: Duration::from_secs(24 * 3600),
        })
    );
    let config = ok(&plus(&format!(
        "{vault}[tokenizer]\nkind = \"local\"\nkeys = \"env://KEYS\"\n\
         fingerprint_key = \"env://FP\"\ntransit_mount = \"pci/transit\"\n\
         transit_key = \"cards\"\ndata_key_rotation = \"6h\""
    )));
    let l = local(&config);
    assert_eq!(l.keys, Some(SecretRef::Env("KEYS".into())));
    assert_eq!(
        l.envelope,
        Some(Envelope {
            mount: "pci/transit".into(),
            key: "cards".into(),
            rotation: Duration::from_secs(6 * 3600),
        })
    );
}

#[test]
fn a_local_tokenizer_may_share_its_store_through_redis() {
    let config = ok(&plus(
        "[redis]\nurl = \"redis://127.0.0.1:6379/0\"\n[tokenizer]\nkind = \"local\"\n\
         keys = \"env://KEYS\"\nfingerprint_key = \"env://FP\"\nstore = \"redis\"\n\
         token_format = \"alias\"",
    ));
    let l = local(&config);
    assert_eq!(
        (l.store, l.token_format),
        (LocalStore::Redis, TokenFormat::Alias)
    );
}

#[test]
fn shared_rate_limits_may_use_a_redis_cluster_through_one_seed_node() {
    let config = ok(&plus(
        "[redis]\nurl = \"redis://redis-0.redis.internal:6379\"\ncluster = true",
    ));
    let redis = config.redis.unwrap();
    assert!(redis.cluster);
    assert_eq!(redis.url, "redis://redis-0.redis.internal:6379");
    let single = ok(&plus("[redis]\nurl = \"redis://127.0.0.1:6379/3\""));
    assert!(!single.redis.unwrap().cluster, "a single node by default");
}

#[test]
fn every_inspection_setting_is_read() {
    let config = ok(&plus(
        r#"[routes.inspection]
on_detected = "mask"
allow_key_paths = ["order.reference", "items[0].sku", "order[ref]"]
allow_shapes = ["ORD-####", 'id\#####']
content_types = ["form", "json"]
encodings = ["zstd"]
max_decompressed_bytes = 1024
max_decompression_ratio = 2
max_json_depth = 512
max_multipart_parts = 1
file_parts = "reject"
"#,
    ));
    assert_eq!(
        config.routes[0].inspection,
        Inspection {
            mode: InspectionMode::Enforce,
            on_detected: OnDetected::Mask,
            cards: vec![],
            allow_key_paths: vec![
                "order.reference".into(),
                "items[0].sku".into(),
                "order[ref]".into()
            ],
            allow_shapes: vec![
                outscope_config::Shape::parse("ORD-####").unwrap(),
                outscope_config::Shape::parse("id\\#####").unwrap(),
            ],
            content_types: vec![BodyType::Form, BodyType::Json],
            encodings: vec![Encoding::Zstd],
            max_decompressed_bytes: 1024,
            max_decompression_ratio: 2,
            max_json_depth: 512,
            max_multipart_parts: 1,
            file_parts: FileParts::Reject,
        }
    );
}

#[test]
fn an_empty_encoding_list_refuses_every_compressed_body() {
    let config = ok(&plus("[routes.inspection]\nencodings = []"));
    assert_eq!(config.routes[0].inspection.encodings, vec![]);
}

#[test]
fn shadow_and_off_are_accepted_with_the_exact_acknowledgement() {
    for (word, mode) in [
        ("shadow", InspectionMode::Shadow),
        ("off", InspectionMode::Off),
    ] {
        let config = ok(&plus(&format!(
            "[routes.inspection]\nmode = \"{word}\"\nacknowledge = \"card data reaches the backend\""
        )));
        assert_eq!(config.routes[0].inspection.mode, mode);
    }
}

#[test]
fn a_route_with_inspection_off_needs_no_tokenizer_for_its_card_rules() {
    let config = ok(&plus(
        "[routes.inspection]\nmode = \"off\"\nacknowledge = \"card data reaches the backend\"\n\
         on_detected = \"tokenize\"\n[[routes.inspection.cards]]\njson_path = \"$.card\"",
    ));
    assert_eq!(config.tokenizer, None);
    assert_eq!(config.routes[0].inspection.cards.len(), 1);
}

#[test]
fn a_card_rule_gets_default_field_and_output_names() {
    let config = ok(&plus(&format!(
        "[[routes.inspection.cards]]\njson_path = \"$.items[*].card\"\n{STRIPE}"
    )));
    assert_eq!(
        config.routes[0].inspection.cards,
        vec![CardRule {
            json_path: Some("$.items[*].card".into()),
            form_prefix: None,
            fields: CardFields::default(),
            output: CardOutput::default(),
        }]
    );
}

#[test]
fn card_field_and_output_names_are_read_and_false_leaves_an_output_out() {
    let config = ok(&plus(&format!(
        r#"[[routes.inspection.cards]]
form_prefix = "payment_method_data[card]"
fields = {{ number = "pan", exp = "expiry", cvc = "cvv", name = "card holder" }}
output = {{ token = "card_token", last4 = "last_four", exp_month = false, exp_year = false, fingerprint = false }}
{STRIPE}"#
    )));
    let rule = &config.routes[0].inspection.cards[0];
    assert_eq!(rule.json_path, None);
    assert_eq!(
        rule.form_prefix.as_deref(),
        Some("payment_method_data[card]")
    );
    assert_eq!(
        rule.fields,
        CardFields {
            number: "pan".into(),
            exp_month: "exp_month".into(),
            exp_year: "exp_year".into(),
            exp: "expiry".into(),
            cvc: "cvv".into(),
            name: "card holder".into(),
        }
    );
    assert_eq!(
        rule.output,
        CardOutput {
            token: "card_token".into(),
            last4: Some("last_four".into()),
            brand: Some("brand".into()),
            exp_month: None,
            exp_year: None,
            fingerprint: None,
        }
    );
}

#[test]
fn fields_may_swap_default_names_and_tables_read_like_inline_ones() {
    let headers = ok(&plus(&format!(
        "[[routes.inspection.cards]]\njson_path = \"$['card']\"\n\
         [routes.inspection.cards.fields]\nexp_month = \"exp_year\"\nexp_year = \"exp_month\"\n\
         [routes.inspection.cards.output]\nbrand = false\n{STRIPE}"
    )));
    let inline = ok(&plus(&format!(
        "[[routes.inspection.cards]]\njson_path = \"$['card']\"\n\
         fields = {{ exp_month = \"exp_year\", exp_year = \"exp_month\" }}\n\
         output = {{ brand = false }}\n{STRIPE}"
    )));
    assert_eq!(headers, inline);
    let fields = &headers.routes[0].inspection.cards[0].fields;
    assert_eq!(
        (fields.exp_month.as_str(), fields.exp_year.as_str()),
        ("exp_year", "exp_month")
    );
}

#[test]
fn the_same_card_rule_on_two_routes_is_fine() {
    let text = common::route_first(
        "name = \"pay\"\npath = \"/pay\"\nupstream = \"api\"\n\
         [[routes.inspection.cards]]\njson_path = \"$.card\"",
    );
    let config = ok(&format!(
        "{text}\n[[routes.inspection.cards]]\njson_path = \"$.card\"\n{STRIPE}"
    ));
    assert_eq!(
        config.routes[0].inspection.cards,
        config.routes[1].inspection.cards
    );
}
