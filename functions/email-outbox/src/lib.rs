//! The scheduled sender (EventBridge, every minute): retries the messages whose inline attempt
//! failed, with backoff, until each is sent or abandoned (see `shared::domain::mail::Delivery`).
//! It works through due messages in batches while the invocation has time left, so a backlog
//! after an SES outage drains at the pace SES allows rather than one batch a minute.

use std::time::{Duration, SystemTime};

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use shared::App;
use shared::domain::flows::DeliveryReport;

/// Messages taken per batch.
pub const BATCH: usize = 200;
/// A batch starts only with at least this much of the invocation left.
const RESERVE: Duration = Duration::from_secs(20);

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<DeliveryReport, Error> {
    let started = std::time::Instant::now();
    let deadline = event.context.deadline();
    let mut total = DeliveryReport::default();
    loop {
        let report = app.deliver_due(BATCH).await?;
        total.due += report.due;
        total.sent += report.sent;
        total.retrying += report.retrying;
        total.abandoned += report.abandoned;
        total.dropped += report.dropped;
        total.skipped += report.skipped;
        let time_left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        if report.due < BATCH || time_left < RESERVE {
            break;
        }
    }
    tracing::info!(
        request_id = %event.context.request_id,
        due = total.due,
        sent = total.sent,
        retrying = total.retrying,
        abandoned = total.abandoned,
        dropped = total.dropped,
        skipped = total.skipped,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "delivery"
    );
    Ok(total)
}
