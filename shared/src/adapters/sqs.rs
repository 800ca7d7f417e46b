//! The `MailQueue` port over an SQS queue, whose messages the `account-mail-sender`
//! function takes (docs/email.md, "The account mail queue").

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::config::timeout::TimeoutConfig;
use aws_sdk_sqs::error::DisplayErrorContext;

use crate::domain::mail_request::MailRequest;
use crate::ports::{MailQueue, StoreError};

pub struct SqsMailQueue {
    client: Client,
    queue_url: String,
}

impl SqsMailQueue {
    pub fn new(client: Client, queue_url: String) -> Self {
        SqsMailQueue { client, queue_url }
    }

    /// A client that answers within a second or two: the caller is waiting on the request.
    pub fn client(config: &aws_config::SdkConfig) -> Client {
        let config = aws_sdk_sqs::config::Builder::from(config)
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(super::CONNECT_TIMEOUT)
                    .operation_timeout(Duration::from_secs(3))
                    .build(),
            )
            .build();
        Client::from_conf(config)
    }
}

#[async_trait]
impl MailQueue for SqsMailQueue {
    async fn enqueue(&self, request: &MailRequest) -> Result<(), StoreError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(request.to_body())
            .send()
            .await
            .map(|_| ())
            // An outage of the queue: 503, retry shortly. The cause names the queue and the
            // service's reason, never the message body.
            .map_err(|e| StoreError::Throttled(format!("SendMessage: {}", DisplayErrorContext(e))))
    }
}
