//! `[tokenizer]` and `[routes.inspection]`: one story per rule, as in `rules.rs` (the exact
//! key path, a fragment of the message, and no other problem).

mod common;

use common::{before, case, case_among, check, edit, plus};

const STRIPE: &str = "[tokenizer]\nkind = \"stripe\"\nsecret_key = \"env://STRIPE_SECRET_KEY\"";
const LOCAL: &str = "[tokenizer]\nkind = \"local\"\nkeys = \"file:///etc/outscope/vault-keys\"\n\
                     fingerprint_key = \"file:///etc/outscope/vault-fingerprint-key\"";

/// A local tokenizer with a `[vault]` section to take data keys from.
const LOCAL_WITH_VAULT: &str = "[vault]\naddress = \"https://vault.internal:8200\"\n\
                                [vault.auth]\nmethod = \"token\"\ntoken = \"env://VT\"\n\n\
                                [tokenizer]\nkind = \"local\"\n\
                                fingerprint_key = \"file:///etc/outscope/vault-fingerprint-key\"";

/// The fixture with a `[tokenizer]` section: `kind`'s base lines followed by `extra`.
fn tokenizer(base: &str, extra: &str) -> String {
    plus(&format!("{base}\n{extra}"))
}

/// The fixture's route with `[routes.inspection]` holding `body`, and a Stripe tokenizer.
fn inspection(body: &str) -> String {
    plus(&format!("[routes.inspection]\n{body}\n\n{STRIPE}"))
}

/// As [`inspection`], without a tokenizer.
fn inspection_alone(body: &str) -> String {
    plus(&format!("[routes.inspection]\n{body}"))
}

/// The fixture's route with one card rule holding `body` (and a Stripe tokenizer).
fn card(body: &str) -> String {
    plus(&format!("[[routes.inspection.cards]]\n{body}\n\n{STRIPE}"))
}

const CARD0: &str = "routes[0].inspection.cards[0]";

#[test]
fn tokenizer_kinds_and_their_keys() {
    check(vec![
        case(
            "a tokenizer names its kind",
            plus("[tokenizer]\nsecret_key = \"env://STRIPE_SECRET_KEY\""),
            "tokenizer.kind",
            "missing required key",
        ),
        case(
            "the kind is stripe or local",
            plus("[tokenizer]\nkind = \"vgs\""),
            "tokenizer.kind",
            "expected one of \"stripe\", \"local\"",
        ),
        case(
            "a local key in a stripe tokenizer is refused, not ignored",
            tokenizer(STRIPE, "store = \"memory\""),
            "tokenizer.store",
            "only applies with kind = \"local\"",
        ),
        case(
            "a stripe key in a local tokenizer is refused, not ignored",
            tokenizer(LOCAL, "timeout = \"5s\""),
            "tokenizer.timeout",
            "only applies with kind = \"stripe\"",
        ),
        case(
            "a misspelt tokenizer key gets a suggestion",
            tokenizer(STRIPE, "max_retires = 3"),
            "tokenizer.max_retires",
            "did you mean `max_retries`?",
        ),
        case(
            "the tokenizer is a table",
            before("tokenizer = \"stripe\""),
            "tokenizer",
            "expected a table, found a string",
        ),
    ]);
}

