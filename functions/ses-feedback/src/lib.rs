//! SES's reputation feedback, through SNS from the configuration set's event destination for
//! `Bounce` and `Complaint` events: a permanent bounce or a complaint marks the user the
//! message was for (named by the message's tags) with `email_undeliverable`, if the address
//! it names is still the user's; from then on nothing is mailed to that address
//! (docs/email.md, "Bounces and complaints").
//!
//! A record that does not read is logged by its SNS message id, never its addresses, and
//! skipped, as is one that marks nobody (another event type, a transient bounce): no retry
//! could change either. A record the store failed on fails the invocation once the others are
//! done, so Lambda's asynchronous retries (two, minutes apart, then the failure queue:
//! docs/operations.md) offer the event again; a mark already applied changes nothing the
//! second time.

use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use shared::App;
use shared::domain::feedback::Feedback;
use shared::operations::email::Marked;

/// What one invocation did with its records.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub records: usize,
    /// Users marked by this event.
    pub marked: usize,
    /// Users marked already, by this record or a later one.
    pub already: usize,
    /// Records naming an address the user no longer has, or a user that no longer exists.
    pub not_current: usize,
    /// Records that mark nobody: other events, bounces that are not permanent, untagged mail.
    pub ignored: usize,
    /// Records that did not read.
    pub skipped: usize,
    /// Records the store failed on: the event is offered again.
    pub failed: usize,
}

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Report, Error> {
    let records = event.payload["Records"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut report = Report {
        records: records.len(),
        ..Report::default()
    };
    for record in records {
        let id = record["Sns"]["MessageId"].as_str().unwrap_or_default();
        let feedback = match record["Sns"]["Message"].as_str() {
            Some(message) => Feedback::parse(message),
            None => Err(shared::domain::Error::body(
                "an SNS record without its Message",
            )),
        };
        let mark = match feedback {
            Ok(Feedback::Mark(mark)) => mark,
            Ok(Feedback::Ignored(why)) => {
                tracing::info!(sns_message_id = id, why, "a feedback record marks nobody");
                report.ignored += 1;
                continue;
            }
            Err(e) => {
                tracing::warn!(sns_message_id = id, error = %e, "an unreadable feedback record was skipped");
                report.skipped += 1;
                continue;
            }
        };
        match app.mark_undeliverable(&mark).await {
            Ok(Marked::Yes) => {
                tracing::info!(
                    sns_message_id = id,
                    tenant = %mark.tenant,
                    user = %mark.user,
                    reason = ?mark.reason,
                    "an address was marked undeliverable"
                );
                report.marked += 1;
            }
            Ok(Marked::Already) => report.already += 1,
            Ok(Marked::NotCurrent | Marked::NoUser) => report.not_current += 1,
            Err(e) => {
                tracing::error!(sns_message_id = id, tenant = %mark.tenant, error = %e, "a feedback record is left for a retry");
                report.failed += 1;
            }
        }
    }
    tracing::info!(
        request_id = %event.context.request_id,
        records = report.records,
        marked = report.marked,
        already = report.already,
        not_current = report.not_current,
        ignored = report.ignored,
        skipped = report.skipped,
        failed = report.failed,
        "feedback"
    );
    if report.failed > 0 {
        return Err(format!(
            "{} of {} feedback records failed on the store",
            report.failed, report.records
        )
        .into());
    }
    Ok(report)
}
