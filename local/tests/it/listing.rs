use std::collections::BTreeSet;

use serde_json::{Value, json};
use shared::adapters::dynamo::{DynamoStore, audit};
use shared::domain::ids::{TenantId, UserId};
use shared::domain::listing::shard_of;
use shared::domain::time::Timestamp;
use shared::domain::user::{Identity, User};

use crate::support::{ALL_SCOPES, Env, claims};

async fn create_in(env: &Env, tenant: &str, n: usize) -> BTreeSet<String> {
    create_from(env, tenant, 0, n).await.into_iter().collect()
}

/// Creates social users `from` to `from + n` of `tenant`; their ids in creation order.
async fn create_from(env: &Env, tenant: &str, from: usize, n: usize) -> Vec<String> {
    let admin = claims(tenant, "backoffice@clients", ALL_SCOPES);
    let mut ids = Vec::new();
    for i in from..from + n {
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
        ids.push(r.body["user_id"].as_str().unwrap().to_owned());
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

/// The listing shards of tenant `tenant`'s users, by the listing index's keys.
async fn shards_of(env: &Env, tenant: &str) -> BTreeSet<String> {
    let prefix = format!("TENANT#{tenant}#LIST#");
    env.items()
        .await
        .iter()
        .map(|i| crate::support::s(i, "gsi1pk"))
        .filter(|k| k.starts_with(&prefix))
        .collect()
}

#[tokio::test]
async fn the_default_page_holds_up_to_50_and_a_small_tenants_users_share_one_shard() {
    let env = Env::new().await;
    create_in(&env, "acme", 12).await;
    let r = env.list_users(&[]).await;
    assert_eq!(ids(&r.body).len(), 12);
    assert_eq!(r.body["next_cursor"], Value::Null);
    assert_eq!(
        shards_of(&env, "acme").await,
        BTreeSet::from(["TENANT#acme#LIST#00".to_owned()]),
        "a small tenant's page is one shard's"
    );
}

/// Every user a walk of acme's listing returns, `limit` at a time from `cursor` (the start
/// when none), in the order the pages give them.
async fn walk(env: &Env, limit: usize, mut cursor: Option<String>) -> Vec<String> {
    let limit = limit.to_string();
    let mut seen = Vec::new();
    for _ in 0..200 {
        let r = match &cursor {
            Some(c) => env.list_users(&[("limit", &limit), ("cursor", c)]).await,
            None => env.list_users(&[("limit", &limit)]).await,
        };
        assert_eq!(r.status, 200, "{}", r.raw);
        seen.extend(ids(&r.body));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return seen,
        }
    }
    panic!("paging does not end")
}

/// `ids` in the documented listing order: by listing shard, then by user id (creation time).
fn in_listing_order(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut keyed: Vec<(u16, String)> = ids
        .into_iter()
        .map(|id| (shard_of(&UserId::parse(&id).unwrap()), id))
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, id)| id).collect()
}

fn queries(calls: &[String]) -> usize {
    calls.iter().filter(|c| *c == "Query").count()
}

#[tokio::test]
async fn a_small_tenants_page_of_50_is_at_most_three_queries_and_its_last_page_says_so() {
    let env = Env::unmetered().await;
    let created = create_in(&env, "acme", 60).await;
    env.calls.take();
    let first = env.list_users(&[]).await;
    assert_eq!(ids(&first.body).len(), 50);
    assert_eq!(
        env.calls.take(),
        ["Query", "BatchGetItem"],
        "the page is one query of the tenant's one shard"
    );
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let last = env.list_users(&[("cursor", &cursor)]).await;
    assert_eq!(ids(&last.body).len(), 10);
    assert_eq!(
        last.body["next_cursor"],
        Value::Null,
        "no empty page after it"
    );
    let calls = env.calls.take();
    assert_eq!(
        calls,
        ["Query", "Query", "BatchGetItem"],
        "the shard read to its end, then the counts say no other shard holds anyone"
    );
    let mut all = ids(&first.body);
    all.extend(ids(&last.body));
    assert_eq!(all.iter().cloned().collect::<BTreeSet<_>>(), created);
    assert_eq!(all.len(), 60, "no user twice");

    // Exactly a page: the shard ends with it, and the page says it is the last.
    let env = Env::unmetered().await;
    create_in(&env, "acme", 50).await;
    env.calls.take();
    let only = env.list_users(&[]).await;
    assert_eq!(ids(&only.body).len(), 50);
    assert_eq!(only.body["next_cursor"], Value::Null);
    let calls = env.calls.take();
    assert!(queries(&calls) <= 3, "{calls:?}");
    assert_eq!(calls, ["Query", "Query", "BatchGetItem"]);
}

