//! `user_metadata` / `app_metadata` rules.
//!
//! Merge semantics follow Auth0's Management API: a PATCH merges at the top level, a key with
//! a value replaces that key, a key set to `null` removes it, keys not named stay, and nested
//! objects are replaced whole. Two deliberate choices where Auth0 is loose or risky:
//!
//! - `"user_metadata": {}` changes nothing (it merges no keys). Auth0 clears the object on an
//!   empty object, which wipes data when a client sends an empty form by accident. To clear
//!   every key, send `"user_metadata": null`.
//! - Caps per object, so a profile can never approach DynamoDB's 400 KB item limit: at most
//!   [`MAX_KEYS`] top-level keys, each key at most [`MAX_KEY_BYTES`] bytes, each value at most
//!   [`MAX_VALUE_BYTES`] bytes as DynamoDB measures a stored value ([`super::stored_size`])
//!   and nested at most [`MAX_DEPTH`] levels. An object therefore stays under about 106 KB,
//!   both objects under 215 KB; identities linked into a user are capped apart (see
//!   [`super::linking::MAX_LINKED_BYTES`]).
//!
//! Key names may not be empty, contain `.` or start with `$`, at any depth (they would be
//! ambiguous in queries and exports). Numbers must fit DynamoDB's number range.

use serde_json::{Map, Value};

use super::Error;
use super::stored_size;

pub const MAX_KEYS: usize = 50;
pub const MAX_KEY_BYTES: usize = 64;
pub const MAX_VALUE_BYTES: usize = 2048;
pub const MAX_DEPTH: usize = 16;

/// Keys Auth0 reserves in `app_metadata`; refused so exports and migrations stay unambiguous.
pub const RESERVED_APP_METADATA_KEYS: [&str; 13] = [
    "blocked",
    "clientID",
    "created_at",
    "email",
    "email_verified",
    "global_client_id",
    "globalClientID",
    "identities",
    "lastIP",
    "lastLogin",
    "metadata",
    "user_id",
    "loginsCount",
];

pub type Metadata = Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    App,
}

impl Kind {
    pub fn field(self) -> &'static str {
        match self {
            Kind::User => "user_metadata",
            Kind::App => "app_metadata",
        }
    }
}

/// What one PATCH asks of one metadata object.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataPatch {
    /// `null`: remove every key.
    Clear,
    /// An object: set the keys with values, remove the keys set to `null`.
    Merge {
        set: Vec<(String, Value)>,
        remove: Vec<String>,
    },
}

impl MetadataPatch {
    pub fn parse(kind: Kind, raw: Value) -> Result<Self, Error> {
        match raw {
            Value::Null => Ok(MetadataPatch::Clear),
            Value::Object(map) => {
                // An object never holds more keys than this, so a patch never needs to name
                // more; the bound also keeps the store's update expression small.
                if map.len() > MAX_KEYS {
                    return Err(Error::invalid(
                        "metadata_too_large",
                        format!(
                            "A patch may name at most {MAX_KEYS} keys of {}.",
                            kind.field()
                        ),
                    ));
                }
                let mut set = Vec::new();
                let mut remove = Vec::new();
                for (key, value) in map {
                    check_top_key(kind, &key)?;
                    if value.is_null() {
                        remove.push(key);
                    } else {
                        check_value(kind, &key, &value)?;
                        set.push((key, value));
                    }
                }
                Ok(MetadataPatch::Merge { set, remove })
            }
            _ => Err(Error::invalid(
                "invalid_metadata",
                format!("{} must be an object or null.", kind.field()),
            )),
        }
    }

    /// True when applying it cannot change anything (`{}`).
    pub fn is_noop(&self) -> bool {
        matches!(self, MetadataPatch::Merge { set, remove } if set.is_empty() && remove.is_empty())
    }

    /// Applies the patch to `current`, enforcing the key cap on the result.
    pub fn apply(&self, kind: Kind, current: &mut Metadata) -> Result<(), Error> {
        match self {
            MetadataPatch::Clear => current.clear(),
            MetadataPatch::Merge { set, remove } => {
                for key in remove {
                    current.remove(key);
                }
                for (key, value) in set {
                    current.insert(key.clone(), value.clone());
                }
                check_key_count(kind, current.len())?;
            }
        }
        Ok(())
    }
}

