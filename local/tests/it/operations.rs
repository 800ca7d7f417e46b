//! template.yaml's operational resources are held to the functions they watch
//! (docs/operations.md): every function has its log group and alarms, every alarm reads a
//! metric that exists on a resource that exists, the metric filters read lines the code
//! writes, and the scheduled functions have somewhere for a failed run to go.

use std::collections::{BTreeMap, BTreeSet};

use serde_norway::Value;

use crate::template::{list, template, text};

const LOOP: &str = "Fn::ForEach::FunctionOperations";

/// The template's resources with `Fn::ForEach` expanded, as CloudFormation's
/// LanguageExtensions transform does: `${Name}` replaced in keys and values.
pub(crate) fn resources(t: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (name, resource) in t["Resources"].as_mapping().unwrap() {
        let name = text(name);
        let Some(body) = name
            .strip_prefix("Fn::ForEach::")
            .and(resource.as_sequence())
        else {
            out.insert(name, resource.clone());
            continue;
        };
        let identifier = format!("${{{}}}", text(&body[0]));
        let fragment = serde_norway::to_string(&body[2]).unwrap();
        for value in list(&body[1]) {
            let expanded: Value =
                serde_norway::from_str(&fragment.replace(&identifier, &text(value))).unwrap();
            for (key, resource) in expanded.as_mapping().unwrap() {
                let previous = out.insert(text(key), resource.clone());
                assert!(previous.is_none(), "{} declared twice", text(key));
            }
        }
    }
    out
}

/// Logical ids of the functions, without their `Function` suffix.
fn functions(resources: &BTreeMap<String, Value>) -> BTreeSet<String> {
    resources
        .iter()
        .filter(|(_, r)| text(&r["Type"]) == "AWS::Serverless::Function")
        .map(|(name, _)| name.strip_suffix("Function").unwrap().to_owned())
        .collect()
}

/// The resource a `!Ref X`, `!GetAtt X.Attr` or `!Sub "${X}"` names.
pub(crate) fn named(value: &Value) -> String {
    let t = text(value);
    let target = t
        .strip_prefix("!Ref ")
        .or_else(|| t.strip_prefix("!GetAtt "))
        .or_else(|| {
            t.strip_prefix("!Sub ${")
                .and_then(|rest| rest.strip_suffix('}'))
        })
        .unwrap_or_else(|| panic!("not a reference to a resource: {t}"));
    target.split('.').next().unwrap().to_owned()
}

#[test]
fn one_list_names_every_function_for_its_log_group_and_alarms() {
    let t = template();
    let declared: BTreeSet<String> = list(&t["Resources"][LOOP][1]).iter().map(text).collect();
    let all = resources(&t);
    assert_eq!(declared, functions(&all));
    assert_eq!(
        declared.len(),
        list(&t["Resources"][LOOP][1]).len(),
        "a name twice"
    );
}

