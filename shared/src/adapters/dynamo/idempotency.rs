//! Idempotency records: one item per caller's key, in the tenant's keyspace, taken by a
//! conditional put and kept a day.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::items::*;
use super::{DynamoStore, build_error, conditional};
use crate::domain::idempotency::{Commit, KEEP_SECS, LEASE_SECS, Record};
use crate::domain::ids::{TenantId, UserId};
use crate::domain::time::Timestamp;
use crate::ports::{IdempotencyStore, StoreError};

const IN_FLIGHT: &str = "in_flight";
const COMMITTED: &str = "committed";
const DONE: &str = "done";

pub(super) fn record_pk(tenant: &TenantId, id: &str) -> String {
    format!("TENANT#{tenant}#IDEMPOTENCY#{id}")
}

fn record_key(tenant: &TenantId, id: &str) -> Item {
    key(record_pk(tenant, id), IDEMPOTENCY)
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn record_of(item: &Item) -> Result<Record, StoreError> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::Backend(format!(
            "an idempotency record lacks {name}"
        ))),
    };
    let fingerprint = text("fingerprint")?;
    match text("state")?.as_str() {
        IN_FLIGHT => {
            let lease = match item.get("lease_until") {
                Some(AttributeValue::N(v)) => v.parse::<i64>().unwrap_or(0),
                _ => 0,
            };
            Ok(Record::InFlight {
                fingerprint,
                lease_until: Timestamp::from_epoch_millis(lease * 1000)
                    .ok_or_else(|| StoreError::Backend("a lease out of range".into()))?,
            })
        }
        COMMITTED => Ok(Record::Committed {
            fingerprint,
            user_id: UserId::parse(&text("user_id")?)
                .map_err(|_| StoreError::Backend("a committed record names no user".into()))?,
        }),
        DONE => Ok(Record::Done {
            fingerprint,
            sealed: text("answer")?,
        }),
        other => Err(StoreError::Backend(format!(
            "an idempotency record is {other:?}"
        ))),
    }
}

impl DynamoStore {
    /// The write a create adds to its transaction: the key's record, committed to the user.
    pub(super) fn commit_put(
        &self,
        commit: &Commit,
        user: &UserId,
        now: Timestamp,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = record_key(&commit.tenant, &commit.id);
        item.insert("state".into(), s(COMMITTED));
        item.insert("fingerprint".into(), s(commit.fingerprint.clone()));
        item.insert("user_id".into(), s(user.to_string()));
        item.insert(TTL_ATTRIBUTE.into(), n(now.epoch_secs() + KEEP_SECS));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#s = :in_flight AND fingerprint = :f")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":in_flight", s(IN_FLIGHT))
            .expression_attribute_values(":f", s(commit.fingerprint.clone()))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn begin(
        &self,
        tenant: &TenantId,
        id: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<Option<Record>, StoreError> {
        // A key found free on a second look is tried once more. An update
        // rather than a put (the same item either way: the SET names every attribute a
        // record in flight has and the REMOVE the rest) so an idempotent write links one
        // DynamoDB operation fewer (docs/performance.md, "Sizes").
        for _ in 0..2 {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(record_key(tenant, id)))
                .update_expression(
                    "SET #s = :in_flight, fingerprint = :f, lease_until = :lease, #e = :keep \
                     REMOVE answer, user_id",
                )
                .condition_expression(
                    "attribute_not_exists(pk) OR #e < :now OR (#s = :in_flight AND lease_until < :now)",
                )
                .expression_attribute_names("#e", TTL_ATTRIBUTE)
                .expression_attribute_names("#s", "state")
                .expression_attribute_values(":now", n(now.epoch_secs()))
                .expression_attribute_values(":in_flight", s(IN_FLIGHT))
                .expression_attribute_values(":f", s(fingerprint))
                .expression_attribute_values(":lease", n(now.epoch_secs() + LEASE_SECS))
                .expression_attribute_values(":keep", n(now.epoch_secs() + KEEP_SECS))
                .send()
                .await;
            match result.map_err(|e| {
                conditional("UpdateItem", e, |s| {
                    s.is_conditional_check_failed_exception()
                })
            }) {
                Ok(_) => return Ok(None),
                Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
            // Gone, or released (its lease ended) since the condition failed: free again.
            if let Some(item) = self.item(record_pk(tenant, id), IDEMPOTENCY).await? {
                match record_of(&item)? {
                    Record::InFlight { lease_until, .. }
                        if lease_until.epoch_secs() < now.epoch_secs() => {}
                    record => return Ok(Some(record)),
                }
            }
        }
        Err(StoreError::Backend(
            "an idempotency key neither free nor held".into(),
        ))
    }

    async fn complete(
        &self,
        tenant: &TenantId,
        id: &str,
        fingerprint: &str,
        sealed: &str,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(record_key(tenant, id)))
            .update_expression("SET #s = :done, answer = :a REMOVE lease_until, user_id")
            .condition_expression("fingerprint = :f AND (#s = :in_flight OR #s = :committed)")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":done", s(DONE))
            .expression_attribute_values(":a", s(sealed))
            .expression_attribute_values(":f", s(fingerprint))
            .expression_attribute_values(":in_flight", s(IN_FLIGHT))
            .expression_attribute_values(":committed", s(COMMITTED))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                conditional("UpdateItem", e, |s| {
                    s.is_conditional_check_failed_exception()
                })
            })
    }

    async fn release(
        &self,
        tenant: &TenantId,
        id: &str,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        // Freed by ending its lease, which `begin` takes as free: an update, not a delete,
        // for the same reason as there; the record then leaves with its TTL.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(record_key(tenant, id)))
            .update_expression("SET lease_until = :ended")
            .condition_expression("fingerprint = :f AND #s = :in_flight")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":f", s(fingerprint))
            .expression_attribute_values(":in_flight", s(IN_FLIGHT))
            .expression_attribute_values(":ended", n(0))
            .send()
            .await;
        match result.map_err(|e| {
            conditional("UpdateItem", e, |s| {
                s.is_conditional_check_failed_exception()
            })
        }) {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
