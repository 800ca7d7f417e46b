use serde_json::json;

use crate::support::{ALL_SCOPES, Env, claims, s};

const PASSWORD: &str = "correct horse battery";

/// Ten failures from `ip`, each past the per-user lock, so the address's block is reached.
async fn block_address(env: &Env, clock: &crate::support::TestClock, email: &str, ip: &str) {
    for _ in 0..10 {
        let r = env.login(email, "wrong guess", ip).await;
        assert_eq!(r.code(), "invalid_credentials", "{}", r.raw);
        clock.advance(16 * 60);
    }
}

#[tokio::test]
async fn the_right_password_signs_in_and_counts_the_login() {
    let env = Env::new().await;
    let u = env
        .create(json!({"email": "ana@example.com", "password": PASSWORD, "username": "ana"}))
        .await;
    env.calls.take();
    let r = env.login("ANA@example.com", PASSWORD, "198.51.100.1").await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        env.calls_past_the_limiter(),
        vec!["GetItem", "BatchGetItem", "TransactWriteItems"],
        "one lookup, one read, one write"
    );
    assert_eq!(r.body["user_id"], u["user_id"]);
    assert_eq!(r.body["logins_count"], 1);
    assert!(r.body["last_login"].is_string());
    assert_eq!(r.header("etag"), Some("\"2\""));
    let by_username = env
        .authenticate(json!({"username": "Ana", "password": PASSWORD, "ip": "198.51.100.1"}))
        .await;
    assert_eq!(
        (by_username.status, by_username.body["logins_count"].clone()),
        (200, json!(2))
    );
    let got = env.get_user(&u).await;
    assert_eq!(got.body["logins_count"], 2);
}

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer_after_the_same_work() {
    let env = Env::new().await;
    env.create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    env.calls.take();
    let wrong = env
        .login("ana@example.com", "not the password", "198.51.100.1")
        .await;
    let wrong_calls = env.calls.take();
    let unknown = env
        .login("nobody@example.com", "not the password", "198.51.100.1")
        .await;
    let unknown_calls = env.calls.take();
    assert_eq!((wrong.status, wrong.code()), (401, "invalid_credentials"));
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong_calls, unknown_calls, "the same reads and writes");
    assert!(
        !env.keys().await.iter().any(|(pk, _)| pk.contains("nobody")),
        "an unknown address is not stored"
    );
}

#[tokio::test]
async fn unknown_accounts_are_throttled_like_real_ones() {
    // A frozen clock: on a loaded machine the first lock (seconds) could pass between tries.
    let (env, _clock) = Env::with_clock().await;
    env.create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    let mut real = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..7 {
        let ip = format!("198.51.100.{i}");
        real.push(
            env.login("ana@example.com", "wrong guess", &ip)
                .await
                .status,
        );
        unknown.push(
            env.login("nobody@example.com", "wrong guess", &ip)
                .await
                .status,
        );
    }
    assert_eq!(real, unknown);
    assert_eq!(real.last(), Some(&429));
}

#[tokio::test]
async fn a_failed_attempt_costs_one_read_and_two_writes_besides_the_lookup() {
    let env = Env::new().await;
    env.create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    env.calls.take();
    env.login("ana@example.com", "wrong guess", "198.51.100.1")
        .await;
    assert_eq!(
        env.calls_past_the_limiter(),
        vec![
            "GetItem",
            "BatchGetItem",
            "TransactWriteItems",
            "UpdateItem"
        ],
        "the lookup; the login state; the counters; the address's throttle"
    );
}

