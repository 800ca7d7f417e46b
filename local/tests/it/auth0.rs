//! Auth0's Management API v2 dialect on `/api/v2` (the shapes: docs/auth0-compat.md).

use serde_json::{Value, json};

use crate::support::{Env, claims};

fn auth0_id(user: &Value) -> String {
    format!("auth0|{}", user["user_id"].as_str().unwrap())
}

fn path(id: &str) -> String {
    format!("/api/v2/users/{}", id.replace('|', "%7C"))
}

/// A social user `google-oauth2|{provider_id}`, and ana, a database user it is linked into.
async fn ana_with_google_linked(env: &Env, provider_id: &str) -> Value {
    let google = env
        .create(json!({"connection": "google-oauth2", "user_id": provider_id, "email": "ana@gmail.example"}))
        .await;
    let ana = env
        .create(json!({"email": "ana@example.com", "password": "correct horse battery"}))
        .await;
    let linked = env
        .link(
            &ana,
            json!({"link_with": google["user_id"], "allow_unverified": true}),
        )
        .await;
    assert_eq!(linked.status, 201, "{}", linked.raw);
    ana
}

#[tokio::test]
async fn a_user_reads_in_auth0s_shape_with_the_tenant_from_the_token() {
    let env = Env::new().await;
    let ana = env
        .create(json!({"email": "ana@example.com", "password": "correct horse battery", "user_metadata": {"theme": "dark"}}))
        .await;
    let admin = env.admin();
    let r = env
        .send("GET", &path(&auth0_id(&ana)), Some(&admin), None, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["user_id"], auth0_id(&ana));
    assert_eq!(r.body["email"], "ana@example.com");
    assert_eq!(r.body["name"], "ana@example.com");
    assert_eq!(r.body["nickname"], "ana");
    assert_eq!(r.body["user_metadata"], json!({"theme": "dark"}));
    assert_eq!(
        r.body["identities"],
        json!([{"connection": "Username-Password-Authentication", "provider": "auth0", "user_id": ana["user_id"], "isSocial": false}])
    );
    assert!(r.body.get("version").is_none(), "{}", r.raw);

    let fields = format!(
        "{}?fields=email,user_id&include_fields=true",
        path(&auth0_id(&ana))
    );
    let r = env.send("GET", &fields, Some(&admin), None, &[]).await;
    assert_eq!(
        r.body,
        json!({"user_id": auth0_id(&ana), "email": "ana@example.com"})
    );

    // Another tenant's token finds nobody: the tenant is the token's.
    let globex = claims("globex", "backoffice@clients", crate::support::ALL_SCOPES);
    let r = env
        .send("GET", &path(&auth0_id(&ana)), Some(&globex), None, &[])
        .await;
    assert_eq!(r.status, 404, "{}", r.raw);
}

