//! Idempotency keys (docs/api.md, "Idempotency keys"): a retried POST takes effect once and
//! answers what the first one answered. A duplicate arriving while the first still runs is in
//! tests/interleaving.rs, which can hold a request in flight.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

use crate::support::{ALL_SCOPES, Claims, Env, Resp, address, claims, inbox, s};

const KEY: &str = "3f0c2a9e-5b7d-4c1e-8a6f-2d4b6c8e0a1c";

async fn post(env: &Env, caller: &Claims, path: &str, body: &Value, key: &str) -> Resp {
    env.send(
        "POST",
        path,
        Some(caller),
        Some(body),
        &[("idempotency-key", key)],
    )
    .await
}

/// The idempotency records in the table.
async fn records(env: &Env) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    env.items()
        .await
        .into_iter()
        .filter(|i| s(i, "pk").contains("#IDEMPOTENCY#"))
        .collect()
}

#[tokio::test]
async fn a_retried_create_answers_the_first_response_and_creates_no_second_user() {
    let env = Env::new().await;
    let admin = env.admin();
    let email = address("ana");
    let body = json!({"email": email, "password": "correct horse battery"});
    let users = "/v1/tenants/acme/users";
    let first = post(&env, &admin, users, &body, KEY).await;
    assert_eq!(first.status, 201, "{}", first.raw);
    let again = post(&env, &admin, users, &body, KEY).await;
    assert_eq!(again.status, 201, "{}", again.raw);
    assert_eq!(again.body, first.body);
    for header in ["location", "etag"] {
        assert_eq!(again.header(header), first.header(header), "{header}");
    }
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.header("idempotent-replayed"), None);
    let listed = env.list_users(&[]).await;
    assert_eq!(listed.body["users"].as_array().unwrap().len(), 1);
    assert_eq!(inbox(&email).await.len(), 1, "one verification email");

    // The answer is kept sealed: neither the address nor the user id can be read from it.
    let kept = records(&env).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(s(&kept[0], "state"), "done");
    let stored = format!("{:?}", kept[0]);
    assert!(
        !stored.contains(&email) && !stored.contains(KEY),
        "{stored}"
    );
    assert!(!stored.contains(first.body["user_id"].as_str().unwrap()));
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused_and_does_nothing() {
    let env = Env::new().await;
    let admin = env.admin();
    let users = "/v1/tenants/acme/users";
    let ana = json!({"email": address("ana"), "password": "correct horse battery"});
    assert_eq!(post(&env, &admin, users, &ana, KEY).await.status, 201);
    let bo = json!({"email": address("bo"), "password": "correct horse battery"});
    let r = post(&env, &admin, users, &bo, KEY).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "idempotency_key_reused"),
        "{}",
        r.raw
    );
    // Another route is another request too.
    let job = json!({"user_id": "usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1"});
    let r = post(
        &env,
        &admin,
        "/v1/tenants/acme/jobs/verification-email",
        &job,
        KEY,
    )
    .await;
    assert_eq!(r.code(), "idempotency_key_reused");
    let listed = env.list_users(&[]).await;
    assert_eq!(listed.body["users"].as_array().unwrap().len(), 1);

    let r = post(&env, &admin, users, &bo, "has space").await;
    assert_eq!((r.status, r.code()), (400, "invalid_header"));
}

#[tokio::test]
async fn a_key_is_its_callers_and_its_tenants_alone() {
    let env = Env::new().await;
    let users = "/v1/tenants/acme/users";
    let one = env.admin();
    let other = claims("acme", "another-service@clients", ALL_SCOPES);
    let ana = json!({"email": address("ana"), "password": "correct horse battery"});
    let bo = json!({"email": address("bo"), "password": "correct horse battery"});
    assert_eq!(post(&env, &one, users, &ana, KEY).await.status, 201);
    let r = post(&env, &other, users, &bo, KEY).await;
    assert_eq!(r.status, 201, "another caller's key: {}", r.raw);
    let globex = claims("globex", "backoffice@clients", ALL_SCOPES);
    let r = post(&env, &globex, "/v1/tenants/globex/users", &bo, KEY).await;
    assert_eq!(r.status, 201, "another tenant's key: {}", r.raw);
    assert_eq!(records(&env).await.len(), 3);
}

#[tokio::test]
async fn a_retried_job_ticket_or_link_repeats_no_effect() {
    let (env, clock) = Env::with_clock().await;
    let admin = env.admin();
    let email = address("ana");
    let ana = env
        .create(json!({"email": email, "password": "correct horse battery"}))
        .await;
    let id = ana["user_id"].as_str().unwrap();

    let jobs = "/v1/tenants/acme/jobs/verification-email";
    let job = json!({"user_id": id});
    let first = post(&env, &admin, jobs, &job, "job-1").await;
    let again = post(&env, &admin, jobs, &job, "job-1").await;
    assert_eq!(
        (first.status, again.body.clone()),
        (201, first.body.clone())
    );
    assert_eq!(
        inbox(&email).await.len(),
        2,
        "the sign-up's and the job's, once"
    );

    let tickets = "/v1/tenants/acme/tickets/password-change";
    let ticket = json!({"user_id": id});
    let first = post(&env, &admin, tickets, &ticket, "ticket-1").await;
    let again = post(&env, &admin, tickets, &ticket, "ticket-1").await;
    assert_eq!(first.status, 201, "{}", first.raw);
    assert_eq!(
        again.body["ticket"], first.body["ticket"],
        "the same link, one ticket"
    );
    let stored_tickets = env
        .items()
        .await
        .into_iter()
        .filter(|i| s(i, "pk").contains("#TICKET#"))
        .count();
    // The sign-up's verification, the job's, and this one.
    assert_eq!(stored_tickets, 3);

    let google = env
        .create(json!({"connection": "google-oauth2", "user_id": "5150", "email": address("g")}))
        .await;
    let link = json!({"link_with": google["user_id"], "allow_unverified": true});
    let identities = format!("/v1/tenants/acme/users/{id}/identities");
    let first = post(&env, &admin, &identities, &link, "link-1").await;
    let again = post(&env, &admin, &identities, &link, "link-1").await;
    assert_eq!(first.status, 201, "{}", first.raw);
    assert_eq!((again.status, &again.body), (201, &first.body));

    // A day later the key is free again: the same job runs anew.
    clock.advance(24 * 3600 + 1);
    let later = post(&env, &admin, jobs, &job, "job-1").await;
    assert_eq!(later.status, 201, "{}", later.raw);
    assert_ne!(later.body["id"], first.body["id"]);
}

