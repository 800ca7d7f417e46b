//! Rate limits over real HTTP (docs/api.md, "Rate limits"): the local server over moto, its
//! clock held still so a bucket's window lasts as long as a test needs it to.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::server::{Answer, exchange, start_with};
use shared::ports::Clock;

use crate::support::{ALL_SCOPES, Env, PUBLIC_BASE, TestClock};

const SECRET: &str = "test-secret";

/// A deployment whose `TENANT_SETTINGS` adds `entries` to the local `"*"` entry.
async fn deployment(entries: Value) -> (Env, Arc<TestClock>) {
    let (mut env, clock) = Env::with_clock().await;
    let mut all = json!({"*": {
        "password_reset_url": format!("{PUBLIC_BASE}/reset-password"),
        "result_url_hosts": ["id.example.com"],
    }});
    for (id, entry) in entries.as_object().unwrap() {
        let layer = all[id.as_str()].as_object().cloned().unwrap_or_default();
        let mut layer = Value::Object(layer);
        for (k, v) in entry.as_object().unwrap() {
            layer[k] = v.clone();
        }
        all[id.as_str()] = layer;
    }
    let mut settings = (*env.app.email).clone();
    settings.tenants =
        shared::domain::tenant::TenantSettings::parse(&all.to_string(), false).unwrap();
    env.app.email = Arc::new(settings);
    (env, clock)
}

fn token(tenant: &str) -> String {
    local_api::auth::mint(SECRET, tenant, "backoffice@clients", ALL_SCOPES, 300)
}

fn from(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

async fn get(addr: SocketAddr, tenant: &str, path: &str) -> Answer {
    let t = token(tenant);
    exchange(addr, from(1), "GET", path, Some(&t), None, &[]).await
}

/// Ana, created in acme from 127.0.0.1.
async fn create_ana(addr: SocketAddr) -> Answer {
    let body = json!({"email": "ana@example.com", "password": "correct horse battery"});
    let t = token("acme");
    let users = "/v1/tenants/acme/users";
    let created = exchange(addr, from(1), "POST", users, Some(&t), Some(&body), &[]).await;
    assert_eq!(created.status, 201, "{}", created.body);
    created
}

fn quota(answer: &Answer) -> (u64, u64, i64) {
    let number = |name: &str| {
        answer
            .header(name)
            .unwrap_or_else(|| panic!("{name} missing: {:?}", answer.headers))
            .parse::<i64>()
            .unwrap()
    };
    (
        number("x-ratelimit-limit") as u64,
        number("x-ratelimit-remaining") as u64,
        number("x-ratelimit-reset"),
    )
}

#[tokio::test]
async fn every_answer_carries_its_buckets_headers_in_both_dialects() {
    let (env, clock) = deployment(json!({})).await;
    let addr = start_with(&env, SECRET).await;
    let now = clock.now().epoch_secs();
    let users = "/v1/tenants/acme/users";
    let first = get(addr, "acme", users).await;
    let second = get(addr, "acme", users).await;
    assert_eq!(second.status, 200);
    let (limit, left, reset) = quota(&second);
    assert_eq!(limit, 100, "the default bucket");
    assert_eq!(left + 1, quota(&first).1, "one token a request");
    assert!(reset > now && reset <= now + 3, "{reset} vs {now}");

    let missing = get(
        addr,
        "acme",
        "/v1/tenants/acme/users/usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1",
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_eq!(quota(&missing).1 + 1, left);
    let t = token("acme");
    let bad = exchange(
        addr,
        from(1),
        "POST",
        users,
        Some(&t),
        Some(&json!([])),
        &[],
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(quota(&bad).0, 100);
    let auth0 = get(addr, "acme", "/api/v2/users?per_page=1").await;
    assert_eq!((auth0.status, quota(&auth0).0), (200, 100));

    // A public route: the address's own bucket for the tenant.
    let reset_request = json!({"email": "nobody@example.com"});
    let path = "/v1/tenants/acme/password-reset";
    let public = exchange(addr, from(1), "POST", path, None, Some(&reset_request), &[]).await;
    assert_eq!((public.status, quota(&public).0), (202, 30));
}

#[tokio::test]
async fn a_tenant_over_its_rate_is_refused_while_another_is_served() {
    let slow = json!({"rate_limit": {"requests_per_second": 1, "burst": 3}});
    let (env, clock) = deployment(json!({"acme": slow})).await;
    let addr = start_with(&env, SECRET).await;
    let users = "/v1/tenants/acme/users";
    for left in [2, 1, 0] {
        let r = get(addr, "acme", users).await;
        assert_eq!((r.status, quota(&r).0, quota(&r).1), (200, 3, left));
    }
    let t = token("acme");
    let body = json!({"email": "ana@example.com", "password": "correct horse battery"});
    let refused = exchange(addr, from(1), "POST", users, Some(&t), Some(&body), &[]).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.body["errorCode"], "too_many_requests");
    assert_eq!(refused.header("content-type"), Some("application/json"));
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3).contains(&retry), "{retry}");
    assert_eq!(quota(&refused).1, 0);
    // Another tenant draws on its own bucket, at the same instant.
    let globex = get(addr, "globex", "/v1/tenants/globex/users").await;
    assert_eq!((globex.status, quota(&globex).0), (200, 100));

    clock.advance(3);
    let again = get(addr, "acme", users).await;
    assert_eq!(
        (again.status, quota(&again).1),
        (200, 2),
        "the bucket refilled"
    );
    assert_eq!(
        again.body["users"],
        json!([]),
        "the refused create did nothing"
    );
}

