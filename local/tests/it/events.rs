use std::collections::BTreeSet;

use lambda_http::Body;
use local_api::routes::ROUTES;
use serde_json::Value;

use local_api::template::function_of_event;

use crate::support::{
    EVENT_PRIMARY, EVENT_USER, Env, NOTIFIED, QUEUED, SCHEDULED, event_files, expected_status,
};

#[test]
fn every_function_has_an_event_file_and_only_the_feedback_function_has_two() {
    let files: Vec<String> = event_files().into_iter().map(|(name, _)| name).collect();
    let covered: BTreeSet<String> = files
        .iter()
        .map(|f| function_of_event(f).to_owned())
        .collect();
    let functions: BTreeSet<String> = ROUTES
        .iter()
        .map(|r| r.function)
        .chain(SCHEDULED)
        .chain(QUEUED)
        .chain(NOTIFIED)
        .map(str::to_owned)
        .collect();
    assert_eq!(covered, functions);
    // One a function, named after it; ses-feedback's are named for the record each carries.
    let renamed: Vec<&str> = files
        .iter()
        .map(String::as_str)
        .filter(|f| function_of_event(f) != *f)
        .collect();
    assert_eq!(renamed, ["ses-bounce", "ses-complaint"]);
}

#[tokio::test]
async fn every_event_file_runs_through_its_handler() {
    for (function, text) in event_files() {
        let runs_elsewhere = [&SCHEDULED[..], &QUEUED, &NOTIFIED]
            .iter()
            .any(|list| list.contains(&function_of_event(&function)));
        if runs_elsewhere {
            continue;
        }
        let env = Env::new().await;
        local_api::fixtures::seed(&env.app).await;
        let route = ROUTES.iter().find(|r| r.function == function).unwrap();
        let request = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("events/{function}.json: {e}"));
        let event: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            event["routeKey"], route.key,
            "events/{function}.json names its route"
        );
        let response = (route.handler)(&env.app, request).await.unwrap();
        let status = response.status().as_u16();
        let body = match response.body() {
            Body::Text(t) => t.clone(),
            _ => String::new(),
        };
        assert_eq!(
            status,
            expected_status(&function),
            "events/{function}.json: {body}"
        );
        match function.as_str() {
            "get-user" | "patch-user" => assert!(body.contains(EVENT_USER)),
            "get-me" | "patch-me" => {
                assert!(body.contains(EVENT_USER) && !body.contains("app_metadata"))
            }
            "users-by-email" | "list-users" => assert!(body.contains("seed@example.com")),
            "create-user" => assert!(body.contains("ana.silva@example.com")),
            "authenticate" => {
                assert!(body.contains(EVENT_USER) && body.contains("\"logins_count\":1"))
            }
            "get-user-blocks" => assert_eq!(body, r#"{"blocked_for":[]}"#),
            "change-password" | "delete-user-blocks" => assert!(body.is_empty()),
            "delete-user" => assert!(
                env.app
                    .get_user(
                        &shared::domain::ids::TenantId::parse("acme").unwrap(),
                        &EVENT_USER.parse().unwrap()
                    )
                    .await
                    .is_err()
            ),
            "get-job" => {
                let job: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(
                    (
                        job["id"].as_str(),
                        job["status"].as_str(),
                        job["type"].as_str()
                    ),
                    (
                        Some(crate::support::EVENT_JOB),
                        Some("completed"),
                        Some("verification_email")
                    )
                );
            }
            "send-verification-email" => {
                assert!(body.contains(r#""type":"verification_email""#))
            }
            "create-email-verification-ticket" | "create-password-change-ticket" => {
                assert!(body.contains(r#""ticket":"https://id.example.com/"#))
            }
            "confirm-email-verification" => {
                // The emailed link shows the page whose form verifies; the GET changes nothing.
                assert!(
                    body.contains("<form") && body.contains("seed@example.com"),
                    "{body}"
                );
            }
            "link-identity" => {
                let identities: Value = serde_json::from_str(&body).unwrap();
                let providers: Vec<&str> = identities
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["provider"].as_str().unwrap())
                    .collect();
                assert_eq!(providers, ["database", "facebook", "google-oauth2"]);
            }
            "unlink-identity" => {
                assert!(!body.contains("facebook"), "{body}");
                assert!(body.contains(EVENT_PRIMARY));
            }
            "request-password-reset" => assert!(body.contains("If an account")),
            "export-user" => {
                assert!(body.contains(EVENT_USER) && body.contains("profiles.export.v1"));
                assert!(body.contains(r#""plan":"pro""#), "{body}");
                assert!(
                    response.headers()["content-disposition"]
                        .to_str()
                        .unwrap()
                        .starts_with("attachment")
                );
            }
            "export-me" => {
                assert!(
                    body.contains(EVENT_USER) && !body.contains("app_metadata"),
                    "{body}"
                );
            }
            "delete-me" => {
                assert!(body.contains("deletion_scheduled_at"), "{body}");
                assert!(
                    body.contains(r#""type":"account_deletion_email""#),
                    "{body}"
                );
            }
            "confirm-password-reset" => assert!(body.is_empty()),
            "cancel-email-change" => assert!(body.contains("<form") && body.contains("s**")),
            "unblock-account" => {
                assert!(
                    body.contains("<form") && body.contains("Unblock my account"),
                    "{body}"
                )
            }
            "get-tenant-settings" => {
                let view: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(view["version"], 0);
                assert_eq!(view["settings"]["locale"], "en");
            }
            "patch-tenant-settings" => {
                let view: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(view["version"], 1);
                assert_eq!(view["settings"]["display_name"], "Acme Corp");
                assert_eq!(view["history"][0]["changed_by"], "admin@acme.example");
            }
            other => panic!("no expectation for {other}"),
        }
    }
}

#[tokio::test]
async fn the_schedule_event_runs_the_outbox_sender() {
    let env = Env::new().await;
    let (_, text) = event_files()
        .into_iter()
        .find(|(f, _)| f == "email-outbox")
        .unwrap();
    let payload: Value = serde_json::from_str(&text).unwrap();
    let mut context = lambda_runtime::Context::default();
    context.request_id = "scheduled".into();
    context.deadline = u64::try_from(
        (std::time::SystemTime::now() + std::time::Duration::from_secs(60))
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let report = local_api::moto::as_function(
        "email-outbox",
        email_outbox::handle(&env.app, lambda_runtime::LambdaEvent::new(payload, context)),
    )
    .await
    .unwrap();
    assert_eq!(report.due, 0);
}

#[tokio::test]
async fn the_queue_event_mails_the_known_address_and_drops_the_unreadable_request() {
    let env = Env::new().await;
    local_api::fixtures::seed(&env.app).await;
    let (_, text) = event_files()
        .into_iter()
        .find(|(f, _)| f == "account-mail-sender")
        .unwrap();
    let payload: Value = serde_json::from_str(&text).unwrap();
    let answer = local_api::moto::as_function(
        "account-mail-sender",
        account_mail_sender::handle(
            &env.app,
            lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default()),
        ),
    )
    .await
    .unwrap();
    // Nothing to retry: the known address was mailed, the unreadable request cannot improve.
    assert_eq!(answer, serde_json::json!({"batchItemFailures": []}));
    // Mailed at once: its ticket is stored and nothing waits in the outbox.
    let keys = env.keys().await;
    assert!(
        keys.iter()
            .any(|(pk, _)| pk.starts_with("TENANT#acme#TICKET#")),
        "{keys:?}"
    );
    assert!(env.outbox().await.is_empty());
}

#[tokio::test]
async fn the_bounce_and_complaint_events_mark_the_seeded_users_address() {
    for (file, reason, detail) in [
        ("ses-bounce", "bounce", "Permanent/General"),
        ("ses-complaint", "complaint", "abuse"),
    ] {
        let env = Env::new().await;
        local_api::fixtures::seed(&env.app).await;
        let (_, text) = event_files().into_iter().find(|(f, _)| f == file).unwrap();
        let payload: Value = serde_json::from_str(&text).unwrap();
        let report = local_api::moto::as_function(
            "ses-feedback",
            ses_feedback::handle(
                &env.app,
                lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default()),
            ),
        )
        .await
        .unwrap();
        assert_eq!(
            (report.records, report.marked),
            (1, 1),
            "{file}: {report:?}"
        );
        let user = env.get_user(EVENT_USER).await;
        assert_eq!(user.body["email_undeliverable"]["reason"], reason, "{file}");
        assert_eq!(user.body["email_undeliverable"]["detail"], detail, "{file}");
    }
}
