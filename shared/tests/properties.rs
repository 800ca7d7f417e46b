//! Properties of the domain rules, over generated inputs: the metadata merge and its caps,
//! email normalisation, identifiers and listing cursors. Each holds for every input, so the
//! generators lean on what breaks string handling: separators (`#`, `/`, `.`, `$`, `@`),
//! control and format characters, combining marks, case pairs whose mapping changes length
//! or depends on context, and long strings. The DynamoDB key encoding has its properties
//! next to the code (`adapters/dynamo/items.rs`), as most of it is private to the adapter.
//!
//! Case counts stay modest so `cargo test -p shared` stays quick; the fuzz targets in
//! `fuzz/` search the same ground for as long as they are given (docs/testing.md).

use std::collections::BTreeMap;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value};

use shared::domain::Error;
use shared::domain::metadata::{
    Kind, MAX_KEY_BYTES, MAX_KEYS, Metadata, MetadataPatch, RESERVED_APP_METADATA_KEYS,
    parse_initial,
};

/// Characters that have broken string handling somewhere: separators of our keys and paths,
/// whitespace, control and format characters, combining marks, and letters whose case
/// mapping is not one character to one (`ß`, `İ`, the Kelvin sign, final sigma).
const TRICKY: &[char] = &[
    '#', '/', '.', '$', '@', '-', '_', '+', '\'', '"', '\\', ':', '|', '%', ' ', '\t', '\n', '\r',
    '\0', '\u{7f}', '\u{85}', '\u{200b}', '\u{200d}', '\u{200e}', '\u{feff}', '\u{301}', '\u{308}',
    '\u{323}', 'é', 'ü', 'Ü', 'ß', 'ẞ', 'Σ', 'σ', 'ς', 'İ', 'ı', '\u{212a}', '\u{212b}', 'Å', 'ﬁ',
    'Ａ', 'Ⱥ', 'ⱥ', 'ǅ', '中', '😀',
];

fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => proptest::char::range('a', 'z'),
        2 => proptest::char::range('A', 'Z'),
        1 => proptest::char::range('0', '9'),
        3 => select(TRICKY),
        1 => any::<char>(),
    ]
}

fn tricky_string(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    vec(tricky_char(), len).prop_map(|chars| chars.into_iter().collect())
}

/// `cases` per property, or `PROPTEST_CASES` for a longer search.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig::with_cases(cases)
}

fn is_invalid(err: &Error, expected: &str) -> bool {
    matches!(err, Error::Invalid { code, .. } if *code == expected)
}

mod metadata {
    use super::*;

