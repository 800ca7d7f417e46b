//! Tenants as data: settings stored per tenant, managed over the API, read through the
//! per-container cache.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::{Value, json};
use shared::domain::ids::TenantId;
use shared::operations::tenant::SETTINGS_CACHE_SECS;

use crate::support::{ALL_SCOPES, Env, PUBLIC_BASE, claims, link, param, s};

const SETTINGS: &str = "/v1/tenants/acme/settings";

fn acme() -> TenantId {
    TenantId::parse("acme").unwrap()
}

/// The stored settings items of tenant acme (the settings and their history).
async fn stored(env: &Env) -> Vec<String> {
    env.items()
        .await
        .iter()
        .filter(|i| s(i, "pk") == "TENANT#acme#SETTINGS")
        .map(|i| s(i, "sk"))
        .collect()
}

async fn verification_ticket(env: &Env, user: &Value, result_url: &str) -> crate::support::Resp {
    env.verification_ticket(json!({"user_id": user["user_id"], "result_url": result_url}))
        .await
}

#[tokio::test]
async fn a_result_url_host_is_allowed_only_after_the_patch_that_allows_it() {
    let env = Env::new().await;
    let user = env
        .create(json!({"email": "ana@example.com", "verify_email": false, "password": "correct horse battery"}))
        .await;
    let target = "https://shop.acme.example/welcome";
    let refused = verification_ticket(&env, &user, target).await;
    assert_eq!(
        (refused.status, refused.code()),
        (400, "invalid_result_url")
    );

    let r = env
        .patch_settings(json!({"result_url_hosts": ["id.example.com", "shop.acme.example"]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        r.body["settings"]["result_url_hosts"],
        json!(["id.example.com", "shop.acme.example"])
    );

    // The same container serves the change at once, without a restart.
    let issued = verification_ticket(&env, &user, target).await;
    assert_eq!(issued.status, 201, "{}", issued.raw);
    let opened = env
        .open_and_confirm(issued.body["ticket"].as_str().unwrap())
        .await;
    assert_eq!(
        opened.header("location"),
        Some("https://shop.acme.example/welcome?success=true")
    );
}

#[tokio::test]
async fn another_container_sees_a_change_within_the_cache_lifetime() {
    let (env, clock) = Env::with_clock().await;
    // A second container: the same table and clock, a cache of its own.
    let mut other = env.app.clone();
    other.settings_cache = Arc::default();
    assert_eq!(
        other.tenant(&acme()).await.unwrap().result_url_hosts,
        ["id.example.com"]
    );
    env.calls.take();
    assert_eq!(
        other.tenant(&acme()).await.unwrap().result_url_hosts,
        ["id.example.com"]
    );
    assert!(env.calls.take().is_empty(), "a cache hit reads nothing");

    let r = env
        .patch_settings(json!({"result_url_hosts": ["id.example.com", "*.acme.example"]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        env.app.tenant(&acme()).await.unwrap().result_url_hosts,
        ["id.example.com", "*.acme.example"]
    );

    clock.advance(SETTINGS_CACHE_SECS - 1);
    env.calls.take();
    assert_eq!(
        other.tenant(&acme()).await.unwrap().result_url_hosts,
        ["id.example.com"]
    );
    assert!(env.calls.take().is_empty());
    clock.advance(1);
    assert_eq!(
        other.tenant(&acme()).await.unwrap().result_url_hosts,
        ["id.example.com", "*.acme.example"]
    );
    assert_eq!(env.calls.take(), ["GetItem"], "a miss is one read");
}

#[tokio::test]
async fn a_tenants_settings_are_read_once_per_container_and_cache_lifetime() {
    let (mut env, clock) = Env::with_clock().await;
    // As create-user's container: a miss reads the tenant's size with its settings.
    env.app.settings_cache =
        std::sync::Arc::new(shared::operations::tenant::SettingsCache::keeping_sizes());
    let social = |n: u32| json!({"connection": "google-oauth2", "user_id": format!("g{n}"), "email": format!("s{n}@example.com"), "email_verified": true});
    env.calls.take();
    // A create reads the tenant's size with its settings: it places the new user in the
    // listing by it. acme has no recorded size yet, so it is counted, and the create records
    // the count once it is done.
    env.create(social(1)).await;
    assert_eq!(
        env.calls_past_the_limiter(),
        [
            "BatchGetItem",
            "BatchGetItem",
            "TransactWriteItems",
            "UpdateItem"
        ]
    );
    assert_eq!(env.recorded_size().await.as_deref(), Some("0"));
    env.create(social(2)).await;
    assert_eq!(env.calls_past_the_limiter(), ["TransactWriteItems"]);
    clock.advance(SETTINGS_CACHE_SECS);
    env.create(social(3)).await;
    assert_eq!(
        env.calls_past_the_limiter(),
        ["BatchGetItem", "TransactWriteItems"]
    );
}

#[tokio::test]
async fn a_containers_first_create_places_by_the_recorded_size_and_a_later_read_corrects_it() {
    use shared::ports::TenantStore;
    let (mut env, clock) = Env::with_clock().await;
    let container =
        || std::sync::Arc::new(shared::operations::tenant::SettingsCache::keeping_sizes());
    let social = |n: u32| json!({"connection": "google-oauth2", "user_id": format!("g{n}"), "email": format!("s{n}@example.com"), "email_verified": true});
    let shard = |created: &Value| {
        let id = shared::domain::ids::UserId::parse(created["user_id"].as_str().unwrap());
        shared::domain::listing::shard_of(&id.unwrap())
    };
    let store = shared::adapters::dynamo::DynamoStore::new(env.client.clone(), env.table.clone());
    // A size far past the last spread, recorded while acme holds nobody.
    store.record_size(&acme(), 20_000).await.unwrap();
    env.app.settings_cache = container();
    env.calls.take();
    let mut shards = Vec::new();
    for n in 0..10 {
        shards.push(shard(&env.create(social(n)).await));
    }
    assert!(
        shards.iter().any(|s| *s >= 2),
        "placed over all 16 shards, as the record says: {shards:?}"
    );
    let calls = env.calls_past_the_limiter();
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("BatchGetItem"))
            .count(),
        1,
        "the first read, of the settings and the record: {calls:?}"
    );

    // The next read counts acme's 10 users, whose spread is not the record's: recorded.
    clock.advance(SETTINGS_CACHE_SECS);
    env.create(social(10)).await;
    assert_eq!(
        env.calls_past_the_limiter(),
        ["BatchGetItem", "TransactWriteItems", "UpdateItem"]
    );
    assert_eq!(env.recorded_size().await.as_deref(), Some("10"));
    // Counted again with no change of spread: nothing written.
    clock.advance(SETTINGS_CACHE_SECS);
    env.create(social(11)).await;
    assert_eq!(
        env.calls_past_the_limiter(),
        ["BatchGetItem", "TransactWriteItems"]
    );
    assert_eq!(env.recorded_size().await.as_deref(), Some("10"));

    // A container starting now places by the corrected record: all in shard 0.
    env.app.settings_cache = container();
    for n in 12..20 {
        assert_eq!(shard(&env.create(social(n)).await), 0);
    }
}

#[tokio::test]
async fn refused_patches_store_nothing() {
    let env = Env::new().await;
    for bad in [
        json!({"colour": "blue"}),
        json!({"locale": "ja"}),
        json!({"locale": ["en"]}),
        json!({"password_reset_url": "http://id.example.com/reset"}),
        json!({"default_result_url": "https://user:secret@id.example.com/"}),
        json!({"result_url_hosts": ["https://app.example.com"]}),
        json!({"result_url_hosts": ["*"]}),
        json!({"result_url_hosts": "id.example.com"}),
        json!({"display_name": "a\u{0007}b"}),
        json!({"inactivity_warning_days": 0}),
        json!({"default_result_url": "https://elsewhere.example.net/done"}),
        // Fine alone, wrong together with the default warning of 14 days.
        json!({"inactive_after_days": 7}),
        json!({"inactive_after_days": 30, "inactivity_warning_days": 30}),
        json!(["locale", "de"]),
    ] {
        let r = env.patch_settings(bad.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_body"),
            "{bad}: {}",
            r.raw
        );
    }
    let r = env
        .send_raw("PATCH", SETTINGS, Some(&env.admin()), b"{not json", &[])
        .await;
    assert_eq!(r.status, 400);
    assert!(stored(&env).await.is_empty());
    let r = env.settings().await;
    assert_eq!((r.status, r.body["version"].clone()), (200, json!(0)));
    assert_eq!(r.header("etag"), Some("\"0\""));
}

#[tokio::test]
async fn null_resets_a_field_to_the_deployments_default() {
    let env = Env::new().await;
    let r = env
        .patch_settings(json!({"locale": "fr", "display_name": "Acme"}))
        .await;
    assert_eq!(r.body["settings"]["locale"], "fr");
    let r = env.patch_settings(json!({"locale": null})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["settings"]["locale"], "en");
    assert_eq!(r.body["settings"]["display_name"], "Acme");
    assert_eq!(
        r.body["settings"]["password_reset_url"],
        format!("{PUBLIC_BASE}/reset-password")
    );
    assert_eq!(r.body["version"], 2);
}

#[tokio::test]
async fn settings_need_their_scopes_and_stay_in_their_tenant() {
    let env = Env::new().await;
    let reader = claims("acme", "auditor@clients", "read:tenant_settings");
    let r = env.send("GET", SETTINGS, Some(&reader), None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let body = json!({"display_name": "Nope"});
    let r = env
        .send("PATCH", SETTINGS, Some(&reader), Some(&body), &[])
        .await;
    assert_eq!((r.status, r.code()), (403, "insufficient_scope"));
    let users_only = claims("acme", "backoffice@clients", "read:users update:users");
    let r = env
        .send("GET", SETTINGS, Some(&users_only), None, &[])
        .await;
    assert_eq!(r.status, 403);
    // Another tenant's token, with every scope: as if the route did not exist.
    let globex = claims("globex", "backoffice@clients", ALL_SCOPES);
    for (method, body) in [("GET", None), ("PATCH", Some(&body))] {
        let r = env.send(method, SETTINGS, Some(&globex), body, &[]).await;
        assert_eq!((r.status, r.code()), (404, "not_found"), "{method}");
    }
    let r = env.send("GET", SETTINGS, None, None, &[]).await;
    assert_eq!(r.status, 401);
    assert!(stored(&env).await.is_empty());
}

#[tokio::test]
async fn if_match_guards_a_change_against_a_concurrent_one() {
    let env = Env::new().await;
    let admin = env.admin();
    let first = json!({"display_name": "First"});
    let r = env
        .send(
            "PATCH",
            SETTINGS,
            Some(&admin),
            Some(&first),
            &[("if-match", "\"0\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.header("etag"), Some("\"1\""));
    let late = json!({"display_name": "Late"});
    let r = env
        .send(
            "PATCH",
            SETTINGS,
            Some(&admin),
            Some(&late),
            &[("if-match", "\"0\"")],
        )
        .await;
    assert_eq!((r.status, r.code()), (412, "precondition_failed"));
    let r = env.settings().await;
    assert_eq!(r.body["settings"]["display_name"], "First");
    assert_eq!(stored(&env).await.len(), 2, "the settings and one change");

    // Concurrent changes without If-Match are applied one after the other, none lost: each
    // loses a race only to another's success, so four writers finish within four attempts.
    let results: Vec<_> = futures::stream::iter(0..4)
        .map(|n| {
            let env = &env;
            async move {
                let key = if n % 2 == 0 { "display_name" } else { "locale" };
                let value = if n % 2 == 0 {
                    json!(format!("Name {n}"))
                } else {
                    json!("de")
                };
                env.patch_settings(json!({ key: value })).await.status
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    assert!(results.iter().all(|s| *s == 200), "{results:?}");
    let r = env.settings().await;
    assert_eq!(r.body["version"], 5);
    assert_eq!(r.body["settings"]["locale"], "de");
}

#[tokio::test]
async fn every_change_is_kept_with_who_made_it_and_which_fields() {
    let env = Env::new().await;
    for (who, body) in [
        (
            "alice@clients",
            json!({"display_name": "Acme", "locale": "de"}),
        ),
        (
            "bob@clients",
            json!({"result_url_hosts": ["id.example.com", "*.acme.example"]}),
        ),
        ("carol@clients", json!({"display_name": null})),
    ] {
        let caller = claims("acme", who, "read:tenant_settings update:tenant_settings");
        let r = env
            .send("PATCH", SETTINGS, Some(&caller), Some(&body), &[])
            .await;
        assert_eq!(r.status, 200, "{}", r.raw);
    }
    let r = env.settings().await;
    let history = r.body["history"].as_array().unwrap();
    let summary: Vec<(Value, Value, Value)> = history
        .iter()
        .map(|c| {
            (
                c["version"].clone(),
                c["changed_by"].clone(),
                c["fields"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (json!(3), json!("carol@clients"), json!(["display_name"])),
            (json!(2), json!("bob@clients"), json!(["result_url_hosts"])),
            (
                json!(1),
                json!("alice@clients"),
                json!(["display_name", "locale"])
            ),
        ]
    );
    assert!(history.iter().all(|c| c["changed_at"].is_string()));
    // A history says which fields changed, never to what.
    assert!(!r.body["history"].to_string().contains("acme.example"));
    assert!(r.body["settings"]["display_name"].is_null());
}

#[tokio::test]
async fn erasing_users_keeps_tenant_settings_and_exports_never_show_them() {
    let env = Env::new().await;
    env.patch_settings(json!({"display_name": "Acme Settings Marker"}))
        .await;
    let user = env.create_ana().await;
    let export = env.export_user(&user).await;
    assert_eq!(export.status, 200);
    assert!(!export.raw.contains("Acme Settings Marker"));
    assert!(!export.raw.contains("result_url_hosts"));
    assert_eq!(env.delete_user(&user).await.status, 204);
    assert_eq!(stored(&env).await.len(), 2);
    let r = env.settings().await;
    assert_eq!(r.body["settings"]["display_name"], "Acme Settings Marker");
}

#[tokio::test]
async fn a_tenants_settings_change_its_mail() {
    let env = Env::new().await;
    env.patch_settings(json!({"locale": "de", "display_name": "Acme Laden"}))
        .await;
    let email = crate::support::address("de");
    env.create(json!({"email": email, "password": "correct horse battery"}))
        .await;
    let mail = crate::support::inbox(&email).await;
    assert!(mail[0].html.contains("lang=\"de\""), "{}", mail[0].html);
    assert!(
        mail[0].subject.contains("Acme Laden"),
        "{}",
        mail[0].subject
    );
    let verify = link(
        &mail[0].html,
        &format!("{PUBLIC_BASE}/v1/tenants/acme/email-verification/confirm"),
    );
    assert!(param(&verify, "ticket").is_some());
}

#[tokio::test]
async fn a_thousand_tenants_keep_settings_of_their_own_in_one_deployment() {
    let env = Env::new().await;
    const LOCALES: [&str; 5] = ["en", "es", "fr", "de", "pt-BR"];
    let tenants: Vec<String> = (0..1000).map(|n| format!("tenant-{n:04}")).collect();
    let statuses: Vec<u16> = futures::stream::iter(tenants.iter().enumerate())
        .map(|(n, t)| {
            let env = &env;
            async move {
                let caller = claims(t, "ops@clients", "update:tenant_settings");
                let body = json!({
                    "display_name": format!("Shop {t}"),
                    "result_url_hosts": [format!("{t}.shops.example")],
                    "default_result_url": format!("https://{t}.shops.example/verified"),
                    "locale": LOCALES[n % 5],
                });
                env.send(
                    "PATCH",
                    &format!("/v1/tenants/{t}/settings"),
                    Some(&caller),
                    Some(&body),
                    &[],
                )
                .await
                .status
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200));
    // Every tenant's operations see its own settings, and only its own, read back from the
    // table by a container that has read none of them yet.
    let mut other = env.app.clone();
    other.settings_cache = Arc::default();
    env.calls.take();
    for (n, t) in tenants.iter().enumerate() {
        let settings = other.tenant(&TenantId::parse(t).unwrap()).await.unwrap();
        assert_eq!(settings.display_name, Some(format!("Shop {t}")));
        assert_eq!(settings.locale.tag(), LOCALES[n % 5]);
        assert!(
            settings
                .result_url(&format!("https://{t}.shops.example/done"))
                .is_ok()
        );
        assert_eq!(
            settings
                .result_url("https://tenant-0000.shops.example/done")
                .is_ok(),
            t == "tenant-0000"
        );
    }
    assert_eq!(env.calls.take().len(), 1000, "one read per tenant");
    // acme, which stored nothing, still has the deployment's.
    let acme = other.tenant(&acme()).await.unwrap();
    assert_eq!(acme.display_name, None);
    assert_eq!(acme.result_url_hosts, ["id.example.com"]);
}

#[tokio::test]
async fn a_policy_erases_users_so_changing_one_needs_delete_users_too() {
    let env = Env::new().await;
    let settings_only = claims("acme", "ops@clients", "update:tenant_settings");
    let policy = json!({"purge_unverified_after_days": 7});
    let r = env
        .send("PATCH", SETTINGS, Some(&settings_only), Some(&policy), &[])
        .await;
    assert_eq!((r.status, r.code()), (403, "insufficient_scope"));
    let reset = json!({"inactive_after_days": null});
    let r = env
        .send("PATCH", SETTINGS, Some(&settings_only), Some(&reset), &[])
        .await;
    assert_eq!(r.status, 403);
    assert!(stored(&env).await.is_empty());
    let both = claims("acme", "ops@clients", "update:tenant_settings delete:users");
    let r = env
        .send("PATCH", SETTINGS, Some(&both), Some(&policy), &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["settings"]["purge_unverified_after_days"], 7);
    // 0 turns it off again, whatever the deployment says.
    let r = env
        .send(
            "PATCH",
            SETTINGS,
            Some(&both),
            Some(&json!({"purge_unverified_after_days": 0})),
            &[],
        )
        .await;
    assert!(r.body["settings"]["purge_unverified_after_days"].is_null());
    let name_only = json!({"display_name": "Acme"});
    let r = env
        .send(
            "PATCH",
            SETTINGS,
            Some(&settings_only),
            Some(&name_only),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
}

#[tokio::test]
async fn concurrent_misses_of_one_container_read_a_tenant_once() {
    let env = Env::new().await;
    env.calls.take();
    let reads = futures::stream::iter(0..8)
        .map(|_| {
            let app = &env.app;
            async move { app.tenant(&acme()).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    assert!(reads.iter().all(Result::is_ok));
    assert_eq!(env.calls.take(), ["GetItem"]);
}
