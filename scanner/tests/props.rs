//! Property tests: the fast scanner equals the naive oracle, on every ISA and for every
//! chunking; JSON and form decoding equal the oracle applied to the decoded strings.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup errors
mod common;
use common::*;
use outscope_scanner::{Mode, available_isas, oracle};
use proptest::prelude::*;

const PANS: &[&str] = &[
    "4242424242424242",
    "4000056655665556",
    "5555555555554444",
    "2223003122003222",
    "378282246310005",
    "6011111111111117",
    "3056930009020004",
    "36227206271667",
    "3566002020360505",
    "6200000000000005",
    "4222222222222", // Visa's 13-digit test number
];

const SEPS: &[&str] = &[
    " ", "-", ".", "_", "\u{a0}", "\u{ad}", "\u{200b}", "\u{2009}", "\u{3000}", "\u{feff}",
];

fn unicode_digit() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![0x30u32, 0xFF10, 0x0660, 0x0966, 0x1D7CE]),
        0u32..10,
    )
        .prop_map(|(z, d)| char::from_u32(z + d).map(String::from).unwrap_or_default())
}

/// Text made of pieces that exercise the scanner: PANs (plain, separated), digits,
/// separators, track data sentinels, Unicode digits and random characters.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(PANS).prop_map(str::to_owned),
        3 => (prop::sample::select(PANS), prop::sample::select(SEPS), 1usize..6, 1usize..5).prop_map(|(p, s, k, r)| {
            p.as_bytes().chunks(k).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(&s.repeat(r))
        }),
        2 => "[0-9]{1,20}",
        2 => prop::sample::select(SEPS).prop_map(str::to_owned),
        1 => prop::sample::select(vec!["=", "^", "B", "%", ";", "?", "%B", "=2812101000", "^DOE/J^"]).prop_map(str::to_owned),
        1 => unicode_digit(),
        1 => "\\PC{0,3}",
        1 => "[a-z,/: ]{1,4}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..24).prop_map(|v| v.concat())
}

fn oracle_view(input: &[u8]) -> Vec<View> {
    sorted(
        oracle::raw(input)
            .into_iter()
            .map(|(k, s, d)| (k.to_owned(), s, d, None))
            .collect(),
    )
}

