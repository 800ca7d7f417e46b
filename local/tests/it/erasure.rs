use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::domain::erasure::PurgeReport;
use shared::domain::ids::{TenantId, UserId};
use shared::schedule::Pass;

use crate::support::{Env, TestClock, address, claims, inbox, s, user_path};

const PASSWORD: &str = "correct horse battery";
const DAY: i64 = 24 * 3600;
/// Where the sign-ins of these tests come from.
const IP: &str = "198.51.100.5";

async fn user(env: &Env, email: &str) -> Value {
    env.create(json!({"email": email, "email_verified": true, "password": PASSWORD}))
        .await
}

async fn purge(env: &Env) -> PurgeReport {
    env.purge_due(200, 8).await.unwrap()
}

fn id_of(user: &Value) -> UserId {
    UserId::parse(user["user_id"].as_str().unwrap()).unwrap()
}

/// Every stored item that mentions `needle` anywhere, as text.
async fn mentioning(env: &Env, needle: &str) -> Vec<String> {
    env.items()
        .await
        .iter()
        .map(|i| format!("{i:?}"))
        .filter(|text| text.contains(needle))
        .collect()
}

async fn receipts(
    env: &Env,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    env.items()
        .await
        .into_iter()
        .filter(|i| s(i, "pk").starts_with("TENANT#acme#ERASURE#"))
        .collect()
}

#[tokio::test]
async fn delete_me_schedules_the_erasure_and_the_purge_does_it_once_due() {
    let (env, clock) = Env::with_clock().await;
    let email = address("leaving");
    let u = user(&env, &email).await;
    let id = u["user_id"].as_str().unwrap().to_owned();

    let r = env.delete_me(&u).await;
    assert_eq!(r.status, 202, "{}", r.raw);
    let due = r.body["deletion_scheduled_at"].as_str().unwrap().to_owned();
    let expected = env.app.clock.now().plus_secs(30 * DAY);
    assert_eq!(due, expected.to_string());
    assert_eq!(r.body["emails"][0]["type"], "account_deletion_email");
    assert_eq!(r.body["emails"][0]["status"], "completed");
    let mail = inbox(&email).await;
    assert_eq!(mail.len(), 1);
    assert!(mail[0].html.contains(&due[..10]), "{}", mail[0].html);

    // Scheduled: no sign-in; asking again keeps the date and sends nothing.
    assert_eq!(
        env.login(&email, PASSWORD, IP).await.code(),
        "deletion_scheduled"
    );
    let again = env.delete_me(&u).await;
    assert_eq!(again.body, json!({"deletion_scheduled_at": due}));
    assert_eq!(inbox(&email).await.len(), 1);

    // Before the due time the purge leaves it alone.
    clock.advance(30 * DAY - 60);
    let early = purge(&env).await;
    assert_eq!((early.due, early.purged), (0, 0));
    let still = env.get_user(&u).await;
    assert_eq!(still.status, 200);

    clock.advance(61);
    let report = purge(&env).await;
    assert_eq!(
        (report.due, report.purged, report.failed),
        (1, 1, 0),
        "{report:?}"
    );
    let gone = env.get_user(&u).await;
    assert_eq!(gone.code(), "user_not_found");
    // Nothing of the user is left but the receipt, which names nobody.
    let left = mentioning(&env, &id).await;
    assert!(left.is_empty(), "{left:?}");
    assert!(mentioning(&env, &email.to_lowercase()).await.is_empty());
    let receipts = receipts(&env).await;
    assert_eq!(receipts.len(), 1);
    let receipt = &receipts[0];
    let tenant = TenantId::parse("acme").unwrap();
    assert_eq!(
        s(receipt, "subject"),
        env.app.erasure.subject(&tenant, &id_of(&u)).unwrap()
    );
    assert_eq!(s(receipt, "reason"), "self_service");
    assert_eq!(s(receipt, "actor"), "purge");
    assert!(s(receipt, "expires_at").parse::<i64>().unwrap() > 0);
    assert_eq!(env.keys().await.len(), 1, "only the receipt remains");

    // A second pass finds nothing and counts nothing twice.
    let rerun = purge(&env).await;
    assert_eq!((rerun.due, rerun.purged), (0, 0));
    assert_eq!(self::receipts(&env).await.len(), 1);
}

