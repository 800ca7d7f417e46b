//! Each function's compiled binary, run as a real Lambda process through the Runtime API
//! emulator of `local_api::lambda`, fed its `events/` file.

use std::path::PathBuf;

use local_api::lambda::REQUEST_ID;
use serde_json::Value;

use crate::support::{Env, event_files, expected_status, moto_endpoint, seed_event_user};

fn binary(function: &str) -> PathBuf {
    let dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let path = dir.join(function);
    assert!(
        path.exists(),
        "{} is missing: build the functions first (`make test` runs `cargo build --workspace --bins`)",
        path.display()
    );
    path
}

/// Runs `function`'s binary for one invocation of `event` against `table` on moto; returns
/// what it posted back to the Runtime API (none if it exited first) and everything it printed.
async fn invoke(
    function: &str,
    event: String,
    table: &str,
    mail_queue: &str,
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
        (
            "ERASURE_RECEIPT_KEY",
            "test-only erasure receipt key of 32+ characters".to_owned(),
        ),
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
        seed_event_user(&env).await;
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
