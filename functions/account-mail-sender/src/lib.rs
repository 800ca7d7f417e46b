//! The worker behind the account mail queue (SQS event source, up to 10 requests a batch):
//! a password reset request gets a reset link mailed when a database user has the address; a
//! block notice gets an unblock link mailed to the account's verified address. Unknown
//! accounts get nothing (docs/email.md, "The account mail queue").
//!
//! A request the store failed on is reported back as a batch item failure, so SQS offers it
//! again after the visibility timeout and, after the redrive limit, moves it to the dead-letter
//! queue. An unreadable message is dropped (logged by its id only): no retry can fix it.

use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use shared::App;
use shared::domain::mail_request::MailRequest;

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let records = event.payload["Records"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let outcomes = futures::future::join_all(records.iter().map(|record| async move {
        let id = record["messageId"].as_str().unwrap_or_default();
        let body = record["body"].as_str().unwrap_or_default();
        let Ok(request) = MailRequest::parse(body.as_bytes()) else {
            tracing::error!(message_id = id, "an unreadable mail request was dropped");
            return None;
        };
        let resolved = match &request {
            MailRequest::Reset { tenant, request } => {
                app.resolve_password_reset(tenant, request).await
            }
            MailRequest::Unblock { tenant, user } => app.resolve_unblock(tenant, *user).await,
        };
        match resolved {
            Ok(()) => None,
            Err(e) => {
                tracing::error!(message_id = id, error = %e, "a mail request is left for a retry");
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
        "mail requests"
    );
    Ok(json!({ "batchItemFailures": failures }))
}