#[test]
fn stripe_tokenizers() {
    check(vec![
        case(
            "stripe needs its secret key",
            plus("[tokenizer]\nkind = \"stripe\""),
            "tokenizer.secret_key",
            "missing required key",
        ),
        case(
            "the secret key is a reference, never the key",
            plus("[tokenizer]\nkind = \"stripe\"\nsecret_key = \"sk_live_abc\""),
            "tokenizer.secret_key",
            "secrets cannot be written in the config",
        ),
        case(
            "plain http to a remote api_base is refused",
            tokenizer(STRIPE, "api_base = \"http://api.stripe.com\""),
            "tokenizer.api_base",
            "http:// is only allowed for a loopback host",
        ),
        case(
            "api_base is an https URL",
            tokenizer(STRIPE, "api_base = \"ftp://api.stripe.com\""),
            "tokenizer.api_base",
            "scheme must be https://",
        ),
        case(
            "api_base carries no credentials",
            tokenizer(STRIPE, "api_base = \"https://sk_live_x@api.stripe.com\""),
            "tokenizer.api_base",
            "must not contain credentials",
        ),
        case(
            "create is payment_method or token",
            tokenizer(STRIPE, "create = \"charge\""),
            "tokenizer.create",
            "expected one of \"payment_method\", \"token\"",
        ),
        case(
            "the timeout is longer than zero",
            tokenizer(STRIPE, "timeout = \"0s\""),
            "tokenizer.timeout",
            "must be longer than zero",
        ),
        case(
            "the connect timeout fits in the timeout",
            tokenizer(STRIPE, "timeout = \"1s\"\nconnect_timeout = \"2s\""),
            "tokenizer.connect_timeout",
            "must not be longer than timeout",
        ),
        case(
            "retries are bounded",
            tokenizer(STRIPE, "max_retries = 11"),
            "tokenizer.max_retries",
            "must be at most 10",
        ),
        case(
            "retries are not negative",
            tokenizer(STRIPE, "max_retries = -1"),
            "tokenizer.max_retries",
            "must not be negative",
        ),
        case(
            "the breaker opens after at least one failure",
            tokenizer(STRIPE, "breaker_failures = 0"),
            "tokenizer.breaker_failures",
            "must be at least 1",
        ),
        case(
            "the breaker stays open for some time",
            tokenizer(STRIPE, "breaker_cool_down = \"0s\""),
            "tokenizer.breaker_cool_down",
            "must be longer than zero",
        ),
        case(
            "an extra CA is for https only",
            tokenizer(
                STRIPE,
                "api_base = \"http://127.0.0.1:12111\"\nca = \"file:///etc/outscope/ca.pem\"",
            ),
            "tokenizer.ca",
            "only applies to an https:// api_base",
        ),
    ]);
}

#[test]
fn local_tokenizers() {
    check(vec![
        case(
            "the local vault needs its encryption keys",
            plus("[tokenizer]\nkind = \"local\"\nfingerprint_key = \"env://FP\""),
            "tokenizer.keys",
            "missing required key (or transit_key",
        ),
        case(
            "data keys from transit need [vault]",
            tokenizer(LOCAL, "transit_key = \"outscope-local\""),
            "tokenizer.transit_key",
            "needs a [vault] section",
        ),
        case(
            "a transit key name is a plain name",
            tokenizer(LOCAL_WITH_VAULT, "transit_key = \"../sys/seal\""),
            "tokenizer.transit_key",
            "must be 1 to 128 characters",
        ),
        case(
            "the transit mount and rotation belong to transit_key",
            tokenizer(LOCAL, "data_key_rotation = \"1h\""),
            "tokenizer.data_key_rotation",
            "only applies with transit_key",
        ),
        case(
            "data keys are not rotated more than once a minute",
            tokenizer(
                LOCAL_WITH_VAULT,
                "transit_key = \"k\"\ndata_key_rotation = \"10s\"",
            ),
            "tokenizer.data_key_rotation",
            "must be at least 1m",
        ),
        case(
            "a data key seals new cards for at most 30 days",
            tokenizer(
                LOCAL_WITH_VAULT,
                "transit_key = \"k\"\ndata_key_rotation = \"721h\"",
            ),
            "tokenizer.data_key_rotation",
            "must be at most 720h",
        ),
        case(
            "the local vault needs its fingerprint key",
            plus("[tokenizer]\nkind = \"local\"\nkeys = \"env://KEYS\""),
            "tokenizer.fingerprint_key",
            "missing required key",
        ),
        case(
            "the fingerprint key is not one of the encryption keys",
            plus(
                "[tokenizer]\nkind = \"local\"\nkeys = \"env://KEYS\"\nfingerprint_key = \"env://KEYS\"",
            ),
            "tokenizer.fingerprint_key",
            "must be a different secret from keys",
        ),
        case(
            "keys are references",
            plus(
                "[tokenizer]\nkind = \"local\"\nkeys = \"k1:AAAA\"\nfingerprint_key = \"env://FP\"",
            ),
            "tokenizer.keys",
            "secrets cannot be written in the config",
        ),
        case(
            "a Redis store needs [redis]",
            tokenizer(LOCAL, "store = \"redis\""),
            "tokenizer.store",
            "store = \"redis\" needs a [redis] section",
        ),
        case(
            "a Redis store needs one node, not a cluster",
            tokenizer(
                &format!("[redis]\nurl = \"redis://10.0.0.5:6379\"\ncluster = true\n\n{LOCAL}"),
                "store = \"redis\"",
            ),
            "tokenizer.store",
            "store = \"redis\" needs a single Redis node",
        ),
        case(
            "the store is memory or redis",
            tokenizer(LOCAL, "store = \"disk\""),
            "tokenizer.store",
            "expected one of \"memory\", \"redis\"",
        ),
        case(
            "the token format is random or alias",
            tokenizer(LOCAL, "token_format = \"fpe\""),
            "tokenizer.token_format",
            "expected one of \"random\", \"alias\"",
        ),
    ]);
}

