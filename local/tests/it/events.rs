use std::collections::BTreeSet;

use lambda_http::Body;
use local_api::routes::ROUTES;
use serde_json::Value;

use crate::support::{EVENT_USER, Env, event_files, expected_status, seed_event_user};

#[test]
fn every_function_has_exactly_one_event_file() {
    let files: BTreeSet<String> = event_files().into_iter().map(|(name, _)| name).collect();
    let functions: BTreeSet<String> = ROUTES.iter().map(|r| r.function.to_owned()).collect();
    assert_eq!(files, functions);
}

#[tokio::test]
async fn every_event_file_runs_through_its_handler() {
    for (function, text) in event_files() {
        let env = Env::new().await;
        seed_event_user(&env).await;
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
            other => panic!("no expectation for {other}"),
        }
    }
}
