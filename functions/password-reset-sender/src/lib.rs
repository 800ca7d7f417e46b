//! The worker behind `POST /password-reset` (SQS event source, up to 10 requests a batch):
//! for each queued request, looks the address up and, when a database user has it, mails the
//! reset link at once (docs/email.md, "Password reset requests").
//!
//! A request the store failed on is reported back as a batch item failure, so SQS offers it
//! again after the visibility timeout and, after the redrive limit, moves it to the dead-letter
//! queue. An unreadable message is dropped (logged by its id only): no retry can fix it.

use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use shared::App;
use shared::domain::ticket::QueuedReset;

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let records = event.payload["Records"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let outcomes = futures::future::join_all(records.iter().map(|record| async move {
        let id = record["messageId"].as_str().unwrap_or_default();
        let body = record["body"].as_str().unwrap_or_default();
        let Ok(reset) = QueuedReset::parse(body.as_bytes()) else {
            tracing::error!(message_id = id, "an unreadable reset request was dropped");
            return None;
        };
        match app
            .resolve_password_reset(&reset.tenant, &reset.request)
            .await
        {
            Ok(()) => None,
            Err(e) => {
                tracing::error!(message_id = id, error = %e, "a reset request is left for a retry");
                Some(json!({"itemIdentifier": id}))
            }
        }
    }))
    .await;
    let failures: Vec<Value> = outcomes.into_iter().flatten().collect();
    tracing::info!(
        request_id = %event.context.request_id,
        requests = records.len(),
        retried = failures.len(),
        "reset requests"
    );
    Ok(json!({ "batchItemFailures": failures }))
}