    /// A key the rules accept. A few fixed names come up often, so patches and stored
    /// objects share keys; the rest are arbitrary.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => select(&["a", "b", "c", "é", "e\u{301}", "x#y", "a/b", "a$", "ü"][..])
                .prop_map(str::to_owned),
            3 => tricky_string(1..=24).prop_filter("not a valid key", |k| {
                k.len() <= MAX_KEY_BYTES && !k.contains('.') && !k.starts_with('$')
            }),
        ]
    }

    fn app_key() -> impl Strategy<Value = String> {
        key().prop_filter("reserved", |k| {
            !RESERVED_APP_METADATA_KEYS.contains(&k.as_str())
        })
    }

    fn number() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e9f64..1e9).prop_map(Value::from),
            // DynamoDB's range ends at these.
            select(&[0.0f64, -0.0, 1e-130, -1e-130, 9.99e125, -9.99e125][..]).prop_map(Value::from),
        ]
    }

    /// A JSON value the rules accept under some key: small, a few levels deep.
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            number(),
            tricky_string(0..=16).prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(Value::Array),
                btree_map(key(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn present_value() -> impl Strategy<Value = Value> {
        value().prop_filter("null", |v| !v.is_null())
    }

    fn object() -> impl Strategy<Value = Value> {
        btree_map(key(), value(), 0..4).prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    /// The kind, and keys that are allowed in it.
    fn kind_and_keys() -> impl Strategy<Value = (Kind, BoxedStrategy<String>)> {
        prop_oneof![
            Just((Kind::User, key().boxed())),
            Just((Kind::App, app_key().boxed())),
        ]
    }

    /// A stored object and a patch for it: `None` is a key set to `null`.
    type Case = (Kind, Metadata, BTreeMap<String, Option<Value>>);

    fn case(max_stored: usize, max_patch: usize) -> impl Strategy<Value = Case> {
        case_of(max_stored, max_patch, present_value().boxed())
    }

    /// Where only the number of keys matters: keys from a pool not much larger than the
    /// cap, so stored objects and patches share many, and numbers for values, keep a case
    /// of fifty keys cheap to make.
    fn counting_case(max_stored: usize, max_patch: usize) -> impl Strategy<Value = Case> {
        let keys = (0..MAX_KEYS as u32 * 3 / 2).prop_map(|i| format!("k{i}"));
        (
            prop_oneof![Just(Kind::User), Just(Kind::App)],
            btree_map(
                keys.clone(),
                any::<i32>().prop_map(Value::from),
                0..=max_stored,
            )
            .prop_map(|m| m.into_iter().collect::<Metadata>()),
            btree_map(
                keys,
                proptest::option::of(any::<i32>().prop_map(Value::from)),
                0..=max_patch,
            ),
        )
    }

    fn case_of(
        max_stored: usize,
        max_patch: usize,
        values: BoxedStrategy<Value>,
    ) -> impl Strategy<Value = Case> {
        kind_and_keys().prop_flat_map(move |(kind, keys)| {
            (
                Just(kind),
                btree_map(keys.clone(), values.clone(), 0..=max_stored)
                    .prop_map(|m| m.into_iter().collect::<Metadata>()),
                btree_map(keys, proptest::option::of(values.clone()), 0..=max_patch),
            )
        })
    }

    fn patch_json(patch: &BTreeMap<String, Option<Value>>) -> Value {
        Value::Object(
            patch
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().unwrap_or(Value::Null)))
                .collect(),
        )
    }

    /// Parses and applies, as a PATCH does.
    fn merge(kind: Kind, stored: &Metadata, patch: &Value) -> Result<Metadata, Error> {
        let mut out = stored.clone();
        MetadataPatch::parse(kind, patch.clone())?.apply(kind, &mut out)?;
        Ok(out)
    }

    proptest! {
        #![proptest_config(config(64))]

        #[test]
        fn a_key_set_to_null_is_gone_after_the_merge((kind, stored, patch) in case(8, 6)) {
            let merged = merge(kind, &stored, &patch_json(&patch)).unwrap();
            for (k, v) in &patch {
                if v.is_none() {
                    prop_assert!(!merged.contains_key(k), "{k:?} is still there");
                }
            }
        }

        #[test]
        fn keys_the_patch_does_not_name_keep_their_values((kind, stored, patch) in case(8, 6)) {
            let merged = merge(kind, &stored, &patch_json(&patch)).unwrap();
            for (k, v) in &stored {
                if !patch.contains_key(k) {
                    prop_assert_eq!(merged.get(k), Some(v));
                }
            }
        }

        #[test]
        fn a_key_with_a_value_holds_exactly_that_value_after_the_merge(
            (kind, stored, patch) in case(8, 6),
        ) {
            let merged = merge(kind, &stored, &patch_json(&patch)).unwrap();
            for (k, v) in &patch {
                if let Some(v) = v {
                    prop_assert_eq!(merged.get(k), Some(v));
                }
            }
        }

        #[test]
        fn the_merge_adds_no_key_that_neither_the_object_nor_the_patch_holds(
            (kind, stored, patch) in case(8, 6),
        ) {
            let merged = merge(kind, &stored, &patch_json(&patch)).unwrap();
            for k in merged.keys() {
                prop_assert!(stored.contains_key(k) || patch.contains_key(k), "{k:?} appeared");
            }
        }

        /// Documented: nested objects are replaced whole, never merged key by key.
        #[test]
        fn a_nested_object_in_a_patch_replaces_the_stored_one_whole(
            k in key(),
            stored_inner in object(),
            patch_inner in object(),
            others in btree_map(key(), present_value(), 0..4),
        ) {
            let mut stored: Metadata = others.into_iter().collect();
            stored.insert(k.clone(), stored_inner);
            let patch = Value::Object(Map::from_iter([(k.clone(), patch_inner.clone())]));
            let merged = merge(Kind::User, &stored, &patch).unwrap();
            prop_assert_eq!(merged.get(&k), Some(&patch_inner));
        }

        #[test]
        fn applying_a_patch_twice_leaves_what_applying_it_once_leaves(
            (kind, stored, patch) in case(8, 6),
        ) {
            let patch = patch_json(&patch);
            let once = merge(kind, &stored, &patch).unwrap();
            let twice = merge(kind, &once, &patch).unwrap();
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn null_clears_every_key_and_an_empty_object_changes_nothing(
            (kind, stored, _) in case(8, 0),
        ) {
            prop_assert!(merge(kind, &stored, &Value::Null).unwrap().is_empty());
            let empty = Value::Object(Map::new());
            prop_assert!(MetadataPatch::parse(kind, empty.clone()).unwrap().is_noop());
            prop_assert_eq!(merge(kind, &stored, &empty).unwrap(), stored);
        }

        /// The key cap is on the result: a patch is refused exactly when the object it would
        /// leave holds more than [`MAX_KEYS`] keys.
        #[test]
        fn a_patch_is_refused_exactly_when_its_result_would_hold_too_many_keys(
            (kind, stored, patch) in counting_case(MAX_KEYS, 30),
        ) {
            let mut expected: BTreeMap<&String, ()> = stored.keys().map(|k| (k, ())).collect();
            for (k, v) in &patch {
                match v {
                    Some(_) => expected.insert(k, ()),
                    None => expected.remove(k),
                };
            }
            match merge(kind, &stored, &patch_json(&patch)) {
                Ok(merged) => prop_assert_eq!(merged.len(), expected.len()),
                Err(err) => {
                    prop_assert!(is_invalid(&err, "metadata_too_large"), "{err:?}");
                    prop_assert!(expected.len() > MAX_KEYS);
                }
            }
        }

        /// Whatever order accepted patches come in, the object they leave is one a create
        /// would accept: within every cap, no null at the top, every key name allowed.
        #[test]
        fn any_sequence_of_accepted_patches_leaves_metadata_within_the_caps(
            (kind, first, _) in case(6, 0),
            patches in vec(btree_map(key(), proptest::option::of(present_value()), 0..6), 1..4),
            fillers in vec(counting_case(0, 30).prop_map(|(_, _, patch)| patch), 0..4),
        ) {
            let mut current = first;
            // Patches of many small values push the object toward the key cap.
            for patch in patches.iter().chain(&fillers) {
                let patch = patch_json(patch);
                let Ok(parsed) = MetadataPatch::parse(kind, patch) else { continue };
                let mut next = current.clone();
                if parsed.apply(kind, &mut next).is_ok() {
                    current = next;
                }
            }
            prop_assert!(current.len() <= MAX_KEYS);
            prop_assert!(parse_initial(kind, Value::Object(current)).is_ok());
        }

        #[test]
        fn a_key_with_a_dot_or_a_leading_dollar_is_refused_at_any_depth(
            (kind, top) in kind_and_keys().prop_flat_map(|(kind, keys)| (Just(kind), keys)),
            prefix in tricky_string(0..=6),
            suffix in tricky_string(0..=6),
            dollar in any::<bool>(),
            depth in 0usize..4,
            value in present_value(),
        ) {
            let bad = if dollar { format!("${prefix}{suffix}") } else { format!("{prefix}.{suffix}") };
            prop_assume!(bad.len() <= MAX_KEY_BYTES);
            // The bad key `depth` objects down, under allowed keys.
            let mut patch = Value::Object(Map::from_iter([(bad, value)]));
            for level in 0..depth {
                let name = if level + 1 == depth { top.clone() } else { "ok".to_owned() };
                patch = Value::Object(Map::from_iter([(name, patch)]));
            }
            let err = MetadataPatch::parse(kind, patch.clone()).unwrap_err();
            prop_assert!(is_invalid(&err, "invalid_metadata_key"), "{patch}: {err:?}");
            let err = parse_initial(kind, patch.clone()).unwrap_err();
            prop_assert!(is_invalid(&err, "invalid_metadata_key"), "{patch}: {err:?}");
        }

        #[test]
        fn a_reserved_app_metadata_key_is_refused_there_and_allowed_in_user_metadata(
            reserved in select(&RESERVED_APP_METADATA_KEYS[..]),
            value in value(),
        ) {
            let patch = Value::Object(Map::from_iter([(reserved.to_owned(), value)]));
            let err = MetadataPatch::parse(Kind::App, patch.clone()).unwrap_err();
            prop_assert!(is_invalid(&err, "reserved_metadata_key"), "{err:?}");
            prop_assert!(MetadataPatch::parse(Kind::User, patch).is_ok());
        }
    }
}

mod email {
    use super::*;
    use shared::domain::email::{Email, email_key, same_address};
    use shared::domain::profile::is_hidden_char;

    fn nfd(s: &str) -> String {
        icu_normalizer::DecomposingNormalizerBorrowed::new_nfd()
            .normalize(s)
            .into_owned()
    }

    /// The other letter of a case pair, when the pair maps one character to one both ways
    /// (`a`/`A`, `é`/`É`, `σ`/`Σ`, `ⱥ`/`Ⱥ`); `ß`, `İ` and the Kelvin sign have none.
    fn case_partner(c: char) -> Option<char> {
        let single = |s: String| {
            let mut chars = s.chars();
            chars.next().filter(|_| chars.next().is_none())
        };
        let other = if c.is_lowercase() {
            single(c.to_uppercase().collect())?
        } else if c.is_uppercase() {
            single(c.to_lowercase().collect())?
        } else {
            return None;
        };
        let back = if other.is_lowercase() {
            single(other.to_uppercase().collect())?
        } else {
            single(other.to_lowercase().collect())?
        };
        (back == c && other != c).then_some(other)
    }

    /// A local part: mostly what providers hand out, with separators, non-ASCII letters and
    /// now and then something no provider does.
    fn local() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => vec(
                prop_oneof![
                    8 => proptest::char::range('a', 'z'),
                    3 => proptest::char::range('A', 'Z'),
                    2 => proptest::char::range('0', '9'),
                    2 => select(&['.', '+', '-', '_', '#', '/', '$', '\'', '=', '!'][..]),
                    3 => select(&['é', 'ü', 'Ü', 'ß', 'σ', 'Σ', 'ς', 'Ⱥ', 'ⱥ', 'ǅ', 'İ', '\u{212a}', '中'][..]),
                    1 => select(&['\u{301}', '\u{308}', '\u{323}'][..]),
                ],
                1..=20,
            )
            .prop_map(|c| c.into_iter().collect()),
            1 => tricky_string(0..=12),
            // Near the 64-byte limit of a local part.
            1 => (select(&['a', 'Ⱥ', 'ⱥ', 'é', 'ß'][..]), 20usize..=66)
                .prop_map(|(c, n)| std::iter::repeat_n(c, n).collect::<String>())
                .prop_map(|s| s.chars().scan(0, |bytes, c| {
                    *bytes += c.len_utf8();
                    (*bytes <= 66).then_some(c)
                }).collect()),
        ]
    }

    /// A label as a domain is written: any letter case, Unicode or ASCII.
    fn plain_label() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?",
            2 => "[A-Za-z]{1,8}",
            2 => vec(select(&['b', 'c', 'h', 'e', 'r', 'ü', 'Ü', 'ß', 'é', 'ñ', 'σ', '中', '文'][..]), 1..10)
                .prop_map(|c| c.into_iter().collect()),
            // Around the 63-byte limit of a label, in UTF-8 and as punycode.
            1 => (select(&['a', 'ü', '中'][..]), 25usize..=64)
                .prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
        ]
    }

    /// Also labels IDNA maps to others (zero-width and full-width characters, other
    /// full stops) or refuses.
    fn any_label() -> impl Strategy<Value = String> {
        prop_oneof![4 => plain_label(), 1 => tricky_string(1..=6)]
    }

    fn domain_of(label: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        (
            vec(label, 1..=3),
            select(&["com", "example", "de", "xn--p1ai", "COM", "中国"][..]),
        )
            .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
    }

    fn domain() -> impl Strategy<Value = String> {
        domain_of(any_label())
    }

    /// A candidate address (accepted or not), now and then padded toward the 254-byte cap.
    fn address() -> impl Strategy<Value = String> {
        address_in(domain())
    }

    /// The same, its domain written as domains are.
    fn plain_address() -> impl Strategy<Value = String> {
        address_in(domain_of(plain_label()))
    }

    fn address_in(domain: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        (local(), domain, 0usize..5).prop_map(|(local, domain, pad)| {
            let mut domain = domain;
            if pad == 0 {
                while local.len() + 1 + domain.len() < 250 {
                    domain.insert_str(0, "abcdefghij.");
                }
            }
            format!("{local}@{domain}")
        })
    }

    /// Another spelling of the same mailbox, by the documented rule: letters in another case,
    /// accents decomposed, the domain in its other (Unicode or punycode) form, space around.
    fn respelled(
        address: &str,
        flips: &[bool],
        decompose: bool,
        domain_form: u8,
        pad: bool,
    ) -> String {
        let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
        let flip = |s: &str| -> String {
            s.chars()
                .zip(flips.iter().cycle())
                .map(|(c, f)| if *f { case_partner(c).unwrap_or(c) } else { c })
                .collect()
        };
        let domain = match domain_form {
            0 => idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_owned()),
            1 => idna::domain_to_unicode(domain).0,
            _ => domain.to_owned(),
        };
        let mut out = format!("{}@{}", flip(local), flip(&domain));
        if decompose {
            out = nfd(&out);
        }
        if pad {
            out = format!(" {out}\t");
        }
        out
    }

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn normalising_twice_gives_what_normalising_once_gives(raw in prop_oneof![address(), tricky_string(0..=30)]) {
            let once = email_key(&raw);
            prop_assert_eq!(email_key(&once), once.clone(), "{:?}", raw);
            if let Ok(email) = Email::parse(&raw) {
                prop_assert_eq!(email.normalized(), email_key(email.normalized()));
            }
        }

        #[test]
        fn the_key_of_an_accepted_address_is_an_accepted_address_with_the_same_key(raw in address()) {
            if let Ok(email) = Email::parse(&raw) {
                let again = Email::parse(email.normalized());
                prop_assert!(again.is_ok(), "{:?} accepted, its key {:?} refused", raw, email.normalized());
                let again = again.unwrap();
                prop_assert_eq!(again.normalized(), email.normalized());
            }
        }

        /// Spellings of one mailbox (case, composed or decomposed accents, Unicode or
        /// punycode domain, surrounding space) are one account: all accepted with one key,
        /// or all refused.
        #[test]
        fn spellings_of_one_mailbox_are_accepted_alike_and_share_a_key(
            raw in plain_address(),
            flips in vec(any::<bool>(), 1..8),
            decompose in any::<bool>(),
            domain_form in 0u8..3,
            pad in any::<bool>(),
        ) {
            let other = respelled(&raw, &flips, decompose, domain_form, pad);
            let (a, b) = (Email::parse(&raw), Email::parse(&other));
            prop_assert_eq!(a.is_ok(), b.is_ok(), "{:?} → {:?}, {:?} → {:?}", raw, a, other, b);
            if let (Ok(a), Ok(b)) = (a, b) {
                prop_assert_eq!(a.normalized(), b.normalized());
                prop_assert!(a == b);
                prop_assert!(same_address(Some(a.as_str()), b.as_str()));
            }
        }

        /// Forms no mailbox provider hands out stay refused however they are spelt.
        #[test]
        fn quoted_commented_literal_and_display_forms_stay_refused(
            local in "[a-zA-Z0-9]{1,10}",
            domain in domain(),
            form in 0u8..7,
            flips in vec(any::<bool>(), 1..8),
            decompose in any::<bool>(),
            domain_form in 0u8..3,
        ) {
            let raw = match form {
                0 => format!("\"{local}\"@{domain}"),
                1 => format!("\"{local} x\"@{domain}"),
                2 => format!("{local}(c)@{domain}"),
                3 => format!("{local}@[192.0.2.1]"),
                4 => format!("Name <{local}@{domain}>"),
                5 => format!("{local}\\@{domain}"),
                _ => format!("{local}@localhost"),
            };
            let other = respelled(&raw, &flips, decompose, domain_form, false);
            prop_assert!(Email::parse(&raw).is_err(), "{:?}", raw);
            prop_assert!(Email::parse(&other).is_err(), "{:?}", other);
        }

        #[test]
        fn an_accepted_address_is_kept_as_given_trimmed_and_composed(raw in address()) {
            if let Ok(email) = Email::parse(&raw) {
                let composed = icu_normalizer::ComposingNormalizerBorrowed::new_nfc()
                    .normalize(raw.trim())
                    .into_owned();
                prop_assert_eq!(email.as_str(), composed);
                prop_assert!(!email.as_str().chars().any(is_hidden_char), "{:?}", email.as_str());
            }
        }
    }
}