#[test]
fn every_function_logs_to_its_own_group_with_retention_masking_and_the_optional_key() {
    let t = template();
    let all = resources(&t);
    for name in functions(&all) {
        let function = &all[&format!("{name}Function")]["Properties"];
        assert_eq!(
            text(&function["LoggingConfig"]["LogGroup"]),
            format!("!Ref {name}Logs"),
            "{name}"
        );
        let logs = &all[&format!("{name}Logs")];
        assert_eq!(text(&logs["Type"]), "AWS::Logs::LogGroup", "{name}");
        let p = &logs["Properties"];
        assert_eq!(text(&p["RetentionInDays"]), "!Ref LogRetentionDays");
        assert!(text(&p["KmsKeyId"]).contains("KmsKeyArn"), "{name}");
        // Named after the stack, so a stack upgraded from Lambda's default groups creates
        // its own rather than colliding with them.
        assert!(
            text(&p["LogGroupName"]).contains("${AWS::StackName}"),
            "{name}"
        );
        let statements = list(&p["DataProtectionPolicy"]["Statement"]);
        let masked: BTreeSet<String> = statements
            .iter()
            .filter(|s| !s["Operation"]["Deidentify"]["MaskConfig"].is_null())
            .flat_map(|s| list(&s["DataIdentifier"]).iter().map(text))
            .collect();
        for kind in ["EmailAddress", "IpAddress"] {
            assert!(
                masked
                    .iter()
                    .any(|m| m.ends_with(&format!("data-identifier/{kind}"))),
                "{name} does not mask {kind}"
            );
        }
    }
    let access = &t["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    assert_eq!(text(&access["DestinationArn"]), "!GetAtt ApiAccessLogs.Arn");
    let format: serde_json::Value = serde_json::from_str(&text(&access["Format"])).unwrap();
    for field in [
        "requestId",
        "route",
        "status",
        "latencyMs",
        "integrationError",
        "authorizerError",
    ] {
        assert!(format.get(field).is_some(), "access log lacks {field}");
    }
    assert!(
        !text(&access["Format"]).contains("sourceIp") && !text(&access["Format"]).contains("path"),
        "the access log holds no address and no path"
    );
}

#[test]
fn every_function_has_error_and_throttle_alarms_and_its_errors_roll_a_canary_back() {
    let t = template();
    let all = resources(&t);
    let global = &t["Globals"]["Function"];
    assert_eq!(text(&global["AutoPublishAlias"]), "live");
    assert_eq!(
        text(&global["DeploymentPreference"]["Enabled"]),
        "!Ref CanaryDeployments"
    );
    assert!(text(&global["DeploymentPreference"]["Type"]).starts_with("Canary"));
    let global_alarms: Vec<String> = list(&global["DeploymentPreference"]["Alarms"])
        .iter()
        .map(named)
        .collect();
    assert_eq!(
        global_alarms,
        ["ApiServerErrorRateAlarm", "ApiLatencyAlarm"]
    );
    for name in functions(&all) {
        for (suffix, metric) in [("Errors", "Errors"), ("Throttles", "Throttles")] {
            let alarm = &all[&format!("{name}{suffix}")];
            assert_eq!(text(&alarm["Type"]), "AWS::CloudWatch::Alarm");
            let p = &alarm["Properties"];
            assert_eq!(text(&p["Namespace"]), "AWS/Lambda");
            assert_eq!(text(&p["MetricName"]), metric);
            let dimension = &list(&p["Dimensions"])[0];
            assert_eq!(text(&dimension["Name"]), "FunctionName");
            assert_eq!(named(&dimension["Value"]), format!("{name}Function"));
        }
        let preference = &all[&format!("{name}Function")]["Properties"]["DeploymentPreference"];
        if name == "Purge" {
            // A run of the old version failing on a stuck erasure would roll back its fix.
            assert!(preference.is_null(), "{name}");
            continue;
        }
        let own: Vec<String> = list(&preference["Alarms"]).iter().map(named).collect();
        assert_eq!(own, [format!("{name}Errors")], "{name}");
    }
}

/// What each namespace publishes, and the dimension each metric is read by, with the
/// resource type the dimension must name.
fn catalogue(metric_filters: &BTreeSet<String>, namespace: &str, metric: &str) -> bool {
    match namespace {
        "AWS/Lambda" => ["Errors", "Throttles"].contains(&metric),
        "AWS/ApiGateway" => ["5xx", "Count", "Latency"].contains(&metric),
        "AWS/DynamoDB" => {
            ["ReadThrottleEvents", "WriteThrottleEvents", "SystemErrors"].contains(&metric)
        }
        "AWS/SES" => ["Reputation.BounceRate", "Reputation.ComplaintRate"].contains(&metric),
        "AWS/SQS" => {
            ["ApproximateNumberOfMessagesVisible", "NumberOfMessagesSent"].contains(&metric)
        }
        "!Sub Profiles/${AWS::StackName}" => metric_filters.contains(metric),
        _ => false,
    }
}

fn dimension_type(name: &str) -> &'static str {
    match name {
        "FunctionName" => "AWS::Serverless::Function",
        "ApiId" => "AWS::Serverless::HttpApi",
        "TableName" => "AWS::DynamoDB::Table",
        "QueueName" => "AWS::SQS::Queue",
        other => panic!("no alarm should read dimension {other}"),
    }
}