#[tokio::test]
async fn an_admin_patch_cancels_a_scheduled_deletion() {
    let (env, clock) = Env::with_clock().await;
    let email = address("staying");
    let u = user(&env, &email).await;
    assert_eq!(env.delete_me(&u).await.status, 202);

    // Not the user's to cancel, and only null cancels.
    let by_user = env
        .patch_me(&u, json!({"deletion_scheduled_at": null}))
        .await;
    assert_eq!(by_user.status, 403, "{}", by_user.raw);
    let dated = env
        .patch_user(&u, json!({"deletion_scheduled_at": "2030-01-01T00:00:00Z"}))
        .await;
    assert_eq!(dated.code(), "invalid_body", "{}", dated.raw);

    let r = env
        .patch_user(&u, json!({"deletion_scheduled_at": null}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(r.body.get("deletion_scheduled_at").is_none(), "{}", r.raw);
    clock.advance(31 * DAY);
    let report = purge(&env).await;
    assert_eq!((report.due, report.purged), (0, 0));
    assert_eq!(env.login(&email, PASSWORD, IP).await.status, 200);
    assert!(receipts(&env).await.is_empty());
}

/// Leaves what a user's partition typically holds besides its profile: a failed login's
/// counters and, for an unverified address, a ticket and a send counter.
async fn with_leftovers(env: &Env, clock: &TestClock) -> Value {
    let email = address("due");
    let u = env
        .create(json!({"email": email, "password": PASSWORD}))
        .await;
    let failed = env.login(&email, "not it", "203.0.113.9").await;
    assert_eq!(failed.code(), "invalid_credentials");
    clock.advance(1);
    assert_eq!(env.delete_me(&u).await.status, 202);
    u
}

#[tokio::test]
async fn a_purge_stopped_halfway_and_overlapping_reruns_leave_nothing_behind() {
    let (env, clock) = Env::with_clock().await;
    let mut users = Vec::new();
    for _ in 0..4 {
        users.push(with_leftovers(&env, &clock).await);
    }
    let ids: Vec<String> = users
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_owned())
        .collect();
    for id in &ids {
        let keys = env.keys().await;
        let pk = format!("TENANT#acme#USER#{id}");
        assert!(
            keys.iter()
                .any(|(p, sk)| *p == pk && sk.starts_with("LOGIN#"))
        );
        assert!(
            keys.iter()
                .any(|(p, sk)| *p == pk && sk.starts_with("TICKET#"))
        );
    }
    clock.advance(31 * DAY);

    // A pass that stopped halfway through two erasures: their leftovers went first (tickets,
    // then what refers to them, as an erasure removes them before the profile), their
    // profiles are still there.
    let stopped: Vec<(String, String)> = env
        .keys()
        .await
        .into_iter()
        .filter(|(pk, sk)| {
            ids[..2].iter().any(|id| pk.ends_with(id.as_str()))
                && !sk.starts_with("PROFILE")
                && !sk.starts_with("PASSWORD")
        })
        .flat_map(|(pk, sk)| {
            let ticket = sk
                .strip_prefix("TICKET#")
                .map(|hash| (format!("TENANT#acme#TICKET#{hash}"), "TICKET".to_owned()));
            ticket.into_iter().chain([(pk, sk)])
        })
        .collect();
    assert!(stopped.len() >= 4, "{stopped:?}");
    for (pk, sk) in stopped {
        env.client
            .delete_item()
            .table_name(&env.table)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
            .send()
            .await
            .unwrap();
    }

    // Two passes at once, then another: each account is erased and receipted once.
    let (a, b) = tokio::join!(purge(&env), purge(&env));
    let rerun = purge(&env).await;
    assert_eq!(
        a.purged + b.purged + rerun.purged,
        4,
        "{a:?} {b:?} {rerun:?}"
    );
    assert_eq!(a.failed + b.failed + rerun.failed, 0);
    assert_eq!(receipts(&env).await.len(), 4);
    for id in &ids {
        let left = mentioning(&env, id).await;
        assert!(left.is_empty(), "{left:?}");
    }
    // An address's throttle spans accounts and names no user: it stays until its TTL.
    let keys = env.keys().await;
    assert!(
        keys.iter()
            .all(|(pk, _)| pk.starts_with("TENANT#acme#ERASURE#")
                || pk.starts_with("TENANT#acme#ADDRESS#")),
        "{keys:?}"
    );
}

#[tokio::test]
async fn an_admin_erasure_is_receipted_with_its_caller_and_reason() {
    let env = Env::new().await;
    let u = user(&env, "ana@example.com").await;
    let r = env.delete_user(&u).await;
    assert_eq!(r.status, 204, "{}", r.raw);
    let receipts = receipts(&env).await;
    assert_eq!(receipts.len(), 1);
    assert_eq!(s(&receipts[0], "reason"), "admin");
    assert_eq!(s(&receipts[0], "actor"), "backoffice@clients");
    let text = format!("{:?}", receipts[0]);
    assert!(!text.contains(u["user_id"].as_str().unwrap()), "{text}");
    assert!(!text.contains("ana@example.com"), "{text}");
    assert_eq!(env.keys().await.len(), 1);
}

/// A user whose partition holds more than one transaction can take (brute-force counters
/// from many addresses, here written directly) is erased whole: the excess first, then the
/// rest with the profile and the receipt.
#[tokio::test]
async fn an_erasure_larger_than_a_transaction_leaves_nothing_of_the_user() {
    let env = Env::new().await;
    let u = user(&env, "ana@example.com").await;
    let id = u["user_id"].as_str().unwrap();
    for i in 0..150 {
        env.client
            .put_item()
            .table_name(&env.table)
            .item("pk", AttributeValue::S(format!("TENANT#acme#USER#{id}")))
            .item(
                "sk",
                AttributeValue::S(format!("LOGIN#ADDRESS#198.51.100.{i}")),
            )
            .item("failures", AttributeValue::N("1".into()))
            .send()
            .await
            .unwrap();
    }
    env.calls.take();
    let r = env.delete_user(&u).await;
    assert_eq!(r.status, 204, "{}", r.raw);
    assert!(mentioning(&env, id).await.is_empty());
    assert_eq!(receipts(&env).await.len(), 1);
    let calls = env.calls.take();
    assert!(!calls.iter().any(|c| c == "BatchWriteItem"), "{calls:?}");
}

#[tokio::test]
async fn an_export_holds_everything_stored_and_no_secret() {
    let env = Env::new().await;
    let email = address("export");
    // Unverified, so a verification ticket and its email exist; one failed sign-in.
    let u = env
        .create(json!({
            "email": email,
            "password": PASSWORD,
            "username": "exporter",
            "user_metadata": {"theme": "dark"},
            "app_metadata": {"plan": "pro"},
        }))
        .await;
    let google = env
        .create(json!({"connection": "google-oauth2", "user_id": "g-export", "email": "x@gmail.example", "email_verified": true, "app_metadata": {"tier": "gold"}}))
        .await;
    let linked = env
        .link(
            &u,
            json!({"link_with": google["user_id"], "allow_unverified": true}),
        )
        .await;
    assert_eq!(linked.status, 201, "{}", linked.raw);
    assert_eq!(
        env.login(&email, "not it", IP).await.code(),
        "invalid_credentials"
    );

    let r = env.export_user(&u).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let id = u["user_id"].as_str().unwrap();
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename=\"{id}.json\"").as_str())
    );
    let doc = &r.body;
    assert_eq!(doc["format"], "profiles.export.v1");
    assert_eq!(doc["user"]["user_id"], u["user_id"]);
    assert_eq!(doc["user"]["user_metadata"]["theme"], "dark");
    assert_eq!(doc["user"]["app_metadata"]["plan"], "pro");
    assert_eq!(doc["user"]["identities"][1]["app_metadata"]["tier"], "gold");
    assert_eq!(doc["tickets"][0]["type"], "email_verification");
    assert_eq!(doc["tickets"][0]["email"], email.as_str());
    assert!(doc["tickets"][0]["expires_at"].is_string());
    let failures = doc["sign_in_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures.iter().all(|f| f["failures"] == 1));
    assert!(doc["emails"].is_array());

    // No secret: no hash, no ticket hash, no raw ticket.
    let stored = env.items().await;
    for item in &stored {
        let pk = s(item, "pk");
        if let Some(hash) = pk.strip_prefix("TENANT#acme#TICKET#") {
            assert!(!r.raw.contains(hash), "the ticket's hash leaked");
        }
    }
    assert!(!r.raw.contains("$argon2"));
    assert!(!r.raw.contains("PASSWORD"));

    // The user's own export leaves every app_metadata out.
    let mine = env.export_me(&u).await;
    assert_eq!(mine.status, 200, "{}", mine.raw);
    assert!(!mine.raw.contains("app_metadata"), "{}", mine.raw);
    assert!(!mine.raw.contains("gold") && !mine.raw.contains("\"pro\""));
    assert_eq!(mine.body["user"]["user_metadata"]["theme"], "dark");

    // Another tenant's token sees nothing; an unknown user is 404.
    let foreign = claims("globex", "backoffice@clients", crate::support::ALL_SCOPES);
    let r = env
        .send(
            "GET",
            &format!("{}/export", user_path(&u["user_id"])),
            Some(&foreign),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 404);
    let r = env.export_user("usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C9").await;
    assert_eq!(r.code(), "user_not_found");
}