#[tokio::test]
async fn errors_are_in_auth0s_words() {
    let env = Env::new().await;
    let admin = env.admin();
    let r = env
        .send(
            "GET",
            &path("auth0|usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1"),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body,
        json!({"statusCode": 404, "error": "Not Found", "message": "The user does not exist.", "errorCode": "inexistent_user"})
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = env
        .send("GET", &path("not-an-id"), Some(&admin), None, &[])
        .await;
    assert_eq!((r.status, r.code()), (404, "inexistent_user"));
    let reader = claims("acme", "reader@clients", "read:tenant_settings");
    let r = env
        .send(
            "GET",
            &path("auth0|usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1"),
            Some(&reader),
            None,
            &[],
        )
        .await;
    assert_eq!(
        r.body,
        json!({"statusCode": 403, "error": "Forbidden", "message": "Insufficient scope, expected any of: read:users", "errorCode": "insufficient_scope"})
    );
}

#[tokio::test]
async fn a_social_user_is_read_by_its_provider_id_until_it_is_linked_into_another() {
    let env = Env::new().await;
    let admin = env.admin();
    env.create(
        json!({"connection": "google-oauth2", "user_id": "999", "email": "bo@gmail.example"}),
    )
    .await;
    let r = env
        .send("GET", &path("google-oauth2|999"), Some(&admin), None, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["user_id"], "google-oauth2|999");
    assert_eq!(r.body["identities"][0]["isSocial"], true);
    let ana = ana_with_google_linked(&env, "10876").await;
    let r = env
        .send("GET", &path("google-oauth2|10876"), Some(&admin), None, &[])
        .await;
    assert_eq!((r.status, r.code()), (404, "inexistent_user"), "{}", r.raw);
    let r = env
        .send("GET", &path(&auth0_id(&ana)), Some(&admin), None, &[])
        .await;
    assert_eq!(r.body["identities"][1]["provider"], "google-oauth2");
    assert_eq!(
        r.body["identities"][1]["profileData"]["email"],
        "ana@gmail.example"
    );
}

#[tokio::test]
async fn a_user_is_created_patched_found_and_deleted_in_auth0s_terms() {
    let env = Env::new().await;
    let admin = env.admin();
    let body = json!({
        "connection": "Username-Password-Authentication",
        "email": "bo@example.com",
        "password": "correct horse battery staple",
        "user_metadata": {"plan": "free", "theme": "light"},
        "verify_email": false,
    });
    let r = env
        .send("POST", "/api/v2/users", Some(&admin), Some(&body), &[])
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let id = r.body["user_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("auth0|usr_"), "{id}");
    assert!(r.body.get("emails").is_none() && r.header("location").is_none());
    let again = env
        .send("POST", "/api/v2/users", Some(&admin), Some(&body), &[])
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["message"], "The user already exists.");

    // A PATCH may name the connection, as Auth0's does, to say which identity it changes.
    let patch = json!({"connection": "Username-Password-Authentication", "user_metadata": {"plan": "pro", "theme": null}});
    let r = env
        .send("PATCH", &path(&id), Some(&admin), Some(&patch), &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["user_metadata"], json!({"plan": "pro"}));
    assert!(r.body.get("emails").is_none());

    let r = env
        .send(
            "GET",
            "/api/v2/users-by-email?email=bo%40example.com&fields=user_id",
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.body, json!([{"user_id": id}]), "{}", r.raw);

    let r = env
        .send("DELETE", &path(&id), Some(&admin), None, &[])
        .await;
    assert_eq!(r.status, 204, "{}", r.raw);
    let r = env.send("GET", &path(&id), Some(&admin), None, &[]).await;
    assert_eq!((r.status, r.code()), (404, "inexistent_user"));
}

#[tokio::test]
async fn a_write_through_a_linked_identitys_id_changes_nobody() {
    let env = Env::new().await;
    let admin = env.admin();
    let ana = ana_with_google_linked(&env, "555").await;
    let patch = json!({"user_metadata": {"x": 1}});
    let r = env
        .send(
            "PATCH",
            &path("google-oauth2|555"),
            Some(&admin),
            Some(&patch),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "inexistent_user"), "{}", r.raw);
    let r = env
        .send(
            "DELETE",
            &path("google-oauth2|555"),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.raw);
    assert_eq!(env.get_user(&ana).await.body["user_metadata"], json!({}));
}

