//! Each function's compiled binary, run as a real Lambda process through the Runtime API
//! emulator of `local_api::lambda`, fed its `events/` file.

use std::collections::{BTreeMap, BTreeSet};

use local_api::lambda::REQUEST_ID;
use serde_json::Value;

use crate::operations::{named, resources};
use crate::support::{Env, binary, event_files, expected_status, moto_endpoint};
use crate::template::{list, template, text};

/// Runs `function`'s binary for one invocation of `event` against `table` on moto; returns
/// what it posted back to the Runtime API (none if it exited first) and everything it printed.
async fn invoke(
    function: &str,
    event: String,
    table: &str,
    mail_queue: &str,
) -> (Option<(String, String)>, String) {
    // The receipt key's secret, as `local-api setup` makes it for `make dev`.
    let secret = format!("{table}-receipt-key");
    let secrets = local_api::moto::secrets_client(&moto_endpoint(), &Default::default());
    local_api::moto::create_receipt_secret(&secrets, &secret)
        .await
        .unwrap_or_else(|e| panic!("cannot create the receipt key secret on moto: {e}"));
    let (outcome, logs) = invoke_with(function, event, table, mail_queue, &secret).await;
    // Whatever a function prints, the key is not in it.
    let key = secrets
        .get_secret_value()
        .secret_id(&secret)
        .send()
        .await
        .unwrap()
        .secret_string
        .unwrap();
    assert!(!logs.contains(&key), "{function} printed the receipt key");
    if let Some((_, body)) = &outcome {
        assert!(!body.contains(&key), "{function} answered the receipt key");
    }
    (outcome, logs)
}

/// [`invoke`] with the receipt key in the secret `secret` names (which may not exist).
async fn invoke_with(
    function: &str,
    event: String,
    table: &str,
    mail_queue: &str,
    secret: &str,
) -> (Option<(String, String)>, String) {
    let env: Vec<(String, String)> = [
        ("TABLE_NAME", table.to_owned()),
        ("MAIL_QUEUE_URL", mail_queue.to_owned()),
        ("AWS_ENDPOINT_URL", moto_endpoint()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("PUBLIC_BASE_URL", crate::support::PUBLIC_BASE.to_owned()),
        ("EMAIL_FROM", crate::support::SENDER.to_owned()),
        (
            "TENANT_SETTINGS",
            crate::support::TENANT_SETTINGS.to_owned(),
        ),
        ("ERASURE_RECEIPT_SECRET", secret.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let run = local_api::lambda::invoke(&binary(function), event, &env).await;
    (run.outcome, run.logs)
}

#[tokio::test]
async fn every_function_binary_serves_its_event_through_the_lambda_runtime_api() {
    for (file, event) in event_files() {
        let function = local_api::template::function_of_event(&file).to_owned();
        let env = Env::new().await;
        local_api::fixtures::seed(&env.app).await;
        let (outcome, logs) = invoke(&function, event.clone(), &env.table, &env.mail_queue).await;
        let (kind, body) =
            outcome.unwrap_or_else(|| panic!("{function} never answered its invocation: {logs}"));
        assert_eq!(kind, "response", "{function}: {body}\n{logs}");
        let response: Value = serde_json::from_str(&body).unwrap();
        if crate::support::QUEUED.contains(&function.as_str()) {
            // Nothing for SQS to offer again: one request mailed, one unreadable and dropped.
            assert_eq!(
                response["batchItemFailures"],
                serde_json::json!([]),
                "{body}"
            );
            let line: Value = logs
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|l| l["message"] == "mail requests")
                .unwrap_or_else(|| panic!("{function} logged no JSON summary line: {logs}"));
            assert_eq!(
                (line["requests"].as_u64(), line["retried"].as_u64()),
                (Some(2), Some(0))
            );
            assert!(!logs.contains("seed@example.com"), "{logs}");
            continue;
        }
        if crate::support::NOTIFIED.contains(&function.as_str()) {
            // The seeded user's address bounced or complained: marked, and said so without it.
            assert_eq!(
                (response["records"].as_u64(), response["marked"].as_u64()),
                (Some(1), Some(1)),
                "{file}: {body}\n{logs}"
            );
            let line: Value = logs
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|l| l["message"] == "feedback")
                .unwrap_or_else(|| panic!("{file} logged no JSON feedback line: {logs}"));
            assert_eq!(line["request_id"], REQUEST_ID);
            assert!(!logs.contains("seed@example.com"), "{logs}");
            continue;
        }
        if crate::support::SCHEDULED.contains(&function.as_str()) {
            assert!(response["due"].is_number(), "{function}: {body}");
            let summary = if function == "purge" {
                "purge"
            } else {
                "delivery"
            };
            let line: Value = logs
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|l| l["message"] == summary)
                .unwrap_or_else(|| panic!("{function} logged no JSON {summary} line: {logs}"));
            assert_eq!(line["request_id"], REQUEST_ID);
            continue;
        }
        assert_eq!(
            response["statusCode"],
            expected_status(&function),
            "{function}: {body}\n{logs}"
        );

        // One JSON log line for the request, with its id, tenant, route, status and latency.
        let line: Value = logs
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["message"] == "request")
            .unwrap_or_else(|| panic!("{function} logged no JSON request line: {logs}"));
        assert_eq!(line["request_id"], REQUEST_ID);
        assert_eq!(line["tenant"], "acme");
        assert_eq!(line["status"], expected_status(&function));
        assert!(
            line["route"]
                .as_str()
                .unwrap()
                .contains("/v1/tenants/{tenant_id}")
        );
        assert!(line["latency_ms"].is_number());
        // Nothing secret reaches the logs.
        for secret in [
            "correct horse battery staple",
            crate::support::EVENT_PASSWORD,
            "new-Passphrase-Lantern-42",
            "reset-Passphrase-Harbor-93",
            crate::support::EVENT_VERIFY_TICKET,
            crate::support::EVENT_RESET_TICKET,
            crate::support::EVENT_UNBLOCK_TICKET,
            crate::support::EVENT_CANCEL_TICKET,
            "$argon2",
            "eyJhbGci",
        ] {
            assert!(
                !logs.contains(secret),
                "{function} logged {secret:?}: {logs}"
            );
        }
    }
}