#[tokio::test]
async fn auth0s_create_takes_the_key_too() {
    let env = Env::new().await;
    let admin = env.admin();
    let body = json!({"connection": "Username-Password-Authentication", "email": address("ana"), "password": "correct horse battery"});
    let first = post(&env, &admin, "/api/v2/users", &body, KEY).await;
    let again = post(&env, &admin, "/api/v2/users", &body, KEY).await;
    assert_eq!(first.status, 201, "{}", first.raw);
    assert_eq!((again.status, &again.body), (201, &first.body));
    // The same key on /v1 is another route: refused, not replayed.
    let r = post(&env, &admin, "/v1/tenants/acme/users", &body, KEY).await;
    assert_eq!(r.code(), "idempotency_key_reused");
}

#[tokio::test]
async fn a_create_whose_answer_was_never_kept_answers_from_the_user_its_transaction_committed() {
    let env = Env::new().await;
    let admin = env.admin();
    let body = json!({"email": address("ana"), "password": "correct horse battery"});
    let users = "/v1/tenants/acme/users";
    let first = post(&env, &admin, users, &body, KEY).await;
    assert_eq!(first.status, 201);
    // As if the function had stopped between its transaction and keeping the answer: the
    // record as the transaction left it.
    let record = records(&env).await.remove(0);
    env.client
        .update_item()
        .table_name(&env.table)
        .key("pk", record["pk"].clone())
        .key("sk", record["sk"].clone())
        .update_expression("SET #s = :c, user_id = :u REMOVE answer")
        .expression_attribute_names("#s", "state")
        .expression_attribute_values(":c", AttributeValue::S("committed".into()))
        .expression_attribute_values(
            ":u",
            AttributeValue::S(first.body["user_id"].as_str().unwrap().into()),
        )
        .send()
        .await
        .unwrap();
    let again = post(&env, &admin, users, &body, KEY).await;
    assert_eq!(again.status, 201, "{}", again.raw);
    assert_eq!(again.body["user_id"], first.body["user_id"]);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(s(&records(&env).await[0], "state"), "done", "and now kept");
    let listed = env.list_users(&[]).await;
    assert_eq!(listed.body["users"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_request_that_fails_on_our_side_frees_its_key_for_the_retry() {
    let mut env = Env::new().await;
    let admin = env.admin();
    let ana = env
        .create(json!({"email": address("ana"), "password": "correct horse battery"}))
        .await;
    let tickets = env.app.tickets.clone();
    let calls = local_api::moto::CallLog::default();
    let missing_table =
        shared::adapters::dynamo::DynamoStore::new(crate::support::client(&calls), "no-such-table");
    let broken = std::sync::Arc::new(missing_table);
    let body = json!({"user_id": ana["user_id"]});
    for kind in ["password-change", "email-verification"] {
        let path = format!("/v1/tenants/acme/tickets/{kind}");
        env.app.tickets = broken.clone();
        let failed = post(&env, &admin, &path, &body, kind).await;
        assert!(failed.status >= 500, "{}", failed.raw);
        env.app.tickets = tickets.clone();
        let retried = post(&env, &admin, &path, &body, kind).await;
        assert_eq!(retried.status, 201, "the key was freed: {}", retried.raw);
        assert!(retried.header("idempotent-replayed").is_none());
    }
}

#[tokio::test]
async fn over_http_a_retry_gets_the_first_answer_and_its_headers() {
    let env = Env::new().await;
    let secret = "test-secret";
    let addr = crate::server::start_with(&env, secret).await;
    let token = local_api::auth::mint(secret, "acme", "backoffice@clients", ALL_SCOPES, 300);
    let from = std::net::Ipv4Addr::LOCALHOST.into();
    let users = "/v1/tenants/acme/users";
    let key = [("Idempotency-Key", KEY)];
    let send = |body: Value| {
        let token = token.clone();
        async move {
            crate::server::exchange(addr, from, "POST", users, Some(&token), Some(&body), &key)
                .await
        }
    };
    let body = json!({"email": address("ana"), "password": "correct horse battery"});
    let first = send(body.clone()).await;
    let again = send(body).await;
    assert_eq!((first.status, again.status), (201, 201), "{}", first.body);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), first.header("etag"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert!(
        again.header("x-ratelimit-remaining").is_some(),
        "a retry draws too"
    );
    let other = send(json!({"email": address("bo"), "password": "correct horse battery"})).await;
    assert_eq!(
        (other.status, &other.body["errorCode"]),
        (409, &json!("idempotency_key_reused"))
    );
}
