//! The scheduled purge (EventBridge Scheduler, every 15 minutes): erases the accounts whose
//! self-service deletion is due, read from the sparse, sharded due index (never a scan),
//! [`CONCURRENCY`] at a time, in batches while the invocation has time left ([`shared::schedule::drain`]). Each erasure is
//! one transaction conditional on the version the index showed, so a rerun or an
//! overlapping run erases (and receipts) an account once and skips a cancelled one; an
//! account whose erasure failed stays due for the next run. Logs one JSON summary line, and
//! then, if any erasure failed, ends the invocation in an error: Lambda counts it in the
//! function's `Errors` and the schedule's retries and failure destination apply, where a
//! success would hide accounts that are not being erased.

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use shared::App;
use shared::domain::erasure::PurgeReport;
use shared::schedule::drain;

/// Due accounts read per batch.
pub const BATCH: usize = 200;
/// Erasures in flight at once: each is a few DynamoDB calls, so this bounds the write rate
/// a purge adds to the table.
pub const CONCURRENCY: usize = 8;
/// A batch starts only with at least this much of the invocation left.
const RESERVE: Duration = Duration::from_secs(30);

/// The invocation's answer (and its log line).
#[derive(Debug, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub report: PurgeReport,
    /// Whether due accounts were left for the next run (a full last batch, or no time).
    pub remaining: bool,
    pub duration_ms: f64,
}

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Summary, Error> {
    let started = std::time::Instant::now();
    let run = drain(event.context.deadline(), RESERVE, || {
        app.purge_due(BATCH, CONCURRENCY)
    })
    .await;
    let run = match run {
        Ok(run) => run,
        Err((done, e)) => {
            tracing::error!(
                request_id = %event.context.request_id,
                error = %e,
                due = done.total.due,
                purged = done.total.purged,
                failed = done.total.failed,
                duration_ms = started.elapsed().as_secs_f64() * 1000.0,
                "purge stopped"
            );
            return Err(e.into());
        }
    };
    let total = run.total;
    let summary = Summary {
        report: total,
        remaining: run.remaining,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    };
    tracing::info!(
        request_id = %event.context.request_id,
        due = total.due,
        purged = total.purged,
        failed = total.failed,
        skipped = total.skipped,
        warned = total.warned,
        rescheduled = total.rescheduled,
        items_read = total.items_read,
        remaining = run.remaining,
        duration_ms = summary.duration_ms,
        "purge"
    );
    if total.failed > 0 {
        return Err(format!(
            "{} of {} due erasures failed (logged each); they stay due for the next run",
            total.failed, total.due
        )
        .into());
    }
    Ok(summary)
}
