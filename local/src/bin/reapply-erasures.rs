//! `reapply-erasures`: after a point-in-time restore of the table, erases again in the
//! restored table every user erased after the restore point (docs/erasure.md, "Re-applying
//! erasures after a restore").
//!
//! ```text
//! reapply-erasures --receipts-table TABLE --restored-table TABLE --restore-point RFC3339
//!                  [--secret ARN_OR_NAME] [--unversioned-key-version VERSION_ID]
//! ```
//!
//! Prints what it did as one JSON object. Exits 0 when every receipt was looked for, 2 when
//! some could not be (their key version is gone, or they name none and no
//! `--unversioned-key-version` was given; their receipts are still copied), 1 on an error.
//! AWS credentials and region come from the usual chain; `AWS_ENDPOINT_URL` points it at moto.

use std::process::ExitCode;

use local_api::reapply::{Request, run};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secret = std::env::var(shared::config::env::ERASURE_RECEIPT_SECRET).ok();
    let request = match Request::parse(&args, secret) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("reapply-erasures: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = shared::config::aws_config().await;
    let report = run(
        &request,
        aws_sdk_dynamodb::Client::new(&config),
        aws_sdk_secretsmanager::Client::new(&config),
    )
    .await;
    match report {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string(&report).unwrap_or_else(|e| format!("{report:?} ({e})"))
            );
            if report.complete() {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "reapply-erasures: some receipts could not be matched (see unversioned, unmatchable)"
                );
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("reapply-erasures: {e}");
            ExitCode::FAILURE
        }
    }
}