/// Validates a whole object given at creation.
pub fn parse_initial(kind: Kind, raw: Value) -> Result<Metadata, Error> {
    let Value::Object(map) = raw else {
        return Err(Error::invalid(
            "invalid_metadata",
            format!("{} must be an object.", kind.field()),
        ));
    };
    for (key, value) in &map {
        check_top_key(kind, key)?;
        if value.is_null() {
            return Err(Error::invalid(
                "invalid_metadata",
                format!("{}.{key} is null; leave the key out instead.", kind.field()),
            ));
        }
        check_value(kind, key, value)?;
    }
    check_key_count(kind, map.len())?;
    Ok(map)
}

fn check_key_count(kind: Kind, count: usize) -> Result<(), Error> {
    if count > MAX_KEYS {
        return Err(Error::invalid(
            "metadata_too_large",
            format!(
                "{} may hold at most {MAX_KEYS} keys; this change would leave {count}.",
                kind.field()
            ),
        ));
    }
    Ok(())
}

fn check_top_key(kind: Kind, key: &str) -> Result<(), Error> {
    check_key_name(kind, key)?;
    if kind == Kind::App && RESERVED_APP_METADATA_KEYS.contains(&key) {
        return Err(Error::invalid(
            "reserved_metadata_key",
            format!("app_metadata.{key} is a reserved key and cannot be set."),
        ));
    }
    Ok(())
}