#[tokio::test]
async fn an_auth0_page_of_a_small_tenant_with_its_total_takes_three_calls() {
    let env = Env::unmetered().await;
    create_in(&env, "acme", 60).await;
    let admin = env.admin();
    env.calls.take();
    let r = env
        .send(
            "GET",
            "/api/v2/users?per_page=50&include_totals=true",
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        (r.body["length"].clone(), r.body["total"].clone()),
        (json!(50), json!(60))
    );
    assert_eq!(
        env.calls.take(),
        ["Query", "BatchGetItem", "Query"],
        "the page, its users, and the counts for the total"
    );
    // A page that reads its shard to the end has read the counts already.
    let r = env
        .send(
            "GET",
            "/api/v2/users?page=1&per_page=50&include_totals=true",
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (r.body["length"].clone(), r.body["total"].clone()),
        (json!(10), json!(60))
    );
    let calls = env.calls.take();
    assert!(queries(&calls) <= 3, "{calls:?}");
    // Without totals, no count is read.
    env.send("GET", "/api/v2/users?per_page=50", Some(&admin), None, &[])
        .await;
    assert_eq!(env.calls.take(), ["Query", "BatchGetItem"]);
}

#[tokio::test]
async fn a_growing_tenant_spreads_new_users_over_more_shards_and_lists_each_once_in_order() {
    let mut env = Env::unmetered().await;
    // A shard's worth is four users here, so the tenant spreads at 4, 8, 16 and 32.
    env.app.users_per_shard = 4;
    let created = create_from(&env, "acme", 0, 72).await;
    let shard = |id: &String| shard_of(&UserId::parse(id).unwrap());
    assert!(
        created[..4].iter().all(|id| shard(id) == 0),
        "the first users share shard 0"
    );
    assert!(created[4..8].iter().all(|id| shard(id) < 2));
    assert!(
        created[40..].iter().any(|id| shard(id) >= 8),
        "and then all 16"
    );
    assert!(shards_of(&env, "acme").await.len() > 8);

    for limit in [7, 50, 100] {
        let seen = walk(&env, limit, None).await;
        assert_eq!(seen.len(), 72, "no user twice in pages of {limit}");
        assert_eq!(seen, in_listing_order(created.clone()), "in listing order");
    }
    assert_eq!(audit(&env.all_items().await), Vec::<String>::new());
}

#[tokio::test]
async fn a_cursor_from_before_the_tenant_grew_still_lists_every_user_once() {
    let mut env = Env::unmetered().await;
    let before = create_in(&env, "acme", 10).await;
    let first = env.list_users(&[("limit", "4")]).await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    // The tenant grows past every threshold while the walk is under way.
    env.app.users_per_shard = 2;
    let after = create_from(&env, "acme", 100, 40).await;
    assert!(shards_of(&env, "acme").await.len() > 4);
    let mut seen = ids(&first.body);
    seen.extend(walk(&env, 6, Some(cursor)).await);
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no user twice");
    let everyone: BTreeSet<String> = before.iter().cloned().chain(after).collect();
    assert_eq!(
        unique, everyone,
        "those from before and those created since"
    );
    assert_eq!(seen, in_listing_order(seen.clone()), "in listing order");

    // A walk from the start now, with cursors made after the growth, agrees.
    assert_eq!(walk(&env, 9, None).await, in_listing_order(everyone));
}

