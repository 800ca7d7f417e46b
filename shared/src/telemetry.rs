//! Logging: JSON lines from the functions (CloudWatch parses them), readable text from the
//! local server.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The variable that sets how much this project's own code logs.
pub const LOG_LEVEL: &str = "LOG_LEVEL";

/// The filter: `LOG_LEVEL` (`error`, `warn`, `info`, `debug` or `trace`; default `info`)
/// applies to this project's code only. Dependencies log warnings and errors and nothing
/// more, whatever the level: at debug and trace the Lambda runtime prints raw events
/// (request bodies, bearer tokens) and the AWS SDK prints request bodies (password hashes).
/// A plain list of targets, not an `EnvFilter`, whose directive syntax would link a regex
/// engine into every function (docs/performance.md).
pub fn filter(level: Option<&str>) -> Targets {
    let level = match level.map(str::trim) {
        Some("error") => LevelFilter::ERROR,
        Some("warn") => LevelFilter::WARN,
        Some("debug") => LevelFilter::DEBUG,
        Some("trace") => LevelFilter::TRACE,
        _ => LevelFilter::INFO,
    };
    let ours = [
        "shared",
        "local_api",
        "email_outbox",
        "purge",
        "account_mail_sender",
        "ses_feedback",
    ];
    Targets::new()
        .with_default(LevelFilter::WARN)
        .with_targets(ours.map(|t| (t, level)))
}

/// Installs a function's global subscriber: JSON lines, which CloudWatch parses. A function
/// runs only under a Runtime API (Lambda's, `sam local`'s, the tests' emulator), so it links
/// no other format. Safe to call twice.
pub fn init() {
    let filter = filter(std::env::var(LOG_LEVEL).ok().as_deref());
    let _ = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_target(false)
        .with_ansi(false)
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .finish()
        .with(filter)
        .try_init();
}

/// Installs the local server's global subscriber: one line of text per event, coloured on
/// a terminal. Safe to call twice.
pub fn init_readable() {
    let filter = filter(std::env::var(LOG_LEVEL).ok().as_deref());
    let _ = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .compact()
        .finish()
        .with(filter)
        .try_init();
}

/// Counts one occurrence of `metric` in CloudWatch: on Lambda, a line in the embedded metric
/// format, which CloudWatch turns into a metric of the `Profiles` namespace by function, with
/// no call of its own; elsewhere nothing (the caller logs the occurrence).
pub fn count(metric: &str) {
    let Ok(function) = std::env::var("AWS_LAMBDA_FUNCTION_NAME") else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let line = serde_json::json!({
        "_aws": {
            "Timestamp": now,
            "CloudWatchMetrics": [{
                "Namespace": "Profiles",
                "Dimensions": [["function"]],
                "Metrics": [{"Name": metric, "Unit": "Count"}],
            }],
        },
        "function": function,
        metric: 1,
    });
    println!("{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_never_log_below_warn_whatever_the_level() {
        let f = filter(Some("trace")).to_string();
        assert!(f.split(",").any(|d| d == "warn"), "{f}");
        assert!(f.contains("shared=trace"));
        let f = filter(Some("lambda_runtime=trace")).to_string();
        assert!(
            !f.contains("lambda_runtime"),
            "only a level is accepted: {f}"
        );
        assert!(f.contains("shared=info"));
    }
}