#[test]
fn routes_that_tokenize_need_a_tokenizer() {
    check(vec![
        case(
            "a card rule needs a tokenizer",
            plus("[[routes.inspection.cards]]\njson_path = \"$.card\""),
            "routes[0].inspection.cards",
            "needs a [tokenizer] section",
        ),
        case(
            "tokenizing detected numbers needs a tokenizer",
            inspection_alone("on_detected = \"tokenize\""),
            "routes[0].inspection.on_detected",
            "needs a [tokenizer] section",
        ),
        case(
            "shadow mode needs the tokenizer too (switching to enforce must not fail)",
            inspection_alone(
                "mode = \"shadow\"\nacknowledge = \"card data reaches the backend\"\n\
                 on_detected = \"tokenize\"",
            ),
            "routes[0].inspection.on_detected",
            "needs a [tokenizer] section",
        ),
    ]);
}

#[test]
fn modes_that_let_card_data_through_need_the_acknowledgement() {
    check(vec![
        case(
            "shadow without the acknowledgement is refused",
            inspection_alone("mode = \"shadow\""),
            "routes[0].inspection.acknowledge",
            "confirm with acknowledge = \"card data reaches the backend\"",
        ),
        case(
            "off without the acknowledgement is refused",
            inspection_alone("mode = \"off\""),
            "routes[0].inspection.acknowledge",
            "missing required key",
        ),
        case(
            "anything but the exact phrase is refused",
            inspection_alone("mode = \"off\"\nacknowledge = \"yes\""),
            "routes[0].inspection.acknowledge",
            "must be exactly \"card data reaches the backend\"",
        ),
        case(
            "the phrase is not a boolean",
            inspection_alone("mode = \"off\"\nacknowledge = true"),
            "routes[0].inspection.acknowledge",
            "expected a string, found a boolean",
        ),
        case(
            "an acknowledgement without a mode that needs it is refused",
            inspection_alone("acknowledge = \"card data reaches the backend\""),
            "routes[0].inspection.acknowledge",
            "only applies with mode = \"shadow\" or \"off\"",
        ),
        case(
            "the mode is enforce, shadow or off",
            inspection_alone("mode = \"audit\""),
            "routes[0].inspection.mode",
            "expected one of \"enforce\", \"shadow\", \"off\"",
        ),
        case(
            "on_detected is tokenize, mask or reject",
            inspection_alone("on_detected = \"redact\""),
            "routes[0].inspection.on_detected",
            "expected one of \"tokenize\", \"mask\", \"reject\"",
        ),
    ]);
}