#[tokio::test]
async fn a_public_route_is_limited_per_address_and_tenant() {
    let tight = json!({"public_rate_limit": {"requests_per_second": 1, "burst": 2}});
    let (env, _clock) = deployment(json!({"*": tight})).await;
    let addr = start_with(&env, SECRET).await;
    let body = json!({"email": "ana@example.com"});
    let ask = |who: u8, tenant: &'static str| {
        let body = body.clone();
        async move {
            let path = format!("/v1/tenants/{tenant}/password-reset");
            exchange(addr, from(who), "POST", &path, None, Some(&body), &[]).await
        }
    };
    assert_eq!(ask(2, "acme").await.status, 202);
    assert_eq!(ask(2, "acme").await.status, 202);
    let flood = ask(2, "acme").await;
    assert_eq!(
        (flood.status, flood.body["errorCode"].as_str()),
        (429, Some("too_many_requests"))
    );
    assert!(flood.header("retry-after").is_some());
    assert_eq!(ask(3, "acme").await.status, 202, "another address");
    assert_eq!(ask(2, "globex").await.status, 202, "another tenant");
}

#[tokio::test]
async fn the_limits_are_the_deployments_to_set() {
    let (env, _clock) =
        deployment(json!({"acme": {"rate_limit": {"requests_per_second": 0}}})).await;
    let r = env
        .patch_settings(json!({"rate_limit": {"requests_per_second": 0}}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "deployment_setting"),
        "{}",
        r.raw
    );
    let r = env.patch_settings(json!({"public_rate_limit": null})).await;
    assert_eq!((r.status, r.code()), (403, "deployment_setting"));
    let r = env.settings().await;
    assert_eq!(
        r.body["settings"]["rate_limit"],
        json!({"requests_per_second": 0})
    );
    assert_eq!(
        r.body["settings"]["public_rate_limit"],
        json!({"requests_per_second": 1, "burst": 30})
    );
    // No limit, no bucket: nothing drawn, no headers.
    let addr = start_with(&env, SECRET).await;
    let r = get(addr, "acme", "/v1/tenants/acme/users").await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-ratelimit-limit").is_none(), "{:?}", r.headers);
}

#[tokio::test]
async fn a_limiter_that_cannot_write_serves_the_request() {
    let (mut env, _clock) = deployment(json!({})).await;
    let calls = local_api::moto::CallLog::default();
    let client = crate::support::client(&calls);
    env.app.rate_limiter = Arc::new(shared::adapters::dynamo::DynamoStore::new(
        client,
        "no-such-table",
    ));
    let addr = start_with(&env, SECRET).await;
    let r = get(addr, "acme", "/v1/tenants/acme/users").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("x-ratelimit-remaining").is_none());
}

