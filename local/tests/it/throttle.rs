//! The per-address throttle across accounts (credential stuffing).

use serde_json::{Value, json};

use crate::support::Env;

const PASSWORD: &str = "correct horse battery";
const STUFFER: &str = "203.0.113.66";
const OWNER: &str = "198.51.100.20";

/// A tenant whose addresses may fail five times a day, with ana signed up.
async fn five_a_day(env: &Env, more: Value) -> Value {
    let mut body = json!({"ip_throttle_failures_per_day": 5});
    body.as_object_mut()
        .unwrap()
        .extend(more.as_object().unwrap().clone());
    let r = env.patch_settings(body).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    env.create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await
}

/// One failed sign-in from `ip` on each of `n` accounts nobody has.
async fn stuff(env: &Env, ip: &str, n: usize) {
    for i in 0..n {
        let r = env
            .login(&format!("victim{i}@example.com"), "Summer2026!", ip)
            .await;
        assert_eq!(r.code(), "invalid_credentials", "{}", r.raw);
    }
}

#[tokio::test]
async fn an_address_failing_across_accounts_is_throttled_on_every_account_even_with_the_right_password()
 {
    let env = Env::new().await;
    five_a_day(&env, json!({})).await;
    stuff(&env, STUFFER, 5).await;

    let r = env.login("ana@example.com", PASSWORD, STUFFER).await;
    assert_eq!(
        (r.status, r.code()),
        (429, "too_many_attempts"),
        "{}",
        r.raw
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (17_000..=17_280).contains(&retry),
        "a fifth of a day: {retry}"
    );
    // Another address is not concerned, and the throttled one counted nothing more.
    assert_eq!(
        env.login("ana@example.com", PASSWORD, OWNER).await.status,
        200
    );

    let r = env.address_blocks(STUFFER).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["blocked_for"][0]["ip"], STUFFER);
    assert_eq!(r.body["blocked_for"][0]["identifier"], Value::Null);
    assert_eq!(r.body["throttle"]["failures"], 5);
    assert_eq!(r.body["throttle"]["failures_per_day"], 5);
    assert_eq!(r.body["throttle"]["allowed"], false);

    assert_eq!(env.clear_address_blocks(STUFFER).await.status, 204);
    assert_eq!(
        env.address_blocks(STUFFER).await.body,
        json!({"blocked_for": [], "throttle": {"ip": STUFFER, "failures": 0, "failures_per_day": 5, "allowed": false, "drains_at": null}})
    );
    assert_eq!(
        env.login("ana@example.com", PASSWORD, STUFFER).await.status,
        200
    );
}

#[tokio::test]
async fn the_throttle_lets_one_attempt_through_per_drained_failure() {
    let (env, clock) = Env::with_clock().await;
    five_a_day(&env, json!({})).await;
    stuff(&env, STUFFER, 5).await;
    assert_eq!(
        env.login("ana@example.com", "guess", STUFFER).await.status,
        429
    );
    clock.advance(17_280);
    // One failure drained: one more attempt, which fills the bucket again.
    let r = env.login("ana@example.com", "guess", STUFFER).await;
    assert_eq!(r.code(), "invalid_credentials", "{}", r.raw);
    assert_eq!(
        env.login("ana@example.com", PASSWORD, STUFFER).await.status,
        429
    );
    clock.advance(5 * 17_280);
    assert_eq!(
        env.login("ana@example.com", PASSWORD, STUFFER).await.status,
        200
    );
}

#[tokio::test]
async fn a_container_whose_settings_went_stale_throttles_by_the_settings_read_with_the_login() {
    let (env, clock) = Env::with_clock().await;
    let ana = five_a_day(&env, json!({})).await;
    stuff(&env, STUFFER, 5).await;
    // The container's settings are stale: the sign-in reads them with its state.
    clock.advance(shared::operations::tenant::SETTINGS_CACHE_SECS + 1);
    assert_eq!(
        env.login("ana@example.com", PASSWORD, STUFFER).await.status,
        429
    );
    // So does a password change, from the address its request came from.
    let own = "198.51.100.1";
    stuff(&env, own, 5).await;
    clock.advance(shared::operations::tenant::SETTINGS_CACHE_SECS + 1);
    let r = env
        .change_password(&ana, PASSWORD, "fresh Lantern 42 quartz")
        .await;
    assert_eq!(
        (r.status, r.code()),
        (429, "too_many_attempts"),
        "{}",
        r.raw
    );
}

#[tokio::test]
async fn an_allow_listed_network_is_neither_counted_nor_throttled() {
    let env = Env::new().await;
    five_a_day(&env, json!({"ip_throttle_allow": ["203.0.113.0/24"]})).await;
    stuff(&env, STUFFER, 8).await;
    assert_eq!(
        env.login("ana@example.com", PASSWORD, STUFFER).await.status,
        200
    );
    let r = env.address_blocks(STUFFER).await;
    assert_eq!(r.body["throttle"]["allowed"], true, "{}", r.raw);
    assert_eq!(r.body["throttle"]["failures"], 0);
    // An address outside it is throttled as usual.
    stuff(&env, "192.0.2.1", 5).await;
    assert_eq!(
        env.login("ana@example.com", PASSWORD, "192.0.2.1")
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn the_throttle_is_on_by_default_and_its_settings_are_checked() {
    let env = Env::new().await;
    let r = env.settings().await;
    assert_eq!(
        r.body["settings"]["ip_throttle_failures_per_day"], 100,
        "{}",
        r.raw
    );
    assert_eq!(r.body["settings"]["ip_throttle_allow"], json!([]));
    for bad in [
        json!({"ip_throttle_allow": ["203.0.113.9/24"]}),
        json!({"ip_throttle_allow": ["not a network"]}),
        json!({"ip_throttle_failures_per_day": -1}),
        json!({"ip_throttle_failures_per_day": 86_401}),
    ] {
        let r = env.patch_settings(bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.raw);
    }
    // Off: any number of failures, no throttle.
    let r = env
        .patch_settings(json!({"ip_throttle_failures_per_day": 0}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    env.create(json!({"email": "ana@example.com", "password": PASSWORD}))
        .await;
    stuff(&env, STUFFER, 12).await;
    assert_eq!(
        env.login("ana@example.com", PASSWORD, STUFFER).await.status,
        200
    );
    let r = env.address_blocks("not an address").await;
    assert_eq!((r.status, r.code()), (400, "invalid_query"), "{}", r.raw);
}

#[tokio::test]
async fn concurrent_failures_from_one_address_are_all_answered_and_all_counted() {
    let env = Env::new().await;
    let attempts = (0..24).map(|i| {
        let env = &env;
        async move {
            env.login(&format!("victim{i}@example.com"), "Summer2026!", STUFFER)
                .await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    for r in &answers {
        assert_eq!(r.code(), "invalid_credentials", "{}", r.raw);
    }
    let r = env.address_blocks(STUFFER).await;
    assert_eq!(r.body["throttle"]["failures"], 24, "{}", r.raw);
}
