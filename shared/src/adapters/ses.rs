//! The `Mailer` port over SES v2 `SendEmail`: simple content, a text and an HTML part, tagged
//! with the tenant and the user it is for, so SES's bounce and complaint events name them
//! (`crate::domain::feedback`).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::config::timeout::TimeoutConfig;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};

use crate::domain::feedback::{TENANT_TAG, USER_TAG, is_tag_value};
use crate::domain::message::OutgoingEmail;
use crate::ports::{Mailer, SendError};

pub struct SesMailer {
    client: Client,
    from: String,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: Client, from: String, configuration_set: Option<String>) -> Self {
        SesMailer {
            client,
            from,
            configuration_set,
        }
    }

    /// A client that gives up quickly: a request that sends email waits for at most two
    /// short tries, and whatever fails is left to the outbox, which retries for hours. It
    /// connects within the other clients' timeout, so it shares their connector.
    pub fn client(config: &aws_config::SdkConfig, endpoint: Option<&str>) -> Client {
        let mut builder = aws_sdk_sesv2::config::Builder::from(config)
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(super::CONNECT_TIMEOUT)
                    .operation_timeout(Duration::from_secs(6))
                    .build(),
            );
        if let Some(url) = endpoint {
            builder = builder.endpoint_url(url);
        }
        Client::from_conf(builder.build())
    }
}

fn utf8(data: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| SendError::Rejected(format!("content: {e}")))
}

/// A message tag. Tenant and user ids always meet SES's rules for tag values; one that did not
/// would make SES refuse the message, so it is refused here, with the same error.
fn tag(name: &str, value: &str) -> Result<MessageTag, SendError> {
    if !is_tag_value(value) {
        return Err(SendError::Rejected(format!(
            "the {name} tag holds characters SES refuses"
        )));
    }
    MessageTag::builder()
        .name(name)
        .value(value)
        .build()
        .map_err(|e| SendError::Rejected(format!("tag {name}: {e}")))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let message = Message::builder()
            .subject(utf8(&email.subject)?)
            .body(
                Body::builder()
                    .text(utf8(&email.text)?)
                    .html(utf8(&email.html)?)
                    .build(),
            )
            .build();
        let result = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .email_tags(tag(TENANT_TAG, email.tenant_id.as_str())?)
            .email_tags(tag(USER_TAG, &email.user_id.to_string())?)
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // SES refuses this very message: another try sends the same thing.
            Err(e) if matches!(e.code(), Some("MessageRejected" | "BadRequestException")) => Err(
                SendError::Rejected(format!("SendEmail: {}", DisplayErrorContext(&e))),
            ),
            Err(e) => Err(SendError::Transient(format!(
                "SendEmail: {}",
                DisplayErrorContext(&e)
            ))),
        }
    }
}
