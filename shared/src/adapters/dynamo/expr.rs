//! Update expressions with a placeholder for every name and value, and the metadata merge
//! written as map-path updates with the key cap as a condition.

use std::collections::HashMap;

use super::items::attribute_of;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::metadata::{MAX_KEYS, MetadataPatch};
use crate::ports::StoreError;

/// Builds `SET`/`REMOVE` clauses with placeholders for every name and value.
#[derive(Default)]
pub(super) struct Expr {
    pub(super) set: Vec<String>,
    pub(super) remove: Vec<String>,
    pub(super) conditions: Vec<String>,
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
}

impl Expr {
    pub(super) fn name(&mut self, raw: &str) -> String {
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), raw.to_owned());
        placeholder
    }

    pub(super) fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    pub(super) fn update_expression(&self) -> String {
        let mut out = String::new();
        if !self.set.is_empty() {
            out.push_str("SET ");
            out.push_str(&self.set.join(", "));
        }
        if !self.remove.is_empty() {
            out.push_str(" REMOVE ");
            out.push_str(&self.remove.join(", "));
        }
        out
    }

    pub(super) fn metadata(
        &mut self,
        field: &str,
        patch: &MetadataPatch,
    ) -> Result<(), StoreError> {
        if patch.is_noop() {
            // DynamoDB refuses an expression with an unused name placeholder.
            return Ok(());
        }
        let f = self.name(field);
        match patch {
            MetadataPatch::Clear => {
                let empty = self.value(AttributeValue::M(HashMap::new()));
                self.set.push(format!("{f} = {empty}"));
            }
            MetadataPatch::Merge { set, remove } => {
                let mut set_paths = Vec::new();
                for (k, v) in set {
                    let path = format!("{f}.{}", self.name(k));
                    let value = self.value(attribute_of(v, "metadata")?);
                    self.set.push(format!("{path} = {value}"));
                    set_paths.push(path);
                }
                for k in remove {
                    let path = format!("{f}.{}", self.name(k));
                    self.remove.push(path);
                }
                // The key cap, without reading: either there is room for every key as a new
                // one, or every key exists already and is only replaced.
                if !set_paths.is_empty() {
                    let room = self.value(AttributeValue::N(
                        (MAX_KEYS.saturating_sub(set_paths.len())).to_string(),
                    ));
                    let all_exist: Vec<String> = set_paths
                        .iter()
                        .map(|p| format!("attribute_exists({p})"))
                        .collect();
                    self.conditions.push(format!(
                        "(size({f}) <= {room} OR ({}))",
                        all_exist.join(" AND ")
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_possible_blind_update_stays_within_dynamodbs_expression_limits() {
        use serde_json::{Map, Value};
        let longest = |prefix: &str| -> Map<String, Value> {
            (0..MAX_KEYS)
                .map(|i| (format!("{prefix}{i:0>62}"), Value::from(i)))
                .collect()
        };
        let mut e = Expr::default();
        for (field, prefix) in [("user_metadata", "u"), ("app_metadata", "a")] {
            let patch = MetadataPatch::parse(
                if field == "user_metadata" {
                    crate::domain::metadata::Kind::User
                } else {
                    crate::domain::metadata::Kind::App
                },
                Value::Object(longest(prefix)),
            )
            .unwrap();
            e.metadata(field, &patch).unwrap();
        }
        for field in [
            "phone_number",
            "name",
            "given_name",
            "family_name",
            "nickname",
            "picture",
            "email_verified",
            "phone_verified",
            "blocked",
            "updated_at",
            "version",
        ] {
            let n = e.name(field);
            let v = e.value(AttributeValue::S("x".into()));
            e.set.push(format!("{n} = {v}"));
        }
        assert!(
            e.update_expression().len() < 4096,
            "{}",
            e.update_expression().len()
        );
        assert!(
            e.conditions.join(" AND ").len() + 60 < 4096,
            "{}",
            e.conditions.join(" AND ").len()
        );
    }
}
