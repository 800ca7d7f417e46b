//! `restore-into`: the live table made to hold exactly the items of a table restored to an
//! earlier point, with two tables on one moto: one as a restore made it, one (the app's) that
//! went on after the restore point.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use local_api::restore::{Report, Request, run};
use serde_json::{Value, json};

use crate::faults::{Fault, Proxy};
use crate::support::{Env, address, binary, items_of, moto_endpoint, restored_copy, s};

type Item = HashMap<String, AttributeValue>;

const PASSWORD: &str = "correct horse battery";

fn user(who: &str) -> Value {
    json!({
        "email": address(who),
        "email_verified": true,
        "password": PASSWORD,
        "user_metadata": {"plan": "basic"},
    })
}

/// Makes `env`'s table hold `restored`'s items: one segment, DynamoDB's own pages.
fn request(env: &Env, restored: &str) -> Request {
    Request {
        from: restored.to_owned(),
        to: env.table.clone(),
        dry_run: false,
        segments: 1,
        page_size: None,
    }
}

/// What making `live` hold `restored`'s items takes, worked out from both whole: the items
/// of `restored` that `live` lacks or holds otherwise (written), and the items of `live`
/// whose key `restored` lacks (deleted).
fn expected(restored: &[Item], live: &[Item]) -> Report {
    let key = |i: &Item| (s(i, "pk"), s(i, "sk"));
    let live_by_key: HashMap<_, &Item> = live.iter().map(|i| (key(i), i)).collect();
    let restored_keys: BTreeSet<_> = restored.iter().map(key).collect();
    let written = restored
        .iter()
        .filter(|i| live_by_key.get(&key(i)).copied() != Some(*i))
        .count() as u64;
    let deleted = live
        .iter()
        .filter(|i| !restored_keys.contains(&key(i)))
        .count() as u64;
    Report {
        scanned_from: restored.len() as u64,
        scanned_to: live.len() as u64,
        written,
        deleted,
        unchanged: restored.len() as u64 - written,
        dry_run: false,
    }
}

/// The table passes the audit of docs/operations.md: every guard and search entry its
/// profile's, every count its profiles'.
fn assert_consistent(items: &[Item]) {
    let problems = shared::adapters::dynamo::audit(items);
    assert!(problems.is_empty(), "{problems:?}");
}

/// The operations `calls` holds, once each.
fn operations(calls: Vec<String>) -> BTreeSet<String> {
    calls.into_iter().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test]