#[tokio::test]
async fn an_address_is_blocked_after_ten_failures_while_another_still_works() {
    let (env, clock) = Env::with_clock().await;
    let u = env
        .create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    block_address(&env, &clock, "ana@example.com", "198.51.100.1").await;
    let blocked = env.login("ana@example.com", PASSWORD, "198.51.100.1").await;
    assert_eq!(
        (blocked.status, blocked.code()),
        (429, "too_many_attempts"),
        "even the right password"
    );
    let retry: u64 = blocked.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 20 * 3600 && retry <= 24 * 3600, "{retry}");
    let other = env.login("ana@example.com", PASSWORD, "203.0.113.9").await;
    assert_eq!(other.status, 200, "{}", other.raw);

    let blocks = env.blocks(&u).await;
    assert_eq!(blocks.status, 200, "{}", blocks.raw);
    let list = blocks.body["blocked_for"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", blocks.raw);
    assert_eq!(list[0]["ip"], "198.51.100.1");
    assert_eq!(list[0]["identifier"], "ana@example.com");
    assert_eq!(list[0]["connection"], "database");
    assert!(list[0]["blocked_until"].is_string());

    clock.advance(24 * 3600);
    assert_eq!(
        env.login("ana@example.com", PASSWORD, "198.51.100.1")
            .await
            .status,
        200,
        "the block ends"
    );
}

#[tokio::test]
async fn the_per_user_lock_backs_off_exponentially_across_addresses_and_is_capped() {
    let (env, clock) = Env::with_clock().await;
    env.create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    for i in 0..5 {
        let r = env
            .login("ana@example.com", "wrong guess", &format!("198.51.100.{i}"))
            .await;
        assert_eq!(r.code(), "invalid_credentials");
    }
    let mut waits = Vec::new();
    for i in 5..16 {
        let r = env
            .login("ana@example.com", "wrong guess", &format!("198.51.100.{i}"))
            .await;
        assert_eq!(r.code(), "invalid_credentials", "attempt {i}: {}", r.raw);
        let locked = env
            .login("ana@example.com", PASSWORD, "203.0.113.200")
            .await;
        assert_eq!(locked.status, 429, "attempt {i}");
        let wait: i64 = locked.header("retry-after").unwrap().parse().unwrap();
        waits.push(wait);
        clock.advance(wait);
    }
    assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900]);
    let ok = env
        .login("ana@example.com", PASSWORD, "203.0.113.200")
        .await;
    assert_eq!(
        ok.status, 200,
        "the lock never outlasts 15 minutes: {}",
        ok.raw
    );
}

#[tokio::test]
async fn racing_failures_are_all_counted() {
    let (env, _clock) = Env::with_clock().await;
    let u = env
        .create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    let attempts = (0..12).map(|_| env.login("ana@example.com", "wrong guess", "198.51.100.1"));
    let results = futures::future::join_all(attempts).await;
    let checked = results.iter().filter(|r| r.status == 401).count();
    let refused = results.iter().filter(|r| r.status == 429).count();
    assert_eq!(checked + refused, 12);
    assert!(
        checked <= 6,
        "no attempt past the per-user lock was checked and answered: {checked}"
    );
    // Every checked attempt is counted on both counters: none is lost to a race. Attempts that
    // arrived while the per-user lock held were refused unchecked and are not counted.
    let items = env.items().await;
    let count = |sk: &str| -> usize {
        items
            .iter()
            .find(|i| s(i, "sk") == sk)
            .map(|i| s(i, "count").parse().unwrap())
            .unwrap_or(0)
    };
    assert_eq!(count("LOGIN#IP#198.51.100.1"), checked);
    assert_eq!(count("LOGIN#USER"), checked);
    assert!(
        items
            .iter()
            .all(|i| !s(i, "pk").contains(&format!("x{}", u["user_id"])))
    );
}

#[tokio::test]
async fn an_address_the_owner_signed_in_from_is_exempt_from_the_user_lock() {
    let (env, _clock) = Env::with_clock().await;
    env.create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    assert_eq!(
        env.login("ana@example.com", PASSWORD, "203.0.113.5")
            .await
            .status,
        200
    );
    for i in 0..8 {
        env.login("ana@example.com", "wrong guess", &format!("198.51.100.{i}"))
            .await;
    }
    assert_eq!(
        env.login("ana@example.com", PASSWORD, "192.0.2.77")
            .await
            .status,
        429,
        "a new address waits"
    );
    let owner = env.login("ana@example.com", PASSWORD, "203.0.113.5").await;
    assert_eq!(
        owner.status, 200,
        "the owner's usual address does not: {}",
        owner.raw
    );
}

