//! Implementations of the ports.

pub mod argon;
pub mod dynamo;
pub mod ses;
pub mod sqs;

use crate::domain::time::Timestamp;
use crate::ports::Clock;

/// The clock of a deployed function.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(time::OffsetDateTime::now_utc())
    }
}