#[tokio::test]
async fn a_function_without_its_table_name_refuses_to_start_and_says_why() {
    let (_, event) = event_files()
        .into_iter()
        .find(|(f, _)| f == "get-user")
        .unwrap();
    let (outcome, logs) = invoke("get-user", event, "", "").await;
    assert!(outcome.is_none());
    assert!(logs.contains("TABLE_NAME"), "{logs}");
}

#[tokio::test]
async fn a_function_that_erases_refuses_to_start_without_its_receipt_key_and_says_why() {
    let env = Env::new().await;
    for function in local_api::template::ERASING {
        let (_, event) = event_files()
            .into_iter()
            .find(|(f, _)| f == function)
            .unwrap();
        let missing = format!("{}-no-such-secret", env.table);
        let (outcome, logs) =
            invoke_with(function, event, &env.table, &env.mail_queue, &missing).await;
        assert!(outcome.is_none(), "{function} started: {logs}");
        assert!(
            logs.contains("ERASURE_RECEIPT_SECRET"),
            "{function}: {logs}"
        );
        assert!(logs.contains(&missing), "{function}: {logs}");
    }
}

#[tokio::test]
async fn a_purge_whose_erasures_fail_logs_its_summary_then_ends_in_an_error() {
    let mut env = Env::new().await;
    // Due at once, so the binary (on the system clock) finds it.
    let mut erasure = shared::domain::erasure::ErasureSettings::local();
    erasure.grace_days = 0;
    env.app.erasure = std::sync::Arc::new(erasure);
    let u = env
        .create(serde_json::json!({"email": "stuck@example.com", "email_verified": true, "password": "correct horse battery"}))
        .await;
    assert_eq!(env.delete_me(&u).await.status, 202);
    // Its email guard now names another user: the erasure's transaction refuses to remove it,
    // as it would on a table left inconsistent, and the erasure fails.
    let (pk, sk) = env
        .keys()
        .await
        .into_iter()
        .find(|(pk, _)| pk.starts_with("TENANT#acme#EMAIL#"))
        .expect("the email guard");
    env.client
        .update_item()
        .table_name(&env.table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
        .update_expression("SET user_id = :other")
        .expression_attribute_values(
            ":other",
            aws_sdk_dynamodb::types::AttributeValue::S("usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C9".into()),
        )
        .send()
        .await
        .unwrap();

    let (_, event) = event_files()
        .into_iter()
        .find(|(f, _)| f == "purge")
        .unwrap();
    let (outcome, logs) = invoke("purge", event, &env.table, &env.mail_queue).await;
    let (kind, body) = outcome.unwrap_or_else(|| panic!("purge never answered: {logs}"));
    assert_eq!(kind, "error", "{body}\n{logs}");
    assert!(body.contains("1 of 1 due erasures failed"), "{body}");
    // The summary line comes first, whole, as the metric filters read it.
    let line: Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "purge")
        .unwrap_or_else(|| panic!("purge logged no JSON summary line: {logs}"));
    assert_eq!(line["request_id"], REQUEST_ID);
    assert_eq!(
        (&line["due"], &line["purged"], &line["failed"]),
        (&Value::from(1), &Value::from(0), &Value::from(1)),
        "{line}"
    );
    for field in [
        "skipped",
        "warned",
        "rescheduled",
        "items_read",
        "remaining",
        "duration_ms",
    ] {
        assert!(!line[field].is_null(), "{field} missing: {line}");
    }
    // The account stays, and stays due: the next run takes it up again.
    assert_eq!(env.get_user(&u).await.status, 200);
    let again = env.purge_due(200, 8).await.unwrap();
    assert_eq!((again.due, again.failed), (1, 1), "{again:?}");
}

