//! The scheduled sender (EventBridge, every minute): retries the messages whose inline attempt
//! failed, with backoff, until each is sent or abandoned (see `shared::domain::message::Delivery`).
//! It works through due messages in batches while the invocation has time left, so a backlog
//! after an SES outage drains at the pace SES allows rather than one batch a minute.

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use shared::App;
use shared::operations::email::DeliveryReport;
use shared::schedule::drain;

/// Messages taken per batch.
pub const BATCH: usize = 200;
/// A batch starts only with at least this much of the invocation left.
const RESERVE: Duration = Duration::from_secs(20);

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<DeliveryReport, Error> {
    let started = std::time::Instant::now();
    let run = drain(event.context.deadline(), RESERVE, || app.deliver_due(BATCH))
        .await
        .map_err(|(_, e)| e)?;
    let total = run.total;
    tracing::info!(
        request_id = %event.context.request_id,
        due = total.due,
        sent = total.sent,
        retrying = total.retrying,
        abandoned = total.abandoned,
        dropped = total.dropped,
        suppressed = total.suppressed,
        skipped = total.skipped,
        unreadable = total.unreadable,
        remaining = run.remaining,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "delivery"
    );
    Ok(total)
}
