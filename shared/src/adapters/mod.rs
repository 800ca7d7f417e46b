//! Implementations of the ports.

pub mod argon;
pub mod dynamo;
#[cfg(feature = "receipt-secret")]
pub mod secrets;
pub mod ses;
pub mod sqs;

use async_trait::async_trait;

use crate::domain::message::OutgoingEmail;
use crate::domain::time::Timestamp;
use crate::ports::{Clock, Mailer, SendError};

/// The clock of a deployed function.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(time::OffsetDateTime::now_utc())
    }
}

/// The mailer of a function that sends no mail itself, so it links no SES client: anything
/// asked of it stays queued, and the outbox sends it within a minute
/// (docs/performance.md, "What each function links").
pub struct LeaveToOutbox;

#[async_trait]
impl Mailer for LeaveToOutbox {
    async fn send(&self, _: &OutgoingEmail) -> Result<(), SendError> {
        Err(SendError::Transient(
            "this function sends no mail itself; the outbox will".into(),
        ))
    }
}

/// Every AWS call's connect timeout (DynamoDB, SQS, SES). The HTTP client keeps one connector
/// (and its connections) per connect timeout, so a client with another would open
/// connections of its own, and build a connector of its own (its TLS roots parsed again) on
/// a cold start's first call through it.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1000);