#[tokio::test]
async fn a_read_draws_while_it_reads_and_a_refused_read_shows_nothing() {
    let slow = json!({"rate_limit": {"requests_per_second": 1, "burst": 3}});
    let (env, _clock) = deployment(json!({"acme": slow})).await;
    let addr = start_with(&env, SECRET).await;
    let created = create_ana(addr).await;
    let path = format!(
        "/v1/tenants/acme/users/{}",
        created.body["user_id"].as_str().unwrap()
    );

    let read = get(addr, "acme", &path).await;
    assert_eq!((read.status, quota(&read).1), (200, 1));
    assert_eq!(read.body["email"], "ana@example.com");
    let again = get(addr, "acme", &path).await;
    assert_eq!((again.status, quota(&again).1), (200, 0));
    let refused = get(addr, "acme", &path).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.body["errorCode"], "too_many_requests");
    assert!(
        refused.body.get("email").is_none(),
        "the read's answer is dropped: {}",
        refused.body
    );
    let me = exchange(
        addr,
        from(1),
        "GET",
        "/v1/tenants/acme/me",
        Some(&local_api::auth::mint(
            SECRET,
            "acme",
            created.body["user_id"].as_str().unwrap(),
            "",
            300,
        )),
        None,
        &[],
    )
    .await;
    assert_eq!(me.status, 429, "/me draws on the same bucket: {}", me.body);
}

/// A deployment with a rate limit on acme, nothing recorded yet.
async fn limited() -> (Env, Arc<TestClock>) {
    let limit = json!({"rate_limit": {"requests_per_second": 100, "burst": 100}});
    let (env, clock) = deployment(json!({"acme": limit})).await;
    env.calls.take();
    env.calls.take_overlapping();
    (env, clock)
}