/// `env` with tenant acme under `policies` (fields of its `TENANT_SETTINGS` entry).
fn with_policies(env: &mut Env, policies: Value) {
    let mut entry = json!({
        "password_reset_url": "https://id.example.com/reset-password",
        "default_result_url": "https://id.example.com/verified",
        "result_url_hosts": ["id.example.com"],
    });
    for (k, v) in policies.as_object().unwrap() {
        entry[k] = v.clone();
    }
    let mut settings = (*env.app.email).clone();
    settings.tenants =
        shared::domain::tenant::TenantSettings::parse(&json!({ "*": entry }).to_string(), false)
            .unwrap();
    env.app.email = std::sync::Arc::new(settings);
    env.app.settings_cache = std::sync::Arc::default();
}

#[tokio::test]
async fn sign_ups_left_unverified_are_erased_under_the_tenant_policy() {
    let (mut env, clock) = Env::with_clock().await;
    with_policies(&mut env, json!({"purge_unverified_after_days": 7}));
    let stale = env
        .create(json!({"email": address("stale"), "password": PASSWORD}))
        .await;
    let late = env
        .create(json!({"email": address("late"), "password": PASSWORD}))
        .await;
    let verified = user(&env, &address("verified")).await;
    for u in [&stale, &late, &verified] {
        assert!(
            u.get("review_at").is_none(),
            "bookkeeping stays out of the resource"
        );
    }
    clock.advance(3 * DAY);
    let r = env.patch_user(&late, json!({"email_verified": true})).await;
    assert_eq!(r.status, 200, "{}", r.raw);

    clock.advance(4 * DAY - 60);
    assert_eq!(purge(&env).await.due, 0, "not yet");
    clock.advance(61);
    let report = purge(&env).await;
    assert_eq!(
        (report.due, report.purged, report.rescheduled),
        (2, 1, 1),
        "{report:?}"
    );
    let gone = env.get_user(&stale).await;
    assert_eq!(gone.code(), "user_not_found");
    for kept in [&late, &verified] {
        let r = env.get_user(kept).await;
        assert_eq!(r.status, 200, "{}", r.raw);
    }
    let receipts = receipts(&env).await;
    assert_eq!(receipts.len(), 1);
    assert_eq!(s(&receipts[0], "reason"), "unverified_signup");
    assert!(
        mentioning(&env, stale["user_id"].as_str().unwrap())
            .await
            .is_empty()
    );
    // The verified user left the index: later passes find nothing.
    clock.advance(365 * DAY);
    assert_eq!(purge(&env).await.due, 0);
}