fn kinds_and_digits(v: &[View]) -> Vec<(String, String)> {
    let mut x: Vec<(String, String)> = v
        .iter()
        .filter(|f| matches!(f.0.as_str(), "pan" | "track1" | "track2"))
        .map(|f| (f.0.clone(), f.2.clone()))
        .collect();
    x.sort();
    x
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn raw_equals_oracle_on_generated_text(t in text(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        raw_matches_oracle(t.as_bytes(), &cuts)?;
    }

    #[test]
    fn raw_equals_oracle_on_arbitrary_bytes(b in prop::collection::vec(any::<u8>(), 0..300), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        raw_matches_oracle(&b, &cuts)?;
    }

    #[test]
    fn raw_equals_oracle_on_text_with_broken_utf8(
        parts in prop::collection::vec(prop_oneof![
            3 => piece().prop_map(String::into_bytes),
            1 => broken_utf8(),
        ], 0..24),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let b = parts.concat();
        raw_matches_oracle(&b, &cuts)?;
    }

    /// Track 1 names around the 26-character limit, made of letters and broken UTF-8: each
    /// invalid byte is one character.
    #[test]
    fn track1_names_with_broken_utf8_are_counted_like_the_oracle(
        pan in prop::sample::select(PANS),
        name in prop::collection::vec(prop_oneof![
            3 => "[A-Z/ ]".prop_map(String::into_bytes),
            1 => broken_utf8(),
        ], 16..30),
        tail in "[0-9]{7,12}",
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut b = format!("%B{pan}^").into_bytes();
        b.extend(name.concat());
        b.push(b'^');
        b.extend_from_slice(tail.as_bytes());
        raw_matches_oracle(&b, &cuts)?;
    }

    #[test]
    fn long_inputs_cross_simd_blocks(t in prop::collection::vec(text(), 1..8), pad in 0usize..70) {
        let filler = "x".repeat(pad);
        let s = t.join(&filler);
        let want = oracle_view(s.as_bytes());
        for isa in available_isas() {
            prop_assert_eq!(&scan_isa(s.as_bytes(), Mode::Raw, isa), &want, "{:?}", isa);
        }
    }

    #[test]
    fn json_and_form_are_chunking_independent(t in text(), b in prop::collection::vec(any::<u8>(), 0..64), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let mut input = t.into_bytes();
        input.extend_from_slice(&b);
        for mode in [Mode::Json, Mode::Form] {
            for isa in available_isas() {
                let whole = scan_isa(&input, mode, isa);
                prop_assert_eq!(&scan_chunks(&input, mode, isa, &[]), &whole, "{:?} {:?} stream", mode, isa);
                prop_assert_eq!(&scan_chunks(&input, mode, isa, &cuts), &whole, "{:?} {:?} chunks", mode, isa);
            }
        }
    }

    #[test]
    fn json_decoding_equals_oracle_on_decoded_strings(doc in json_doc(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let (text, strings) = doc;
        let mut want: Vec<View> = Vec::new();
        for s in &strings {
            want.extend(oracle_view(s.as_bytes()));
        }
        let want = kinds_and_digits(&want);
        for isa in available_isas() {
            let got = scan_isa(text.as_bytes(), Mode::Json, isa);
            prop_assert_eq!(&kinds_and_digits(&got), &want, "{:?} {}", isa, text);
            prop_assert_eq!(&scan_chunks(text.as_bytes(), Mode::Json, isa, &cuts), &got, "{:?} chunks", isa);
        }
    }

    #[test]
    fn json_fast_path_equals_exact_stream(doc in json_doc_with(true), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let text = doc.0;
        for isa in available_isas() {
            let fast = scan_isa(text.as_bytes(), Mode::Json, isa);
            prop_assert_eq!(&scan_chunks(text.as_bytes(), Mode::Json, isa, &[]), &fast, "{:?} stream", isa);
            prop_assert_eq!(&scan_chunks(text.as_bytes(), Mode::Json, isa, &cuts), &fast, "{:?} chunks", isa);
        }
    }

    #[test]
    fn json_stream_fast_paths_equal_feeding_byte_by_byte(doc in json_doc_with(true), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let text = doc.0;
        bulk_equals_bytewise(&text, &cuts)?;
    }

    #[test]
    fn broken_json_fed_in_bulk_equals_feeding_byte_by_byte(
        lead in prop::sample::select(vec!["", "B", ";", "%B", "x"]),
        t in text(),
        cuts in prop::collection::vec(any::<usize>(), 0..4),
    ) {
        // Card-heavy text where a value should be: raw mode takes over at its first byte
        // (a track sentinel, sometimes).
        let text = format!("{{\"t\":{lead}{t}}}");
        bulk_equals_bytewise(&text, &cuts)?;
    }

    #[test]
    fn card_objects_fed_in_bulk_equal_feeding_byte_by_byte(
        prefix in prop::collection::vec(plain_member(), 0..6),
        hot in hot_member(),
        cuts in prop::collection::vec(any::<usize>(), 0..4),
    ) {
        let mut members = prefix.clone();
        members.push(hot);
        let text = format!("{{{}}}", members.join(","));
        bulk_equals_bytewise(&text, &cuts)?;
    }

    #[test]
    fn json_fast_path_equals_exact_stream_on_sparse_docs(members in prop::collection::vec((
        prop::sample::select(vec!["id", "name", "cvc", "card[cvc]", "Expiry", "exp_month", "cardholderName", "card_number", "month", "zip_code", "CVV2"]),
        prop::sample::select(vec!["\"abc\"", "12", "true", "null", "4.242424242424242e15", "3.78282246310005E14", "1e5", "{\"month\":1}", "[\"x\",2]"]),
        prop::sample::select(vec!["", " ", "\n  "]),
    ), 0..6)) {
        let body: Vec<String> = members.iter().map(|(k, v, ws)| format!("\"{k}\"{ws}:{ws}{v}")).collect();
        let text = format!("{{{}}}", body.join(","));
        for isa in available_isas() {
            let fast = scan_isa(text.as_bytes(), Mode::Json, isa);
            prop_assert_eq!(&scan_chunks(text.as_bytes(), Mode::Json, isa, &[]), &fast, "{:?} {}", isa, text);
        }
    }

    #[test]
    fn json_resumed_after_a_clean_prefix_equals_the_exact_stream(
        prefix in prop::collection::vec(plain_member(), 0..12),
        hot in hot_member(),
        wrappers in prop::collection::vec((any::<bool>(), member_key(), plain_member()), 0..4),
        suffix in prop::collection::vec(plain_member(), 0..4),
        pretty in any::<bool>(),
    ) {
        let sep = if pretty { ",\n  " } else { "," };
        let mut inner = hot.clone();
        for (array, key, sibling) in &wrappers {
            inner = if *array {
                format!("\"{key}\":[1,\"x\",{{{inner}}},{{{sibling}}}]")
            } else {
                format!("\"{key}\":{{{sibling}{sep}{inner}}}")
            };
        }
        let mut members = prefix.clone();
        members.push(inner);
        members.extend(suffix.iter().cloned());
        let text = format!("{{{}}}", members.join(sep));
        for isa in available_isas() {
            let fast = full_views(text.as_bytes(), isa, true);
            let exact = full_views(text.as_bytes(), isa, false);
            prop_assert_eq!(&fast, &exact, "{:?} {}", isa, text);
        }
    }

    #[test]
    fn form_decoding_equals_oracle_on_decoded_parts(parts in prop::collection::vec((text(), text(), prop::collection::vec(any::<bool>(), 64)), 1..5), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let mut body = String::new();
        let mut want: Vec<View> = Vec::new();
        for (i, (k, v, enc)) in parts.iter().enumerate() {
            if i > 0 {
                body.push('&');
            }
            body.push_str(&form_encode(k, enc));
            body.push('=');
            body.push_str(&form_encode(v, enc));
            want.extend(oracle_view(k.as_bytes()));
            want.extend(oracle_view(v.as_bytes()));
        }
        let want = kinds_and_digits(&want);
        for isa in available_isas() {
            let got = scan_isa(body.as_bytes(), Mode::Form, isa);
            prop_assert_eq!(&kinds_and_digits(&got), &want, "{:?} {}", isa, body);
            prop_assert_eq!(&scan_chunks(body.as_bytes(), Mode::Form, isa, &cuts), &got, "{:?} chunks", isa);
        }
    }
}

/// Percent-encodes the bytes that must be encoded, and others when `enc` says so.
fn form_encode(s: &str, enc: &[bool]) -> String {
    let mut out = String::new();
    for (i, b) in s.bytes().enumerate() {
        let force = matches!(b, b'&' | b'=' | b'%' | b'+')
            || !b.is_ascii() && enc.get(i % 64) == Some(&true);
        if b == b' ' && enc.get(i % 64) == Some(&true) {
            out.push('+');
        } else if force
            || enc.get(i % 64) == Some(&true)
            || b >= 0x80 && enc.get((i + 1) % 64) == Some(&true)
        {
            out.push_str(&format!("%{b:02X}"));
        } else if b.is_ascii() {
            out.push(char::from(b));
        } else {
            // Keep UTF-8 sequences whole when not encoded.
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// A JSON string literal with every character randomly escaped (\uXXXX, surrogate pairs).
fn json_string(s: &str, enc: &[bool]) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        let escape = enc.get(i % enc.len().max(1)) == Some(&true);
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || escape => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON document (objects, arrays, strings, small numbers) and its decoded strings.
fn json_doc() -> impl Strategy<Value = (String, Vec<String>)> {
    json_doc_with(false)
}

/// With `rich`, also sensitive keys, PANs as numbers with exponents, and nested JSON.
fn json_doc_with(rich: bool) -> impl Strategy<Value = (String, Vec<String>)> {
    let rich_leaf = prop_oneof![
        prop::sample::select(vec![
            "4.242424242424242e15",
            "42424242424242420E-1",
            "4242424242424242",
            "-5555555555554444.0",
            "1e5",
            "3.78282246310005E14",
            "0.0",
            "12",
        ])
        .prop_map(|n| (n.to_owned(), vec![])),
        (text(), prop::collection::vec(any::<bool>(), 1..8)).prop_map(|(s, e)| {
            let inner = format!("{{\"cvc\":\"{s}\",\"n\":[{}]}}", json_string(&s, &e));
            (json_string(&inner, &e), vec![])
        }),
    ];
    let plain_leaf = prop_oneof![
        (text(), prop::collection::vec(any::<bool>(), 1..8)).prop_map(|(s, e)| {
            // A string starting with '{' or '[' would be scanned as nested JSON.
            let s = if s.trim_start().starts_with(['{', '[']) {
                format!("x{s}")
            } else {
                s
            };
            (json_string(&s, &e), vec![s])
        }),
        (0u32..100000).prop_map(|n| (n.to_string(), vec![])),
        Just(("true".to_owned(), vec![])),
        Just(("null".to_owned(), vec![])),
    ];
    let leaf = if rich {
        prop_oneof![3 => plain_leaf, 1 => rich_leaf].boxed()
    } else {
        plain_leaf.boxed()
    };
    let key = if rich {
        prop_oneof![
            "[a-z_]{1,8}".boxed(),
            prop::sample::select(vec![
                "cvc",
                "card[cvc]",
                "expiry",
                "exp_month",
                "cardholderName",
                "card_number",
                "month"
            ])
            .prop_map(str::to_owned)
            .boxed(),
        ]
        .boxed()
    } else {
        "[a-z_]{1,8}|\\PC{0,3}".boxed()
    };
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| {
                let text = format!(
                    "[{}]",
                    v.iter().map(|x| x.0.clone()).collect::<Vec<_>>().join(",")
                );
                (text, v.into_iter().flat_map(|x| x.1).collect())
            }),
            prop::collection::vec(
                (
                    key.clone(),
                    prop::collection::vec(any::<bool>(), 1..4),
                    inner
                ),
                0..6
            )
            .prop_map(|v| {
                let mut strings = Vec::new();
                let members: Vec<String> = v
                    .into_iter()
                    .map(|(k, e, (val, s))| {
                        strings.push(k.clone());
                        strings.extend(s);
                        format!("{} : {}", json_string(&k, &e), val)
                    })
                    .collect();
                (format!("{{ {} }}", members.join(",\n")), strings)
            }),
        ]
    })
}

/// Every field of every finding, in order: what a resumed scan must reproduce exactly.
type FullView = (View, Option<std::ops::Range<usize>>, Vec<bool>);

/// `fast`: [`Scanner::scan`] (prefilter, resume); else the exact stream from the start.
fn full_views(input: &[u8], isa: outscope_scanner::Isa, fast: bool) -> Vec<FullView> {
    let found = if fast {
        let s = outscope_scanner::Scanner::with_isa(Mode::Json, isa).expect("isa available");
        s.scan(input)
    } else {
        stream_findings(input, Mode::Json, isa, &[])
    };
    full(found)
}

/// The JSON stream over `text` cut at `cuts` equals feeding the exact machine one byte at a
/// time, in every field of every finding, on every ISA.
fn bulk_equals_bytewise(text: &str, cuts: &[usize]) -> Result<(), TestCaseError> {
    for isa in available_isas() {
        let want = full(outscope_scanner::json_scan_bytewise(text.as_bytes(), isa));
        let got = full(stream_findings(text.as_bytes(), Mode::Json, isa, cuts));
        prop_assert_eq!(&got, &want, "{:?} {}", isa, text);
    }
    Ok(())
}

/// [`full_views`] of findings already made.
fn full(found: Vec<outscope_scanner::Finding>) -> Vec<FullView> {
    use outscope_scanner::How;
    let flags = [
        How::SEPARATED,
        How::UNICODE_DIGITS,
        How::JSON_ESCAPE,
        How::PERCENT_ENCODED,
        How::JSON_NUMBER,
        How::KEY_NAME,
        How::NESTED_JSON,
    ];
    found
        .iter()
        .map(|f| {
            let how = flags.iter().map(|&h| f.how.contains(h)).collect();
            (view(f), f.key_span.clone(), how)
        })
        .collect()
}

/// A member holding no card data: plain, digit-heavy (but short), accented, redacted or
/// over-long keys; strings, numbers, literals, and small containers of them.
fn plain_member() -> impl Strategy<Value = String> {
    let key = member_key();
    let scalar = prop_oneof![
        3 => "[a-zA-Z .,:/@+-]{0,24}([0-9]{1,6}[a-z -]{1,3}){0,3}".prop_map(|s| format!("\"{s}\"")),
        1 => prop::sample::select(vec!["\"Zoë Müller\"", "\"日本語 テキスト\"", "\"Ünïcödé 12\""]).prop_map(str::to_owned),
        2 => (0u64..100_000_000_000).prop_map(|n| n.to_string()),
        1 => "-?[0-9]{1,6}\\.[0-9]{1,3}",
        1 => prop::sample::select(vec!["true", "false", "null", "[]", "{}", "\"\"", "\"[1,2]\"", "\"{x}\""]).prop_map(str::to_owned),
    ];
    let value = prop_oneof![
        4 => scalar.clone(),
        1 => prop::collection::vec(scalar.clone(), 1..4).prop_map(|v| format!("[{}]", v.join(", "))),
        1 => prop::collection::vec(("[a-z]{1,6}", scalar), 1..3).prop_map(|v| {
            let members: Vec<String> = v.iter().map(|(k, x)| format!("\"{k}\": {x}")).collect();
            format!("{{{}}}", members.join(","))
        }),
    ];
    (key, value, prop::sample::select(vec!["", " "]))
        .prop_map(|(k, v, ws)| format!("\"{k}\"{ws}:{ws}{v}"))
}

/// A key holding no card data: plain, digit-heavy (a key path shows it as `<redacted>`),
/// camel case, or longer than a key path keeps.
fn member_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z_]{1,10}",
        1 => "[a-z]{1,3}[0-9]{5,7}",
        1 => "[A-Z][a-z]{2,5}(Id|Name)",
        1 => Just("k".repeat(300)),
    ]
}