#[test]
fn body_types_encodings_and_limits() {
    check(vec![
        case(
            "a route accepts at least one body type",
            inspection_alone("content_types = []"),
            "routes[0].inspection.content_types",
            "must list at least one of",
        ),
        case(
            "body types are known names",
            inspection_alone("content_types = [\"json\", \"xml\"]"),
            "routes[0].inspection.content_types[1]",
            "expected one of \"json\", \"form\", \"multipart\", \"text\"",
        ),
        case(
            "a body type is listed once",
            inspection_alone("content_types = [\"json\", \"json\"]"),
            "routes[0].inspection.content_types[1]",
            "listed twice",
        ),
        case(
            "encodings are known names",
            inspection_alone("encodings = [\"compress\"]"),
            "routes[0].inspection.encodings[0]",
            "expected one of \"gzip\", \"deflate\", \"br\", \"zstd\"",
        ),
        case(
            "an encoding is listed once",
            inspection_alone("encodings = [\"br\", \"gzip\", \"br\"]"),
            "routes[0].inspection.encodings[2]",
            "listed twice",
        ),
        case(
            "the decompressed size limit is at least 1",
            inspection_alone("max_decompressed_bytes = 0"),
            "routes[0].inspection.max_decompressed_bytes",
            "must be at least 1",
        ),
        case(
            "a decompression ratio below 2 is refused",
            inspection_alone("max_decompression_ratio = 1"),
            "routes[0].inspection.max_decompression_ratio",
            "must be at least 2",
        ),
        case(
            "the JSON depth is at least 1",
            inspection_alone("max_json_depth = 0"),
            "routes[0].inspection.max_json_depth",
            "must be at least 1",
        ),
        case(
            "the JSON depth is bounded (the parser recurses)",
            inspection_alone("max_json_depth = 513"),
            "routes[0].inspection.max_json_depth",
            "must be at most 512",
        ),
        case(
            "the multipart part count is at least 1",
            inspection_alone("max_multipart_parts = 0"),
            "routes[0].inspection.max_multipart_parts",
            "must be at least 1",
        ),
        case(
            "file parts are scanned or rejected",
            inspection_alone("file_parts = \"ignore\""),
            "routes[0].inspection.file_parts",
            "expected one of \"scan\", \"reject\"",
        ),
        case(
            "a shape of digits alone would exempt real cards",
            inspection_alone("allow_shapes = [\"#### #### #### ####\"]"),
            "routes[0].inspection.allow_shapes[0]",
            "must contain a letter or symbol besides digits and separators",
        ),
        case(
            "a shape cannot spell out a card number",
            inspection_alone("allow_shapes = [\"ORD-4242424242424242\"]"),
            "routes[0].inspection.allow_shapes[0]",
            "must contain at least one `#`",
        ),
        case(
            "a shape is listed once",
            inspection_alone("allow_shapes = [\"ORD-#\", \"ORD-#\"]"),
            "routes[0].inspection.allow_shapes[1]",
            "listed twice",
        ),
        case(
            "a misspelt inspection key gets a suggestion",
            inspection_alone("on_detect = \"mask\""),
            "routes[0].inspection.on_detect",
            "did you mean `on_detected`?",
        ),
        case(
            "inspection is a table",
            edit(
                "upstream = \"api\"\n",
                "upstream = \"api\"\ninspection = \"off\"\n",
            ),
            "routes[0].inspection",
            "expected a table, found a string",
        ),
    ]);
}