#[test]
fn every_alarm_reads_a_real_metric_of_a_real_resource_and_notifies_the_alarm_topic() {
    let t = template();
    let all = resources(&t);
    let filtered: BTreeSet<String> = all
        .values()
        .filter(|r| text(&r["Type"]) == "AWS::Logs::MetricFilter")
        .flat_map(|r| list(&r["Properties"]["MetricTransformations"]))
        .map(|m| text(&m["MetricName"]))
        .collect();
    let mut alarms = 0;
    for (name, alarm) in all
        .iter()
        .filter(|(_, r)| text(&r["Type"]) == "AWS::CloudWatch::Alarm")
    {
        alarms += 1;
        let p = &alarm["Properties"];
        let mut metrics: Vec<&Value> = vec![];
        if p["Metrics"].is_null() {
            metrics.push(p);
        } else {
            let ids: BTreeSet<String> =
                list(&p["Metrics"]).iter().map(|m| text(&m["Id"])).collect();
            for m in list(&p["Metrics"]) {
                if m["Expression"].is_null() {
                    metrics.push(&m["MetricStat"]["Metric"]);
                } else {
                    // An expression reads only metrics the alarm declares.
                    let expression = text(&m["Expression"]);
                    for word in expression
                        .split(|c: char| !c.is_ascii_alphanumeric())
                        .filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
                    {
                        assert!(ids.contains(word), "{name}: {word} in {expression}");
                    }
                }
            }
        }
        assert!(!metrics.is_empty(), "{name}");
        for metric in metrics {
            let (namespace, metric_name) =
                (text(&metric["Namespace"]), text(&metric["MetricName"]));
            assert!(
                catalogue(&filtered, &namespace, &metric_name),
                "{name}: {namespace} {metric_name} is not a metric anything publishes"
            );
            for dimension in metric["Dimensions"].as_sequence().into_iter().flatten() {
                let dimension_name = text(&dimension["Name"]);
                if dimension_name == "Operation" {
                    continue;
                }
                let target = named(&dimension["Value"]);
                let resource = all
                    .get(&target)
                    .unwrap_or_else(|| panic!("{name}: no resource {target}"));
                assert_eq!(
                    text(&resource["Type"]),
                    dimension_type(&dimension_name),
                    "{name}"
                );
            }
        }
        let actions: Vec<String> = list(&p["AlarmActions"]).iter().map(text).collect();
        assert_eq!(actions, ["!Ref AlarmTopic"], "{name}");
    }
    assert_eq!(text(&all["AlarmTopic"]["Type"]), "AWS::SNS::Topic");
    // Per function two, and the API, table, SES, purge, outbox and queue alarms.
    assert!(alarms >= 2 * functions(&all).len() + 13, "{alarms}");
}

