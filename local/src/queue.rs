//! The SQS queue of password reset requests on moto, and what Lambda's event source mapping
//! does with it in AWS: receive a batch, hand it to `account-mail-sender` as one SQS event,
//! delete what the function did not report failed.

use aws_sdk_sqs::Client;
use serde_json::{Value, json};
use shared::App;

use crate::moto::CallLog;

/// An SQS client for moto at `endpoint`, with dummy credentials, recording into `log`.
pub fn client(endpoint: &str, log: &CallLog) -> Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .endpoint_url(endpoint)
        .interceptor(log.clone())
        .build();
    Client::from_conf(config)
}

/// Creates the queue `name` (idempotent) and answers its URL.
pub async fn create(client: &Client, name: &str) -> Result<String, String> {
    client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| {
            format!(
                "CreateQueue {name}: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?
        .queue_url
        .ok_or_else(|| format!("CreateQueue {name} answered no URL"))
}

/// One poll of the queue, waiting up to `wait_secs` for a message: the batch it received
/// goes to the sender as one event. Answers how many requests it handed over.
pub async fn deliver_once(
    app: &App,
    client: &Client,
    url: &str,
    wait_secs: i32,
) -> Result<usize, String> {
    let received = client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_secs)
        .send()
        .await
        .map_err(|e| {
            format!(
                "ReceiveMessage: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?;
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(0);
    }
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "eventSource": "aws:sqs",
            })
        })
        .collect();
    let mut context = lambda_runtime::Context::default();
    context.request_id = ulid::Ulid::generate().to_string();
    let event = lambda_runtime::LambdaEvent::new(json!({ "Records": records }), context);
    let answer = crate::moto::as_function(
        "account-mail-sender",
        account_mail_sender::handle(app, event),
    )
    .await
    .map_err(|e| format!("account-mail-sender failed: {e}"))?;
    let failed: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["itemIdentifier"].as_str())
        .collect();
    for m in &messages {
        if failed.contains(&m.message_id().unwrap_or_default()) {
            continue;
        }
        client
            .delete_message()
            .queue_url(url)
            .set_receipt_handle(m.receipt_handle.clone())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "DeleteMessage: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })?;
    }
    Ok(messages.len())
}
