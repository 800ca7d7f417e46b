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