/// A member the prefilter flags: card numbers (string, number, exponent, separated,
/// escaped, track data, nested JSON) and sensitive keys.
fn hot_member() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        r#""number":"4242424242424242""#,
        r#""number" : "4242 4242 4242 4242""#,
        r#""pan":5555555555554444"#,
        r#""amount":4.242424242424242e15"#,
        r#""note":"paid with 4000 0566 5566 5556 today""#,
        r#""note":"a \"quoted\" 4242424242424242""#,
        r#""esc":"\u0034242424242424242""#,
        r#""t2":";4242424242424242=2812101000?""#,
        r#""t1":"%B4242424242424242^DOE/JOHN^2812101000""#,
        r#""cvc":"123""#,
        r#""card[cvc]":"999""#,
        r#""exp_month" : 12"#,
        r#""cardholderName":"Jane Doe""#,
        r#""card":{"number":"378282246310005","cvc":"1234"}"#,
        r#""nested":"{\"card_number\":\"6011111111111117\"}""#,
        r#""id":"order 36227206271667""#,
    ])
    .prop_map(str::to_owned)
}

#[test]
fn a_card_late_in_a_long_document_is_read_exactly_only_from_near_it() {
    let items: Vec<String> = (0..40)
        .map(|i| format!(r#"{{"sku":"SKU-{i:04}","qty":{i},"note":"gift wrap"}}"#))
        .collect();
    let doc = format!(
        r#"{{"id":"ord_1","items":[{}],"payment":{{"card":{{"number":"4242424242424242","cvc":"123"}}}},"status":"paid"}}"#,
        items.join(",")
    );
    let pan = doc.find("4242424242424242").unwrap();
    let at = outscope_scanner::json_exact_from(doc.as_bytes()).unwrap();
    assert!(
        at + 64 + 32 > pan && at <= pan,
        "resumed at {at}, the card number is at {pan} of {}",
        doc.len()
    );
    let found = scan_all(doc.as_bytes(), Mode::Json);
    let paths: Vec<(&str, Option<&str>)> = found
        .iter()
        .map(|v| (v.0.as_str(), v.3.as_deref()))
        .collect();
    assert_eq!(
        paths,
        vec![
            ("pan", Some("payment.card.number")),
            ("Cvv", Some("payment.card.cvc"))
        ]
    );
    // A document that is clean up to a sensitive key deep in an array of objects.
    let doc = format!(r#"[{},{{"a":{{"card[cvc]":"999"}}}}]"#, items.join(","));
    assert!(outscope_scanner::json_exact_from(doc.as_bytes()).unwrap() > 0);
    let found = scan_all(doc.as_bytes(), Mode::Json);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].3.as_deref(), Some("[40].a.card[cvc]"));
}

/// Invalid UTF-8: a stray continuation byte, truncated sequences, an overlong encoding, an
/// encoded surrogate, bytes that never appear in UTF-8.
fn broken_utf8() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        vec![0x99u8],
        vec![0xc3],
        vec![0xef, 0x94],
        vec![0xef, 0xbc],
        vec![0xf0, 0x9f, 0x98],
        vec![0xe0, 0x80, 0x80],
        vec![0xed, 0xa0, 0x80],
        vec![0xff],
        vec![0xc0, 0xaf],
    ])
}

/// Raw mode on every ISA, whole and cut at `cuts`, equals the oracle.
fn raw_matches_oracle(input: &[u8], cuts: &[usize]) -> Result<(), TestCaseError> {
    let want = oracle_view(input);
    for isa in available_isas() {
        prop_assert_eq!(&scan_isa(input, Mode::Raw, isa), &want, "{:?} whole", isa);
        prop_assert_eq!(
            &scan_chunks(input, Mode::Raw, isa, cuts),
            &want,
            "{:?} chunks",
            isa
        );
    }
    Ok(())
}
