//! template.yaml is held to the code: the table to `shared::adapters::dynamo::table::spec`, the routes to the
//! handlers the local server serves.

use std::collections::BTreeSet;

use local_api::routes::ROUTES;
use serde_norway::Value;

pub(crate) fn template() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Tagged(t) => format!("{} {}", t.tag, text(&t.value)),
        other => format!("{other:?}"),
    }
}

pub(crate) fn list(v: &Value) -> &Vec<Value> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("expected a list, got {v:?}"))
}

#[test]
fn the_table_matches_the_definition_the_code_creates() {
    let spec = shared::adapters::dynamo::table::spec();
    let t = template();
    let table = &t["Resources"]["UsersTable"];
    assert_eq!(text(&table["Type"]), "AWS::DynamoDB::Table");
    let p = &table["Properties"];
    assert_eq!(text(&p["BillingMode"]), "PAY_PER_REQUEST");
    let attributes: BTreeSet<(String, String)> = list(&p["AttributeDefinitions"])
        .iter()
        .map(|a| (text(&a["AttributeName"]), text(&a["AttributeType"])))
        .collect();
    let expected: BTreeSet<(String, String)> = spec
        .string_attributes
        .iter()
        .map(|a| (a.to_string(), "S".to_owned()))
        .collect();
    assert_eq!(attributes, expected);
    let keys = |schema: &Value| -> Vec<(String, String)> {
        list(schema)
            .iter()
            .map(|k| (text(&k["AttributeName"]), text(&k["KeyType"])))
            .collect()
    };
    assert_eq!(
        keys(&p["KeySchema"]),
        vec![
            (spec.hash_key.into(), "HASH".into()),
            (spec.range_key.into(), "RANGE".into())
        ]
    );
    let indexes = list(&p["GlobalSecondaryIndexes"]);
    assert_eq!(indexes.len(), spec.indexes.len());
    for (index, want) in indexes.iter().zip(&spec.indexes) {
        assert_eq!(text(&index["IndexName"]), want.name);
        assert_eq!(
            keys(&index["KeySchema"]),
            vec![
                (want.hash_key.into(), "HASH".into()),
                (want.range_key.into(), "RANGE".into())
            ]
        );
        assert_eq!(
            text(&index["Projection"]["ProjectionType"]),
            want.projection
        );
    }
    assert_eq!(
        text(&p["TimeToLiveSpecification"]["AttributeName"]),
        spec.ttl_attribute
    );
    assert_eq!(text(&p["TimeToLiveSpecification"]["Enabled"]), "true");
}