mod ids {
    use super::*;
    use shared::domain::ids::{Connection, TenantId, UserId};

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn a_user_id_survives_printing_and_parsing(bits in any::<u128>()) {
            let id = UserId::parse(&format!("usr_{}", ulid::Ulid(bits))).unwrap();
            prop_assert_eq!(UserId::parse(&id.to_string()).unwrap(), id);
        }

        /// One user has one id string: any accepted spelling prints back as itself.
        #[test]
        fn an_accepted_user_id_is_the_one_spelling_of_its_id(
            raw in prop_oneof![
                "usr_[0-9A-Z]{26}",
                "usr_[0-9A-Za-z]{24,28}",
                tricky_string(0..=32),
            ],
        ) {
            if let Ok(id) = UserId::parse(&raw) {
                prop_assert_eq!(id.to_string(), raw);
            }
        }

        #[test]
        fn tenant_ids_and_connections_hold_no_separator_of_a_key(raw in tricky_string(0..=70)) {
            if let Ok(t) = TenantId::parse(&raw) {
                prop_assert!(t.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                prop_assert_eq!(t.as_str(), raw.as_str());
            }
            if let Ok(c) = Connection::parse(&raw) {
                prop_assert!(c.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                prop_assert_eq!(c.as_str(), raw.as_str());
            }
        }
    }
}

mod cursors {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use shared::domain::ids::UserId;
    use shared::domain::listing::{PageRequest, Position, SHARDS};

