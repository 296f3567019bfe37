//! Table tests grouped by theme. Only public test card numbers appear here.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup errors
mod common;
use common::*;
use outscope_scanner::{Brand, Field, How, Kind, Mode, scan};

const VISA: &str = "4242424242424242";

fn one_pan(input: &[u8], mode: Mode) -> String {
    let p = pans(input, mode);
    assert_eq!(
        p.len(),
        1,
        "expected one PAN in {:?}, got {}",
        String::from_utf8_lossy(input),
        p.len()
    );
    p.into_iter().next().unwrap_or_default()
}

mod brands {
    use super::*;

    #[test]
    fn stripe_test_numbers_are_found_with_their_brand() {
        let cases = [
            ("4242424242424242", Brand::Visa),
            ("4000056655665556", Brand::Visa),
            ("5555555555554444", Brand::Mastercard),
            ("2223003122003222", Brand::Mastercard),
            ("5200828282828210", Brand::Mastercard),
            ("378282246310005", Brand::Amex),
            ("6011111111111117", Brand::Discover),
            ("3056930009020004", Brand::DinersClub),
            ("36227206271667", Brand::DinersClub),
            ("3566002020360505", Brand::Jcb),
            ("6200000000000005", Brand::UnionPay),
        ];
        for (pan, brand) in cases {
            let text = format!("pay with {pan} today");
            let f = scan(text.as_bytes(), Mode::Raw);
            assert_eq!(f.len(), 1, "{brand:?}");
            let p = f[0].pan().expect("pan");
            assert_eq!(p.brand(), brand);
            assert_eq!(p.digits().expose(), pan.as_bytes());
            assert_eq!(&p.last4(), &pan.as_bytes()[pan.len() - 4..]);
            assert_eq!(&text.as_bytes()[f[0].span.clone()], pan.as_bytes());
            assert_eq!(f[0].how, How::PLAIN);
        }
    }

    #[test]
    fn masked_form_shows_bin6_and_last4_only() {
        let f = scan(b"x 5555555555554444 y", Mode::Raw);
        assert_eq!(
            f[0].pan().map(|p| p.digits().masked()).as_deref(),
            Some("555555******4444")
        );
    }

    #[test]
    fn debug_never_shows_the_digits() {
        let f = scan(br#"{"cvc":"987","n":"4242424242424242"}"#, Mode::Json);
        assert_eq!(f.len(), 2);
        for x in &f {
            let dbg = format!("{x:?}");
            assert!(!dbg.contains("424242424242"), "{dbg}");
            assert!(!dbg.contains("987"), "{dbg}");
        }
    }
}

mod separators {
    use super::*;

    #[test]
    fn ascii_and_unicode_separators_are_allowed() {
        let cases = [
            "4242 4242 4242 4242",
            "4242-4242-4242-4242",
            "4242.4242.4242.4242",
            "4242_4242_4242_4242",
            "4242 - 4242 - 4242 - 4242",
            "4242\u{a0}4242\u{a0}4242\u{a0}4242",
            "4242\u{2009}4242\u{2009}4242\u{2009}4242",
            "4242\u{200b}4242\u{200b}4242\u{200b}4242",
            "4\u{ad}242\u{ad}4242\u{ad}4242\u{ad}4242",
            "4\u{200b}2\u{200b}4\u{200b}2\u{200b}4\u{200b}2\u{200b}4242424242",
            "4242\u{3000}4242\u{2060}4242\u{feff}4242",
        ];
        for c in cases {
            let text = format!("card: {c}.");
            assert_eq!(one_pan(text.as_bytes(), Mode::Raw), VISA, "{c:?}");
            let f = scan(text.as_bytes(), Mode::Raw);
            assert!(f[0].how.contains(How::SEPARATED), "{c:?}");
            assert_eq!(&text.as_bytes()[f[0].span.clone()], c.as_bytes(), "{c:?}");
        }
    }

    #[test]
    fn four_separators_split_the_number() {
        assert!(pans(b"4242    4242 4242 4242", Mode::Raw).is_empty());
        assert!(pans(b"4242 4242 4242 4242", Mode::Raw).len() == 1);
    }