#[tokio::test]
async fn inactive_users_are_warned_then_erased_and_a_sign_in_cancels_it() {
    let (mut env, clock) = Env::with_clock().await;
    with_policies(
        &mut env,
        json!({"inactive_after_days": 30, "inactivity_warning_days": 7}),
    );
    let idle_email = address("idle");
    let back_email = address("back");
    let idle = user(&env, &idle_email).await;
    let back = user(&env, &back_email).await;

    clock.advance(23 * DAY);
    let report = purge(&env).await;
    assert_eq!(
        (report.due, report.warned, report.purged),
        (2, 2, 0),
        "{report:?}"
    );
    let warning = inbox(&idle_email).await;
    assert_eq!(warning.len(), 1);
    let due = env.app.clock.now().plus_secs(7 * DAY).to_string();
    assert!(warning[0].html.contains(&due[..10]), "{}", warning[0].html);
    let got = env.get_user(&idle).await;
    assert!(got.body["inactivity_warned_at"].is_string(), "{}", got.raw);
    assert_eq!(
        purge(&env).await.due,
        0,
        "nothing more until the erasure is due"
    );

    // One of them signs in during the warning period.
    clock.advance(DAY);
    assert_eq!(env.login(&back_email, PASSWORD, IP).await.status, 200);
    clock.advance(6 * DAY);
    let report = purge(&env).await;
    assert_eq!(
        (report.due, report.purged, report.rescheduled),
        (2, 1, 1),
        "{report:?}"
    );
    let gone = env.get_user(&idle).await;
    assert_eq!(gone.code(), "user_not_found");
    let kept = env.get_user(&back).await;
    assert_eq!(kept.status, 200);
    assert_eq!(s(&receipts(&env).await[0], "reason"), "inactivity");

    // The one who came back (day 24) is warned again only after another idle stretch: at
    // day 24 + 30 - 7.
    clock.advance(16 * DAY);
    assert_eq!(purge(&env).await.due, 0);
    clock.advance(DAY);
    assert_eq!(purge(&env).await.warned, 1);
    assert_eq!(inbox(&back_email).await.len(), 2);
}

#[tokio::test]
async fn small_passes_say_when_more_is_due_until_none_is() {
    let (env, clock) = Env::with_clock().await;
    for i in 0..20 {
        let u = user(&env, &format!("many{i}@example.com")).await;
        assert_eq!(env.delete_me(&u).await.status, 202);
    }
    clock.advance(31 * DAY);
    // One entry per shard per pass: a shard holding two or more says so.
    let mut purged = 0;
    let mut passes = 0;
    loop {
        let pass = env.purge_due(16, 4).await.unwrap();
        purged += pass.purged;
        passes += 1;
        assert!(passes < 30, "the passes never ended");
        if !pass.more {
            break;
        }
        assert!(pass.progressed());
    }
    assert_eq!(purged, 20);
    assert_eq!(purge(&env).await.due, 0);
}
