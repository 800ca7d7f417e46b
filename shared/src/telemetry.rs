//! Logging: JSON lines on Lambda (CloudWatch parses them), readable text elsewhere.

use tracing_subscriber::EnvFilter;

/// The variable that sets how much this project's own code logs.
pub const LOG_LEVEL: &str = "LOG_LEVEL";

/// The filter: `LOG_LEVEL` (`error`, `warn`, `info`, `debug` or `trace`; default `info`)
/// applies to this project's code only. Dependencies log warnings and errors and nothing
/// more, whatever the level: at debug and trace the Lambda runtime prints raw events
/// (request bodies, bearer tokens) and the AWS SDK prints request bodies (password hashes).
pub fn filter(level: Option<&str>) -> EnvFilter {
    let levels = ["error", "warn", "info", "debug", "trace"];
    let level = level
        .map(str::trim)
        .filter(|l| levels.contains(l))
        .unwrap_or("info");
    let ours = [
        "shared",
        "local_api",
        "email_outbox",
        "purge",
        "account_mail_sender",
    ];
    let directives: Vec<String> = std::iter::once("warn".to_owned())
        .chain(ours.iter().map(|t| format!("{t}={level}")))
        .collect();
    EnvFilter::new(directives.join(","))
}

/// Installs the global subscriber. Safe to call twice.
pub fn init() {
    let filter = filter(std::env::var(LOG_LEVEL).ok().as_deref());
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    let _ = if on_lambda {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.compact().try_init()
    };
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
