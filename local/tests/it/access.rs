use serde_json::{Value, json};

use crate::support::{ALL_SCOPES, Env, claims};

/// One request per route of the template, against tenant acme and an existing user.
fn every_route(user: &str) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        (
            "POST",
            "/v1/tenants/acme/users".into(),
            Some(json!({"email": "new@example.com", "password": "correct horse battery"})),
        ),
        ("GET", format!("/v1/tenants/acme/users/{user}"), None),
        (
            "PATCH",
            format!("/v1/tenants/acme/users/{user}"),
            Some(json!({"user_metadata": {"x": 1}})),
        ),
        ("DELETE", format!("/v1/tenants/acme/users/{user}"), None),
        ("GET", "/v1/tenants/acme/users".into(), None),
        (
            "GET",
            "/v1/tenants/acme/users-by-email?email=ana%40example.com".into(),
            None,
        ),
        ("GET", "/v1/tenants/acme/me".into(), None),
        (
            "PATCH",
            "/v1/tenants/acme/me".into(),
            Some(json!({"name": "x"})),
        ),
    ]
}

#[tokio::test]
async fn every_route_answers_a_foreign_tenants_token_with_404_and_changes_nothing() {
    let env = Env::new().await;
    let u = env.create_ana().await;
    let id = u["user_id"].as_str().unwrap();
    let before = env.items().await.len();
    // A token of another tenant, even one naming this very user as its subject.
    let foreign = claims("globex", id, ALL_SCOPES);
    for (method, path, body) in every_route(id) {
        let r = env
            .send(method, &path, Some(&foreign), body.as_ref(), &[])
            .await;
        assert_eq!(
            (r.status, r.code()),
            (404, "not_found"),
            "{method} {path}: {}",
            r.raw
        );
        assert!(!r.raw.contains("ana@example.com"));
    }
    assert_eq!(env.items().await.len(), before);
    assert_eq!(env.get_user(&u).await.body["version"], 1);
}