/// Every crate under `functions/` is a function the template deploys: one that is not would be
/// built, tested and never run.
#[test]
fn every_function_crate_is_a_function_of_the_template() {
    let deployed: BTreeSet<String> = template()["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| text(&r["Type"]) == "AWS::Serverless::Function")
        .map(|(name, _)| local_api::template::binary_of(&text(name)))
        .collect();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let crates: BTreeSet<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(crates, deployed);
}

#[test]
fn the_template_declares_exactly_the_routes_and_scopes_the_handlers_serve() {
    let t = template();
    let mut declared = BTreeSet::new();
    let mut scheduled = BTreeSet::new();
    let mut queued = BTreeSet::new();
    let mut notified = BTreeSet::new();
    for (name, resource) in t["Resources"].as_mapping().unwrap() {
        if text(&resource["Type"]) != "AWS::Serverless::Function" {
            continue;
        }
        let name = text(name);
        // deploy/Makefile copies each function's binary by this name.
        assert_eq!(
            text(&resource["Metadata"]["BuildMethod"]),
            "makefile",
            "{name}"
        );
        assert_eq!(
            text(&resource["Metadata"]["WorkingDirectory"]),
            ".",
            "{name}"
        );
        let binary = local_api::template::binary_of(&name);
        let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../functions")
            .join(&binary);
        assert!(
            crate_dir.join("Cargo.toml").exists(),
            "{name} builds {binary}, which has no crate"
        );
        for (_, event) in resource["Properties"]["Events"].as_mapping().unwrap() {
            if text(&event["Type"]) == "ScheduleV2" {
                scheduled.insert(binary.clone());
                continue;
            }
            if text(&event["Type"]) == "SQS" {
                assert_eq!(
                    text(&event["Properties"]["Queue"]),
                    "!GetAtt AccountMailQueue.Arn"
                );
                queued.insert(binary.clone());
                continue;
            }
            if text(&event["Type"]) == "SNS" {
                assert_eq!(text(&event["Properties"]["Topic"]), "!Ref SesFeedbackTopic");
                notified.insert(binary.clone());
                continue;
            }
            assert_eq!(text(&event["Type"]), "HttpApi");
            let key = format!(
                "{} {}",
                text(&event["Properties"]["Method"]),
                text(&event["Properties"]["Path"])
            );
            let public = text(&event["Properties"]["Auth"]["Authorizer"]) == "NONE";
            let mut scopes: Vec<String> = event["Properties"]["Auth"]["AuthorizationScopes"]
                .as_sequence()
                .map(|s| s.iter().map(text).collect())
                .unwrap_or_default();
            scopes.sort();
            declared.insert((binary.clone(), key, public, scopes));
        }
    }
    let served: BTreeSet<(String, String, bool, Vec<String>)> = ROUTES
        .iter()
        .map(|r| {
            let mut scopes: Vec<String> = r.scopes.iter().map(|s| s.to_string()).collect();
            scopes.sort();
            (r.function.to_owned(), r.key.to_owned(), r.public, scopes)
        })
        .collect();
    assert_eq!(declared, served);
    assert_eq!(
        scheduled,
        crate::support::SCHEDULED
            .iter()
            .map(|f| f.to_string())
            .collect()
    );
    assert_eq!(
        queued,
        crate::support::QUEUED
            .iter()
            .map(|f| f.to_string())
            .collect()
    );
    assert_eq!(
        notified,
        crate::support::NOTIFIED
            .iter()
            .map(|f| f.to_string())
            .collect()
    );
}

#[test]
fn only_the_stacks_configuration_set_publishes_to_the_feedback_topic_and_ses_feedback_reads_it() {
    let t = template();
    let r = &t["Resources"];
    let topic = &r["SesFeedbackTopic"];
    assert_eq!(text(&topic["Type"]), "AWS::SNS::Topic");
    // Every record there holds an address: under the customer-managed key when there is one
    // (SES cannot use the AWS-managed SNS key; docs/operations.md, "Encryption and edges").
    assert!(text(&topic["Properties"]["KmsMasterKeyId"]).contains("KmsKeyArn"));
    let statement =
        &list(&r["SesFeedbackTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"])[0];
    assert_eq!(
        text(&statement["Principal"]["Service"]),
        "ses.amazonaws.com"
    );
    assert_eq!(text(&statement["Action"]), "sns:Publish");
    assert!(
        text(&statement["Condition"]["ArnLike"]["aws:SourceArn"])
            .contains(":configuration-set/${EmailConfigurationSet}")
    );
    assert_eq!(
        text(&statement["Condition"]["StringEquals"]["aws:SourceAccount"]),
        "!Ref AWS::AccountId"
    );
    let event = &r["SesFeedbackFunction"]["Properties"]["Events"]["Feedback"];
    assert_eq!(text(&event["Type"]), "SNS");
    assert_eq!(text(&event["Properties"]["Topic"]), "!Ref SesFeedbackTopic");
}

#[test]
fn every_function_runs_on_arm64_al2023_with_json_logs_and_only_table_sender_and_queue_permissions()
{
    let t = template();
    let g = &t["Globals"]["Function"];
    assert_eq!(text(&g["Runtime"]), "provided.al2023");
    assert_eq!(
        list(&g["Architectures"])
            .iter()
            .map(text)
            .collect::<Vec<_>>(),
        vec!["arm64"]
    );
    assert_eq!(text(&g["Handler"]), "bootstrap");
    assert_eq!(text(&g["LoggingConfig"]["LogFormat"]), "JSON");
    for (name, resource) in t["Resources"].as_mapping().unwrap() {
        if text(&resource["Type"]) != "AWS::Serverless::Function" {
            continue;
        }
        for policy in list(&resource["Properties"]["Policies"]) {
            for statement in list(&policy["Statement"]) {
                let actions: Vec<String> = list(&statement["Action"]).iter().map(text).collect();
                if actions == ["ses:SendEmail"] {
                    // Sending as the configured identity (and configuration set) only.
                    for resource in list(&statement["Resource"]) {
                        let r = text(resource);
                        assert!(
                            r.contains(":identity/${SesIdentity}")
                                || r.contains(":configuration-set/${EmailConfigurationSet}"),
                            "{}: {r}",
                            text(name)
                        );
                    }
                    continue;
                }
                if actions == ["secretsmanager:GetSecretValue"] {
                    // Reading the receipt key, from its own secret only.
                    let resources: Vec<String> =
                        list(&statement["Resource"]).iter().map(text).collect();
                    assert_eq!(resources, ["!Ref ErasureReceiptSecret"], "{}", text(name));
                    continue;
                }
                if actions == ["sqs:SendMessage"] {
                    // Queueing reset requests, on that queue only.
                    let resources: Vec<String> =
                        list(&statement["Resource"]).iter().map(text).collect();
                    assert_eq!(
                        resources,
                        ["!GetAtt AccountMailQueue.Arn"],
                        "{}",
                        text(name)
                    );
                    continue;
                }
                for action in &actions {
                    assert!(
                        action.starts_with("dynamodb:") && !action.contains('*'),
                        "{}: {action:?}",
                        text(name)
                    );
                }
                for resource in list(&statement["Resource"]) {
                    assert!(
                        text(resource).contains("UsersTable"),
                        "{}: {resource:?}",
                        text(name)
                    );
                }
            }
        }
    }
}

#[test]
fn a_function_wires_ses_or_the_mail_queue_exactly_when_its_policy_lets_it_use_them() {
    let t = template();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for (name, resource) in t["Resources"].as_mapping().unwrap() {
        if text(&resource["Type"]) != "AWS::Serverless::Function" {
            continue;
        }
        let binary = local_api::template::binary_of(&text(name));
        let main = std::fs::read_to_string(root.join(format!("functions/{binary}/src/main.rs")))
            .unwrap_or_else(|e| panic!("{}: functions/{binary}/src/main.rs: {e}", text(name)));
        let granted = |action: &str| {
            list(&resource["Properties"]["Policies"]).iter().any(|p| {
                list(&p["Statement"])
                    .iter()
                    .any(|s| list(&s["Action"]).iter().any(|a| text(a) == action))
            })
        };
        // A client wired without the permission fails on AWS; a permission without the client
        // means the function leaves to the outbox mail it was meant to send.
        assert_eq!(
            main.contains(".sending_mail()"),
            granted("ses:SendEmail"),
            "{}: SES wiring and policy disagree",
            text(name)
        );
        assert_eq!(
            main.contains(".with_mail_queue()"),
            granted("sqs:SendMessage"),
            "{}: queue wiring and policy disagree",
            text(name)
        );
        // Only the functions that erase get the receipt key: its secret, the right to read it,
        // and the wiring that reads it at start.
        let erasing = local_api::template::ERASING.contains(&binary.as_str());
        assert_eq!(
            main.contains(".erasing()"),
            erasing,
            "{}: receipt key wiring",
            text(name)
        );
        assert_eq!(
            granted("secretsmanager:GetSecretValue"),
            erasing,
            "{}: receipt key policy",
            text(name)
        );
        let variables = &resource["Properties"]["Environment"]["Variables"];
        assert_eq!(
            variables.get("ERASURE_RECEIPT_SECRET").map(text).as_deref(),
            erasing.then_some("!Ref ErasureReceiptSecret"),
            "{}: receipt key variable",
            text(name)
        );
        checked += 1;
    }
    assert!(checked >= 27, "{checked}");
}

#[test]
fn a_function_that_hashes_gets_a_whole_vcpu_and_every_other_the_smallest_size() {
    use local_api::template::{HASHING, ONE_VCPU_MB, SMALLEST_MB};
    let t = template();
    let default = t["Globals"]["Function"]["MemorySize"].as_u64();
    assert_eq!(default, Some(SMALLEST_MB));
    let mut hashing = Vec::new();
    for (name, resource) in t["Resources"].as_mapping().unwrap() {
        if text(&resource["Type"]) != "AWS::Serverless::Function" {
            continue;
        }
        let binary = local_api::template::binary_of(&text(name));
        let size = resource["Properties"]["MemorySize"].as_u64().or(default);
        if HASHING.contains(&binary.as_str()) {
            assert_eq!(size, Some(ONE_VCPU_MB), "{binary}");
            hashing.push(binary);
        } else {
            assert_eq!(size, Some(SMALLEST_MB), "{binary}");
        }
    }
    assert_eq!(hashing.len(), HASHING.len(), "{hashing:?}");
}

#[test]
fn the_receipt_key_is_a_generated_secret_no_function_sees_in_its_configuration() {
    let t = template();
    let secret = &t["Resources"]["ErasureReceiptSecret"];
    assert_eq!(text(&secret["Type"]), "AWS::SecretsManager::Secret");
    // Receipts stay checkable only with the key: it outlives the stack.
    assert_eq!(text(&secret["DeletionPolicy"]), "Retain");
    let generated = &secret["Properties"]["GenerateSecretString"];
    let length = generated["PasswordLength"].as_u64().unwrap_or(32);
    assert!(
        length as usize >= shared::domain::erasure::ReceiptKey::MIN_BYTES,
        "{length}"
    );
    assert_eq!(text(&generated["ExcludePunctuation"]), "true");
    assert!(secret["Properties"].get("SecretString").is_none());
    // No key in the parameters or any function's environment.
    assert!(t["Parameters"].get("ErasureReceiptKey").is_none());
    let globals = &t["Globals"]["Function"]["Environment"]["Variables"];
    assert!(globals.get("ERASURE_RECEIPT_KEY").is_none());
    assert!(globals.get("ERASURE_RECEIPT_SECRET").is_none());
    for (name, resource) in t["Resources"].as_mapping().unwrap() {
        let variables = &resource["Properties"]["Environment"]["Variables"];
        assert!(
            variables.get("ERASURE_RECEIPT_KEY").is_none(),
            "{}",
            text(name)
        );
    }
}