fn check_key_name(kind: Kind, key: &str) -> Result<(), Error> {
    let field = kind.field();
    if key.is_empty() {
        return Err(Error::invalid(
            "invalid_metadata_key",
            format!("{field} keys may not be empty."),
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::invalid(
            "invalid_metadata_key",
            format!("{field} keys may be at most {MAX_KEY_BYTES} bytes long."),
        ));
    }
    if key.contains('.') || key.starts_with('$') {
        return Err(Error::invalid(
            "invalid_metadata_key",
            format!(
                "{field} key {key:?} is not allowed: keys may not contain '.' or start with '$'."
            ),
        ));
    }
    Ok(())
}

fn check_value(kind: Kind, key: &str, value: &Value) -> Result<(), Error> {
    let size = stored_size::value_size(value);
    if size > MAX_VALUE_BYTES {
        return Err(Error::invalid(
            "metadata_too_large",
            format!(
                "{}.{key} takes {size} bytes stored; a value may take at most {MAX_VALUE_BYTES} bytes.",
                kind.field()
            ),
        ));
    }
    check_nested(kind, key, value, 1)
}

fn check_nested(kind: Kind, key: &str, value: &Value, depth: usize) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(Error::invalid(
            "invalid_metadata",
            format!(
                "{}.{key} is nested more than {MAX_DEPTH} levels deep.",
                kind.field()
            ),
        ));
    }
    match value {
        Value::Object(map) => {
            for (inner, v) in map {
                check_key_name(kind, inner)?;
                check_nested(kind, key, v, depth + 1)?;
            }
        }
        Value::Array(items) => {
            for v in items {
                check_nested(kind, key, v, depth + 1)?;
            }
        }
        Value::Number(n) => {
            // DynamoDB numbers carry 38 significant digits between 1e-130 and 1e126.
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                let a = f.abs();
                if a != 0.0 && !(1e-130..1e126).contains(&a) {
                    return Err(Error::invalid(
                        "invalid_metadata",
                        format!(
                            "{}.{key} holds a number outside the storable range.",
                            kind.field()
                        ),
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn merge(kind: Kind, current: Value, patch: Value) -> Result<Value, Error> {
        let Value::Object(mut current) = current else {
            unreachable!()
        };
        MetadataPatch::parse(kind, patch)?.apply(kind, &mut current)?;
        Ok(Value::Object(current))
    }

    #[test]
    fn a_key_with_a_value_replaces_that_key_and_others_stay() {
        let out = merge(Kind::User, json!({"a": 1, "b": 2}), json!({"a": 3})).unwrap();
        assert_eq!(out, json!({"a": 3, "b": 2}));
    }

    #[test]
    fn a_key_set_to_null_is_removed() {
        let out = merge(Kind::User, json!({"a": 1, "b": 2}), json!({"a": null})).unwrap();
        assert_eq!(out, json!({"b": 2}));
    }

    #[test]
    fn nested_objects_are_replaced_not_merged() {
        let out = merge(
            Kind::User,
            json!({"p": {"x": 1, "y": 2}}),
            json!({"p": {"z": 3}}),
        )
        .unwrap();
        assert_eq!(out, json!({"p": {"z": 3}}));
    }

    #[test]
    fn an_empty_object_changes_nothing_and_null_clears_everything() {
        assert!(
            MetadataPatch::parse(Kind::User, json!({}))
                .unwrap()
                .is_noop()
        );
        assert_eq!(
            merge(Kind::User, json!({"a": 1}), json!({})).unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            merge(Kind::User, json!({"a": 1}), Value::Null).unwrap(),
            json!({})
        );
    }

    #[test]
    fn reserved_app_metadata_keys_are_refused_but_allowed_in_user_metadata() {
        for key in RESERVED_APP_METADATA_KEYS {
            let err = MetadataPatch::parse(Kind::App, json!({ key: 1 })).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Invalid {
                        code: "reserved_metadata_key",
                        ..
                    }
                ),
                "{key}"
            );
        }
        assert!(MetadataPatch::parse(Kind::User, json!({"email": "x"})).is_ok());
    }

    #[test]
    fn key_names_with_dots_dollars_or_nothing_are_refused_at_any_depth() {
        for patch in [
            json!({"a.b": 1}),
            json!({"$set": 1}),
            json!({"": 1}),
            json!({"ok": {"x.y": 1}}),
        ] {
            let err = MetadataPatch::parse(Kind::User, patch.clone()).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Invalid {
                        code: "invalid_metadata_key",
                        ..
                    }
                ),
                "{patch}"
            );
        }
        assert!(MetadataPatch::parse(Kind::User, json!({"a$": 1})).is_ok());
    }

    #[test]
    fn values_over_the_size_cap_are_refused() {
        // A string is stored as its bytes, without JSON's quotes.
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        let err = MetadataPatch::parse(Kind::User, json!({ "k": big })).unwrap_err();
        assert!(matches!(
            err,
            Error::Invalid {
                code: "metadata_too_large",
                ..
            }
        ));
        let fits = "x".repeat(MAX_VALUE_BYTES);
        assert!(MetadataPatch::parse(Kind::User, json!({ "k": fits })).is_ok());
    }

    #[test]
    fn the_key_cap_applies_to_the_merged_result() {
        let full: Metadata = (0..MAX_KEYS).map(|i| (format!("k{i}"), json!(i))).collect();
        let mut current = full.clone();
        let replace = MetadataPatch::parse(Kind::User, json!({"k0": "new"})).unwrap();
        replace.apply(Kind::User, &mut current).unwrap();
        let mut current = full;
        let add = MetadataPatch::parse(Kind::User, json!({"extra": 1})).unwrap();
        let err = add.apply(Kind::User, &mut current).unwrap_err();
        assert!(matches!(
            err,
            Error::Invalid {
                code: "metadata_too_large",
                ..
            }
        ));
    }

    #[test]
    fn a_patch_naming_more_keys_than_an_object_holds_is_refused() {
        let many: Map<String, Value> = (0..=MAX_KEYS)
            .map(|i| (format!("k{i}"), Value::Null))
            .collect();
        let err = MetadataPatch::parse(Kind::User, Value::Object(many)).unwrap_err();
        assert!(matches!(
            err,
            Error::Invalid {
                code: "metadata_too_large",
                ..
            }
        ));
    }

    #[test]
    fn deep_nesting_and_unstorable_numbers_are_refused() {
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH {
            deep = json!([deep]);
        }
        assert!(MetadataPatch::parse(Kind::User, json!({ "d": deep })).is_err());
        assert!(MetadataPatch::parse(Kind::User, json!({ "n": 1e200 })).is_err());
        assert!(MetadataPatch::parse(Kind::User, json!({ "n": 12.5, "m": -3, "z": 0.0 })).is_ok());
    }

    #[test]
    fn initial_metadata_must_be_an_object_without_nulls() {
        assert!(parse_initial(Kind::User, json!([1])).is_err());
        assert!(parse_initial(Kind::User, json!({"a": null})).is_err());
        assert_eq!(parse_initial(Kind::User, json!({"a": 1})).unwrap().len(), 1);
    }
}