#[tokio::test]
async fn a_login_and_a_password_change_read_the_settings_with_the_logins_state_once_admitted() {
    let (env, clock) = limited().await;
    let addr = start_with(&env, SECRET).await;
    let t = token("acme");
    let id = create_ana(addr).await.body["user_id"].clone();
    settings_gone_stale(&env, &clock);
    let login =
        json!({"email": "ana@example.com", "password": "correct horse battery", "ip": "192.0.2.7"});
    let path = "/v1/tenants/acme/authenticate";
    let r = exchange(addr, from(1), "POST", path, Some(&t), Some(&login), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The draw, the email's guard, then the state and the settings together.
    let calls = env.calls.take();
    assert_eq!(
        calls[..3],
        ["UpdateItem", "GetItem", "BatchGetItem"],
        "{calls:?}"
    );
    let count = |calls: &[String], name: &str| calls.iter().filter(|c| *c == name).count();
    assert_eq!(
        (count(&calls, "GetItem"), count(&calls, "BatchGetItem")),
        (1, 1),
        "{calls:?}"
    );
    assert!(env.calls.take_overlapping().is_empty());

    settings_gone_stale(&env, &clock);
    let own = local_api::auth::mint(SECRET, "acme", id.as_str().unwrap(), "", 300);
    let body = json!({
        "current_password": "correct horse battery",
        "new_password": "fresh Lantern 42 quartz",
    });
    let path = "/v1/tenants/acme/me/password";
    let r = exchange(addr, from(1), "POST", path, Some(&own), Some(&body), &[]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let calls = env.calls.take();
    assert_eq!(calls[..2], ["UpdateItem", "BatchGetItem"], "{calls:?}");
    assert_eq!(
        (count(&calls, "GetItem"), count(&calls, "BatchGetItem")),
        (0, 1),
        "{calls:?}"
    );
    assert!(env.calls.take_overlapping().is_empty());
}

/// Asserts that a request read its tenant's settings in the call that read its user, once
/// admitted: after the draw, alone in flight, and no read of the settings on their own.
fn settings_read_with_the_user(env: &Env, calls: &[String]) {
    assert_eq!(calls[..2], ["UpdateItem", "BatchGetItem"], "{calls:?}");
    assert!(!calls.contains(&"GetItem".to_owned()), "{calls:?}");
    assert!(env.calls.take_overlapping().is_empty());
}

/// Lets the settings the container read go stale, and forgets the calls made so far.
fn settings_gone_stale(env: &Env, clock: &TestClock) {
    clock.advance(shared::operations::tenant::SETTINGS_CACHE_SECS + 1);
    env.calls.take();
    env.calls.take_overlapping();
}

#[tokio::test]
async fn a_ticket_for_a_user_reads_its_tenants_settings_with_the_user_once_admitted() {
    let (env, clock) = limited().await;
    let addr = start_with(&env, SECRET).await;
    let t = token("acme");
    let id = create_ana(addr).await.body["user_id"].clone();
    for (path, ticket) in [
        (
            "/v1/tenants/acme/tickets/email-verification",
            "a verification",
        ),
        (
            "/v1/tenants/acme/tickets/password-change",
            "a password change",
        ),
    ] {
        settings_gone_stale(&env, &clock);
        let body = json!({"user_id": id, "result_url": "https://id.example.com/done"});
        let r = exchange(addr, from(1), "POST", path, Some(&t), Some(&body), &[]).await;
        assert_eq!(r.status, 201, "{ticket}: {}", r.body);
        settings_read_with_the_user(&env, &env.calls.take());
        // The settings read with the user decided the result_url: a host they do not allow
        // is refused, before a user that does not exist.
        let body = json!({
            "user_id": "usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1",
            "result_url": "https://elsewhere.example.com/",
        });
        let r = exchange(addr, from(1), "POST", path, Some(&t), Some(&body), &[]).await;
        assert_eq!(r.status, 400, "{ticket}: {}", r.body);
        let body = json!({"user_id": "usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1"});
        let r = exchange(addr, from(1), "POST", path, Some(&t), Some(&body), &[]).await;
        assert_eq!(r.status, 404, "{ticket}: {}", r.body);
    }
}

#[tokio::test]
async fn a_password_change_ticket_for_a_login_reads_its_tenants_settings_with_the_logins_guard() {
    let (env, clock) = limited().await;
    let addr = start_with(&env, SECRET).await;
    let t = token("acme");
    create_ana(addr).await;
    let path = "/v1/tenants/acme/tickets/password-change";
    settings_gone_stale(&env, &clock);
    let body = json!({"email": "ana@example.com", "result_url": "https://id.example.com/done"});
    let r = exchange(addr, from(1), "POST", path, Some(&t), Some(&body), &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // The draw; the guard and the settings together; then the user the guard names.
    let calls = env.calls.take();
    assert_eq!(
        calls[..3],
        ["UpdateItem", "BatchGetItem", "GetItem"],
        "{calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|c| *c == "BatchGetItem").count(),
        1,
        "{calls:?}"
    );
    assert!(env.calls.take_overlapping().is_empty());
    for (body, status) in [
        (
            json!({"email": "nobody@example.com", "result_url": "https://elsewhere.example.com/"}),
            400,
        ),
        (json!({"email": "nobody@example.com"}), 404),
    ] {
        settings_gone_stale(&env, &clock);
        let r = exchange(addr, from(1), "POST", path, Some(&t), Some(&body), &[]).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
    }
}

#[tokio::test]
async fn a_hosted_page_reads_its_tenants_settings_with_its_ticket() {
    let (env, clock) = limited().await;
    let addr = start_with(&env, SECRET).await;
    let t = token("acme");
    let id = create_ana(addr).await.body["user_id"].clone();
    for (issue, page) in [
        (
            "/v1/tenants/acme/tickets/email-verification",
            "email-verification/confirm",
        ),
        (
            "/v1/tenants/acme/tickets/password-change",
            "password-reset/confirm",
        ),
    ] {
        let body = json!({"user_id": id});
        let r = exchange(addr, from(1), "POST", issue, Some(&t), Some(&body), &[]).await;
        assert_eq!(r.status, 201, "{issue}: {}", r.body);
        let link = r.body["ticket"].as_str().unwrap();
        let (_, ticket) = link.split_once("ticket=").unwrap();
        settings_gone_stale(&env, &clock);
        let path = format!("/v1/tenants/acme/{page}?ticket={ticket}");
        let r = exchange(addr, from(2), "GET", &path, None, None, &[]).await;
        assert_eq!(r.status, 200, "{page}: {}", r.raw);
        assert!(r.raw.contains("<form"), "{page}: {}", r.raw);
        // Past the draw: the ticket and the settings together, then the ticket's user.
        let calls = env.calls.take();
        let reads: Vec<_> = calls.iter().filter(|c| *c != "UpdateItem").collect();
        assert_eq!(reads, ["BatchGetItem", "GetItem"], "{page}: {calls:?}");
        assert!(env.calls.take_overlapping().is_empty());
    }
}

#[tokio::test]
async fn a_verification_email_and_a_deletion_of_ones_own_account_read_the_settings_with_the_user() {
    let (env, clock) = limited().await;
    let addr = start_with(&env, SECRET).await;
    let created = create_ana(addr).await;
    let id = created.body["user_id"].as_str().unwrap();
    settings_gone_stale(&env, &clock);
    let t = token("acme");
    let path = "/v1/tenants/acme/jobs/verification-email";
    let body = json!({"user_id": id});
    let r = exchange(addr, from(1), "POST", path, Some(&t), Some(&body), &[]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    settings_read_with_the_user(&env, &env.calls.take());

    settings_gone_stale(&env, &clock);
    let own = local_api::auth::mint(SECRET, "acme", id, "", 300);
    let r = exchange(
        addr,
        from(1),
        "DELETE",
        "/v1/tenants/acme/me",
        Some(&own),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    settings_read_with_the_user(&env, &env.calls.take());
}

#[tokio::test]
async fn the_mail_sender_reads_the_settings_with_the_user_the_mail_goes_to() {
    let (env, clock) = limited().await;
    let addr = start_with(&env, SECRET).await;
    create_ana(addr).await;
    let body = json!({"email": "ana@example.com"});
    let path = "/v1/tenants/acme/password-reset";
    let r = exchange(addr, from(1), "POST", path, None, Some(&body), &[]).await;
    assert_eq!(r.status, 202, "{}", r.body);
    settings_gone_stale(&env, &clock);
    assert_eq!(env.deliver_mail_requests().await, 1);
    let calls = env.calls.take();
    let count = |name: &str| calls.iter().filter(|c| *c == name).count();
    // The address's lookup, then Ana and the settings her mail is rendered with, together.
    assert_eq!(
        (count("GetItem"), count("BatchGetItem")),
        (1, 1),
        "{calls:?}"
    );
    assert!(env.calls.take_overlapping().is_empty());
    assert!(
        calls.contains(&"TransactWriteItems".to_owned()),
        "the reset's ticket: {calls:?}"
    );
}

#[tokio::test]
async fn a_create_reads_its_tenants_settings_and_size_once_admitted() {
    let (mut env, _clock) = limited().await;
    // As create-user's container: a miss reads the tenant's size with its settings, here the
    // size a create recorded before.
    env.app.settings_cache = Arc::new(shared::operations::tenant::SettingsCache::keeping_sizes());
    let store = shared::adapters::dynamo::DynamoStore::new(env.client.clone(), env.table.clone());
    let acme = shared::domain::ids::TenantId::parse("acme").unwrap();
    shared::ports::TenantStore::record_size(&store, &acme, 0)
        .await
        .unwrap();
    env.calls.take();
    env.calls.take_overlapping();
    let addr = start_with(&env, SECRET).await;
    create_ana(addr).await;
    let calls = env.calls.take();
    // After the draw, while the password is hashed: nothing else is in flight.
    assert_eq!(calls[..2], ["UpdateItem", "BatchGetItem"], "{calls:?}");
    assert!(env.calls.take_overlapping().is_empty());
    assert_eq!(
        calls.iter().filter(|c| *c == "BatchGetItem").count(),
        1,
        "the create placed Ana by the size it read: {calls:?}"
    );
}

#[tokio::test]
async fn a_refused_create_records_no_size() {
    let slow = json!({"rate_limit": {"requests_per_second": 1, "burst": 1}});
    let (mut env, _clock) = deployment(json!({"acme": slow})).await;
    env.app.settings_cache = Arc::new(shared::operations::tenant::SettingsCache::keeping_sizes());
    let addr = start_with(&env, SECRET).await;
    assert_eq!(
        get(addr, "acme", "/v1/tenants/acme/users").await.status,
        200
    );
    let body = json!({"email": "ana@example.com", "password": "correct horse battery"});
    let t = token("acme");
    let users = "/v1/tenants/acme/users";
    let refused = exchange(addr, from(1), "POST", users, Some(&t), Some(&body), &[]).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    // Only an admitted create writes a record.
    assert_eq!(env.recorded_size().await, None);
}

#[tokio::test]
async fn an_operation_that_needs_no_settings_reads_none_beside_its_draw() {
    let (env, _clock) = limited().await;
    let addr = start_with(&env, SECRET).await;
    let t = token("acme");
    let body = json!({"user_metadata": {"theme": "dark"}});
    let path = "/v1/tenants/acme/users/usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1";
    let patched = exchange(addr, from(1), "PATCH", path, Some(&t), Some(&body), &[]).await;
    assert_eq!(patched.status, 404, "{}", patched.body);
    // The draw, the patch, and (its condition failed) the read that finds no such user.
    assert_eq!(env.calls.take(), ["UpdateItem", "UpdateItem", "GetItem"]);
    assert!(env.calls.take_overlapping().is_empty());
}
