use futures::future::join_all;
use serde_json::{Value, json};

use crate::support::{Env, s, user_path};

#[tokio::test]
async fn create_returns_201_with_location_etag_and_the_user() {
    let env = Env::new().await;
    let body = json!({
        "email": "Ana.Silva@Example.com", "password": "correct horse battery", "name": "Ana Silva",
        "given_name": "Ana", "family_name": "Silva", "nickname": "ana", "username": "ana_s",
        "phone_number": "+14155550123", "picture": "https://cdn.example.com/ana.png",
        "user_metadata": {"locale": "pt-BR"}, "app_metadata": {"plan": "pro"}, "email_verified": true
    });
    let r = env.post_user(body).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let u = &r.body;
    let id = u["user_id"].as_str().unwrap();
    assert!(id.starts_with("usr_"));
    assert_eq!(
        r.header("location"),
        Some(format!("/v1/tenants/acme/users/{id}").as_str())
    );
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(u["email"], "Ana.Silva@Example.com");
    assert_eq!(u["email_verified"], true);
    assert_eq!(u["tenant_id"], "acme");
    assert_eq!(u["version"], 1);
    assert_eq!(u["logins_count"], 0);
    assert_eq!(u["blocked"], false);
    assert_eq!(
        u["identities"],
        json!([{"connection": "database", "provider": "database", "user_id": id, "is_social": false}])
    );
    assert_eq!(u["user_metadata"], json!({"locale": "pt-BR"}));
    assert_eq!(u["app_metadata"], json!({"plan": "pro"}));
    assert!(u.get("password").is_none());

    let got = env.get_user(u).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, r.body);
    assert_eq!(got.header("etag"), Some("\"1\""));
}

#[tokio::test]
async fn the_password_is_stored_only_as_an_argon2id_hash_in_its_own_item() {
    let env = Env::new().await;
    let u = env.create_ana().await;
    let items = env.items().await;
    let profile = items.iter().find(|i| s(i, "sk") == "PROFILE").unwrap();
    assert!(!format!("{profile:?}").contains("argon2"));
    assert!(!format!("{items:?}").contains("correct horse battery"));
    let credential = items.iter().find(|i| s(i, "sk") == "PASSWORD").unwrap();
    assert_eq!(
        s(credential, "pk"),
        format!("TENANT#acme#USER#{}", u["user_id"].as_str().unwrap())
    );
    assert!(s(credential, "hash").starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
}

#[tokio::test]
async fn create_writes_a_guard_for_the_email_username_and_identity() {
    let env = Env::new().await;
    let u = env.create(json!({"email": "Ana@Example.com", "password": "correct horse battery", "username": "AnaS", "verify_email": false})).await;
    let id = u["user_id"].as_str().unwrap();
    let keys = env.keys().await;
    let expected = vec![
        (
            "TENANT#acme#EMAIL#ana@example.com".to_owned(),
            "CONN#database".to_owned(),
        ),
        (
            format!("TENANT#acme#IDENTITY#database#{id}"),
            "IDENTITY".to_owned(),
        ),
        (format!("TENANT#acme#USER#{id}"), "PASSWORD".to_owned()),
        (
            format!("TENANT#acme#USER#{id}"),
            "PRESENCE#CONNECTION#database".to_owned(),
        ),
        (format!("TENANT#acme#USER#{id}"), "PROFILE".to_owned()),
        (
            "TENANT#acme#USERNAME#anas".to_owned(),
            "CONN#database".to_owned(),
        ),
    ];
    assert_eq!(keys, expected);
}

#[tokio::test]
async fn a_duplicate_email_is_409_even_when_it_differs_only_in_case() {
    let env = Env::new().await;
    env.create(json!({"email": "ana@example.com", "password": "correct horse battery", "verify_email": false}))
        .await;
    for email in ["ana@example.com", "ANA@Example.COM"] {
        let r = env
            .post_user(json!({"email": email, "password": "another passphrase"}))
            .await;
        assert_eq!(r.status, 409, "{}", r.raw);
        assert_eq!(r.code(), "user_exists");
    }
    assert_eq!(
        env.items().await.len(),
        5,
        "a refused create leaves nothing behind"
    );
}

#[tokio::test]
async fn the_same_email_may_exist_once_per_connection() {
    let env = Env::new().await;
    env.create_ana().await;
    let social = json!({"connection": "google-oauth2", "user_id": "10987654321", "email": "ana@example.com", "email_verified": true});
    let r = env.post_user(social.clone()).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(
        r.body["identities"][0],
        json!({"connection": "google-oauth2", "provider": "google-oauth2", "user_id": "10987654321", "is_social": true})
    );
    let again = json!({"connection": "google-oauth2", "user_id": "10987654321"});
    let r = env.post_user(again.clone()).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "user_exists"),
        "the provider identity is unique"
    );
}

