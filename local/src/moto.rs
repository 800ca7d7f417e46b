//! A DynamoDB client for the local moto server, for the tests and the benchmarks, with a log
//! of the operations it sends (the number of round trips an operation costs).

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_dynamodb::error::BoxError;

/// Records the DynamoDB operation (`GetItem`, `UpdateItem`, ...) of every request sent.
#[derive(Debug, Default, Clone)]
pub struct CallLog(Arc<Mutex<Vec<String>>>);

impl CallLog {
    /// The operations recorded since the last call, oldest first.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("");
        let operation = target.rsplit('.').next().unwrap_or("").to_owned();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(operation);
        Ok(())
    }
}

/// A client for moto at `endpoint`, with dummy credentials, recording into `log`.
pub fn client(endpoint: &str, log: &CallLog) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
        .endpoint_url(endpoint)
        .interceptor(log.clone())
        .build();
    Client::from_conf(config)
}

/// An SES v2 client for moto at `endpoint`, with dummy credentials.
pub fn ses_client(endpoint: &str) -> aws_sdk_sesv2::Client {
    let config = aws_sdk_sesv2::Config::builder()
        .behavior_version(aws_sdk_sesv2::config::BehaviorVersion::latest())
        .region(aws_sdk_sesv2::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sesv2::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .endpoint_url(endpoint)
        // As the deployed client: two tries, then the outbox takes over.
        .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::standard().with_max_attempts(2))
        .build();
    aws_sdk_sesv2::Client::from_conf(config)
}

/// Makes `domain` a sending identity (moto, like SES, refuses mail from anything else).
/// Idempotent.
pub async fn create_identity(client: &aws_sdk_sesv2::Client, domain: &str) -> Result<(), String> {
    match client
        .create_email_identity()
        .email_identity(domain)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(format!(
            "CreateEmailIdentity {domain}: {}",
            aws_sdk_sesv2::error::DisplayErrorContext(e)
        )),
    }
}

/// The domain of a sender such as `Acme <no-reply@acme.example>`.
pub fn sender_domain(from: &str) -> Option<&str> {
    let address = from
        .rsplit_once('<')
        .map_or(from, |(_, rest)| rest.trim_end_matches('>'));
    address.rsplit_once('@').map(|(_, domain)| domain.trim())
}
