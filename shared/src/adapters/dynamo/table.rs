//! The table's definition, in one place: the local scripts and the tests create the table
//! from it, and a test holds template.yaml's table to it.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::{
    GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, GSI3, GSI3_PK, GSI3_SK, PK, SK, TTL_ATTRIBUTE,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub hash_key: &'static str,
    pub range_key: &'static str,
    /// `KEYS_ONLY`, `INCLUDE` or `ALL`, as CloudFormation spells it.
    pub projection: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// Every key attribute, all strings.
    pub string_attributes: Vec<&'static str>,
    pub hash_key: &'static str,
    pub range_key: &'static str,
    pub indexes: Vec<IndexSpec>,
    pub ttl_attribute: &'static str,
}

pub fn spec() -> TableSpec {
    TableSpec {
        string_attributes: vec![PK, SK, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, GSI3_PK, GSI3_SK],
        hash_key: PK,
        range_key: SK,
        indexes: vec![
            IndexSpec {
                name: GSI1,
                hash_key: GSI1_PK,
                range_key: GSI1_SK,
                projection: "KEYS_ONLY",
            },
            IndexSpec {
                name: GSI2,
                hash_key: GSI2_PK,
                range_key: GSI2_SK,
                projection: "ALL",
            },
            IndexSpec {
                name: GSI3,
                hash_key: GSI3_PK,
                range_key: GSI3_SK,
                projection: "KEYS_ONLY",
            },
        ],
        ttl_attribute: TTL_ATTRIBUTE,
    }
}

fn key_schema(hash: &str, range: &str) -> Vec<KeySchemaElement> {
    [(hash, KeyType::Hash), (range, KeyType::Range)]
        .into_iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .expect("name and type are set")
        })
        .collect()
}

/// Creates the table (on-demand) with its index and TTL, unless it exists already.
pub async fn create(client: &Client, name: &str) -> Result<(), String> {
    let spec = spec();
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(spec.hash_key, spec.range_key)));
    for attribute in &spec.string_attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(*attribute)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    for index in &spec.indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .set_key_schema(Some(key_schema(index.hash_key, index.range_key)))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(index.projection))
                        .build(),
                )
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(e) => {
            return Err(format!(
                "CreateTable {name}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            ));
        }
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(spec.ttl_attribute)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map_err(|e| {
            format!(
                "UpdateTimeToLive {name}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        })?;
    Ok(())
}