#[tokio::test]
async fn a_duplicate_username_is_409() {
    let env = Env::new().await;
    env.create(
        json!({"email": "a@example.com", "password": "correct horse battery", "username": "Ana"}),
    )
    .await;
    let r = env.post_user(json!({"email": "b@example.com", "password": "correct horse battery", "username": "ana"}))
        .await;
    assert_eq!((r.status, r.code()), (409, "user_exists"));
}

#[tokio::test]
async fn twenty_concurrent_creates_with_one_email_make_exactly_one_user() {
    let env = Env::new().await;
    let body = json!({"email": "race@example.com", "password": "correct horse battery"});
    let attempts = (0..20).map(|_| env.post_user(body.clone()));
    let results = join_all(attempts).await;
    let created = results.iter().filter(|r| r.status == 201).count();
    let conflicts = results.iter().filter(|r| r.status == 409).count();
    assert_eq!(
        (created, conflicts),
        (1, 19),
        "{:?}",
        results.iter().map(|r| &r.raw).collect::<Vec<_>>()
    );
    let profiles = env
        .items()
        .await
        .iter()
        .filter(|i| s(i, "sk") == "PROFILE")
        .count();
    assert_eq!(profiles, 1);
}

#[tokio::test]
async fn patch_changes_root_fields_bumps_the_version_and_null_unsets() {
    let env = Env::new().await;
    let u = env.create(json!({"email": "ana@example.com", "password": "correct horse battery", "nickname": "ana", "phone_number": "+14155550123"})).await;
    let patch =
        json!({"name": "Ana Silva", "nickname": null, "phone_verified": true, "blocked": true});
    let r = env.patch_user(&u, patch).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.header("etag"), Some("\"2\""));
    assert_eq!(r.body["name"], "Ana Silva");
    assert!(r.body.get("nickname").is_none());
    assert_eq!(r.body["phone_verified"], true);
    assert_eq!(r.body["blocked"], true);
    assert_eq!(r.body["version"], 2);
    assert_ne!(r.body["updated_at"], u["updated_at"]);
    assert_eq!(env.get_user(&u).await.body, r.body);
}

