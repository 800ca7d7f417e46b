//! `PATCH /users/{id}` and `PATCH /me` bodies: parsed as the handlers parse them, checked for
//! the scopes they need, and applied to a database user whose metadata is near its key cap
//! and to a social user. Nothing may panic; an applied patch must leave a user whose
//! metadata keeps the caps, whose untouched fields are as they were, and that the store's
//! codec writes and reads back unchanged.
//!
//! Input: the request body.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shared::domain::ids::{Connection, TenantId, UserId};
use shared::domain::metadata::{Kind, parse_initial};
use shared::domain::time::Timestamp;
use shared::domain::user::{Identity, User};
use shared::domain::user_patch::{METADATA_FIELDS, SELF_SERVICE_FIELDS, UserPatch};

static USERS: LazyLock<[User; 2]> = LazyLock::new(|| {
    let tenant = TenantId::parse("acme").unwrap();
    let at = Timestamp::from_epoch_millis(1_700_000_000_000).unwrap();
    let id = UserId::parse("usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1").unwrap();
    let mut database = User::new(id, tenant.clone(), Identity::database(&id), at);
    database.email = Some("Ana@Example.com".into());
    database.email_verified = true;
    database.username = Some("ana".into());
    database.name = Some("Ana".into());
    for i in 0..48 {
        database
            .user_metadata
            .insert(format!("k{i}"), Value::from(i));
    }
    database
        .app_metadata
        .insert("plan".into(), Value::from("pro"));
    let social_id = UserId::parse("usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C2").unwrap();
    let google = Connection::parse("google-oauth2").unwrap();
    let mut social = User::new(
        social_id,
        tenant,
        Identity::social(google, "10876".into()),
        at,
    );
    social.user_metadata.insert("a".into(), Value::from(1));
    [database, social]
});

/// Fields of the resource a patch changes only by naming them.
const PLAIN_FIELDS: [&str; 11] = [
    "username",
    "phone_number",
    "phone_verified",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "blocked",
    "user_metadata",
    "app_metadata",
];

fuzz_target!(|body: &[u8]| {
    let Ok(patch) = UserPatch::parse(body) else {
        return;
    };
    let fields = patch.fields();
    let _ = patch.only(&SELF_SERVICE_FIELDS, "on your own profile");
    let _ = patch.only(&METADATA_FIELDS, "with this scope");
    let _ = patch.needs_current();
    if !patch.needs_current() {
        let _ = patch.root_changes();
    }
    let now = Timestamp::from_epoch_millis(1_800_000_000_000).unwrap();
    for before in USERS.iter() {
        let mut after = before.clone();
        if patch.apply(&mut after, now).is_err() {
            continue;
        }
        assert_eq!(after.version, before.version + 1);
        assert_eq!(after.updated_at, now);
        for kind in [Kind::User, Kind::App] {
            let object = match kind {
                Kind::User => &after.user_metadata,
                Kind::App => &after.app_metadata,
            };
            if let Err(e) = parse_initial(kind, Value::Object(object.clone())) {
                panic!("a patch left {} the rules refuse: {e:?}", kind.field());
            }
        }
        let (was, is) = (before.to_admin_json(), after.to_admin_json());
        for field in PLAIN_FIELDS {
            if !fields.contains(&field) {
                assert_eq!(was.get(field), is.get(field), "{field} changed unnamed");
            }
        }
        if patch.is_noop() {
            let mut unchanged = after.clone();
            unchanged.version = before.version;
            unchanged.updated_at = before.updated_at;
            assert_eq!(&unchanged, before, "a no-op patch changed the user");
        }
        assert!(after.to_self_json().get("app_metadata").is_none());
        // What a patch leaves, the store writes and reads back as it was. DynamoDB's numbers
        // are decimals, without JSON's split of integers and floats: `-3e10` comes back as
        // `-30000000000`, the same number.
        let json: User = serde_json::from_value(serde_json::to_value(&after).unwrap()).unwrap();
        assert_eq!(json, after, "a user changed through JSON");
        let item: serde_dynamo::Item = serde_dynamo::to_item(&after).unwrap();
        let stored: User = serde_dynamo::from_item(item).unwrap();
        let (was, is) = (
            serde_json::to_value(&after).unwrap(),
            serde_json::to_value(&stored).unwrap(),
        );
        assert!(
            same(&was, &is),
            "a user changed through the store's codec:\n{was}\n{is}"
        );
    }
});

/// Equal JSON, numbers compared as the decimals they are.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => decimal(x) == decimal(y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// A number as sign, significant digits and exponent: `-3e10`, `-30000000000` and
/// `-30000000000.0` are one; every zero is `0`.
fn decimal(n: &serde_json::Number) -> (bool, String, i64) {
    let text = n.to_string();
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().unwrap()),
        None => (text.as_str(), 0),
    };
    let negative = mantissa.starts_with('-');
    let (int, frac) = mantissa
        .trim_start_matches('-')
        .split_once('.')
        .unwrap_or((mantissa.trim_start_matches('-'), ""));
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    let significant = digits.trim_end_matches('0');
    if significant.is_empty() {
        return (false, String::new(), 0);
    }
    let exponent = exponent - frac.len() as i64 + (digits.len() - significant.len()) as i64;
    (negative, significant.to_owned(), exponent)
}
