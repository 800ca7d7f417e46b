use serde_json::{Value, json};
use shared::domain::metadata::{MAX_KEYS, MAX_VALUE_BYTES};

use crate::support::{Env, user_path};

async fn with_metadata(env: &Env, user_metadata: Value, app_metadata: Value) -> Value {
    env.create(json!({"email": "ana@example.com", "password": "correct horse battery", "user_metadata": user_metadata, "app_metadata": app_metadata}))
        .await
}

#[tokio::test]
async fn patch_merges_metadata_at_the_top_level() {
    let env = Env::new().await;
    let u = with_metadata(
        &env,
        json!({"a": 1, "b": "two"}),
        json!({"plan": "free", "roles": ["x"]}),
    )
    .await;
    let r = env
        .patch_user(
            &u,
            json!({"user_metadata": {"a": 10, "c": true}, "app_metadata": {"plan": "pro"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        r.body["user_metadata"],
        json!({"a": 10, "b": "two", "c": true})
    );
    assert_eq!(
        r.body["app_metadata"],
        json!({"plan": "pro", "roles": ["x"]})
    );
    assert_eq!(env.get_user(&u).await.body, r.body);
}

#[tokio::test]
async fn patch_with_null_removes_a_metadata_key() {
    let env = Env::new().await;
    let u = with_metadata(&env, json!({"a": 1, "b": 2}), json!({})).await;
    let r = env
        .patch_user(&u, json!({"user_metadata": {"a": null}}))
        .await;
    assert_eq!(r.body["user_metadata"], json!({"b": 2}));
}

#[tokio::test]
async fn nested_objects_are_replaced_not_merged() {
    let env = Env::new().await;
    let u = with_metadata(
        &env,
        json!({"prefs": {"theme": "dark", "lang": "en"}}),
        json!({}),
    )
    .await;
    let r = env
        .patch_user(&u, json!({"user_metadata": {"prefs": {"theme": "light"}}}))
        .await;
    assert_eq!(
        r.body["user_metadata"],
        json!({"prefs": {"theme": "light"}})
    );
}

#[tokio::test]
async fn an_empty_object_changes_nothing_and_null_clears_the_object() {
    let env = Env::new().await;
    let u = with_metadata(&env, json!({"a": 1}), json!({"plan": "pro"})).await;
    let r = env
        .patch_user(&u, json!({"user_metadata": {}, "app_metadata": {}}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        (r.body["user_metadata"].clone(), r.body["version"].clone()),
        (json!({"a": 1}), json!(1)),
        "no write happened"
    );
    let r = env.patch_user(&u, json!({"user_metadata": null})).await;
    assert_eq!(r.body["user_metadata"], json!({}));
    assert_eq!(r.body["app_metadata"], json!({"plan": "pro"}));
}

#[tokio::test]
async fn numbers_strings_lists_and_booleans_round_trip_exactly() {
    let env = Env::new().await;
    let value = json!({"int": 42, "neg": -7, "float": 1.5, "big": 9007199254740993u64, "s": "", "list": [1, "x", null, {"k": false}], "obj": {}});
    let u = with_metadata(&env, json!({}), json!({})).await;
    let r = env
        .patch_user(&u, json!({"user_metadata": value.clone()}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let got = env.get_user(&u).await;
    assert_eq!(got.body["user_metadata"], value);
}

#[tokio::test]
async fn a_metadata_only_patch_is_one_conditional_update_item() {
    let env = Env::new().await;
    let u = with_metadata(&env, json!({"a": 1}), json!({})).await;
    env.calls.take();
    let r = env
        .patch_user(
            &u,
            json!({"user_metadata": {"b": 2, "a": null}, "app_metadata": {"tier": 3}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(env.calls_past_the_limiter(), vec!["UpdateItem"]);
    assert_eq!(r.body["user_metadata"], json!({"b": 2}));
}

#[tokio::test]
async fn reserved_app_metadata_keys_are_refused_and_change_nothing() {
    let env = Env::new().await;
    let u = with_metadata(&env, json!({}), json!({"plan": "pro"})).await;
    for key in [
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
    ] {
        let r = env.patch_user(&u, json!({"app_metadata": {key: 1}})).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "reserved_metadata_key"),
            "{key}"
        );
    }
    let r = env.post_user(json!({"email": "b@example.com", "password": "correct horse battery", "app_metadata": {"email": "x"}})).await;
    assert_eq!(r.code(), "reserved_metadata_key");
    let got = env.get_user(&u).await;
    assert_eq!(
        (
            got.body["app_metadata"].clone(),
            got.body["version"].clone()
        ),
        (json!({"plan": "pro"}), json!(1))
    );
}

#[tokio::test]
async fn bad_key_names_are_refused() {
    let env = Env::new().await;
    let u = with_metadata(&env, json!({}), json!({})).await;
    for body in [
        json!({"user_metadata": {"a.b": 1}}),
        json!({"user_metadata": {"$where": 1}}),
        json!({"user_metadata": {"": 1}}),
        json!({"app_metadata": {"x": {"nested.key": 1}}}),
        json!({"user_metadata": {"k".repeat(65): 1}}),
    ] {
        let r = env.patch_user(&u, body.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_metadata_key"),
            "{body}"
        );
    }
    let r = env.patch_user(&u, json!({"user_metadata": [1]})).await;
    assert_eq!((r.status, r.code()), (400, "invalid_metadata"));
    assert_eq!(env.get_user(&u).await.body["version"], 1);
}

#[tokio::test]
async fn a_value_over_the_size_cap_is_refused() {
    let env = Env::new().await;
    let u = with_metadata(&env, json!({}), json!({})).await;
    let r = env
        .patch_user(
            &u,
            json!({"user_metadata": {"bio": "x".repeat(MAX_VALUE_BYTES + 1)}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "metadata_too_large"));
    let r = env
        .patch_user(
            &u,
            json!({"user_metadata": {"bio": "x".repeat(MAX_VALUE_BYTES)}}),
        )
        .await;
    assert_eq!(r.status, 200, "a value right at the cap fits");
}

#[tokio::test]
async fn the_key_cap_holds_for_blind_merges_and_replacing_keys_of_a_full_object_still_works() {
    let env = Env::new().await;
    let full: serde_json::Map<String, Value> =
        (0..MAX_KEYS).map(|i| (format!("k{i}"), json!(i))).collect();
    let u = with_metadata(&env, Value::Object(full), json!({})).await;
    let r = env
        .patch_user(&u, json!({"user_metadata": {"one_more": 1}}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "metadata_too_large"),
        "{}",
        r.raw
    );
    let got = env.get_user(&u).await;
    assert_eq!(
        got.body["user_metadata"].as_object().unwrap().len(),
        MAX_KEYS
    );
    assert_eq!(got.body["version"], 1);

    let r = env
        .patch_user(&u, json!({"user_metadata": {"k0": "replaced", "k1": null}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let r = env
        .patch_user(&u, json!({"user_metadata": {"k2": null, "new": 1}}))
        .await;
    assert_eq!(
        r.status, 200,
        "removing one key makes room for another: {}",
        r.raw
    );
    assert_eq!(
        r.body["user_metadata"].as_object().unwrap().len(),
        MAX_KEYS - 1
    );
}

#[tokio::test]
async fn only_the_metadata_scope_may_change_only_metadata() {
    let env = Env::new().await;
    let u = with_metadata(&env, json!({}), json!({})).await;
    let path = user_path(&u);
    let scoped = crate::support::claims("acme", "crm@clients", "update:users_app_metadata");
    let ok = env
        .send(
            "PATCH",
            &path,
            Some(&scoped),
            Some(&json!({"app_metadata": {"crm_id": "c-1"}, "user_metadata": {"x": 1}})),
            &[],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    let refused = env
        .send(
            "PATCH",
            &path,
            Some(&scoped),
            Some(&json!({"app_metadata": {"crm_id": "c-2"}, "blocked": true})),
            &[],
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "insufficient_scope")
    );
    let got = env.get_user(&u).await;
    assert_eq!(
        (
            got.body["app_metadata"]["crm_id"].clone(),
            got.body["blocked"].clone()
        ),
        (json!("c-1"), json!(false))
    );
}

#[tokio::test]
async fn an_empty_metadata_object_beside_other_fields_is_ignored() {
    let env = Env::new().await;
    let u = with_metadata(&env, json!({"a": 1}), json!({})).await;
    let r = env
        .patch_user(&u, json!({"user_metadata": {}, "name": "Ana"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        (r.body["name"].clone(), r.body["user_metadata"].clone()),
        (json!("Ana"), json!({"a": 1}))
    );
}

#[tokio::test]
async fn a_patch_naming_more_keys_than_the_cap_is_refused_even_on_an_empty_object() {
    let env = Env::new().await;
    let u = with_metadata(&env, json!({}), json!({})).await;
    let too_many: serde_json::Map<String, Value> = (0..=MAX_KEYS)
        .map(|i| (format!("k{i}"), json!(i)))
        .collect();
    let r = env.patch_user(&u, json!({"user_metadata": too_many})).await;
    assert_eq!((r.status, r.code()), (400, "metadata_too_large"));
    let nulls: serde_json::Map<String, Value> =
        (0..500).map(|i| (format!("k{i}"), Value::Null)).collect();
    let r = env.patch_user(&u, json!({"user_metadata": nulls})).await;
    assert_eq!((r.status, r.code()), (400, "metadata_too_large"));
    let exactly: serde_json::Map<String, Value> = (0..MAX_KEYS)
        .map(|i| (format!("k{i}"), json!("v".repeat(100))))
        .collect();
    let r = env
        .patch_user(
            &u,
            json!({"user_metadata": exactly.clone(), "app_metadata": exactly}),
        )
        .await;
    assert_eq!(
        r.status, 200,
        "the caps themselves fit in one write: {}",
        r.raw
    );
    assert_eq!(r.body["user_metadata"].as_object().unwrap().len(), MAX_KEYS);
}

/// `n` sevens: 2n+1 bytes of JSON, 3n+3 bytes stored (each number two, each element one).
fn sevens(n: usize) -> Value {
    Value::Array(vec![json!(7); n])
}

/// An object at the key cap, with the longest keys, every value `value`.
fn full_object(value: &Value) -> Value {
    (0..MAX_KEYS)
        .map(|i| (format!("{i:0>64}"), value.clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The longest list of sevens a value may be, stored.
const AT_CAP: usize = (MAX_VALUE_BYTES - 3) / 3;

#[tokio::test]
async fn a_metadata_value_is_measured_as_dynamodb_stores_it_not_as_json() {
    let env = Env::new().await;
    let u = with_metadata(&env, json!({"a": 1}), json!({})).await;
    let small_as_json = sevens(1000);
    assert!(serde_json::to_vec(&small_as_json).unwrap().len() <= MAX_VALUE_BYTES);
    let r = env
        .patch_user(&u, json!({"user_metadata": {"list": small_as_json}}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "metadata_too_large"),
        "{}",
        r.raw
    );
    assert_eq!(
        env.get_user(&u).await.body["user_metadata"],
        json!({"a": 1})
    );
    let r = env
        .patch_user(&u, json!({"user_metadata": {"list": sevens(AT_CAP)}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
}

#[tokio::test]
async fn a_user_at_every_cap_with_a_linked_identity_still_takes_every_write() {
    let env = Env::new().await;
    let primary = with_metadata(&env, json!({}), json!({})).await;
    let secondary = env
        .create(json!({
            "connection": "github",
            "user_id": "gh-full",
            "user_metadata": full_object(&sevens(AT_CAP)),
        }))
        .await;
    let r = env
        .link(
            &primary,
            json!({"link_with": secondary["user_id"], "allow_unverified": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);

    let full = full_object(&sevens(AT_CAP));
    let r = env
        .patch_user(
            &primary,
            json!({"user_metadata": full, "app_metadata": full, "name": "\u{1F600}".repeat(300)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    // Every value replaced at once by one as large again: the item never holds both.
    let other = full_object(&Value::Array(vec![json!(9); AT_CAP]));
    let r = env
        .patch_user(
            &primary,
            json!({"user_metadata": other, "app_metadata": other}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    // Values at the old JSON cap would have taken the item past 400 KB.
    let r = env
        .patch_user(
            &primary,
            json!({"app_metadata": full_object(&sevens(1000))}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "metadata_too_large"),
        "{}",
        r.raw
    );
    let stored = env.get_user(&primary).await.body;
    assert_eq!(stored["user_metadata"], other);
    assert_eq!(stored["app_metadata"], other);
    assert_eq!(stored["identities"].as_array().map(Vec::len), Some(2));
}

/// PATCHes the user's `user_metadata` with one key whose value is the JSON text `number`,
/// sent as written: `json!` would have rounded it already.
async fn patch_number(env: &Env, u: &Value, number: &str) -> crate::support::Resp {
    let body = format!(r#"{{"user_metadata": {{"n": {number}}}}}"#);
    let admin = env.admin();
    env.send_raw("PATCH", &user_path(u), Some(&admin), body.as_bytes(), &[])
        .await
}

#[tokio::test]
async fn extreme_numbers_are_stored_in_canonical_form_and_every_read_path_returns_them() {
    let env = Env::new().await;
    let u = with_metadata(&env, json!({}), json!({})).await;
    let id = u["user_id"].as_str().unwrap().to_owned();
    for (sent, back) in [
        ("1e38", 1e38),
        ("-1e38", -1e38),
        ("9.99999999999999e125", 9.99999999999999e125),
        ("1e-130", 1e-130),
        ("-1e-130", -1e-130),
        ("1.5e-7", 1.5e-7),
        ("123456789012345680000", 1.2345678901234568e20),
    ] {
        let r = patch_number(&env, &u, sent).await;
        assert_eq!(r.status, 200, "{sent}: {}", r.raw);
        let stored: Vec<String> = env
            .items()
            .await
            .iter()
            .filter_map(|i| {
                i.get("user_metadata")?
                    .as_m()
                    .ok()?
                    .get("n")?
                    .as_n()
                    .ok()
                    .cloned()
            })
            .collect();
        assert!(
            !stored.is_empty()
                && stored
                    .iter()
                    .all(|n| n.bytes().filter(u8::is_ascii_digit).count() <= 38),
            "{sent} is stored as {stored:?}"
        );
        let reads = [
            env.get_user(&u).await.body,
            env.get_me(&u).await.body,
            env.list_users(&[]).await.body["users"][0].clone(),
            env.users_by_email("ana@example.com").await.body[0].clone(),
            env.export_user(&u).await.body["user"].clone(),
            env.admin_send("GET", &format!("/api/v2/users/auth0%7C{id}"), None)
                .await
                .body,
        ];
        for read in reads {
            assert_eq!(read["user_metadata"]["n"], json!(back), "{sent}: {read}");
        }
    }
}

#[tokio::test]
async fn numbers_a_double_cannot_hold_as_written_are_refused_not_rounded() {
    let env = Env::new().await;
    let u = with_metadata(&env, json!({"n": 1}), json!({})).await;
    for sent in [
        "12345678901234567890123",
        "-12345678901234567890123",
        "18446744073709551616",
        "0.12345678901234567891",
        "9007199254740993.5",
    ] {
        let r = patch_number(&env, &u, sent).await;
        assert_eq!(r.status, 400, "{sent}: {}", r.raw);
        assert_eq!(r.code(), "invalid_body", "{sent}");
    }
    // Auth0's dialect rewrites a body before it is parsed; the rewrite must not round first.
    let admin = env.admin();
    let auth0 = format!("/api/v2/users/auth0%7C{}", u["user_id"].as_str().unwrap());
    for body in [
        r#"{"user_metadata": {"n": 12345678901234567890123}}"#,
        r#"{"user_metadata": {"n": 2, "n": 3}}"#,
    ] {
        let r = env
            .send_raw("PATCH", &auth0, Some(&admin), body.as_bytes(), &[])
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.raw);
    }
    assert_eq!(
        env.get_user(&u).await.body["user_metadata"],
        json!({"n": 1})
    );
}

#[tokio::test]
async fn the_storable_range_is_exactly_dynamodbs() {
    let env = Env::new().await;
    let u = with_metadata(&env, json!({}), json!({})).await;
    for ok in ["1e-130", "9.99999999999999e125", "0", "-0.0"] {
        let r = patch_number(&env, &u, ok).await;
        assert_eq!(r.status, 200, "{ok}: {}", r.raw);
    }
    for out in [
        "9.99999999999999e-131",
        "1e126",
        "-1e126",
        "1e-131",
        "1e400",
    ] {
        let r = patch_number(&env, &u, out).await;
        assert_eq!(r.status, 400, "{out}: {}", r.raw);
    }
}