#[test]
fn allowed_key_paths() {
    check(vec![
        case(
            "an empty key path is refused",
            inspection_alone("allow_key_paths = [\"order.reference\", \"\"]"),
            "routes[0].inspection.allow_key_paths[1]",
            "must not be empty",
        ),
        case(
            "a JSONPath is not a scanner key path",
            inspection_alone("allow_key_paths = [\"$.order.reference\"]"),
            "routes[0].inspection.allow_key_paths[0]",
            "not a JSONPath",
        ),
        case(
            "a key path is listed once",
            inspection_alone("allow_key_paths = [\"order.ref\", \"order.ref\"]"),
            "routes[0].inspection.allow_key_paths[1]",
            "listed twice",
        ),
        case(
            "key paths are strings",
            inspection_alone("allow_key_paths = [42]"),
            "routes[0].inspection.allow_key_paths[0]",
            "expected a string, found an integer",
        ),
    ]);
}

#[test]
fn card_rules_find_card_objects() {
    check(vec![
        case(
            "a card rule says where the card is",
            card("fields = { number = \"pan\" }"),
            "routes[0].inspection.cards[0].json_path",
            "set json_path (JSON bodies), form_prefix (forms and multipart) or both",
        ),
        case(
            "a JSONPath starts at $",
            card("json_path = \"payment.card\""),
            "routes[0].inspection.cards[0].json_path",
            "must be a JSONPath",
        ),
        case(
            "a JSONPath index is a number or *",
            card("json_path = \"$.items[x].card\""),
            "routes[0].inspection.cards[0].json_path",
            "[n] needs a non-negative integer",
        ),
        case(
            "a quoted JSONPath step is closed",
            card("json_path = \"$['card\""),
            "routes[0].inspection.cards[0].json_path",
            "unterminated",
        ),
        case(
            "a form prefix has no empty segment",
            card("form_prefix = \"card[]\""),
            "routes[0].inspection.cards[0].form_prefix",
            "must be a form field prefix",
        ),
        case(
            "a form prefix closes its brackets",
            card("form_prefix = \"payment_method_data[card\""),
            "routes[0].inspection.cards[0].form_prefix",
            "must be a form field prefix",
        ),
        case(
            "a JSON rule on a route that refuses JSON never applies",
            plus(&format!(
                "[routes.inspection]\ncontent_types = [\"form\"]\n\
                 [[routes.inspection.cards]]\njson_path = \"$.card\"\n{STRIPE}"
            )),
            "routes[0].inspection.cards[0].json_path",
            "never applies: content_types does not include \"json\"",
        ),
        case(
            "a form rule on a route that refuses forms and multipart never applies",
            plus(&format!(
                "[routes.inspection]\ncontent_types = [\"json\", \"text\"]\n\
                 [[routes.inspection.cards]]\nform_prefix = \"card\"\n{STRIPE}"
            )),
            "routes[0].inspection.cards[0].form_prefix",
            "never applies",
        ),
        case(
            "two rules selecting the same JSON objects (spelt differently) are refused",
            plus(&format!(
                "[[routes.inspection.cards]]\njson_path = \"$.card\"\n\
                 [[routes.inspection.cards]]\njson_path = \"$['card']\"\n{STRIPE}"
            )),
            "routes[0].inspection.cards[1].json_path",
            "selects the same objects as routes[0].inspection.cards[0].json_path",
        ),
        case(
            "two rules with the same form prefix are refused",
            plus(&format!(
                "[[routes.inspection.cards]]\nform_prefix = \"card\"\n\
                 [[routes.inspection.cards]]\nform_prefix = \"card\"\n{STRIPE}"
            )),
            "routes[0].inspection.cards[1].form_prefix",
            "selects the same fields as routes[0].inspection.cards[0].form_prefix",
        ),
        case(
            "card rules are an array of tables",
            inspection("[routes.inspection.cards]\njson_path = \"$.card\""),
            "routes[0].inspection.cards",
            "write each entry as [[routes.inspection.cards]]",
        ),
        case(
            "a misspelt card rule key gets a suggestion",
            card("json_path = \"$.card\"\njsonpath = \"$.card\""),
            "routes[0].inspection.cards[0].jsonpath",
            "did you mean `json_path`?",
        ),
    ]);
}