    #[test]
    fn trailing_expiry_after_a_space_does_not_hide_the_pan() {
        assert_eq!(one_pan(b"4242424242424242 12/28 123", Mode::Raw), VISA);
        assert_eq!(one_pan(b"4242 4242 4242 4242 12 28", Mode::Raw), VISA);
    }
}

mod unicode_digits {
    use super::*;

    fn shift(pan: &str, zero: u32) -> String {
        pan.bytes()
            .map(|b| char::from_u32(zero + u32::from(b - b'0')).unwrap())
            .collect()
    }

    #[test]
    fn digits_of_other_scripts_are_read() {
        for zero in [
            0xFF10, 0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0x1D7CE, 0x1D7F6,
        ] {
            let text = format!("n={}!", shift(VISA, zero));
            assert_eq!(one_pan(text.as_bytes(), Mode::Raw), VISA, "{zero:x}");
            let f = scan(text.as_bytes(), Mode::Raw);
            assert!(f[0].how.contains(How::UNICODE_DIGITS));
        }
    }

    #[test]
    fn mixed_scripts_and_separators() {
        let text = format!(
            "{} {}-{}",
            &shift("4242", 0xFF10),
            "4242",
            shift("42424242", 0x0966)
        );
        assert_eq!(one_pan(text.as_bytes(), Mode::Raw), VISA);
    }

    #[test]
    fn invalid_utf8_breaks_a_run() {
        let mut v = b"42424242".to_vec();
        v.push(0xFF);
        v.extend_from_slice(b"42424242");
        assert!(pans(&v, Mode::Raw).is_empty());
    }
}

mod luhn_failures_and_near_misses {
    use super::*;

    #[test]
    fn not_card_numbers() {
        let cases: &[&[u8]] = &[
            b"4242424242424241",     // Luhn fails
            b"424242424242",         // too short for Visa
            b"42424242424242424242", // 20 digits, one group
            b"14242424242424242",    // glued to another digit
            b"9999999999999995",     // Luhn passes, no IIN row
            b"4242 4242 4242 424",   // 15 digits
            b"4242/4242/4242/4242",  // '/' is not a separator
            b"4242,4242,4242,4242",
            b"+1-555-010-1234",                      // phone number
            b"2024-05-01 12:34:56.789",              // timestamp
            b"9f1c2d3e-4a5b-4c6d-8e7f-901234567890", // UUID
        ];
        for c in cases {
            assert!(
                pans(c, Mode::Raw).is_empty(),
                "{}",
                String::from_utf8_lossy(c)
            );
        }
    }

    #[test]
    fn letters_around_a_pan_do_not_hide_it() {
        assert_eq!(one_pan(b"abc4242424242424242def", Mode::Raw), VISA);
    }
}

mod false_positive_shapes {
    use super::*;

    /// Documented trade-off: a Luhn-valid number with a card prefix and length is reported
    /// whatever its key; the key path lets the caller decide.
    #[test]
    fn luhn_valid_ids_are_reported_with_their_key() {
        let f = scan(br#"{"order_id": 4242424242424242}"#, Mode::Json);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].key_path.as_deref(), Some("order_id"));
    }

    #[test]
    fn groups_are_tried_longest_first() {
        // 19 digits whose first 16 are a PAN: the greedy rule takes the 16.
        assert_eq!(one_pan(b"4242 4242 4242 4242 123", Mode::Raw), VISA);
    }
}

mod json {
    use super::*;