/// The summary line each function with metric filters writes once a run.
const SUMMARIES: [(&str, &str); 2] = [("purge", "purge"), ("email-outbox", "delivery")];

/// The field a `$.a.b` selector of a filter names, as a JSON pointer into a log line.
fn pointer(selector: &str) -> String {
    format!("/{}", selector.replace('.', "/"))
}

/// Checks `line` against one clause of a JSON filter pattern (`$.field OP value`): the field
/// is on the line with the type the comparison needs, and `$.message = "..."` names the
/// line's own message.
fn check_clause(filter: &str, clause: &str, line: &Value) {
    let syntax =
        regex::Regex::new(r#"^\$\.([A-Za-z0-9_.]+)\s*(!=|>=|<=|=|>|<|IS)\s*(.+)$"#).unwrap();
    let parts = syntax
        .captures(clause)
        .unwrap_or_else(|| panic!("{filter}: this test reads no clause like `{clause}`"));
    let (field, op, operand) = (&parts[1], &parts[2], parts[3].trim());
    let value = line
        .pointer(&pointer(field))
        .unwrap_or_else(|| panic!("{filter}: the line has no {field}: {line}"));
    match (op, operand) {
        ("IS", "TRUE" | "FALSE") => {
            assert!(
                value.is_boolean(),
                "{filter}: {field} is no boolean: {line}"
            )
        }
        ("=" | "!=", quoted) if quoted.starts_with('"') => {
            let want = quoted.trim_matches('"');
            assert!(value.is_string(), "{filter}: {field} is no string: {line}");
            if field == "message" {
                assert_eq!(op, "=", "{filter}");
                assert_eq!(value, want, "{filter} reads another line than {line}");
            }
        }
        ("=" | "!=" | ">" | "<" | ">=" | "<=", number) if number.parse::<f64>().is_ok() => {
            assert!(value.is_number(), "{filter}: {field} is no number: {line}")
        }
        _ => panic!("{filter}: this test reads no clause like `{clause}`"),
    }
}

#[tokio::test]
async fn every_metric_filter_reads_fields_the_binaries_summary_lines_hold_with_the_types_it_compares()
 {
    // Each binary's summary line, as Lambda's log group receives it.
    let mut lines: BTreeMap<&str, Value> = BTreeMap::new();
    for (function, message) in SUMMARIES {
        let env = Env::new().await;
        let (_, event) = event_files()
            .into_iter()
            .find(|(f, _)| f == function)
            .unwrap_or_else(|| panic!("no events/{function}.json"));
        let (outcome, logs) = invoke(function, event, &env.table, &env.mail_queue).await;
        let (kind, body) = outcome.unwrap_or_else(|| panic!("{function} never answered: {logs}"));
        assert_eq!(kind, "response", "{function}: {body}\n{logs}");
        let summaries: Vec<Value> = logs
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["message"] == message)
            .collect();
        // The run metrics count lines: one a run.
        assert_eq!(summaries.len(), 1, "{function}: {logs}");
        lines.insert(function, summaries.into_iter().next().unwrap());
    }

    let t = template();
    let all = resources(&t);
    let mut checked = BTreeSet::new();
    let selector = regex::Regex::new(r"^\$\.([A-Za-z0-9_.]+)$").unwrap();
    for (name, filter) in all
        .iter()
        .filter(|(_, r)| text(&r["Type"]) == "AWS::Logs::MetricFilter")
    {
        let p = &filter["Properties"];
        let group = named(&p["LogGroupName"]);
        let function = local_api::template::binary_of(&format!(
            "{}Function",
            group.strip_suffix("Logs").unwrap()
        ));
        let (&function, line) = lines
            .get_key_value(function.as_str())
            .unwrap_or_else(|| panic!("{name} reads {group}, whose line this test does not run"));
        checked.insert(function);

        let pattern = text(&p["FilterPattern"]);
        let clauses = pattern
            .trim()
            .strip_prefix('{')
            .and_then(|p| p.strip_suffix('}'))
            .unwrap_or_else(|| panic!("{name}: not a JSON filter pattern: {pattern}"));
        let mut names_its_line = false;
        for clause in clauses.split("&&").flat_map(|c| c.split("||")) {
            let clause = clause.trim();
            names_its_line |= clause.starts_with("$.message ");
            check_clause(name, clause, line);
        }
        assert!(names_its_line, "{name}: {pattern} names no line");

        for transform in list(&p["MetricTransformations"]) {
            let value = text(&transform["MetricValue"]);
            match selector.captures(&value) {
                Some(field) => {
                    let read = line.pointer(&pointer(&field[1]));
                    assert!(
                        read.is_some_and(Value::is_number),
                        "{name}: the metric's value {value} is no number of {line}"
                    );
                }
                None => assert!(
                    value.parse::<f64>().is_ok(),
                    "{name}: the metric's value {value} is neither a field nor a number"
                ),
            }
        }
    }
    assert_eq!(
        checked,
        lines.keys().copied().collect(),
        "a filter reads each function's line"
    );
}
