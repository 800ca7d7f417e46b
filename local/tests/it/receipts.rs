//! The erasure receipt key in Secrets Manager (on moto), the key version every receipt names,
//! and re-applying erasures to a table restored to an earlier point in time
//! (`reapply-erasures`), with two tables on the same moto: one as restored, one that went on
//! and holds the receipts.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use shared::adapters::secrets::SecretsManagerKeys;
use shared::config::ConfigError;
use shared::domain::erasure::KeyVersion;

use crate::support::{Env, address, items_of, moto_endpoint, restored_copy, s};

const PASSWORD: &str = "correct horse battery";
const DAY: i64 = 24 * 3600;

type Item = HashMap<String, AttributeValue>;

/// A receipt key secret of this test's own on moto, and its reader.
async fn secret(env: &Env) -> (String, aws_sdk_secretsmanager::Client, SecretsManagerKeys) {
    let name = format!("{}-receipt-key", env.table);
    let client = local_api::moto::secrets_client(&moto_endpoint(), &env.calls);
    local_api::moto::create_receipt_secret(&client, &name)
        .await
        .unwrap();
    let keys = SecretsManagerKeys::new(client.clone(), name.clone());
    (name, client, keys)
}

/// The version the secret's `AWSCURRENT` label is on, as Secrets Manager reports it.
async fn current_version(client: &aws_sdk_secretsmanager::Client, name: &str) -> String {
    let versions = client
        .list_secret_version_ids()
        .secret_id(name)
        .send()
        .await
        .unwrap();
    versions
        .versions()
        .iter()
        .find(|v| v.version_stages().iter().any(|s| s == "AWSCURRENT"))
        .and_then(|v| v.version_id().map(str::to_owned))
        .unwrap()
}

/// Reads the current key as `function` does at start, and makes the app write receipts
/// under it (a container started after the read).
async fn start_erasing(env: &mut Env, keys: &SecretsManagerKeys, function: &'static str) {
    let key = local_api::moto::as_function(function, shared::app::receipt_key(keys))
        .await
        .unwrap();
    env.app.erasure = std::sync::Arc::new(env.app.erasure.keyed(key));
}

fn receipts_of(items: &[Item]) -> Vec<Item> {
    let mut receipts: Vec<Item> = items
        .iter()
        .filter(|i| s(i, "sk") == "RECEIPT")
        .cloned()
        .collect();
    receipts.sort_by_key(|i| s(i, "pk"));
    receipts
}

#[tokio::test]
async fn the_functions_that_erase_read_the_current_key_once_and_every_receipt_names_its_version() {
    let (mut env, clock) = Env::with_clock().await;
    let (name, client, keys) = secret(&env).await;
    let first = current_version(&client, &name).await;
    start_erasing(&mut env, &keys, "delete-user").await;
    start_erasing(&mut env, &keys, "purge").await;
    assert_eq!(
        env.app.erasure.key_version().map(KeyVersion::as_str),
        Some(first.as_str())
    );

    let ana = env
        .create(json!({"email": address("ana"), "email_verified": true, "password": PASSWORD}))
        .await;
    assert_eq!(env.delete_user(&ana).await.status, 204);

    // Rotated: a container that starts now reads the new version; receipts say which.
    let second = local_api::moto::rotate_receipt_secret(&client, &name)
        .await
        .unwrap();
    assert_ne!(first, second);
    assert_eq!(current_version(&client, &name).await, second);
    start_erasing(&mut env, &keys, "purge").await;
    let bo = env
        .create(json!({"email": address("bo"), "email_verified": true, "password": PASSWORD}))
        .await;
    assert_eq!(env.delete_me(&bo).await.status, 202);
    clock.advance(31 * DAY);
    assert_eq!(env.purge_due(200, 8).await.unwrap().purged, 1);

    let receipts = receipts_of(&env.all_items().await);
    let by_reason: HashMap<String, String> = receipts
        .iter()
        .map(|r| (s(r, "reason"), s(r, "key_version")))
        .collect();
    assert_eq!(by_reason["admin"], first);
    assert_eq!(by_reason["self_service"], second);
    // Each matches its user only under its own version, which the secret still holds.
    let tenant = shared::domain::ids::TenantId::parse("acme").unwrap();
    for (user, version, reason) in [(&ana, &first, "admin"), (&bo, &second, "self_service")] {
        let id = shared::domain::ids::UserId::parse(user["user_id"].as_str().unwrap()).unwrap();
        let key = shared::ports::ReceiptKeys::version(&keys, &KeyVersion::parse(version).unwrap())
            .await
            .unwrap()
            .expect("the secret keeps the version");
        let receipt = receipts.iter().find(|r| s(r, "reason") == reason).unwrap();
        assert_eq!(s(receipt, "subject"), key.subject(&tenant, &id).unwrap());
    }
}