    #[test]
    fn escapes_numbers_and_key_paths() {
        let cases: &[(&str, &str)] = &[
            (r#"{"card":{"number":"4242424242424242"}}"#, "card.number"),
            (r#"{"n":"\u0034\u0032\u0034\u0032424242424242"}"#, "n"),
            (r#"{"n":"4242\u00a04242\u200b4242 4242"}"#, "n"),
            (r#"{"n":"\ud835\udfd2242424242424242"}"#, "n"),
            (r#"{"n":4242424242424242}"#, "n"),
            (r#"{"n":4.242424242424242e15}"#, "n"),
            (r#"{"n":42424242424242420E-1}"#, "n"),
            (
                r#"{"items":[{"a":1},{"card":["x","4242424242424242"]}]}"#,
                "items[1].card[1]",
            ),
            (r#"{"c\u0061rd":{"n":"4242424242424242"}}"#, "card.n"),
        ];
        for (doc, path) in cases {
            let v = scan_all(doc.as_bytes(), Mode::Json);
            let p: Vec<_> = v.iter().filter(|x| x.0 == "pan").collect();
            assert_eq!(p.len(), 1, "{doc}");
            assert_eq!(p[0].2, VISA, "{doc}");
            assert_eq!(p[0].3.as_deref(), Some(*path), "{doc}");
        }
    }

    #[test]
    fn escape_flags_and_number_spans() {
        let doc = br#"{"n":"\u0034242424242424242","m":4.242424242424242e15}"#;
        let f = scan(doc, Mode::Json);
        assert_eq!(f.len(), 2);
        assert!(f[0].how.contains(How::JSON_ESCAPE));
        assert_eq!(&doc[f[0].span.clone()], br"\u0034242424242424242");
        assert!(f[1].how.contains(How::JSON_NUMBER));
        assert_eq!(&doc[f[1].span.clone()], b"4.242424242424242e15");
    }

    #[test]
    fn sensitive_fields_by_key_name() {
        let doc = br#"{"card":{"cvc":"123","exp_month":12,"expYear":"2028","cardholder_name":"Jane Doe","security-code":987,"CVV2":null}}"#;
        let v = scan_all(doc, Mode::Json);
        let fields: Vec<(String, String, Option<String>)> = v
            .iter()
            .map(|x| (x.0.clone(), x.2.clone(), x.3.clone()))
            .collect();
        let want = [
            ("Cvv", "123", "card.cvc"),
            ("Expiry", "12", "card.exp_month"),
            ("Expiry", "2028", "card.expYear"),
            ("Cardholder", "Jane Doe", "card.cardholder_name"),
            ("Cvv", "987", "card.security-code"),
            ("Cvv", "null", "card.CVV2"),
        ];
        assert_eq!(fields.len(), want.len(), "{fields:?}");
        for (k, val, path) in want {
            assert!(
                fields
                    .iter()
                    .any(|f| f.0 == k && f.1 == val && f.2.as_deref() == Some(path)),
                "{k} {path}"
            );
        }
        let f = scan(doc, Mode::Json);
        let cvc = f
            .iter()
            .find(|x| x.kind == Kind::Field(Field::Cvv))
            .unwrap();
        assert_eq!(&doc[cvc.span.clone()], br#""123""#);
        assert_eq!(&doc[cvc.key_span.clone().unwrap()], br#""cvc""#);
    }

    #[test]
    fn expiry_object_members_inherit_the_field() {
        let doc = br#"{"expiry":{"month":"12","year":"28"},"month":"1"}"#;
        let v = scan_all(doc, Mode::Json);
        let exp: Vec<_> = v
            .iter()
            .filter(|x| x.0 == "Expiry")
            .map(|x| x.3.clone().unwrap())
            .collect();
        assert_eq!(exp, ["expiry.month", "expiry.year"]);
    }

    #[test]
    fn escaped_key_names_are_recognized() {
        let v = scan_all(br#"{"c\u0076c":"123"}"#, Mode::Json);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, "Cvv");
    }

    #[test]
    fn json_inside_a_json_string() {
        let doc = br#"{"payload":"{\"card\":{\"number\":\"4242424242424242\",\"cvc\":\"123\"}}"}"#;
        let v = scan_all(doc, Mode::Json);
        assert!(
            v.iter()
                .any(|x| x.0 == "pan" && x.3.as_deref() == Some("payload.card.number")),
            "{v:?}"
        );
        assert!(
            v.iter().any(|x| x.0 == "Cvv"
                && x.2 == "123"
                && x.3.as_deref() == Some("payload.card.cvc"))
        );
        let f = scan(doc, Mode::Json);
        let pan = f.iter().find(|x| x.kind == Kind::Pan).unwrap();
        assert!(pan.how.contains(How::NESTED_JSON));
        assert_eq!(&doc[pan.span.clone()], VISA.as_bytes());
    }

    #[test]
    fn json_inside_a_json_string_opened_by_an_escaped_bracket() {
        // `\u007b` is `{`: the decoded first character decides that the string is JSON
        // (the whole-chunk stream once decided on the raw backslash, and missed the CVV).
        let doc = br#"{"payload":"\u007b\"cvc\":\"123\"}"}"#;
        let v = scan_all(doc, Mode::Json);
        assert!(
            v.iter()
                .any(|x| x.0 == "Cvv" && x.2 == "123" && x.3.as_deref() == Some("payload.cvc")),
            "{v:?}"
        );
    }
    #[test]
    fn raw_fallback_reads_the_byte_that_broke_the_json() {
        // `B` is not JSON: raw mode takes over at it, and it opens track 1 data. Whole
        // inputs once started raw mode with no history, so they saw a plain card number
        // where byte-by-byte feeding saw track 1 (and a track 2 span began a byte late).
        for (doc, kind) in [
            (
                &b"{\"t\":B4242424242424242^DOE/JOHN^2812101000}"[..],
                "track1",
            ),
            (b"{\"t\":;4242424242424242=28121010000000000000?}", "track2"),
        ] {
            let v = scan_all(doc, Mode::Json);
            assert_eq!(v.len(), 1, "{v:?}");
            assert_eq!(v[0].0, kind, "{v:?}");
            assert_eq!(v[0].1.start, 5, "{v:?}");
            for isa in outscope_scanner::available_isas() {
                let bytewise: Vec<View> = outscope_scanner::json_scan_bytewise(doc, isa)
                    .iter()
                    .map(view)
                    .collect();
                assert_eq!(bytewise, v, "{isa:?}");
            }
        }
    }

    #[test]
    fn invalid_json_falls_back_to_raw() {
        let doc = b"{\"a\": nope 4242 4242 4242 4242 }";
        assert_eq!(pans(doc, Mode::Json), [VISA]);
        let mut st = outscope_scanner::Scanner::new(Mode::Json).stream();
        let mut out = Vec::new();
        st.feed(doc, &mut out);
        st.finish(&mut out);
        assert_eq!(st.json_error(), Some(6));
    }

    #[test]
    fn pan_as_key_is_found_and_redacted_from_paths() {
        let v = scan_all(
            br#"{"4242424242424242":{"x":"5555555555554444"}}"#,
            Mode::Json,
        );
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].3.as_deref(), Some("<redacted>.x"));
    }

    #[test]
    fn clean_documents_have_no_findings() {
        let doc = br#"{"id":"9f1c2d3e-4a5b-4c6d-8e7f-901234567890","created":"2024-05-01T12:34:56Z","amount":1999,"phone":"+1-555-010-1234","name":"Jane","zip_code":"94107"}"#;
        assert!(scan_all(doc, Mode::Json).is_empty());
    }
}

mod form {
    use super::*;

    #[test]
    fn percent_encoding_plus_and_brackets() {
        let body = b"card%5Bnumber%5D=4242+4242%204242%2D4242&card[cvc]=123&card[exp_month]=12";
        let v = scan_all(body, Mode::Form);
        assert!(
            v.iter()
                .any(|x| x.0 == "pan" && x.2 == VISA && x.3.as_deref() == Some("card[number]"))
        );
        assert!(
            v.iter()
                .any(|x| x.0 == "Cvv" && x.2 == "123" && x.3.as_deref() == Some("card[cvc]"))
        );
        assert!(v.iter().any(|x| x.0 == "Expiry" && x.2 == "12"));
        let f = scan(body, Mode::Form);
        let pan = f.iter().find(|x| x.kind == Kind::Pan).unwrap();
        assert!(pan.how.contains(How::PERCENT_ENCODED));
        assert_eq!(&body[pan.span.clone()], b"4242+4242%204242%2D4242");
    }

    #[test]
    fn every_digit_percent_encoded_and_utf8_across_escapes() {
        let enc: String = VISA.bytes().map(|b| format!("%{b:02X}")).collect();
        assert_eq!(one_pan(format!("q={enc}").as_bytes(), Mode::Form), VISA);
        // Zero-width space as %E2%80%8B between groups; full-width digits as %EF%BC%94.
        let zw = "4242%E2%80%8B4242%E2%80%8B4242%E2%80%8B4242";
        assert_eq!(one_pan(format!("a=1&b={zw}").as_bytes(), Mode::Form), VISA);
        assert_eq!(one_pan(b"x=%EF%BC%94242424242424242", Mode::Form), VISA);
    }

    #[test]
    fn ampersand_and_equals_split_encoded_ones_do_not() {
        assert!(pans(b"a=42424242&b=42424242", Mode::Form).is_empty());
        assert!(pans(b"a=4242424242424242%26", Mode::Form).len() == 1);
        assert!(pans(b"a=4242%2042%", Mode::Form).is_empty());
    }
}

mod track_data {
    use super::*;

    #[test]
    fn track2_and_track1_shapes() {
        let t2 = b"x;4242424242424242=28121010000000000000?y";
        let v = scan_all(t2, Mode::Raw);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, "track2");
        assert_eq!(&t2[v[0].1.clone()], &t2[1..40]);

        let t1 = b"%B4242424242424242^DOE/JANE^2812101000000000000?";
        let v = scan_all(t1, Mode::Raw);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].0, "track1");
        assert_eq!(v[0].1, 0..t1.len());
    }

    #[test]
    fn incomplete_track_is_a_plain_pan() {
        let v = scan_all(b"4242424242424242=2812", Mode::Raw);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, "pan");
    }

    #[test]
    fn track_data_inside_json() {
        let v = scan_all(br#"{"t":";4242424242424242=2812101000?"}"#, Mode::Json);
        assert_eq!(v[0].0, "track2");
    }
}

mod egress {
    use super::*;

    #[test]
    fn cheap_checks() {
        assert!(!outscope_scanner::might_contain_pan(
            br#"{"a":"hello","n":123}"#
        ));
        assert!(outscope_scanner::might_contain_pan(b"4242 4242 4242 4242"));
        assert!(outscope_scanner::might_contain_pan(br#""\u0034""#));
        assert!(outscope_scanner::contains_pan(
            b"4242-4242-4242-4242",
            Mode::Raw
        ));
        assert!(!outscope_scanner::contains_pan(
            br#"{"cvc":"123"}"#,
            Mode::Json
        ));
    }
}

mod invalid_utf8 {
    use super::*;

    /// Found by `scripts/fuzz-smoke raw`: a track 1 name holding broken multi-byte
    /// sequences. Each invalid byte is one replacement character (the oracle's rule), so
    /// this name has 28 characters, more than track 1 allows: a plain PAN, not track data.
    #[test]
    fn every_invalid_byte_in_a_track_name_counts_as_one_character() {
        let mut doc = b"%B4242424242424242^DOE/J?;4242481210E24,".to_vec();
        doc.extend_from_slice(&[0x99, b'1', 0xef, 0x94, 0xef, 0xbc, b'4']);
        doc.extend_from_slice(b"^2812101000");
        let found = scan_all(&doc, Mode::Raw);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "pan");
        // A shorter name (23 characters) is track 1.
        let mut short = b"%B4242424242424242^DOE/J?;4242481210E24".to_vec();
        short.extend_from_slice(&[0xef, 0x94, b'4']);
        short.extend_from_slice(b"^2812101000");
        assert_eq!(scan_all(&short, Mode::Raw)[0].0, "track1");
        // The fuzzer's input as it was, against the oracle.
        let crash: &[u8] = &[
            165, 37, 66, 52, 50, 52, 50, 52, 50, 52, 50, 52, 50, 52, 50, 52, 50, 52, 50, 94, 68,
            79, 69, 47, 74, 63, 59, 52, 50, 52, 50, 52, 56, 49, 50, 49, 48, 69, 50, 52, 44, 153,
            49, 239, 148, 239, 188, 52, 94, 50, 56, 49, 50, 49, 239, 188, 146, 239, 188, 148, 239,
            188, 146, 52, 50, 52, 50, 56, 52, 56, 53, 112,
        ];
        let want: Vec<(String, std::ops::Range<usize>)> = outscope_scanner::oracle::raw(crash)
            .into_iter()
            .map(|(k, span, _)| (k.to_owned(), span))
            .collect();
        let got: Vec<(String, std::ops::Range<usize>)> = scan_all(crash, Mode::Raw)
            .into_iter()
            .map(|v| (v.0, v.1))
            .collect();
        assert_eq!(got, want);
        assert_eq!(want, vec![("pan".to_owned(), 3..19)]);
    }
}