#[tokio::test]
async fn a_token_without_a_tenant_claim_is_404_too() {
    let env = Env::new().await;
    let mut no_tenant = claims("acme", "x", ALL_SCOPES);
    no_tenant.remove("tenant_id");
    let r = env
        .send("GET", "/v1/tenants/acme/users", Some(&no_tenant), None, &[])
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn management_routes_without_their_scope_are_403() {
    let env = Env::new().await;
    let u = env.create_ana().await;
    let id = u["user_id"].as_str().unwrap();
    // Every scope but the one each route needs.
    let needs = [
        "create:users",
        "read:users",
        "update:users",
        "delete:users",
        "read:users",
        "read:users",
    ];
    for ((method, path, body), needed) in every_route(id).into_iter().take(6).zip(needs) {
        let mut scopes: Vec<&str> = ALL_SCOPES.split(' ').filter(|s| *s != needed).collect();
        if needed == "update:users" {
            scopes.retain(|s| *s != "update:users_app_metadata");
        }
        let caller = claims("acme", "svc@clients", &scopes.join(" "));
        let r = env
            .send(method, &path, Some(&caller), body.as_ref(), &[])
            .await;
        assert_eq!(
            (r.status, r.code()),
            (403, "insufficient_scope"),
            "{method} {path}: {}",
            r.raw
        );
    }
    let got = env.get_user(&u).await;
    assert_eq!(got.body["version"], 1);
}

#[tokio::test]
async fn requests_without_verified_claims_are_401() {
    let env = Env::new().await;
    let r = env
        .send("GET", "/v1/tenants/acme/users", None, None, &[])
        .await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
}

#[tokio::test]
async fn me_shows_the_own_profile_without_app_metadata() {
    let env = Env::new().await;
    let u = env.create(json!({"email": "ana@example.com", "password": "correct horse battery", "app_metadata": {"plan": "pro"}, "user_metadata": {"theme": "dark"}})).await;
    let r = env.get_me(&u).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(r.body.get("app_metadata").is_none());
    assert!(!r.raw.contains("plan"));
    assert_eq!(r.body["user_metadata"], json!({"theme": "dark"}));
    assert_eq!(r.header("etag"), Some("\"1\""));

    let r = env
        .patch_me(
            &u,
            json!({"nickname": "ana", "user_metadata": {"theme": null}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(r.body.get("app_metadata").is_none());
    assert_eq!(
        (r.body["nickname"].clone(), r.body["user_metadata"].clone()),
        (json!("ana"), json!({}))
    );
}

#[tokio::test]
async fn me_may_not_change_fields_that_belong_to_the_tenant() {
    let env = Env::new().await;
    let u = env.create_ana().await;
    for body in [
        json!({"app_metadata": {"plan": "free"}}),
        json!({"blocked": false}),
        json!({"email_verified": true}),
        json!({"email": "new@example.com", "verify_email": false}),
        json!({"password": "a brand new passphrase"}),
        json!({"phone_number": "+14155550123"}),
        json!({"name": "ok", "email_verified": true}),
    ] {
        let r = env.patch_me(&u, body.clone()).await;
        assert_eq!((r.status, r.code()), (403, "insufficient_scope"), "{body}");
    }
    let unknown = env.patch_me(&u, json!({"role": "admin"})).await;
    assert_eq!((unknown.status, unknown.code()), (400, "invalid_body"));
    let got = env.get_user(&u).await;
    assert_eq!(got.body["version"], 1);
}

#[tokio::test]
async fn me_needs_a_token_whose_subject_is_a_user() {
    let env = Env::new().await;
    let machine = claims("acme", "backoffice@clients", ALL_SCOPES);
    let r = env
        .send("GET", "/v1/tenants/acme/me", Some(&machine), None, &[])
        .await;
    assert_eq!((r.status, r.code()), (403, "insufficient_scope"));
}

#[tokio::test]
async fn a_user_can_change_their_username_and_its_guard_moves() {
    let env = Env::new().await;
    let u = env.create(json!({"email": "ana@example.com", "password": "correct horse battery", "username": "ana"})).await;
    let r = env.patch_me(&u, json!({"username": "ana.silva"})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let keys = env.keys().await;
    assert!(
        keys.iter()
            .any(|(pk, _)| pk == "TENANT#acme#USERNAME#ana.silva")
    );
    assert!(!keys.iter().any(|(pk, _)| pk == "TENANT#acme#USERNAME#ana"));
}

/// Each handler checks the scopes its function lists, on both dialects (the `/api/v2`
/// routes rely on it alone): any one of them lets a request past the handler's own scope
/// check, and none of them does not. On a `/v1` route they are the template's scopes too.
#[tokio::test]
async fn each_handler_accepts_exactly_the_scopes_its_route_lists() {
    let env = Env::new().await;
    for route in local_api::routes::ROUTES
        .iter()
        .filter(|r| !r.handler_scopes.is_empty())
    {
        assert!(
            route.scopes == route.handler_scopes || route.key.contains(" /api/v2/"),
            "{}: the gateway checks other scopes than the handler",
            route.key
        );
        let (method, path) = crate::support::concrete(route.key);
        let method = method.as_str();
        let body = json!({});
        for scope in route.handler_scopes {
            let token = claims("acme", "x", scope);
            let r = env
                .send(method, &path, Some(&token), Some(&body), &[])
                .await;
            assert_ne!(
                r.code(),
                "insufficient_scope",
                "{} with {scope}: {}",
                route.key,
                r.raw
            );
        }
        let others: Vec<&str> = ALL_SCOPES
            .split(' ')
            .filter(|s| !route.handler_scopes.contains(s))
            .collect();
        let token = claims("acme", "x", &others.join(" "));
        let r = env
            .send(method, &path, Some(&token), Some(&body), &[])
            .await;
        assert_eq!(
            (r.status, r.code()),
            (403, "insufficient_scope"),
            "{}",
            route.key
        );
    }
}