#[tokio::test]
async fn a_receipt_key_that_cannot_be_read_or_is_short_stops_the_start_and_never_shows_the_key() {
    let env = Env::new().await;
    let client = local_api::moto::secrets_client(&moto_endpoint(), &env.calls);
    let missing = SecretsManagerKeys::new(client.clone(), format!("{}-none", env.table));
    let error = shared::app::receipt_key(&missing).await.unwrap_err();
    assert!(matches!(error, ConfigError::Secret(..)), "{error}");
    let said = error.to_string();
    assert!(said.contains("ERASURE_RECEIPT_SECRET"), "{said}");
    assert!(said.contains(&format!("{}-none", env.table)), "{said}");

    let short = format!("{}-short", env.table);
    client
        .create_secret()
        .name(&short)
        .secret_string("tiny-key-value")
        .send()
        .await
        .unwrap();
    let said = shared::app::receipt_key(&SecretsManagerKeys::new(client, short))
        .await
        .unwrap_err()
        .to_string();
    assert!(said.contains("shorter than 32 bytes"), "{said}");
    assert!(!said.contains("tiny-key-value"), "{said}");
}

fn mentioning(items: &[Item], needle: &str) -> Vec<String> {
    items
        .iter()
        .map(|i| format!("{i:?}"))
        .filter(|text| text.contains(needle))
        .collect()
}

#[tokio::test]
async fn reapplying_erasures_after_a_restore_erases_who_was_erased_since_and_twice_changes_nothing()
{
    let (mut env, clock) = Env::with_clock().await;
    let (name, client, keys) = secret(&env).await;
    start_erasing(&mut env, &keys, "delete-user").await;
    let user =
        |who: &str| json!({"email": address(who), "email_verified": true, "password": PASSWORD});
    let before = env.create(user("before")).await;
    let admin_erased = env.create(user("admin")).await;
    let self_erased = env.create(user("self")).await;
    let kept = env.create(user("kept")).await;
    assert_eq!(env.delete_user(&before).await.status, 204);

    // The restore point, an hour after that erasure; the restored table is the table then.
    clock.advance(3600);
    let restore_point = env.app.clock.now();
    let restored = restored_copy(&env).await;
    clock.advance(60);

    // After it: an admin erasure under the first key version, a rotation, a purge under the
    // second, and a user created and erased in between, whom the restored table never held.
    assert_eq!(env.delete_user(&admin_erased).await.status, 204);
    local_api::moto::rotate_receipt_secret(&client, &name)
        .await
        .unwrap();
    start_erasing(&mut env, &keys, "purge").await;
    assert_eq!(env.delete_me(&self_erased).await.status, 202);
    let brief = env.create(user("brief")).await;
    assert_eq!(env.delete_user(&brief).await.status, 204);
    clock.advance(31 * DAY);
    assert_eq!(env.purge_due(200, 8).await.unwrap().purged, 1);
    // And a receipt under a version the secret no longer has.
    let gone = "0".repeat(64);
    env.client
        .put_item()
        .table_name(&env.table)
        .item(
            "pk",
            AttributeValue::S(format!("TENANT#acme#ERASURE#{gone}")),
        )
        .item("sk", AttributeValue::S("RECEIPT".into()))
        .item("subject", AttributeValue::S(gone.clone()))
        .item("key_version", AttributeValue::S("deleted-version".into()))
        .item("tenant_id", AttributeValue::S("acme".into()))
        .item(
            "erased_at",
            AttributeValue::S(env.app.clock.now().to_string()),
        )
        .item("reason", AttributeValue::S("admin".into()))
        .item("actor", AttributeValue::S("backoffice@clients".into()))
        .item("expires_at", AttributeValue::N("4102444800".into()))
        .send()
        .await
        .unwrap();
    let current = items_of(&env, &env.table).await;
    let versions: std::collections::BTreeSet<String> = receipts_of(&current)
        .iter()
        .map(|r| s(r, "key_version"))
        .collect();
    assert_eq!(versions.len(), 3, "{versions:?}");

    let request = local_api::reapply::Request {
        receipts_table: env.table.clone(),
        restored_table: restored.clone(),
        restore_point,
        secret: name.clone(),
        unversioned: None,
    };
    let run = || local_api::reapply::run(&request, env.client.clone(), client.clone());
    let report = run().await.unwrap();
    assert_eq!(report.receipts, 4, "{report:?}");
    assert_eq!(report.erased, 2, "{report:?}");
    assert_eq!(report.receipts_copied, 2, "{report:?}");
    assert_eq!(report.unmatchable, 1, "{report:?}");
    assert_eq!(
        report.missing_versions,
        vec![KeyVersion::parse("deleted-version").unwrap()]
    );
    assert!(!report.complete());

    let after = items_of(&env, &restored).await;
    for erased in [&admin_erased, &self_erased, &before] {
        let id = erased["user_id"].as_str().unwrap();
        assert!(mentioning(&after, id).is_empty(), "{id} is left");
        let email = erased["email"].as_str().unwrap();
        assert!(mentioning(&after, email).is_empty(), "{email} is left");
    }
    assert!(!mentioning(&after, kept["user_id"].as_str().unwrap()).is_empty());
    // The restored table holds every receipt the other one does, as written there: the
    // erasures it missed wrote their original receipts, and the others were copied.
    assert_eq!(receipts_of(&after), receipts_of(&current));
    let problems = shared::adapters::dynamo::audit(&after);
    assert!(problems.is_empty(), "{problems:?}");
    let r = env.get_user(&kept).await;
    assert_eq!(r.status, 200, "{}", r.raw);

    // Twice: nothing more is erased or written.
    let again = run().await.unwrap();
    assert_eq!((again.erased, again.receipts_copied), (0, 0), "{again:?}");
    assert_eq!(items_of(&env, &restored).await, after);
}
