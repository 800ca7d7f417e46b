use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

use crate::support::{ALL_SCOPES, Env, address, claims, inbox, s, user_path};
use shared::ports::UserStore;

const ANA_PASSWORD: &str = "correct horse battery";
const BOB_PASSWORD: &str = "lantern Harbor quartz 93";
/// Where the sign-ins of these tests come from.
const IP: &str = "198.51.100.9";

/// A verified database user.
async fn database_user(env: &Env, email: &str, password: &str) -> Value {
    env.create(json!({
        "email": email,
        "email_verified": true,
        "password": password,
        "user_metadata": {"theme": "light"},
    }))
    .await
}

/// A user of an external provider with a verified email.
async fn social_user(env: &Env, connection: &str, provider_id: &str, email: &str) -> Value {
    env.create(json!({
        "connection": connection,
        "user_id": provider_id,
        "email": email,
        "email_verified": true,
        "name": "Ana from Google",
        "user_metadata": {"locale": "es"},
        "app_metadata": {"tier": "gold"},
    }))
    .await
}

fn link_with(secondary: &Value) -> Value {
    json!({"link_with": secondary["user_id"]})
}

async fn by_email(env: &Env, email: &str) -> Vec<String> {
    let r = env.users_by_email(email).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_linked_social_identity_joins_the_primary_with_its_own_profile_and_metadata() {
    let env = Env::new().await;
    let ana = database_user(&env, "ana@example.com", ANA_PASSWORD).await;
    // The same address in another connection: two users until linked.
    let google = social_user(&env, "google-oauth2", "g-123", "ana@example.com").await;
    assert_eq!(by_email(&env, "ana@example.com").await.len(), 2);

    let r = env
        .link(
            &ana,
            json!({"provider": "google-oauth2", "user_id": "g-123"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(r.header("etag"), Some("\"2\""));
    let identities = r.body.as_array().unwrap();
    assert_eq!(identities.len(), 2);
    assert_eq!(identities[0]["provider"], "database");
    let linked = &identities[1];
    assert_eq!(
        (
            &linked["provider"],
            &linked["user_id"],
            &linked["is_social"]
        ),
        (&json!("google-oauth2"), &json!("g-123"), &json!(true))
    );
    assert_eq!(linked["profile_data"]["email"], "ana@example.com");
    assert_eq!(linked["profile_data"]["email_verified"], true);
    assert_eq!(linked["profile_data"]["name"], "Ana from Google");
    assert_eq!(linked["user_metadata"], json!({"locale": "es"}));
    assert_eq!(linked["app_metadata"], json!({"tier": "gold"}));
    assert_eq!(linked["standalone"]["user_id"], google["user_id"]);

    // The primary's own metadata is not merged with the secondary's.
    let got = env.get_user(&ana).await;
    assert_eq!(got.body["identities"], r.body);
    assert_eq!(got.body["user_metadata"], json!({"theme": "light"}));
    assert_eq!(got.body["email"], "ana@example.com");
    let gone = env.get_user(&google).await;
    assert_eq!(gone.code(), "user_not_found");

    // Found by the address through both connections, once.
    let ana_id = ana["user_id"].as_str().unwrap().to_owned();
    assert_eq!(by_email(&env, "ana@example.com").await, [ana_id.as_str()]);
    let listed = env.list_users(&[]).await;
    assert_eq!(listed.body["users"].as_array().unwrap().len(), 1);

    // The user's own view of a linked identity leaves out its app_metadata too.
    let me = env.get_me(&ana).await;
    assert_eq!(me.status, 200, "{}", me.raw);
    assert_eq!(me.body["identities"][1]["user_metadata"]["locale"], "es");
    assert!(!me.raw.contains("gold"), "{}", me.raw);
}

#[tokio::test]
async fn a_linked_database_identity_signs_in_with_its_own_password_as_the_primary() {
    let env = Env::new().await;
    let google = social_user(&env, "google-oauth2", "g-456", "bob@gmail.example").await;
    let bob = database_user(&env, "bob@example.com", BOB_PASSWORD).await;
    let r = env.link(&google, link_with(&bob)).await;
    assert_eq!(r.status, 201, "{}", r.raw);

    let signed_in = env.login("BOB@example.com", BOB_PASSWORD, IP).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.raw);
    assert_eq!(signed_in.body["user_id"], google["user_id"]);
    assert_eq!(signed_in.body["logins_count"], 1);
    let wrong = env.login("bob@example.com", ANA_PASSWORD, IP).await;
    assert_eq!(wrong.code(), "invalid_credentials");

    // The address stays taken in the database connection, now by the primary.
    let google_id = google["user_id"].as_str().unwrap().to_owned();
    assert_eq!(by_email(&env, "bob@example.com").await, [google_id]);
    let again = env
        .post_user(json!({"email": "bob@example.com", "password": BOB_PASSWORD}))
        .await;
    assert_eq!(again.code(), "user_exists");
    // The password moved beside the primary's profile; the secondary's partition is empty.
    let keys = env.keys().await;
    let bob_pk = format!("TENANT#acme#USER#{}", bob["user_id"].as_str().unwrap());
    assert!(keys.iter().all(|(pk, _)| *pk != bob_pk), "{keys:?}");
    assert!(keys.contains(&(
        format!("TENANT#acme#USER#{}", google["user_id"].as_str().unwrap()),
        format!("PASSWORD#{}", bob["user_id"].as_str().unwrap())
    )));
}

#[tokio::test]
async fn a_linked_database_identity_resets_its_own_password_by_its_own_address() {
    let env = Env::new().await;
    let primary_address = address("primary");
    let linked_address = address("linked");
    let primary = database_user(&env, &primary_address, ANA_PASSWORD).await;
    let linked = database_user(&env, &linked_address, BOB_PASSWORD).await;
    assert_eq!(env.link(&primary, link_with(&linked)).await.status, 201);

    let r = env.request_reset(&linked_address).await;
    assert_eq!(r.status, 202, "{}", r.raw);
    assert!(inbox(&primary_address).await.is_empty());
    let ticket = crate::support::mailed_reset_ticket(&linked_address).await;
    let new_password = "reset Passphrase Harbor 93";
    let done = env.confirm_reset(&ticket, new_password).await;
    assert_eq!(done.status, 204, "{}", done.raw);
    assert_eq!(
        env.confirm_reset(&ticket, "another Passphrase 77")
            .await
            .code(),
        "invalid_ticket"
    );

    // The linked identity's password changed; the primary's own did not.
    let signed_in = env.login(&linked_address, new_password, IP).await;
    assert_eq!(
        signed_in.body["user_id"], primary["user_id"],
        "{}",
        signed_in.raw
    );
    assert_eq!(
        env.login(&linked_address, BOB_PASSWORD, IP).await.code(),
        "invalid_credentials"
    );
    let own = env.login(&primary_address, ANA_PASSWORD, IP).await;
    assert_eq!(own.body["user_id"], primary["user_id"], "{}", own.raw);
    assert!(own.body.get("last_password_reset").is_none());
    assert!(own.body["identities"][1]["standalone"]["last_password_reset"].is_string());

    // The tickets API reaches the same password through the same address.
    let issued = env
        .password_change_ticket(json!({"email": linked_address}))
        .await;
    assert_eq!(issued.status, 201, "{}", issued.raw);
    let url = issued.body["ticket"].as_str().unwrap();
    let ticket = crate::support::param(url, "ticket").unwrap();
    let newer = "ticket Passphrase Meadow 58";
    assert_eq!(env.confirm_reset(&ticket, newer).await.status, 204);

    // Unlinked, the user it was signs in with the password it was given meanwhile.
    let r = env
        .unlink(&primary, "database", linked["user_id"].as_str().unwrap())
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let back = env.login(&linked_address, newer, IP).await;
    assert_eq!(back.body["user_id"], linked["user_id"], "{}", back.raw);
    assert!(back.body["last_password_reset"].is_string());
}

#[tokio::test]
async fn unlinking_gives_back_the_standalone_user_with_its_metadata_and_password() {
    let env = Env::new().await;
    let ana = database_user(&env, "ana@example.com", ANA_PASSWORD).await;
    let bob = env
        .create(json!({
            "email": "bob@example.com",
            "email_verified": true,
            "password": BOB_PASSWORD,
            "username": "bob",
            "user_metadata": {"theme": "dark"},
            "app_metadata": {"plan": "pro"},
        }))
        .await;
    let google = social_user(&env, "google-oauth2", "g-789", "ana@gmail.example").await;
    let before = env.keys().await;
    assert_eq!(env.link(&ana, link_with(&bob)).await.status, 201);
    assert_eq!(env.link(&ana, link_with(&google)).await.status, 201);

    let bob_id = bob["user_id"].as_str().unwrap();
    // A sign-in in flight as the link committed leaves a counter under bob's old id; the
    // unlink sweeps it first, so no stale failure comes back with him.
    env.client
        .put_item()
        .table_name(&env.table)
        .item(
            "pk",
            AttributeValue::S(format!("TENANT#acme#USER#{bob_id}")),
        )
        .item("sk", AttributeValue::S("LOGIN#IP#203.0.113.77".into()))
        .item("count", AttributeValue::N("3".into()))
        .send()
        .await
        .unwrap();
    let r = env.unlink(&ana, "database", bob_id).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let left: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["provider"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["database", "google-oauth2"]);
    let r = env.unlink(&ana, "google-oauth2", "g-789").await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(r.header("etag"), Some("\"5\""));

    let back = env.get_user(&bob).await;
    assert_eq!(back.status, 200, "{}", back.raw);
    for field in [
        "user_id",
        "email",
        "email_verified",
        "username",
        "user_metadata",
        "app_metadata",
        "identities",
        "created_at",
        "logins_count",
    ] {
        assert_eq!(back.body[field], bob[field], "{field}");
    }
    assert!(back.body["version"].as_u64() > bob["version"].as_u64());
    let google_back = env.get_user(&google).await;
    assert_eq!(google_back.body["app_metadata"], json!({"tier": "gold"}));
    assert_eq!(google_back.body["identities"], google["identities"]);

    // Every item is where it was: the guards point home again, the password went back, and
    // the restored users are listed again.
    assert_eq!(env.keys().await, before);
    let listed = env.list_users(&[]).await;
    assert_eq!(listed.body["users"].as_array().unwrap().len(), 3);
    let signed_in = env.login("bob@example.com", BOB_PASSWORD, IP).await;
    assert_eq!(
        signed_in.body["user_id"], bob["user_id"],
        "{}",
        signed_in.raw
    );
    assert_eq!(by_email(&env, "bob@example.com").await, [bob_id.to_owned()]);
    let ana_view = env.get_user(&ana).await;
    assert_eq!(ana_view.body["identities"], ana["identities"]);
}

#[tokio::test]
async fn the_refusals_are_clear_and_change_nothing() {
    let env = Env::new().await;
    let ana = database_user(&env, "ana@example.com", ANA_PASSWORD).await;
    let bob = database_user(&env, "bob@example.com", BOB_PASSWORD).await;
    let google = social_user(&env, "google-oauth2", "g-1", "ana@gmail.example").await;
    let unverified = env
        .create(
            json!({"email": "eve@example.com", "password": BOB_PASSWORD, "verify_email": false}),
        )
        .await;
    let blocked = env
        .create(json!({"connection": "facebook", "user_id": "fb-1", "blocked": true}))
        .await;
    // bob already holds an identity of its own.
    assert_eq!(env.link(&bob, link_with(&google)).await.status, 201);
    let other_tenant = claims("globex", "backoffice@clients", ALL_SCOPES);
    let foreign = env
        .send(
            "POST",
            "/v1/tenants/globex/users",
            Some(&other_tenant),
            Some(&json!({"email": "zoe@example.com", "password": BOB_PASSWORD})),
            &[],
        )
        .await;
    assert_eq!(foreign.status, 201, "{}", foreign.raw);
    let before = env.items().await;

    let ana_path = user_path(&ana["user_id"]);
    let cases: Vec<(Value, u16, &str)> = vec![
        (link_with(&ana), 400, "cannot_link_self"),
        (link_with(&bob), 409, "secondary_has_identities"),
        (
            json!({"provider": "google-oauth2", "user_id": "g-1"}),
            409,
            "identity_already_linked",
        ),
        (
            json!({"provider": "google-oauth2", "user_id": "nobody"}),
            404,
            "identity_not_found",
        ),
        (
            json!({"link_with": "usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C9"}),
            404,
            "user_not_found",
        ),
        (link_with(&foreign.body), 404, "user_not_found"),
        (link_with(&unverified), 409, "unverified_email"),
        (link_with(&blocked), 409, "secondary_blocked"),
        (json!({"link_with": "bob"}), 400, "invalid_user_id"),
        (json!({"provider": "google-oauth2"}), 400, "invalid_body"),
        (
            json!({"provider": "Google", "user_id": "g-1"}),
            400,
            "invalid_provider",
        ),
    ];
    for (body, status, code) in cases {
        let r = env.link(&ana, body.clone()).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.raw);
    }
    let stale = env
        .send(
            "POST",
            &format!("{ana_path}/identities"),
            Some(&env.admin()),
            Some(&json!({"provider": "facebook", "user_id": "fb-1"})),
            &[("if-match", "\"7\"")],
        )
        .await;
    assert_eq!(stale.status, 412, "{}", stale.raw);
    let reader = claims("acme", "reader@clients", "read:users");
    let forbidden = env
        .send(
            "POST",
            &format!("{ana_path}/identities"),
            Some(&reader),
            Some(&link_with(&google)),
            &[],
        )
        .await;
    assert_eq!(forbidden.status, 403, "{}", forbidden.raw);
    let own = env
        .unlink(&ana, "database", ana["user_id"].as_str().unwrap())
        .await;
    assert_eq!((own.status, own.code()), (400, "primary_identity"));
    let missing = env.unlink(&ana, "google-oauth2", "g-1").await;
    assert_eq!(
        (missing.status, missing.code()),
        (404, "identity_not_found")
    );
    let bad = env.unlink(&ana, "Google", "g-1").await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_provider"));
    assert_eq!(env.items().await, before, "a refusal changed nothing");
    let still = env
        .send(
            "GET",
            &user_path(&foreign.body["user_id"]).replace("acme", "globex"),
            Some(&other_tenant),
            None,
            &[],
        )
        .await;
    assert_eq!(still.status, 200, "{}", still.raw);

    // An unverified primary is refused as well.
    let r = env.link(&unverified, link_with(&ana)).await;
    assert_eq!(r.code(), "unverified_email", "{}", r.raw);

    // The unverified side links only when the caller says so.
    let allowed = env
        .link(
            &ana,
            json!({"link_with": unverified["user_id"], "allow_unverified": true}),
        )
        .await;
    assert_eq!(allowed.status, 201, "{}", allowed.raw);
}

#[tokio::test]
async fn a_primarys_own_address_cannot_collide_with_a_linked_identitys() {
    let env = Env::new().await;
    let ana = database_user(&env, "ana@example.com", ANA_PASSWORD).await;
    let bob = database_user(&env, "bob@example.com", BOB_PASSWORD).await;
    assert_eq!(env.link(&ana, link_with(&bob)).await.status, 201);
    let r = env
        .patch_user(&ana, json!({"email": "Bob@example.com"}))
        .await;
    assert_eq!(r.code(), "user_exists", "{}", r.raw);
    let got = env.get_user(&ana).await;
    assert_eq!(got.body["email"], "ana@example.com");
    assert_eq!(
        env.login("bob@example.com", BOB_PASSWORD, IP).await.body["user_id"],
        ana["user_id"]
    );
}

#[tokio::test]
async fn two_concurrent_links_of_one_secondary_let_exactly_one_through() {
    let env = Env::new().await;
    let first = database_user(&env, "ana@example.com", ANA_PASSWORD).await;
    let second = database_user(&env, "bob@example.com", BOB_PASSWORD).await;
    let secondary = social_user(&env, "google-oauth2", "g-race", "carl@gmail.example").await;
    let body = json!({"provider": "google-oauth2", "user_id": "g-race"});
    let (a, b) = tokio::join!(
        env.link(&first, body.clone()),
        env.link(&second, body.clone())
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses[0], 201, "{} / {}", a.raw, b.raw);
    assert!([404, 409].contains(&statuses[1]), "{} / {}", a.raw, b.raw);
    let winner = if a.status == 201 { &first } else { &second };
    let loser = if a.status == 201 { &second } else { &first };
    let won = env.get_user(winner).await;
    assert_eq!(won.body["identities"].as_array().unwrap().len(), 2);
    let lost = env.get_user(loser).await;
    assert_eq!(lost.body["identities"], loser["identities"]);
    // Each guard the secondary had names the winner.
    let owners: Vec<String> = env
        .items()
        .await
        .iter()
        .filter(|i| {
            let pk = s(i, "pk");
            pk.contains("carl@gmail.example") || pk.contains("IDENTITY#google-oauth2#g-race")
        })
        .map(|i| s(i, "user_id"))
        .collect();
    assert_eq!(owners.len(), 2);
    assert!(owners.iter().all(|o| *o == winner["user_id"]), "{owners:?}");
    assert_eq!(env.get_user(&secondary).await.status, 404);
}

#[tokio::test]
async fn deleting_a_primary_erases_the_items_of_every_identity_it_holds() {
    let env = Env::new().await;
    let ana = database_user(&env, "ana@example.com", ANA_PASSWORD).await;
    // Unverified, so it has a verification ticket, a queued or sent message and a send counter.
    let bob = env
        .create(json!({"email": address("bob"), "password": BOB_PASSWORD, "username": "bob"}))
        .await;
    let google = social_user(&env, "google-oauth2", "g-del", "ana@gmail.example").await;
    // A failed login leaves counters in the secondary's partition.
    let bob_email = bob["email"].as_str().unwrap().to_owned();
    assert_eq!(
        env.login(&bob_email, "not the password", IP).await.code(),
        "invalid_credentials"
    );
    let keys = env.keys().await;
    let bob_pk = format!("TENANT#acme#USER#{}", bob["user_id"].as_str().unwrap());
    assert!(
        keys.iter()
            .any(|(pk, sk)| *pk == bob_pk && sk.starts_with("TICKET#"))
    );
    assert!(
        keys.iter()
            .any(|(pk, sk)| *pk == bob_pk && sk.starts_with("LOGIN#"))
    );

    let r = env
        .link(
            &ana,
            json!({"link_with": bob["user_id"], "allow_unverified": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(env.link(&ana, link_with(&google)).await.status, 201);
    // The secondary's tickets, mail and counters went with it.
    let keys = env.keys().await;
    assert!(keys.iter().all(|(pk, _)| *pk != bob_pk), "{keys:?}");
    assert!(
        keys.iter().all(|(pk, _)| !pk.contains("#TICKET#")),
        "{keys:?}"
    );

    let deleted = env.delete_user(&ana).await;
    assert_eq!(deleted.status, 204, "{}", deleted.raw);
    // An address's throttle spans accounts and names no user: it stays until its TTL.
    let keys = env.keys().await;
    assert!(
        keys.iter()
            .all(|(pk, _)| pk.contains("#ERASURE#") || pk.contains("#ADDRESS#")),
        "only the erasure receipt is left: {keys:?}"
    );
    let again = env
        .post_user(json!({"email": bob_email, "password": BOB_PASSWORD, "username": "bob"}))
        .await;
    assert_eq!(
        again.status, 201,
        "the addresses are free again: {}",
        again.raw
    );
}

#[tokio::test]
async fn a_username_a_linked_identity_holds_stays_its_own() {
    let env = Env::new().await;
    let ana = database_user(&env, "ana@example.com", ANA_PASSWORD).await;
    let bob = env
        .create(json!({"email": "bob@example.com", "email_verified": true, "password": BOB_PASSWORD, "username": "bob"}))
        .await;
    assert_eq!(env.link(&ana, link_with(&bob)).await.status, 201);
    let r = env.patch_user(&ana, json!({"username": "BOB"})).await;
    assert_eq!(r.code(), "user_exists", "{}", r.raw);
    let by_name = env
        .authenticate(json!({"username": "bob", "password": BOB_PASSWORD, "ip": "198.51.100.1"}))
        .await;
    assert_eq!(by_name.body["user_id"], ana["user_id"], "{}", by_name.raw);
}

#[tokio::test]
async fn two_concurrent_unlinks_of_one_identity_restore_it_once() {
    let env = Env::new().await;
    let ana = database_user(&env, "ana@example.com", ANA_PASSWORD).await;
    let google = social_user(&env, "google-oauth2", "g-twice", "ana@gmail.example").await;
    assert_eq!(env.link(&ana, link_with(&google)).await.status, 201);
    let (a, b) = tokio::join!(
        env.unlink(&ana, "google-oauth2", "g-twice"),
        env.unlink(&ana, "google-oauth2", "g-twice")
    );
    let mut outcomes = [
        (a.status, a.code().to_owned()),
        (b.status, b.code().to_owned()),
    ];
    outcomes.sort();
    assert_eq!(
        outcomes,
        [(200, String::new()), (404, "identity_not_found".to_owned())],
        "{} / {}",
        a.raw,
        b.raw
    );
    let back = env.get_user(&google).await;
    assert_eq!(back.body["identities"], google["identities"]);
}

#[tokio::test]
async fn a_reset_ticket_of_a_linked_identity_dies_with_the_link() {
    let env = Env::new().await;
    let ana = database_user(&env, "ana@example.com", ANA_PASSWORD).await;
    let bob = database_user(&env, "bob@example.com", BOB_PASSWORD).await;
    let bob_id = bob["user_id"].as_str().unwrap();
    assert_eq!(env.link(&ana, link_with(&bob)).await.status, 201);
    let issued = env
        .password_change_ticket(json!({"email": "bob@example.com"}))
        .await;
    assert_eq!(issued.status, 201, "{}", issued.raw);
    let ticket = crate::support::param(issued.body["ticket"].as_str().unwrap(), "ticket").unwrap();
    assert_eq!(env.unlink(&ana, "database", bob_id).await.status, 200);
    let r = env
        .confirm_reset(&ticket, "late Passphrase Orchard 61")
        .await;
    assert_eq!(r.code(), "invalid_ticket", "{}", r.raw);
    // Linked again, the identity does not take the old ticket back.
    assert_eq!(env.link(&ana, link_with(&bob)).await.status, 201);
    let r = env
        .confirm_reset(&ticket, "late Passphrase Orchard 61")
        .await;
    assert_eq!(r.code(), "invalid_ticket", "{}", r.raw);
    assert_eq!(
        env.login("bob@example.com", BOB_PASSWORD, IP).await.body["user_id"],
        ana["user_id"]
    );
}

/// Schedules `user` for deletion by writing the store directly (no route sets it yet).
async fn schedule_deletion(env: &Env, user: &Value) {
    use shared::domain::ids::{TenantId, UserId};
    let tenant = TenantId::parse("acme").unwrap();
    let id = UserId::parse(user["user_id"].as_str().unwrap()).unwrap();
    let current = env.app.users.get(&tenant, &id).await.unwrap().unwrap();
    let mut next = current.clone();
    next.deletion_scheduled_at = Some(env.app.clock.now());
    next.version += 1;
    env.app
        .users
        .replace(&current, &next, None, Default::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_user_scheduled_for_deletion_is_neither_linked_nor_linked_into() {
    let env = Env::new().await;
    let ana = database_user(&env, "ana@example.com", ANA_PASSWORD).await;
    let bob = database_user(&env, "bob@example.com", BOB_PASSWORD).await;
    let google = social_user(&env, "google-oauth2", "g-gone", "ana@gmail.example").await;
    schedule_deletion(&env, &google).await;
    let r = env.link(&ana, link_with(&google)).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "deletion_scheduled"),
        "{}",
        r.raw
    );
    schedule_deletion(&env, &ana).await;
    let r = env.link(&ana, link_with(&bob)).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "deletion_scheduled"),
        "{}",
        r.raw
    );
}

#[tokio::test]
async fn a_user_holds_at_most_ten_identities_and_linked_ones_are_size_capped() {
    let env = Env::new().await;
    let ana = database_user(&env, "ana@example.com", ANA_PASSWORD).await;
    for i in 0..9 {
        let social = social_user(
            &env,
            "facebook",
            &format!("fb-{i}"),
            &format!("ana{i}@fb.example"),
        )
        .await;
        let r = env.link(&ana, link_with(&social)).await;
        assert_eq!(r.status, 201, "{}", r.raw);
    }
    let tenth = social_user(&env, "facebook", "fb-10", "ana10@fb.example").await;
    let r = env.link(&ana, link_with(&tenth)).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "too_many_identities"),
        "{}",
        r.raw
    );
    // Erasing the fully linked user fits one transaction.
    let deleted = env.delete_user(&ana).await;
    assert_eq!(deleted.status, 204, "{}", deleted.raw);

    // Two full metadata objects are more than a linked identity may bring.
    let carl = database_user(&env, "carl@example.com", ANA_PASSWORD).await;
    let full: serde_json::Map<String, Value> = (0..50)
        .map(|i| (format!("k{i}"), Value::from("x".repeat(2000))))
        .collect();
    let heavy = env
        .create(json!({
            "connection": "github",
            "user_id": "gh-1",
            "user_metadata": full,
            "app_metadata": full,
        }))
        .await;
    let r = env.link(&carl, link_with(&heavy)).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "profile_too_large"),
        "{}",
        r.raw
    );
}

#[tokio::test]
async fn a_secondary_under_a_brute_force_block_is_refused_until_cleared() {
    let (env, clock) = Env::with_clock().await;
    let ana = database_user(&env, "ana@example.com", ANA_PASSWORD).await;
    let bob = database_user(&env, "bob@example.com", BOB_PASSWORD).await;
    for _ in 0..10 {
        let r = env.login("bob@example.com", "wrong guess", IP).await;
        assert_eq!(r.code(), "invalid_credentials", "{}", r.raw);
        clock.advance(16 * 60);
    }
    let r = env.link(&ana, link_with(&bob)).await;
    assert_eq!((r.status, r.code()), (409, "secondary_locked"), "{}", r.raw);
    let cleared = env.clear_blocks(&bob).await;
    assert_eq!(cleared.status, 204, "{}", cleared.raw);
    assert_eq!(env.link(&ana, link_with(&bob)).await.status, 201);
}