#[tokio::test]
async fn tickets_and_jobs_name_the_user_by_its_auth0_id() {
    let env = Env::new().await;
    let admin = env.admin();
    env.create(
        json!({"connection": "google-oauth2", "user_id": "777", "email": "g@gmail.example"}),
    )
    .await;
    let ana = env
        .create(json!({"email": "ana@example.com", "password": "correct horse battery"}))
        .await;
    let body = json!({"user_id": auth0_id(&ana), "client_id": "ignored"});
    let r = env
        .send(
            "POST",
            "/api/v2/tickets/email-verification",
            Some(&admin),
            Some(&body),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert!(r.body["ticket"].as_str().unwrap().contains("ticket="));
    let r = env
        .send(
            "POST",
            "/api/v2/jobs/verification-email",
            Some(&admin),
            Some(&body),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(r.body["type"], "verification_email");
    assert!(r.body["created_at"].is_string(), "{}", r.raw);
    // A social user by its provider id; an unknown one is Auth0's 404.
    let social = json!({"user_id": "google-oauth2|777"});
    let r = env
        .send(
            "POST",
            "/api/v2/tickets/password-change",
            Some(&admin),
            Some(&social),
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_body"),
        "social users have no password: {}",
        r.raw
    );
    let nobody = json!({"user_id": "google-oauth2|000"});
    let r = env
        .send(
            "POST",
            "/api/v2/tickets/email-verification",
            Some(&admin),
            Some(&nobody),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "inexistent_user"), "{}", r.raw);
}

#[tokio::test]
async fn users_list_in_pages_with_totals_kept_by_the_writes_and_search_by_email_or_id() {
    let env = Env::new().await;
    let admin = env.admin();
    let mut ids = Vec::new();
    for i in 0..5 {
        let u = env
            .create(
                json!({"email": format!("u{i}@example.com"), "password": "correct horse battery"}),
            )
            .await;
        ids.push(auth0_id(&u));
    }
    let list = |q: &str| {
        let path = format!("/api/v2/users?{q}");
        let env = &env;
        let admin = admin.clone();
        async move { env.send("GET", &path, Some(&admin), None, &[]).await }
    };
    let r = list("page=0&per_page=2&include_totals=true").await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        (
            r.body["start"].clone(),
            r.body["limit"].clone(),
            r.body["length"].clone(),
            r.body["total"].clone()
        ),
        (json!(0), json!(2), json!(2), json!(5))
    );
    let mut seen: Vec<String> = Vec::new();
    for page in 0..3 {
        let r = list(&format!("page={page}&per_page=2&include_totals=true")).await;
        seen.extend(
            r.body["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["user_id"].as_str().unwrap().to_owned()),
        );
    }
    seen.sort();
    let mut all = ids.clone();
    all.sort();
    assert_eq!(seen, all, "every user once, over the pages");
    let past = list("page=3&per_page=2&include_totals=true").await;
    assert_eq!(past.body["users"], json!([]), "past the end, an empty page");
    let bare = list("per_page=1").await;
    assert!(bare.body.is_array(), "{}", bare.raw);

    // The total follows every write that adds or removes a user.
    env.delete_user(ids[0].trim_start_matches("auth0|")).await;
    assert_eq!(list("include_totals=true").await.body["total"], 4);

    let r = list("q=email%3A%22u3%40example.com%22&search_engine=v3&include_totals=true").await;
    assert_eq!(r.body["total"], 1, "{}", r.raw);
    assert_eq!(r.body["users"][0]["user_id"], ids[3]);
    let r = list(&format!("q=user_id%3A%22{}%22", ids[2].replace('|', "%7C"))).await;
    assert_eq!(r.body[0]["user_id"], ids[2], "{}", r.raw);
    for bad in [
        "q=name%3Aana",
        "sort=created_at%3A1",
        "per_page=101",
        "page=10&per_page=100",
        "search_engine=v2",
    ] {
        let r = list(bad).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_query_string"),
            "{bad}: {}",
            r.raw
        );
    }
}