async fn the_live_table_ends_holding_the_restored_items_item_for_item_and_a_second_run_changes_nothing()
 {
    let env = Env::new().await;
    let ana = env.create(user("ana")).await;
    let bo = env.create(user("bo")).await;
    let cy = env.create(user("cy")).await;
    let restored = restored_copy(&env).await;

    // After the restore point the live table went on: a patch, an erasure, a sign-up and a
    // new address.
    let r = env
        .patch_user(&ana, json!({"user_metadata": {"plan": "pro"}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(env.delete_user(&bo).await.status, 204);
    let dee = env.create(user("dee")).await;
    let r = env
        .patch_user(
            &cy,
            json!({"email": address("cy.new"), "email_verified": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);

    let restored_items = items_of(&env, &restored).await;
    let live_before = items_of(&env, &env.table).await;
    let needed = expected(&restored_items, &live_before);
    assert!(needed.written > 0 && needed.deleted > 0 && needed.unchanged > 0);

    // A dry run reads both tables and counts what the run would do, writing nothing.
    env.calls.take();
    let dry = run(
        &Request {
            dry_run: true,
            ..request(&env, &restored)
        },
        &env.client,
    )
    .await
    .unwrap();
    assert_eq!(
        operations(env.calls.take()),
        set(&["DescribeTable", "Scan", "BatchGetItem"])
    );
    assert_eq!(
        dry,
        Report {
            dry_run: true,
            ..needed.clone()
        }
    );
    assert_eq!(items_of(&env, &env.table).await, live_before);

    env.calls.take();
    let report = run(&request(&env, &restored), &env.client).await.unwrap();
    // What docs/erasure.md says the command needs, and no more.
    assert_eq!(
        operations(env.calls.take()),
        set(&["DescribeTable", "Scan", "BatchGetItem", "BatchWriteItem"])
    );
    assert_eq!(report, needed, "the dry run counted what the run did");
    let live = items_of(&env, &env.table).await;
    assert_eq!(live, restored_items);
    assert_consistent(&live);
    // The restored table is only read.
    assert_eq!(items_of(&env, &restored).await, restored_items);

    // Twice: nothing is written or deleted.
    let again = run(&request(&env, &restored), &env.client).await.unwrap();
    assert_eq!(
        again,
        Report {
            scanned_to: restored_items.len() as u64,
            written: 0,
            deleted: 0,
            unchanged: restored_items.len() as u64,
            ..needed
        }
    );
    assert_eq!(items_of(&env, &env.table).await, restored_items);

    // The app serves the users as they were at the restore point.
    let r = env.get_user(&ana).await;
    assert_eq!(r.body["user_metadata"]["plan"], "basic", "{}", r.raw);
    assert_eq!(env.get_user(&bo).await.status, 200);
    assert_eq!(env.get_user(&cy).await.body["email"], cy["email"]);
    assert_eq!(env.get_user(&dee).await.status, 404);
    let login = env
        .login(bo["email"].as_str().unwrap(), PASSWORD, "198.51.100.7")
        .await;
    assert_eq!(login.status, 200, "{}", login.raw);
}

#[tokio::test]
async fn tables_of_many_pages_and_batches_are_made_the_same_page_by_page_and_in_parallel_segments()
{
    let env = Env::new().await;
    let mut users = Vec::new();
    for i in 0..30 {
        users.push(env.create(user(&format!("u{i}"))).await);
    }
    let restored = restored_copy(&env).await;
    let restored_items = items_of(&env, &restored).await;
    assert!(restored_items.len() > 100, "{}", restored_items.len());

    // Enough changes that one page holds more keys than a BatchGetItem takes and more writes
    // than a BatchWriteItem does, both ways.
    let diverge = |from: usize| {
        let (env, users) = (&env, &users);
        async move {
            for u in &users[from..from + 8] {
                assert_eq!(env.delete_user(u).await.status, 204);
            }
            for u in &users[from + 8..from + 10] {
                let r = env
                    .patch_user(u, json!({"user_metadata": {"plan": "pro"}}))
                    .await;
                assert_eq!(r.status, 200, "{}", r.raw);
            }
            for i in 0..8 {
                env.create(user(&format!("new{from}-{i}"))).await;
            }
        }
    };
    diverge(0).await;
    let live_before = items_of(&env, &env.table).await;
    let needed = expected(&restored_items, &live_before);
    assert!(needed.written > 25 && needed.deleted > 25, "{needed:?}");

    // One segment, DynamoDB's own pages: each table is one page here, whose keys take
    // several BatchGetItems and whose writes several BatchWriteItems (moto, like DynamoDB,
    // refuses more than 100 keys or 25 writes in one).
    env.calls.take();
    let report = run(&request(&env, &restored), &env.client).await.unwrap();
    let calls = env.calls.take();
    let count = |op: &str| calls.iter().filter(|c| *c == op).count();
    assert_eq!(count("Scan"), 2, "{calls:?}");
    assert!(count("BatchGetItem") >= 4, "{calls:?}");
    assert!(count("BatchWriteItem") >= 4, "{calls:?}");
    assert_eq!(report, needed);
    let live = items_of(&env, &env.table).await;
    assert_eq!(live, restored_items);
    assert_consistent(&live);

    // Pages of 7 items, three segments at once.
    diverge(10).await;
    let live_before = items_of(&env, &env.table).await;
    let needed = expected(&restored_items, &live_before);
    let small_pages = Request {
        segments: 3,
        page_size: Some(7),
        ..request(&env, &restored)
    };
    env.calls.take();
    let report = run(&small_pages, &env.client).await.unwrap();
    let pages = env.calls.take().iter().filter(|c| *c == "Scan").count();
    assert!(
        pages >= (restored_items.len() + live_before.len()) / 7,
        "{pages} pages"
    );
    assert_eq!(report, needed);
    let live = items_of(&env, &env.table).await;
    assert_eq!(live, restored_items);
    assert_consistent(&live);

    let again = run(&small_pages, &env.client).await.unwrap();
    assert_eq!((again.written, again.deleted), (0, 0), "{again:?}");
    assert_eq!(again.unchanged, restored_items.len() as u64);
    assert_eq!(items_of(&env, &env.table).await, restored_items);
}

/// Calls 20 to 59 fail, each as one of the faults that leave a write undone or done with its
/// answer lost; the rest pass.
fn outage(n: usize) -> Fault {
    const KINDS: [Fault; 4] = [
        Fault::Throttle,
        Fault::DropAfter,
        Fault::ServerError,
        Fault::DropBefore,
    ];
    if (20..60).contains(&n) {
        KINDS[n % KINDS.len()]
    } else {
        Fault::Pass
    }
}

#[tokio::test]
async fn a_run_stopped_by_failing_calls_is_finished_by_running_it_again() {
    let env = Env::new().await;
    let users = [env.create(user("ana")).await, env.create(user("bo")).await];
    env.create(user("cy")).await;
    let restored = restored_copy(&env).await;
    for u in &users {
        assert_eq!(env.delete_user(u).await.status, 204);
    }
    for i in 0..3 {
        env.create(user(&format!("new{i}"))).await;
    }
    let restored_items = items_of(&env, &restored).await;

    // Through a proxy that fails calls for a while, with the functions' three tries a call:
    // pages of three items make the first run stop in the middle.
    let proxy = Proxy::start(outage).await;
    let faulty = local_api::moto::deployed_client(&proxy.url, &Default::default());
    let small_pages = Request {
        page_size: Some(3),
        ..request(&env, &restored)
    };
    let stopped = run(&small_pages, &faulty).await.unwrap_err();
    let so_far = stopped.so_far.expect("it stopped after it started");
    assert!(so_far.scanned_to > 0, "{so_far:?}: {}", stopped.error);
    let half_done = items_of(&env, &env.table).await;
    assert_ne!(half_done, restored_items, "the first run finished");

    // Run again until it gets through the outage: each run either finishes or stops, and
    // what it leaves the next one finishes.
    let mut runs = 1;
    let report = loop {
        runs += 1;
        assert!(runs < 40, "never got through");
        match run(&small_pages, &faulty).await {
            Ok(report) => break report,
            Err(failed) => assert!(!failed.error.is_empty()),
        }
    };
    assert_eq!(report.scanned_from, restored_items.len() as u64);
    let live = items_of(&env, &env.table).await;
    assert_eq!(live, restored_items);
    assert_consistent(&live);
    let again = run(&small_pages, &env.client).await.unwrap();
    assert_eq!((again.written, again.deleted), (0, 0), "{again:?}");
}

/// A table `{env.table}-{suffix}` keyed by `key` (name, role, type), holding one item.
async fn other_table(
    env: &Env,
    suffix: &str,
    key: &[(&str, KeyType, ScalarAttributeType)],
    item: Item,
) -> String {
    let name = format!("{}-{suffix}", env.table);
    let mut create = env
        .client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest);
    for (attribute, role, kind) in key {
        create = create
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(*attribute)
                    .key_type(role.clone())
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(*attribute)
                    .attribute_type(kind.clone())
                    .build()
                    .unwrap(),
            );
    }
    create.send().await.unwrap();
    env.client
        .put_item()
        .table_name(&name)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    name
}

#[tokio::test]
async fn differing_key_schemas_the_same_table_twice_or_a_missing_table_are_refused_with_nothing_written()
 {
    let env = Env::new().await;
    env.create(user("ana")).await;
    let restored = restored_copy(&env).await;
    env.create(user("bo")).await;
    let live_before = items_of(&env, &env.table).await;

    let text = |v: &str| AttributeValue::S(v.into());
    let by_id = other_table(
        &env,
        "by-id",
        &[("id", KeyType::Hash, ScalarAttributeType::S)],
        HashMap::from([("id".to_owned(), text("x"))]),
    )
    .await;
    // The same names, but a number for a sort key.
    let numbered = other_table(
        &env,
        "numbered",
        &[
            ("pk", KeyType::Hash, ScalarAttributeType::S),
            ("sk", KeyType::Range, ScalarAttributeType::N),
        ],
        HashMap::from([
            ("pk".to_owned(), text("x")),
            ("sk".to_owned(), AttributeValue::N("1".into())),
        ]),
    )
    .await;
    for other in [&by_id, &numbered] {
        let other_before = items_of(&env, other).await;
        for (from, to) in [(other, &env.table), (&env.table, other)] {
            env.calls.take();
            let refused = run(
                &Request {
                    from: from.clone(),
                    to: to.clone(),
                    ..request(&env, &restored)
                },
                &env.client,
            )
            .await
            .unwrap_err();
            assert!(
                refused.error.contains("key schemas differ"),
                "{}",
                refused.error
            );
            assert!(refused.so_far.is_none());
            assert_eq!(env.calls.take(), ["DescribeTable", "DescribeTable"]);
        }
        assert_eq!(items_of(&env, other).await, other_before);
    }

    // One table named twice: by its name (refused before any call), or by name and ARN.
    let same = ["--from", &env.table, "--to", &env.table].map(str::to_owned);
    assert!(Request::parse(&same).is_err());
    let arn = env
        .client
        .describe_table()
        .table_name(&env.table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .table_arn
        .unwrap();
    let refused = run(
        &Request {
            from: arn,
            ..request(&env, &restored)
        },
        &env.client,
    )
    .await
    .unwrap_err();
    assert!(refused.error.contains("same table"), "{}", refused.error);

    let missing = format!("{}-never-restored", env.table);
    let refused = run(&request(&env, &missing), &env.client)
        .await
        .unwrap_err();
    assert!(refused.error.contains(&missing), "{}", refused.error);
    assert!(refused.so_far.is_none());

    assert_eq!(items_of(&env, &env.table).await, live_before);
}

/// Runs the `restore-into` binary against moto, with credentials and region from the
/// environment as on an operator's machine; its exit code, stdout and stderr.
async fn command(args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(binary("restore-into"))
        .args(args)
        .env_clear()
        .env("AWS_ENDPOINT_URL", moto_endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn the_command_prints_one_line_of_counts_never_an_item_and_exits_1_when_it_refuses() {
    let env = Env::new().await;
    let ana = env.create(user("ana")).await;
    let restored = restored_copy(&env).await;
    let bo = env.create(user("bo")).await;
    let restored_items = items_of(&env, &restored).await;
    let live_before = items_of(&env, &env.table).await;
    let needed = expected(&restored_items, &live_before);
    let said_nothing_of_the_users = |text: &str| {
        for u in [&ana, &bo] {
            for field in ["user_id", "email"] {
                assert!(!text.contains(u[field].as_str().unwrap()), "{text}");
            }
        }
        assert!(!text.contains("TENANT#"), "{text}");
    };
    let counts = |stdout: &str| -> Value {
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        serde_json::from_str(stdout).unwrap()
    };

    let args = ["--from", restored.as_str(), "--to", env.table.as_str()];
    let (code, stdout, stderr) = command(&[&args[..], &["--dry-run"]].concat()).await;
    assert_eq!(code, 0, "{stderr}");
    said_nothing_of_the_users(&(stdout.clone() + &stderr));
    assert_eq!(
        counts(&stdout),
        json!({
            "scanned_from": needed.scanned_from,
            "scanned_to": needed.scanned_to,
            "written": needed.written,
            "deleted": needed.deleted,
            "unchanged": needed.unchanged,
            "dry_run": true,
        })
    );
    assert_eq!(items_of(&env, &env.table).await, live_before);

    let (code, stdout, stderr) = command(&args).await;
    assert_eq!(code, 0, "{stderr}");
    said_nothing_of_the_users(&(stdout.clone() + &stderr));
    assert_eq!(
        counts(&stdout),
        json!({
            "scanned_from": needed.scanned_from,
            "scanned_to": needed.scanned_to,
            "written": needed.written,
            "deleted": needed.deleted,
            "unchanged": needed.unchanged,
        })
    );
    assert_eq!(items_of(&env, &env.table).await, restored_items);

    // Refused: a table keyed otherwise, one table twice, an unknown flag. Nothing printed on
    // stdout, nothing written.
    let by_id = other_table(
        &env,
        "by-id",
        &[("id", KeyType::Hash, ScalarAttributeType::S)],
        HashMap::from([("id".to_owned(), AttributeValue::S("x".into()))]),
    )
    .await;
    for refused in [
        vec!["--from", by_id.as_str(), "--to", env.table.as_str()],
        vec!["--from", env.table.as_str(), "--to", env.table.as_str()],
        vec![
            "--from",
            restored.as_str(),
            "--to",
            env.table.as_str(),
            "--force",
        ],
    ] {
        let (code, stdout, stderr) = command(&refused).await;
        assert_eq!(code, 1, "{refused:?}: {stderr}");
        assert_eq!(stdout, "", "{refused:?}");
        assert!(stderr.starts_with("restore-into: "), "{stderr}");
    }
    assert_eq!(items_of(&env, &env.table).await, restored_items);
}