#[tokio::test]
async fn blocks_are_listed_and_cleared_by_identifier_too() {
    let (env, clock) = Env::with_clock().await;
    env.create(json!({"email": "ana@example.com", "password": PASSWORD, "username": "ana"}))
        .await;
    block_address(&env, &clock, "ana@example.com", "198.51.100.1").await;
    for identifier in ["ana@example.com", "ana"] {
        let r = env.blocks_of(identifier).await;
        assert_eq!(
            r.body["blocked_for"].as_array().unwrap().len(),
            1,
            "{identifier}: {}",
            r.raw
        );
    }
    let r = env.blocks_of("nobody@example.com").await;
    assert_eq!(r.body, json!({"blocked_for": []}));
    let r = env.clear_blocks_of("ana@example.com").await;
    assert_eq!(r.status, 204, "{}", r.raw);
    let r = env.blocks_of("ana").await;
    assert_eq!(r.body, json!({"blocked_for": []}));
    assert!(
        !env.keys()
            .await
            .iter()
            .any(|(_, sk)| sk.starts_with("LOGIN#")),
        "every counter is gone"
    );
    assert_eq!(
        env.login("ana@example.com", PASSWORD, "198.51.100.1")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn clearing_blocks_by_id_works_and_unknown_users_are_404() {
    let (env, clock) = Env::with_clock().await;
    let u = env
        .create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    block_address(&env, &clock, "ana@example.com", "198.51.100.1").await;
    assert_eq!(env.clear_blocks(&u).await.status, 204);
    assert_eq!(env.blocks(&u).await.body, json!({"blocked_for": []}));
    let ghost = "usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1";
    assert_eq!(env.blocks(ghost).await.status, 404);
    assert_eq!(env.clear_blocks(ghost).await.status, 404);
    let reader = claims("acme", "x@clients", "read:users");
    let path = format!(
        "/v1/tenants/acme/user-blocks/{}",
        u["user_id"].as_str().unwrap()
    );
    assert_eq!(
        env.send("DELETE", &path, Some(&reader), None, &[])
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn the_admin_block_and_brute_force_blocks_are_independent() {
    let (env, clock) = Env::with_clock().await;
    let u = env
        .create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    env.patch_user(&u, json!({"blocked": true})).await;
    let r = env.login("ana@example.com", PASSWORD, "198.51.100.1").await;
    assert_eq!((r.status, r.code()), (401, "user_blocked"));
    let wrong = env
        .login("ana@example.com", "wrong guess", "198.51.100.1")
        .await;
    assert_eq!(
        wrong.code(),
        "invalid_credentials",
        "a block is only revealed to the right password"
    );

    block_address(&env, &clock, "ana@example.com", "198.51.100.2").await;
    env.clear_blocks(&u).await;
    let got = env.get_user(&u).await;
    assert_eq!(
        got.body["blocked"], true,
        "clearing brute-force blocks leaves the admin block"
    );

    block_address(&env, &clock, "ana@example.com", "198.51.100.2").await;
    env.patch_user(&u, json!({"blocked": false})).await;
    let r = env.blocks(&u).await;
    assert_eq!(
        r.body["blocked_for"].as_array().unwrap().len(),
        1,
        "unblocking leaves brute-force blocks"
    );
    assert_eq!(
        env.login("ana@example.com", PASSWORD, "198.51.100.2")
            .await
            .status,
        429
    );
    assert_eq!(
        env.login("ana@example.com", PASSWORD, "198.51.100.3")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn an_admin_password_set_clears_every_block() {
    let (env, clock) = Env::with_clock().await;
    let u = env
        .create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    block_address(&env, &clock, "ana@example.com", "198.51.100.1").await;
    let r = env
        .patch_user(&u, json!({"password": "fresh Lantern 42 quartz"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(r.body["last_password_reset"].is_string());
    assert!(
        !env.keys()
            .await
            .iter()
            .any(|(_, sk)| sk.starts_with("LOGIN#"))
    );
    assert_eq!(
        env.login("ana@example.com", "fresh Lantern 42 quartz", "198.51.100.1")
            .await
            .status,
        200
    );
    assert_eq!(
        env.login("ana@example.com", PASSWORD, "198.51.100.9")
            .await
            .status,
        401,
        "the old password is gone"
    );
}

#[tokio::test]
async fn a_hash_made_with_older_parameters_is_upgraded_at_the_next_login() {
    let env = Env::new().await;
    let u = env
        .create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    let id = u["user_id"].as_str().unwrap();
    let password =
        shared::domain::password::Password::offered(zeroize::Zeroizing::new(PASSWORD.into()))
            .unwrap();
    let old = shared::ports::PasswordHasher::hash(
        &shared::adapters::argon::Argon2Hasher::with_params(8192, 1, 1),
        &password,
    )
    .await
    .unwrap();
    env.client
        .put_item()
        .table_name(&env.table)
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("TENANT#acme#USER#{id}")),
        )
        .item(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("PASSWORD".into()),
        )
        .item(
            "hash",
            aws_sdk_dynamodb::types::AttributeValue::S(old.as_phc().into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        env.login("ana@example.com", PASSWORD, "198.51.100.1")
            .await
            .status,
        200
    );
    let stored = env
        .items()
        .await
        .into_iter()
        .find(|i| s(i, "sk") == "PASSWORD")
        .map(|i| s(&i, "hash"))
        .unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    assert_eq!(
        env.login("ana@example.com", PASSWORD, "198.51.100.1")
            .await
            .status,
        200,
        "the new hash verifies"
    );
}

#[tokio::test]
async fn an_account_scheduled_for_deletion_cannot_sign_in() {
    let env = Env::new().await;
    let u = env
        .create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    let id = u["user_id"].as_str().unwrap();
    env.client
        .update_item()
        .table_name(&env.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("TENANT#acme#USER#{id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()),
        )
        .update_expression("SET deletion_scheduled_at = :t")
        .expression_attribute_values(
            ":t",
            aws_sdk_dynamodb::types::AttributeValue::S("2026-12-26T00:00:00.000Z".into()),
        )
        .send()
        .await
        .unwrap();
    let r = env.login("ana@example.com", PASSWORD, "198.51.100.1").await;
    assert_eq!((r.status, r.code()), (401, "deletion_scheduled"));
    let wrong = env
        .login("ana@example.com", "wrong guess", "198.51.100.1")
        .await;
    assert_eq!(wrong.code(), "invalid_credentials");
}

#[tokio::test]
async fn authenticate_needs_its_scope_and_refuses_bad_bodies() {
    let env = Env::new().await;
    let admin = claims("acme", "x@clients", "read:users update:users");
    let r = env
        .send(
            "POST",
            "/v1/tenants/acme/authenticate",
            Some(&admin),
            Some(&json!({"email": "a@example.com", "password": "x", "ip": "1.2.3.4"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);
    for (body, code) in [
        (json!({"password": "x"}), "invalid_body"),
        (
            json!({"email": "a@example.com", "username": "a", "password": "x"}),
            "invalid_body",
        ),
        (
            json!({"email": "a@example.com", "password": 5}),
            "invalid_body",
        ),
        (
            json!({"email": "a@example.com", "password": "x", "connection": "google-oauth2"}),
            "invalid_body",
        ),
        (
            json!({"email": "a@example.com", "password": "x", "ip": "nope"}),
            "invalid_body",
        ),
        (
            json!({"email": "a@example.com", "password": "x"}),
            "invalid_body",
        ),
    ] {
        let r = env.authenticate(body.clone()).await;
        assert_eq!((r.status, r.code()), (400, code), "{body}");
    }
    let foreign = claims("globex", "login@clients", ALL_SCOPES);
    let r = env
        .send(
            "POST",
            "/v1/tenants/acme/authenticate",
            Some(&foreign),
            Some(&json!({"email": "a@example.com", "password": "x", "ip": "1.2.3.4"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_user_changes_their_password_with_the_current_one() {
    let env = Env::new().await;
    let u = env
        .create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    let wrong = env
        .change_password(&u, "wrong guess", "fresh Lantern 42 quartz")
        .await;
    assert_eq!((wrong.status, wrong.code()), (401, "invalid_credentials"));
    assert!(
        env.keys().await.iter().any(|(_, sk)| sk == "LOGIN#USER"),
        "a wrong current password counts as a failed attempt"
    );
    let weak = env.change_password(&u, PASSWORD, "password123").await;
    assert_eq!((weak.status, weak.code()), (400, "password_too_weak"));
    let ok = env
        .change_password(&u, PASSWORD, "fresh Lantern 42 quartz")
        .await;
    assert_eq!(ok.status, 204, "{}", ok.raw);
    assert!(
        !env.keys()
            .await
            .iter()
            .any(|(_, sk)| sk.starts_with("LOGIN#")),
        "blocks and counters are cleared"
    );
    assert_eq!(
        env.login("ana@example.com", "fresh Lantern 42 quartz", "198.51.100.1")
            .await
            .status,
        200
    );
    assert_eq!(
        env.login("ana@example.com", PASSWORD, "198.51.100.2")
            .await
            .status,
        401
    );
    let got = env.get_user(&u).await;
    assert!(got.body["last_password_reset"].is_string());
}

#[tokio::test]
async fn a_social_user_has_no_password_to_change_or_check() {
    let env = Env::new().await;
    let u = env
        .create(
            json!({"connection": "google-oauth2", "user_id": "g-1", "email": "ana@example.com"}),
        )
        .await;
    let r = env
        .change_password(&u, "x", "fresh Lantern 42 quartz")
        .await;
    assert_eq!(r.status, 400, "{}", r.raw);
    let r = env.login("ana@example.com", PASSWORD, "198.51.100.1").await;
    assert_eq!(
        r.code(),
        "invalid_credentials",
        "the database connection has no such user"
    );
}

#[tokio::test]
async fn a_sign_in_without_the_end_users_address_is_refused_and_locks_nobody_out() {
    let env = Env::new().await;
    env.create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    // Counted against the login service's own address, ten of these used to block that
    // address, the one every sign-in comes from, for the owner.
    let without_ip = json!({"email": "ana@example.com", "password": "wrong guess"});
    for _ in 0..12 {
        let r = env.authenticate(without_ip.clone()).await;
        assert_eq!((r.status, r.code()), (400, "invalid_body"), "{}", r.raw);
        assert!(r.body["message"].as_str().unwrap().contains("ip"));
    }
    assert!(
        env.keys()
            .await
            .iter()
            .all(|(_, sk)| !sk.starts_with("LOGIN#")),
        "a refused request counts nothing"
    );
    let r = env.login("ana@example.com", PASSWORD, "198.51.100.1").await;
    assert_eq!(r.status, 200, "{}", r.raw);
}

#[tokio::test]
async fn deleting_a_user_removes_its_login_counters_too() {
    let env = Env::new().await;
    let u = env
        .create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    for i in 0..4 {
        env.login("ana@example.com", "wrong guess", &format!("198.51.100.{i}"))
            .await;
    }
    env.calls.take();
    assert_eq!(env.delete_user(&u).await.status, 204);
    // The counters go in the erasure's own transaction: all of the user or nothing.
    assert_eq!(
        env.calls_past_the_limiter(),
        vec!["Query", "TransactWriteItems"]
    );
    let id = u["user_id"].as_str().unwrap();
    assert!(
        !env.keys().await.iter().any(|(pk, _)| pk.contains(id)),
        "nothing of the user is left"
    );
}
