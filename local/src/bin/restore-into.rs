//! `restore-into`: after a point-in-time restore (to a new table, as DynamoDB restores) and
//! `reapply-erasures`, makes the stack's live table hold exactly the restored table's items,
//! keeping the live table itself (docs/erasure.md, "Putting the restored table in service").
//!
//! ```text
//! restore-into --from RESTORED_TABLE --to LIVE_TABLE [--dry-run] [--segments N]
//! ```
//!
//! Prints what it did (or, with `--dry-run`, would do) as one JSON line of counts, never an
//! item. Exits 0 when the live table holds exactly the restored one's items, 1 on a refusal
//! (nothing written) or an error (run it again: every step is idempotent). AWS credentials and
//! region come from the usual chain; `AWS_ENDPOINT_URL` points it at moto.

use std::process::ExitCode;

use local_api::restore::{Request, client, run};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let request = match Request::parse(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("restore-into: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = shared::config::aws_config().await;
    match run(&request, &client(&config)).await {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string(&report).unwrap_or_else(|e| format!("{report:?} ({e})"))
            );
            ExitCode::SUCCESS
        }
        Err(failed) => {
            eprintln!("restore-into: {failed}");
            if let Some(so_far) = failed.so_far {
                eprintln!(
                    "restore-into: done before it stopped (run it again to finish): {}",
                    serde_json::to_string(&so_far).unwrap_or_default()
                );
            }
            ExitCode::FAILURE
        }
    }
}