    fn position() -> impl Strategy<Value = Position> {
        (0..SHARDS, proptest::option::of(any::<u128>())).prop_map(|(shard, after)| Position {
            shard,
            after: after.map(|bits| UserId::parse(&format!("usr_{}", ulid::Ulid(bits))).unwrap()),
        })
    }

    /// What a cursor may decode to: a position inside the listing. A cursor names no tenant
    /// (the path does, docs/data-model.md), so an edited one can at most move within it.
    fn in_bounds(p: &Position) -> bool {
        p.shard < SHARDS
    }

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn a_cursor_decodes_to_the_position_it_encodes(pos in position()) {
            prop_assert_eq!(Position::from_cursor(&pos.to_cursor()).unwrap(), pos);
            let page = PageRequest::parse(None, Some(&pos.to_cursor())).unwrap();
            prop_assert_eq!(page.start, pos);
        }

        /// An edited cursor is refused, or is exactly the cursor of another position the
        /// API could have returned: never another spelling of one, never out of bounds.
        #[test]
        fn a_cursor_with_a_flipped_bit_is_refused_or_is_one_the_api_could_have_returned(
            pos in position(),
            at in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let mut bytes = pos.to_cursor().into_bytes();
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
            let Ok(tampered) = String::from_utf8(bytes) else { return Ok(()) };
            if let Ok(p) = Position::from_cursor(&tampered) {
                prop_assert!(in_bounds(&p));
                prop_assert_eq!(p.to_cursor(), tampered);
            }
        }

