//! Each function's IAM policy in template.yaml grants exactly the DynamoDB and SES actions
//! its requests made across the test suite: none missing (a call AWS would refuse, a 500 that
//! moto never shows) and none unused.
//!
//! The calls come from the rest of the suite: `make test` runs it with `CALL_LOG_DIR` set,
//! where `local_api::moto` writes each (function, action) pair it sees, then runs this test.

use std::collections::{BTreeMap, BTreeSet};

use serde_norway::Value;

type Actions = BTreeMap<String, BTreeSet<String>>;

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn list(v: &Value) -> &[Value] {
    v.as_sequence().map_or(&[], Vec::as_slice)
}

/// Each function's binary and the actions its policies allow.
fn granted() -> Actions {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let template: Value = serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut granted = Actions::new();
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        if text(&resource["Type"]) != "AWS::Serverless::Function" {
            continue;
        }
        let binary = local_api::template::binary_of(&text(name));
        let actions = granted.entry(binary).or_default();
        for policy in list(&resource["Properties"]["Policies"]) {
            for statement in list(&policy["Statement"]) {
                assert_eq!(text(&statement["Effect"]), "Allow");
                actions.extend(list(&statement["Action"]).iter().map(text));
            }
        }
    }
    granted
}

/// The (function, action) pairs the suite recorded.
fn made() -> Actions {
    let dir = std::env::var_os("CALL_LOG_DIR").unwrap_or_else(|| {
        panic!("CALL_LOG_DIR is not set: run this test through `make test`, after the suite")
    });
    let mut made = Actions::new();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no calls recorded in {}: {e}", dir.to_string_lossy()));
    for entry in entries {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            let (function, action) = line.split_once(' ').unwrap();
            made.entry(function.to_owned())
                .or_default()
                .insert(action.to_owned());
        }
    }
    assert!(!made.is_empty(), "the suite recorded no calls");
    made
}

#[test]
fn every_policy_grants_exactly_the_actions_its_function_makes() {
    let granted = granted();
    let made = made();
    let mut wrong = Vec::new();
    for (function, allowed) in &granted {
        let used = made.get(function).cloned().unwrap_or_default();
        let missing: Vec<_> = used.difference(allowed).collect();
        let unused: Vec<_> = allowed.difference(&used).collect();
        if !missing.is_empty() {
            wrong.push(format!(
                "{function} makes calls its policy lacks: {missing:?}"
            ));
        }
        if !unused.is_empty() {
            wrong.push(format!(
                "{function} is granted actions no test saw it make: {unused:?}"
            ));
        }
    }
    for function in made.keys() {
        if !granted.contains_key(function) {
            wrong.push(format!(
                "{function} made calls but is no function of template.yaml"
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}