#[tokio::test]
async fn a_cursor_naming_a_shard_that_holds_nobody_reads_on_to_the_next_that_does() {
    use base64::Engine;
    let env = Env::new().await;
    let users = seed(&env, &[3, 3, 9]).await;
    let cursor = |raw: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    // Cursors keep the format they always had: `v1:{shard}:{last user id}`.
    let r = env.list_users(&[("cursor", &cursor("v1:5:"))]).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(ids(&r.body), [users[2].clone()]);
    assert_eq!(r.body["next_cursor"], Value::Null);
    let r = env
        .list_users(&[
            ("cursor", &cursor(&format!("v1:3:{}", users[0]))),
            ("limit", "1"),
        ])
        .await;
    assert_eq!(ids(&r.body), [users[1].clone()]);
    let next = r.body["next_cursor"].as_str().unwrap().to_owned();
    let r = env.list_users(&[("cursor", &next)]).await;
    assert_eq!(ids(&r.body), [users[2].clone()]);
}

/// Users of acme written straight to the table (profile, guards, counts), one in each of
/// `shards`: ids drawn until they fall there. Returns their ids in listing order.
async fn seed(env: &Env, shards: &[u16]) -> Vec<String> {
    let store = DynamoStore::new(env.client.clone(), env.table.clone());
    let acme = TenantId::parse("acme").unwrap();
    let now = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
    let mut users = Vec::new();
    for (i, &shard) in shards.iter().enumerate() {
        let id = std::iter::repeat_with(UserId::generate)
            .find(|id| shard_of(id) == shard)
            .unwrap();
        let mut user = User::new(id, acme.clone(), Identity::database(&id), now);
        user.email = Some(format!("seeded{i}-{id}@example.com").to_lowercase());
        users.push((user, None));
    }
    store.seed(&users).await.unwrap();
    env.calls.take();
    in_listing_order(users.iter().map(|(u, _)| u.user_id.to_string()))
}

#[tokio::test]
async fn a_large_tenants_page_is_one_query_per_shard_it_reads() {
    let env = Env::unmetered().await;
    // Sixty users in each of the 16 shards, as a tenant past every threshold holds them.
    let shards: Vec<u16> = (0..16).flat_map(|s| std::iter::repeat_n(s, 60)).collect();
    let users = seed(&env, &shards).await;
    let first = env.list_users(&[]).await;
    assert_eq!(ids(&first.body), users[..50]);
    assert_eq!(env.calls.take(), ["Query", "BatchGetItem"]);
    // A page that crosses from shard 0 into shard 1: the counts once, then the one shard.
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = env.list_users(&[("cursor", &cursor)]).await;
    assert_eq!(ids(&second.body), users[50..100]);
    assert_eq!(
        env.calls.take(),
        ["Query", "Query", "Query", "BatchGetItem"]
    );
    // Within shard 1 again: one query.
    let third = env
        .list_users(&[
            ("cursor", second.body["next_cursor"].as_str().unwrap()),
            ("limit", "10"),
        ])
        .await;
    assert_eq!(ids(&third.body), users[100..110]);
    assert_eq!(env.calls.take(), ["Query", "BatchGetItem"]);
}

/// Every user an Auth0 search by `term` finds, seven a page with totals, sorted; each page's
/// total agrees with what the pages hold.
async fn search(env: &Env, term: &str) -> Vec<String> {
    let q: String = url::form_urlencoded::byte_serialize(term.as_bytes()).collect();
    let admin = env.admin();
    let mut found = Vec::new();
    for page in 0..30 {
        let path = format!(
            "/api/v2/users?q={q}&search_engine=v3&per_page=7&page={page}&include_totals=true"
        );
        let r = env.send("GET", &path, Some(&admin), None, &[]).await;
        assert_eq!(r.status, 200, "{}", r.raw);
        let users = r.body["users"].as_array().unwrap();
        if users.is_empty() {
            assert_eq!(r.body["total"], found.len(), "{term}: {}", r.raw);
            found.sort();
            return found;
        }
        found.extend(
            users
                .iter()
                .map(|u| u["user_id"].as_str().unwrap().to_owned()),
        );
    }
    panic!("the search does not end")
}