        #[test]
        fn a_cursor_with_a_flipped_bit_in_its_content_is_refused_or_is_one_the_api_could_have_returned(
            pos in position(),
            at in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let mut raw = URL_SAFE_NO_PAD.decode(pos.to_cursor()).unwrap();
            let i = at.index(raw.len());
            raw[i] ^= 1 << bit;
            let tampered = URL_SAFE_NO_PAD.encode(&raw);
            if let Ok(p) = Position::from_cursor(&tampered) {
                prop_assert!(in_bounds(&p));
                prop_assert_eq!(p.to_cursor(), tampered);
            }
        }

        #[test]
        fn a_truncated_or_extended_cursor_is_refused_or_is_one_the_api_could_have_returned(
            pos in position(),
            cut in any::<proptest::sample::Index>(),
            tail in tricky_string(0..=6),
        ) {
            let cursor = pos.to_cursor();
            let short = &cursor[..cut.index(cursor.len())];
            for tampered in [short.to_owned(), format!("{cursor}{tail}"), format!("{short}{tail}")] {
                if let Ok(p) = Position::from_cursor(&tampered) {
                    prop_assert!(in_bounds(&p));
                    prop_assert_eq!(p.to_cursor(), tampered);
                }
            }
        }

        /// A cursor built by hand (another version, another separator, a shard spelt with a
        /// sign or leading zeros, a key of another tenant) is refused unless it is exactly
        /// the cursor of a position.
        #[test]
        fn a_handmade_cursor_is_refused_unless_it_is_one_the_api_could_have_returned(
            version in select(&["v1", "v2", "V1", "", "v1 "][..]),
            shard in select(&["0", "7", "15", "16", "07", "+7", "-0", " 1", "1e1", "65551"][..]),
            after in prop_oneof![
                Just(String::new()),
                any::<u128>().prop_map(|b| format!("usr_{}", ulid::Ulid(b))),
                tricky_string(0..=30),
                Just("TENANT#other#USER#usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1".to_owned()),
            ],
            sep in select(&[":", "#", "/"][..]),
        ) {
            let cursor = URL_SAFE_NO_PAD.encode(format!("{version}{sep}{shard}{sep}{after}"));
            if let Ok(p) = Position::from_cursor(&cursor) {
                prop_assert!(in_bounds(&p));
                prop_assert_eq!(p.to_cursor(), cursor);
            }
        }

        #[test]
        fn any_string_as_a_cursor_is_refused_or_decodes_in_bounds(raw in prop_oneof![
            tricky_string(0..=60),
            vec(any::<u8>(), 0..60).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
        ]) {
            if let Ok(p) = Position::from_cursor(&raw) {
                prop_assert!(in_bounds(&p));
            }
            let _ = PageRequest::parse(Some(&raw), Some(&raw));
        }
    }
}
