use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::{ALL_SCOPES, Env, claims};

async fn create_in(env: &Env, tenant: &str, n: usize) -> BTreeSet<String> {
    let admin = claims(tenant, "backoffice@clients", ALL_SCOPES);
    let mut ids = BTreeSet::new();
    for i in 0..n {
        let body = json!({"connection": "google-oauth2", "user_id": format!("{tenant}-{i}"), "email": format!("u{i}@{tenant}.example.com")});
        let r = env
            .send(
                "POST",
                &format!("/v1/tenants/{tenant}/users"),
                Some(&admin),
                Some(&body),
                &[],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.raw);
        ids.insert(r.body["user_id"].as_str().unwrap().to_owned());
    }
    ids
}

fn ids(page: &Value) -> Vec<String> {
    page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn paging_returns_every_user_exactly_once() {
    let env = Env::new().await;
    let created = create_in(&env, "acme", 23).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let r = match &cursor {
            Some(c) => env.list_users(&[("limit", "5"), ("cursor", c)]).await,
            None => env.list_users(&[("limit", "5")]).await,
        };
        assert_eq!(r.status, 200, "{}", r.raw);
        let page = ids(&r.body);
        assert!(page.len() <= 5);
        seen.extend(page);
        pages += 1;
        assert!(pages < 40, "paging does not terminate");
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 23, "no user twice");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), created);
}

#[tokio::test]
async fn the_default_page_holds_up_to_50_and_users_are_spread_over_shards() {
    let env = Env::new().await;
    create_in(&env, "acme", 12).await;
    let r = env.list_users(&[]).await;
    assert_eq!(ids(&r.body).len(), 12);
    assert_eq!(r.body["next_cursor"], Value::Null);
    let shards: BTreeSet<String> = env
        .items()
        .await
        .iter()
        .map(|i| crate::support::s(i, "gsi1pk"))
        .filter(|k| !k.is_empty())
        .collect();
    assert!(
        shards.len() > 1,
        "the listing index is write-sharded: {shards:?}"
    );
    assert!(shards.iter().all(|k| k.starts_with("TENANT#acme#LIST#")));
}

#[tokio::test]
async fn a_cursor_cannot_reach_another_tenant() {
    let env = Env::new().await;
    let acme = create_in(&env, "acme", 4).await;
    let globex = create_in(&env, "globex", 3).await;
    let r = env.list_users(&[("limit", "2")]).await;
    let cursor = r.body["next_cursor"].as_str().unwrap().to_owned();
    assert!(ids(&r.body).iter().all(|id| acme.contains(id)));
    let globex_admin = claims("globex", "backoffice@clients", ALL_SCOPES);
    let r = env
        .send(
            "GET",
            &format!("/v1/tenants/globex/users?limit=100&cursor={cursor}"),
            Some(&globex_admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(
        ids(&r.body).iter().all(|id| globex.contains(id)),
        "only globex's users"
    );
    // And acme's listing never shows globex.
    let all = env.list_users(&[("limit", "100")]).await;
    assert_eq!(ids(&all.body).into_iter().collect::<BTreeSet<_>>(), acme);
}

#[tokio::test]
async fn the_email_filter_matches_exactly_and_case_insensitively() {
    let env = Env::new().await;
    create_in(&env, "acme", 3).await;
    let r = env.list_users(&[("email", "U1@ACME.example.com")]).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let users = r.body["users"].as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["email"], "u1@acme.example.com");
    assert_eq!(r.body["next_cursor"], Value::Null);
    let r = env.list_users(&[("email", "u1@acme.example")]).await;
    assert_eq!(r.body["users"], json!([]), "no prefix matching");
}

#[tokio::test]
async fn an_empty_tenant_lists_nothing() {
    let env = Env::new().await;
    let r = env.list_users(&[]).await;
    assert_eq!(r.body, json!({"users": [], "next_cursor": null}));
}