#[test]
fn metric_filters_read_the_summary_lines_the_scheduled_functions_write() {
    let t = template();
    let all = resources(&t);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let field = regex::Regex::new(r"\$\.([a-z_]+)").unwrap();
    let message = regex::Regex::new(r#"\$\.message = "([a-z ]+)""#).unwrap();
    let mut filters = 0;
    for (name, filter) in all
        .iter()
        .filter(|(_, r)| text(&r["Type"]) == "AWS::Logs::MetricFilter")
    {
        filters += 1;
        let p = &filter["Properties"];
        let group = named(&p["LogGroupName"]);
        let function = group.strip_suffix("Logs").unwrap();
        assert!(all.contains_key(&format!("{function}Function")), "{name}");
        let binary = local_api::template::binary_of(&format!("{function}Function"));
        let source =
            std::fs::read_to_string(root.join(format!("functions/{binary}/src/lib.rs"))).unwrap();
        let pattern = text(&p["FilterPattern"]);
        let line = &message
            .captures(&pattern)
            .unwrap_or_else(|| panic!("{name}: a filter names the line it reads"))[1];
        assert!(
            source.contains(&format!("\"{line}\"")),
            "{name}: {binary} writes no \"{line}\" line"
        );
        let transforms = list(&p["MetricTransformations"]);
        let read = std::iter::once(pattern.clone())
            .chain(transforms.iter().map(|m| text(&m["MetricValue"])));
        for text in read {
            for captured in field.captures_iter(&text) {
                let key = &captured[1];
                if key == "message" {
                    continue;
                }
                assert!(
                    source.contains(&format!("{key} = ")),
                    "{name}: the \"{line}\" line of {binary} has no field {key}"
                );
            }
        }
    }
    assert_eq!(filters, 7);
}

#[test]
fn scheduled_functions_retry_a_little_then_set_a_failed_run_aside_and_never_overlap() {
    let t = template();
    let all = resources(&t);
    let mut scheduled = BTreeSet::new();
    for name in functions(&all) {
        let p = &all[&format!("{name}Function")]["Properties"];
        let schedules: Vec<&Value> = p["Events"]
            .as_mapping()
            .unwrap()
            .values()
            .filter(|e| text(&e["Type"]) == "ScheduleV2")
            .collect();
        if schedules.is_empty() {
            continue;
        }
        scheduled.insert(local_api::template::binary_of(&format!("{name}Function")));
        let invoke = &p["EventInvokeConfig"];
        assert!(
            invoke["MaximumRetryAttempts"].as_u64().unwrap() <= 2,
            "{name}"
        );
        assert!(
            invoke["MaximumEventAgeInSeconds"].as_u64().is_some(),
            "{name}"
        );
        let failure = &invoke["DestinationConfig"]["OnFailure"];
        assert_eq!(text(&failure["Type"]), "SQS", "{name}");
        let queue = named(&failure["Destination"]);
        assert_eq!(text(&all[&queue]["Type"]), "AWS::SQS::Queue");
        for schedule in schedules {
            let s = &schedule["Properties"];
            assert!(s["RetryPolicy"]["MaximumRetryAttempts"].as_u64().is_some());
            assert_eq!(named(&s["DeadLetterConfig"]["Arn"]), queue, "{name}");
        }
        let reserved = text(&p["ReservedConcurrentExecutions"]);
        assert!(
            reserved.starts_with("!If") && reserved.contains("ReservesScheduled"),
            "{name}: {reserved}"
        );
        // Someone hears of a record set aside.
        let watched = all.values().any(|r| {
            text(&r["Type"]) == "AWS::CloudWatch::Alarm"
                && r["Properties"]["Dimensions"]
                    .as_sequence()
                    .is_some_and(|d| d.iter().any(|d| named(&d["Value"]) == queue))
        });
        assert!(watched, "no alarm watches {queue}");
    }
    assert_eq!(
        scheduled,
        crate::support::SCHEDULED
            .iter()
            .map(|f| f.to_string())
            .collect()
    );
}

#[test]
fn the_edges_are_closed_the_table_is_protected_and_mail_goes_through_the_stacks_set() {
    let t = template();
    let r = &t["Resources"];
    let table = &r["UsersTable"]["Properties"];
    assert_eq!(text(&table["DeletionProtectionEnabled"]), "true");
    assert_eq!(
        text(&table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]),
        "true"
    );
    assert!(text(&table["SSESpecification"]["KMSMasterKeyId"]).contains("KmsKeyArn"));
    assert_eq!(text(&r["UsersTable"]["DeletionPolicy"]), "Retain");

    let base =
        regex::Regex::new(&text(&t["Parameters"]["PublicBaseUrl"]["AllowedPattern"])).unwrap();
    assert!(base.is_match("https://id.example.com"));
    assert!(base.is_match("https://abc.execute-api.eu-west-1.amazonaws.com/"));
    assert!(!base.is_match("http://id.example.com"));
    assert!(!base.is_match("https://"));

    let api = &r["HttpApi"]["Properties"];
    let disabled = text(&api["DisableExecuteApiEndpoint"]);
    assert!(
        disabled.starts_with("!If") && disabled.contains("HasDomain"),
        "{disabled}"
    );
    assert_eq!(text(&r["ApiDomain"]["Condition"]), "HasDomain");
    assert_eq!(text(&r["ApiDomainMapping"]["Condition"]), "HasDomain");

    let set = &r["EmailConfigurationSet"]["Properties"];
    let suppressed: Vec<String> = list(&set["SuppressionOptions"]["SuppressedReasons"])
        .iter()
        .map(text)
        .collect();
    assert_eq!(suppressed, ["BOUNCE", "COMPLAINT"]);
    assert_eq!(text(&set["DeliveryOptions"]["TlsPolicy"]), "REQUIRE");
    let destination = &r["EmailFeedbackDestination"]["Properties"]["EventDestination"];
    let kinds: Vec<String> = list(&destination["MatchingEventTypes"])
        .iter()
        .map(text)
        .collect();
    assert_eq!(kinds, ["bounce", "complaint"]);
    assert_eq!(
        named(&destination["SnsDestination"]["TopicARN"]),
        "SesFeedbackTopic"
    );
    assert_eq!(
        text(&t["Globals"]["Function"]["Environment"]["Variables"]["SES_CONFIGURATION_SET"]),
        "!Ref EmailConfigurationSet"
    );
}
