//! Each function's compiled binary, run as a real Lambda process: a small Runtime API
//! emulator hands it its `events/` file and collects the response.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;

use crate::support::{Env, event_files, expected_status, moto_endpoint, seed_event_user};

#[derive(Default)]
struct Emulator {
    event: Mutex<Option<String>>,
    outcome: Mutex<Option<(String, String)>>,
    done: Notify,
}

const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

async fn next(State(emu): State<Arc<Emulator>>) -> impl IntoResponse {
    let event = emu.event.lock().unwrap().take();
    match event {
        Some(event) => {
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 30_000;
            let mut headers = HeaderMap::new();
            headers.insert("lambda-runtime-aws-request-id", REQUEST_ID.parse().unwrap());
            headers.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().unwrap(),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:test"
                    .parse()
                    .unwrap(),
            );
            headers.insert(
                "lambda-runtime-trace-id",
                "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
                    .parse()
                    .unwrap(),
            );
            (headers, event).into_response()
        }
        // One invocation per process: later polls wait until the test ends the process.
        None => std::future::pending::<axum::response::Response>().await,
    }
}

async fn record(emu: &Emulator, kind: &str, body: String) -> &'static str {
    *emu.outcome.lock().unwrap() = Some((kind.to_owned(), body));
    emu.done.notify_one();
    r#"{"status":"OK"}"#
}

async fn response(
    State(emu): State<Arc<Emulator>>,
    Path(_id): Path<String>,
    body: String,
) -> impl IntoResponse {
    (
        axum::http::StatusCode::ACCEPTED,
        record(&emu, "response", body).await,
    )
}

async fn error(
    State(emu): State<Arc<Emulator>>,
    Path(_id): Path<String>,
    body: String,
) -> impl IntoResponse {
    (
        axum::http::StatusCode::ACCEPTED,
        record(&emu, "error", body).await,
    )
}

async fn init_error(State(emu): State<Arc<Emulator>>, body: String) -> impl IntoResponse {
    (
        axum::http::StatusCode::ACCEPTED,
        record(&emu, "init_error", body).await,
    )
}

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

/// Runs `function`'s binary for one invocation of `event`; returns what it posted back to the
/// Runtime API (none if it exited first) and everything it printed.
async fn invoke(function: &str, event: String, table: &str) -> (Option<(String, String)>, String) {
    let emu = Arc::new(Emulator {
        event: Mutex::new(Some(event)),
        ..Default::default()
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(emu.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut child = tokio::process::Command::new(binary(function))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        )
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/11/26/[$LATEST]0123456789abcdef",
        )
        .env("TABLE_NAME", table)
        .env("AWS_ENDPOINT_URL", moto_endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PUBLIC_BASE_URL", crate::support::PUBLIC_BASE)
        .env("EMAIL_FROM", crate::support::SENDER)
        .env("TENANT_SETTINGS", crate::support::TENANT_SETTINGS)
        .env(
            "ERASURE_RECEIPT_KEY",
            "test-only erasure receipt key of 32+ characters",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The process either answers, or exits (a failed start), or, as a safety net for a broken
    // binary, is given up on; this is not a timing assertion.
    let answered = tokio::select! {
        _ = emu.done.notified() => true,
        _ = child.wait() => false,
        _ = tokio::time::sleep(Duration::from_secs(120)) => false,
    };
    child.start_kill().ok();
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout).await.ok();
    }
    if let Some(mut err) = child.stderr.take() {
        err.read_to_string(&mut stderr).await.ok();
    }
    child.wait().await.ok();
    server.abort();
    let outcome = if answered {
        emu.outcome.lock().unwrap().take()
    } else {
        None
    };
    (outcome, format!("{stdout}{stderr}"))
}

#[tokio::test]
async fn every_function_binary_serves_its_event_through_the_lambda_runtime_api() {
    for (function, event) in event_files() {
        let env = Env::new().await;
        seed_event_user(&env).await;
        let (outcome, logs) = invoke(&function, event.clone(), &env.table).await;
        let (kind, body) =
            outcome.unwrap_or_else(|| panic!("{function} never answered its invocation: {logs}"));
        assert_eq!(kind, "response", "{function}: {body}\n{logs}");
        let response: Value = serde_json::from_str(&body).unwrap();
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
    let (outcome, logs) = invoke("get-user", event, "").await;
    assert!(outcome.is_none());
    assert!(logs.contains("TABLE_NAME"), "{logs}");
}