#[test]
fn card_field_names() {
    let field = |key: &str| format!("{CARD0}.fields.{key}");
    let fields = |body: &str| card(&format!("json_path = \"$.card\"\nfields = {{ {body} }}"));
    check(vec![
        case(
            "a field name is not empty",
            fields("number = \"\""),
            field("number"),
            "must be a field name",
        ),
        case(
            "a field name has no brackets (it is used in card[<name>])",
            fields("cvc = \"cvc]\""),
            field("cvc"),
            "without `[`, `]` or control characters",
        ),
        case(
            "two fields cannot share a name",
            fields("number = \"pan\", cvc = \"pan\""),
            field("cvc"),
            "same name as routes[0].inspection.cards[0].fields.number",
        ),
        case(
            "a field cannot take another field's default name",
            fields("cvc = \"number\""),
            field("cvc"),
            "same name as routes[0].inspection.cards[0].fields.number (its default)",
        ),
        case(
            "an earlier field cannot take a later field's default name",
            fields("number = \"cvc\""),
            field("number"),
            "same name as the default of routes[0].inspection.cards[0].fields.cvc",
        ),
        case(
            "field names are strings",
            fields("name = false"),
            field("name"),
            "expected a string, found a boolean",
        ),
        case(
            "an unknown card field is refused",
            fields("pan = \"pan\""),
            field("pan"),
            "unknown key",
        ),
    ]);
}

#[test]
fn card_output_names() {
    let key = |key: &str| format!("{CARD0}.output.{key}");
    let output = |body: &str| card(&format!("json_path = \"$.card\"\noutput = {{ {body} }}"));
    check(vec![
        case(
            "the token is always written",
            output("token = false"),
            key("token"),
            "the token is always written",
        ),
        case(
            "an empty output name is refused (false says 'leave it out')",
            output("last4 = \"\""),
            key("last4"),
            "write false to leave this field out",
        ),
        case(
            "true is not a field name",
            output("brand = true"),
            key("brand"),
            "expected a field name, or false",
        ),
        case(
            "two outputs cannot share a name",
            output("last4 = \"token\""),
            key("last4"),
            "same name as routes[0].inspection.cards[0].output.token (its default)",
        ),
        case(
            "two optional outputs cannot share a name",
            output("exp_month = \"exp\", exp_year = \"exp\""),
            key("exp_year"),
            "same name as routes[0].inspection.cards[0].output.exp_month",
        ),
        case(
            "an unknown output field is refused",
            output("pan = false"),
            key("pan"),
            "unknown key",
        ),
    ]);
}

#[test]
fn a_bad_tokenizer_does_not_also_blame_the_routes_that_need_it() {
    let text =
        plus("[routes.inspection]\non_detected = \"tokenize\"\n[tokenizer]\nkind = \"stripe\"");
    check(vec![case_among(
        "only the tokenizer's own problem",
        text.clone(),
        "tokenizer.secret_key",
        "missing required key",
    )]);
    assert_eq!(common::found(&text).len(), 1);
}

#[test]
fn tokenization_problems_point_at_the_line_that_asks_for_it() {
    let text = plus("[[routes.inspection.cards]]\njson_path = \"$.card\"");
    let problems = common::found(&text);
    let line = text
        .lines()
        .position(|l| l.starts_with("[[routes.inspection.cards]]"))
        .map(|i| u32::try_from(i + 1).unwrap());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].line, line, "{problems:?}");

    let text = plus("[routes.inspection]\nmode = \"shadow\"\nacknowledge = \"sure\"");
    let problems = common::found(&text);
    let line = text.lines().position(|l| l.starts_with("acknowledge"));
    assert_eq!(
        (problems[0].line, problems[0].column),
        (line.map(|i| u32::try_from(i + 1).unwrap()), Some(15)),
        "{problems:?}"
    );
}