#[tokio::test]
async fn changing_the_email_moves_its_guard_and_unverifies_it() {
    let env = Env::new().await;
    let u = env.create(json!({"email": "ana@example.com", "password": "correct horse battery", "email_verified": true})).await;
    let r = env
        .patch_user(&u, json!({"email": "Ana.New@Example.com"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["email"], "Ana.New@Example.com");
    assert_eq!(r.body["email_verified"], false);
    let keys = env.keys().await;
    assert!(
        keys.iter()
            .any(|(pk, _)| pk == "TENANT#acme#EMAIL#ana.new@example.com")
    );
    assert!(
        !keys
            .iter()
            .any(|(pk, _)| pk == "TENANT#acme#EMAIL#ana@example.com")
    );
    // The old address is free again; the new one is taken.
    env.create(json!({"email": "ana@example.com", "password": "correct horse battery"}))
        .await;
    let r = env
        .post_user(json!({"email": "ana.new@example.com", "password": "correct horse battery"}))
        .await;
    assert_eq!(r.status, 409);
}

#[tokio::test]
async fn changing_to_an_email_another_user_owns_is_409_and_changes_nothing() {
    let env = Env::new().await;
    env.create(json!({"email": "taken@example.com", "password": "correct horse battery"}))
        .await;
    let u = env.create_ana().await;
    let before = env.keys().await;
    let r = env
        .patch_user(&u, json!({"email": "TAKEN@example.com", "name": "X"}))
        .await;
    assert_eq!((r.status, r.code()), (409, "user_exists"));
    assert_eq!(env.keys().await, before);
    let got = env.get_user(&u).await;
    assert_eq!(got.body["email"], "ana@example.com");
    assert!(got.body.get("name").is_none());
    assert_eq!(got.body["version"], 1);
}

#[tokio::test]
async fn an_admin_can_set_a_password_for_a_database_user_only() {
    let env = Env::new().await;
    let u = env.create_ana().await;
    let hash = |items: &Vec<
        std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    >| {
        items
            .iter()
            .find(|i| s(i, "sk") == "PASSWORD")
            .map(|i| s(i, "hash"))
            .unwrap()
    };
    let before = hash(&env.items().await);
    let r = env
        .patch_user(&u, json!({"password": "a brand new passphrase"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(r.body["last_password_reset"].is_string());
    assert_ne!(hash(&env.items().await), before);

    let weak = env.patch_user(&u, json!({"password": "short"})).await;
    assert_eq!((weak.status, weak.code()), (400, "password_too_weak"));

    let social = env
        .create(json!({"connection": "google-oauth2", "user_id": "42"}))
        .await;
    let r = env
        .patch_user(&social, json!({"password": "a brand new passphrase"}))
        .await;
    assert_eq!(r.status, 400, "{}", r.raw);
    assert!(
        !env.keys()
            .await
            .iter()
            .any(|(pk, sk)| pk.contains(social["user_id"].as_str().unwrap()) && sk == "PASSWORD")
    );
}

#[tokio::test]
async fn if_match_with_a_stale_version_is_412_and_changes_nothing() {
    let env = Env::new().await;
    let u = env.create_ana().await;
    let ok = env
        .patch_user_if_match(&u, "\"1\"", json!({"name": "One"}))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    for body in [
        json!({"name": "Two"}),
        json!({"user_metadata": {"a": 1}}),
        json!({"email": "x@example.com"}),
    ] {
        let stale = env.patch_user_if_match(&u, "\"1\"", body.clone()).await;
        assert_eq!(
            (stale.status, stale.code()),
            (412, "precondition_failed"),
            "{body}"
        );
    }
    let got = env.get_user(&u).await;
    assert_eq!(
        (got.body["name"].clone(), got.body["version"].clone()),
        (json!("One"), json!(2))
    );
    let del = env
        .send(
            "DELETE",
            &user_path(&u),
            Some(&env.admin()),
            None,
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(del.status, 412);
    let star = env
        .patch_user_if_match(&u, "*", json!({"name": "Three"}))
        .await;
    assert_eq!(star.status, 200);
}

#[tokio::test]
async fn concurrent_patches_with_the_same_if_match_let_exactly_one_win() {
    let env = Env::new().await;
    let u = env.create_ana().await;
    let bodies: Vec<Value> = (0..12)
        .map(|i| json!({"user_metadata": {format!("k{i}"): i}}))
        .collect();
    let attempts = bodies
        .iter()
        .map(|b| env.patch_user_if_match(&u, "\"1\"", b.clone()));
    let results = join_all(attempts).await;
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 1);
    assert_eq!(results.iter().filter(|r| r.status == 412).count(), 11);
    // The winner's change alone is stored.
    let got = env.get_user(&u).await;
    assert_eq!(got.body["version"], 2);
    assert_eq!(got.body["user_metadata"].as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn fifty_concurrent_metadata_patches_of_distinct_keys_keep_every_key() {
    let env = Env::new().await;
    let u = env.create_ana().await;
    let bodies: Vec<Value> = (0..50)
        .map(|i| json!({"user_metadata": {format!("k{i}"): i}}))
        .collect();
    let results = join_all(bodies.iter().map(|b| env.patch_user(&u, b.clone()))).await;
    assert!(results.iter().all(|r| r.status == 200), "{results:?}");
    let got = env.get_user(&u).await;
    let kept = got.body["user_metadata"].as_object().unwrap();
    assert!((0..50).all(|i| kept[&format!("k{i}")] == i), "{kept:?}");
    assert_eq!(got.body["version"], 51);
}

#[tokio::test]
async fn delete_removes_the_user_and_every_item_it_owns() {
    let env = Env::new().await;
    let keep = env
        .create(json!({"email": "keep@example.com", "password": "correct horse battery"}))
        .await;
    let before = env.keys().await;
    let u = env.create(json!({"email": "ana@example.com", "password": "correct horse battery", "username": "ana"})).await;
    let r = env.delete_user(&u).await;
    assert_eq!(r.status, 204, "{}", r.raw);
    assert!(r.raw.is_empty());
    let after: Vec<(String, String)> = env
        .keys()
        .await
        .into_iter()
        .filter(|(pk, _)| !pk.contains("#ERASURE#"))
        .collect();
    assert_eq!(
        after, before,
        "only the other user's items (and a receipt) remain"
    );
    assert_eq!(env.get_user(&u).await.status, 404);
    let again = env.delete_user(&u).await;
    assert_eq!((again.status, again.code()), (404, "user_not_found"));
    // The address is free again.
    env.create(
        json!({"email": "ana@example.com", "password": "correct horse battery", "username": "ana"}),
    )
    .await;
    assert_eq!(env.get_user(&keep).await.status, 200);
}

#[tokio::test]
async fn unknown_users_are_404_on_every_user_route() {
    let env = Env::new().await;
    let ghost = "usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1";
    let answers = [
        ("GET", env.get_user(ghost).await),
        ("PATCH", env.patch_user(ghost, json!({"name": "x"})).await),
        (
            "PATCH user_metadata",
            env.patch_user(ghost, json!({"user_metadata": {"a": 1}}))
                .await,
        ),
        ("DELETE", env.delete_user(ghost).await),
    ];
    for (route, r) in answers {
        assert_eq!((r.status, r.code()), (404, "user_not_found"), "{route}");
    }
    let r = env.get_me(ghost).await;
    assert_eq!(r.status, 404);
    assert!(
        env.items().await.is_empty(),
        "a PATCH of a missing user creates nothing"
    );
}

#[tokio::test]
async fn users_by_email_finds_every_connection_case_insensitively() {
    let env = Env::new().await;
    let a = env.create_ana().await;
    let b = env
        .create(
            json!({"connection": "google-oauth2", "user_id": "g-1", "email": "ANA@example.com"}),
        )
        .await;
    env.create(json!({"email": "other@example.com", "password": "correct horse battery"}))
        .await;
    let r = env.users_by_email("Ana@Example.com").await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let mut ids: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected = vec![
        a["user_id"].as_str().unwrap(),
        b["user_id"].as_str().unwrap(),
    ];
    expected.sort();
    assert_eq!(ids, expected);
    let none = env.users_by_email("nobody@example.com").await;
    assert_eq!(none.body, json!([]));
    let missing = env
        .admin_send("GET", "/v1/tenants/acme/users-by-email", None)
        .await;
    assert_eq!((missing.status, missing.code()), (400, "invalid_query"));
}

#[tokio::test]
async fn weak_and_listed_if_match_tags_do_not_match() {
    let env = Env::new().await;
    let u = env.create_ana().await;
    let weak = env
        .patch_user_if_match(&u, "W/\"1\"", json!({"name": "x"}))
        .await;
    assert_eq!(weak.status, 412);
    let list = env
        .patch_user_if_match(&u, "\"1\", \"2\"", json!({"name": "x"}))
        .await;
    assert_eq!((list.status, list.code()), (400, "invalid_header"));
    assert_eq!(env.get_user(&u).await.body["version"], 1);
}

#[tokio::test]
async fn a_wrongly_typed_password_is_not_echoed() {
    let env = Env::new().await;
    let r = env
        .post_user(json!({"email": "a@example.com", "password": 98765432}))
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_body"));
    assert!(!r.raw.contains("98765432"), "{}", r.raw);
}

#[tokio::test]
async fn one_mailbox_cannot_make_two_accounts_by_spelling_its_address_another_way() {
    let env = Env::new().await;
    for (first, second) in [
        // A decomposed é, then a composed one.
        ("jose\u{301}@example.com", "jos\u{e9}@example.com"),
        // An internationalised domain, then its punycode form, in other case.
        ("ana@b\u{fc}cher.example", "ANA@xn--bcher-kva.example"),
    ] {
        let r = env
            .post_user(json!({"email": first, "password": "correct horse battery"}))
            .await;
        assert_eq!(r.status, 201, "{first}: {}", r.raw);
        let r = env
            .post_user(json!({"email": second, "password": "correct horse battery"}))
            .await;
        assert_eq!((r.status, r.code()), (409, "user_exists"), "{second}");
        let found = env.users_by_email(second).await;
        assert_eq!(found.body.as_array().unwrap().len(), 1, "{}", found.raw);
    }
    for quoted in ["\"ana smith\"@example.com", "ana(work)@example.com"] {
        let r = env
            .post_user(json!({"email": quoted, "password": "correct horse battery"}))
            .await;
        assert_eq!((r.status, r.code()), (400, "invalid_email"), "{quoted}");
    }
}