/// Creates user `i` of acme, a Google one when `i` is odd, a database one otherwise (no mail),
/// its address verified when `i` is a multiple of 3; returns its Auth0 id.
async fn create_mixed(env: &Env, i: usize) -> String {
    let verified = i.is_multiple_of(3);
    let email = format!("m{i}@example.com");
    let body = if i % 2 == 1 {
        json!({"connection": "google-oauth2", "user_id": format!("g-{i}"), "email": email, "email_verified": verified})
    } else {
        json!({"email": email, "password": "correct horse battery", "email_verified": verified, "verify_email": false})
    };
    let user = env.create(body).await;
    if i % 2 == 1 {
        format!("google-oauth2|g-{i}")
    } else {
        format!("auth0|{}", user["user_id"].as_str().unwrap())
    }
}

#[tokio::test]
async fn searches_find_the_same_users_before_and_after_the_tenant_grows() {
    let mut env = Env::unmetered().await;
    let mut ids = Vec::new();
    for i in 0..18 {
        ids.push(create_mixed(&env, i).await);
    }
    let expect = |ids: &[String], keep: &dyn Fn(usize) -> bool| {
        let mut want: Vec<String> = (0..ids.len())
            .filter(|i| keep(*i))
            .map(|i| ids[i].clone())
            .collect();
        want.sort();
        want
    };
    let terms: [(&str, &dyn Fn(usize) -> bool); 3] = [
        ("email_verified:true", &|i| i.is_multiple_of(3)),
        ("email_verified:false", &|i| !i.is_multiple_of(3)),
        ("identities.connection:\"google-oauth2\"", &|i| i % 2 == 1),
    ];
    for (term, keep) in terms {
        assert_eq!(
            search(&env, term).await,
            expect(&ids, keep),
            "{term}, small"
        );
    }
    env.app.users_per_shard = 2;
    for i in 18..48 {
        ids.push(create_mixed(&env, i).await);
    }
    assert!(shards_of(&env, "acme").await.len() > 4);
    for (term, keep) in terms {
        assert_eq!(
            search(&env, term).await,
            expect(&ids, keep),
            "{term}, grown"
        );
    }
}

/// acme's `total` as Auth0's listing gives it.
async fn total(env: &Env) -> Value {
    let admin = env.admin();
    let r = env
        .send(
            "GET",
            "/api/v2/users?per_page=1&include_totals=true",
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    r.body["total"].clone()
}

/// acme lists exactly `everyone`, each once, its total says as many, and the table's counts
/// agree with its profiles shard by shard.
async fn check(env: &Env, everyone: &BTreeSet<String>) {
    let seen = walk(env, 5, None).await;
    assert_eq!(seen.len(), everyone.len(), "no user twice");
    assert_eq!(&seen.into_iter().collect::<BTreeSet<_>>(), everyone);
    assert_eq!(total(env).await, json!(everyone.len()));
    assert_eq!(audit(&env.all_items().await), Vec::<String>::new());
}

#[tokio::test]
async fn counts_and_pages_follow_creates_deletes_links_and_unlinks() {
    let mut env = Env::unmetered().await;
    // Small shards, so the users below spread and each write touches another shard's count.
    env.app.users_per_shard = 1;
    let mut everyone: BTreeSet<String> =
        create_from(&env, "acme", 0, 12).await.into_iter().collect();
    let ana = env
        .create(json!({"email": "ana@example.com", "password": "correct horse battery"}))
        .await;
    let google = env
        .create(
            json!({"connection": "google-oauth2", "user_id": "1077", "email": "ana@gmail.example"}),
        )
        .await;
    let ana_id = ana["user_id"].as_str().unwrap().to_owned();
    let google_id = google["user_id"].as_str().unwrap().to_owned();
    everyone.extend([ana_id.clone(), google_id.clone()]);
    check(&env, &everyone).await;

    let linked = env
        .link(
            &ana,
            json!({"link_with": google_id, "allow_unverified": true}),
        )
        .await;
    assert_eq!(linked.status, 201, "{}", linked.raw);
    everyone.remove(&google_id);
    check(&env, &everyone).await;

    let r = env.unlink(&ana, "google-oauth2", "1077").await;
    assert_eq!(r.status, 200, "{}", r.raw);
    everyone.insert(google_id.clone());
    check(&env, &everyone).await;

    let gone = everyone.iter().next().unwrap().clone();
    assert_eq!(env.delete_user(gone.as_str()).await.status, 204);
    everyone.remove(&gone);
    check(&env, &everyone).await;
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