#[tokio::test]
async fn search_by_verified_email_or_connection_follows_the_writes() {
    let env = Env::new().await;
    let admin = env.admin();
    let ana = ana_with_google_linked(&env, "1077").await;
    let bo = env
        .create(json!({"email": "bo@example.com", "password": "correct horse battery", "email_verified": true}))
        .await;
    env.create(json!({"connection": "google-oauth2", "user_id": "2088", "email": "gus@gmail.example", "email_verified": true}))
        .await;
    let search = |term: &str| {
        let q: String = url::form_urlencoded::byte_serialize(term.as_bytes()).collect();
        let path = format!("/api/v2/users?q={q}&search_engine=v3&include_totals=true");
        let env = &env;
        let admin = admin.clone();
        async move {
            let r = env.send("GET", &path, Some(&admin), None, &[]).await;
            assert_eq!(r.status, 200, "{}", r.raw);
            let mut ids: Vec<String> = r.body["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["user_id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            assert_eq!(r.body["total"], ids.len(), "{}", r.raw);
            ids
        }
    };
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    let (ana_id, bo_id) = (auth0_id(&ana), auth0_id(&bo));
    let gus_id = "google-oauth2|2088".to_owned();
    assert_eq!(
        search("email_verified:true").await,
        sorted(vec![bo_id.clone(), gus_id.clone()])
    );
    assert_eq!(search("email_verified:false").await, vec![ana_id.clone()]);
    // A linked identity counts for its connection; the database one goes by Auth0's name.
    let google = r#"identities.connection:"google-oauth2""#;
    assert_eq!(
        search(google).await,
        sorted(vec![ana_id.clone(), gus_id.clone()])
    );
    let database = r#"identities.connection:"Username-Password-Authentication""#;
    assert_eq!(
        search(database).await,
        sorted(vec![ana_id.clone(), bo_id.clone()])
    );

    let patch = json!({"email_verified": true});
    let r = env
        .send("PATCH", &path(&ana_id), Some(&admin), Some(&patch), &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(search("email_verified:false").await, Vec::<String>::new());
    assert_eq!(search("email_verified:true").await.len(), 3);

    let r = env.unlink(&ana, "google-oauth2", "1077").await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        search(google).await,
        sorted(vec!["google-oauth2|1077".into(), gus_id.clone()])
    );
    env.delete_user(&bo).await;
    assert_eq!(search(database).await, vec![ana_id.clone()]);

    // Pages of a search hold what its total counts, once each.
    let page = |n: usize| {
        let q: String = url::form_urlencoded::byte_serialize(google.as_bytes()).collect();
        let path = format!("/api/v2/users?q={q}&page={n}&per_page=1&include_totals=true");
        let env = &env;
        let admin = admin.clone();
        async move { env.send("GET", &path, Some(&admin), None, &[]).await.body }
    };
    let (first, second, third) = (page(0).await, page(1).await, page(2).await);
    assert_eq!(
        (first["total"].clone(), first["length"].clone()),
        (json!(2), json!(1))
    );
    assert_ne!(first["users"][0]["user_id"], second["users"][0]["user_id"]);
    assert_eq!(third["users"], json!([]));
    for bad in [
        "email_verified:maybe",
        "identities.connection:\"Google OAuth\"",
        "email:\"a*@example.com\"",
        "email_verified:true AND email:\"a@b.c\"",
    ] {
        let q: String = url::form_urlencoded::byte_serialize(bad.as_bytes()).collect();
        let r = env
            .send(
                "GET",
                &format!("/api/v2/users?q={q}"),
                Some(&admin),
                None,
                &[],
            )
            .await;
        assert_eq!((r.status, r.code()), (400, "invalid_query_string"), "{bad}");
    }
}

#[tokio::test]
async fn the_database_connection_goes_by_the_name_the_tenant_gave_it_in_auth0() {
    let env = Env::new().await;
    let r = env
        .patch_settings(json!({"auth0_database_connection": "Customers-DB"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let admin = env.admin();
    let create = |connection: &str, email: &str| json!({"connection": connection, "email": email, "password": "correct horse battery"});
    let body = create("Customers-DB", "ana@example.com");
    let r = env
        .send("POST", "/api/v2/users", Some(&admin), Some(&body), &[])
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(r.body["identities"][0]["connection"], "Customers-DB");
    let ana = r.body["user_id"].as_str().unwrap().to_owned();
    let r = env.send("GET", &path(&ana), Some(&admin), None, &[]).await;
    assert_eq!(r.body["identities"][0]["connection"], "Customers-DB");
    let q = "identities.connection%3A%22Customers-DB%22";
    let r = env
        .send(
            "GET",
            &format!("/api/v2/users?q={q}"),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(r.body[0]["user_id"], ana.as_str(), "{}", r.raw);

    // Auth0's default name is no connection of this tenant's any more.
    let body = create("Username-Password-Authentication", "bo@example.com");
    let before = env.items().await;
    let r = env
        .send("POST", "/api/v2/users", Some(&admin), Some(&body), &[])
        .await;
    assert_eq!(r.status, 400, "{}", r.raw);
    assert_eq!(env.items().await, before, "a refused create writes nothing");

    for bad in [
        json!("-db"),
        json!("Customers DB"),
        json!("x".repeat(129)),
        json!(7),
    ] {
        let r = env
            .patch_settings(json!({"auth0_database_connection": bad}))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.raw);
    }
    let r = env.settings().await;
    assert_eq!(
        r.body["settings"]["auth0_database_connection"],
        "Customers-DB"
    );
}
