//! The DynamoDB single-table store: one file per item family (users, logins, links, erasure,
//! mail, tenants), sharing the key schema and codec (`items`), update expressions (`expr`) and the
//! request plumbing below. The key schema is documented in docs/data-model.md.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, KeysAndAttributes, Put, TransactWriteItem, WriteRequest,
};

use crate::domain::ids::{TenantId, UserId};
use crate::domain::time::Timestamp;
use crate::ports::{StoreError, Unique};

mod audit;
mod erasure;
mod expr;
mod idempotency;
mod items;
mod links;
mod logins;
mod mail;
mod rate;
pub mod table;
mod tenants;
mod users;

pub use audit::{ScanFilter, audit, scan_all, scan_where};
pub use items::{
    GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, GSI3, GSI3_PK, GSI3_SK, PK, SK, TTL_ATTRIBUTE,
    keys,
};
use items::{Item, cleanup_order, key, s, version_name};

/// Transactions that collide with another transaction on the same item are retried this many
/// times before the request is answered 503.
const CONFLICT_RETRIES: usize = 3;

/// What a transaction item's failed condition means.
#[derive(Clone, Copy)]
pub(super) enum OnFail {
    Condition,
    Taken(Unique),
    Consumed,
    Capped,
    Inconsistent,
}

/// An item's key: its `pk` and `sk`, without the rest.
pub(super) fn key_of(item: &Item) -> Item {
    [PK, SK]
        .iter()
        .filter_map(|n| item.get(*n).map(|v| ((*n).to_owned(), v.clone())))
        .collect()
}

/// Most actions one `TransactWriteItems` takes.
pub(super) const TRANSACTION_MAX_ITEMS: usize = 100;

pub struct DynamoStore {
    client: Client,
    table: String,
}

/// The retry and timeout policy of every DynamoDB client: three tries, each cut at 1.5 s (a
/// connect at 1 s), backing off from 100 ms, the whole call at 5 s, so a call to an endpoint
/// that stopped answering ends well inside a function's 10 s `Timeout` and is answered 503
/// instead of dying with the function (docs/operations.md, "Timeouts and retries").
pub fn resilient(builder: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder {
    let backoff = Duration::from_millis(100);
    policy(
        builder,
        3,
        backoff,
        CONNECT_TIMEOUT,
        ATTEMPT_TIMEOUT,
        CALL_TIMEOUT,
    )
}

/// A try of a call, in [`resilient`].
pub(super) const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);
/// A whole call, its tries and backoffs, in [`resilient`].
pub(super) const CALL_TIMEOUT: Duration = Duration::from_millis(5000);

pub(super) use super::CONNECT_TIMEOUT;

/// `builder` making at most `tries` tries, backing off from `backoff`, each connect cut at
/// `connect`, each try at `attempt`, the whole call at `total`.
pub(super) fn policy(
    builder: aws_sdk_dynamodb::config::Builder,
    tries: u32,
    backoff: Duration,
    connect: Duration,
    attempt: Duration,
    total: Duration,
) -> aws_sdk_dynamodb::config::Builder {
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
    builder
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(tries)
                .with_initial_backoff(backoff),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(connect)
                .operation_attempt_timeout(attempt)
                .operation_timeout(total)
                .build(),
        )
}

/// A DynamoDB client from the shared AWS configuration, with the [`resilient`] policy.
pub fn client(config: &aws_config::SdkConfig) -> Client {
    Client::from_conf(resilient(aws_sdk_dynamodb::config::Builder::from(config)).build())
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// A put of `item` only while the stored item's `version` is `version`.
    pub(super) fn put_at_version(
        &self,
        item: Item,
        version: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        let values = HashMap::from([(
            ":version".to_owned(),
            AttributeValue::N(version.to_string()),
        )]);
        self.put(item, Some("#version = :version"), Some(values))
    }

    pub(super) fn put(
        &self,
        item: Item,
        condition: Option<&str>,
        values: Option<Item>,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(values.as_ref().map(|_| version_name()))
            .set_expression_attribute_values(values)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A delete of item `pk`/`sk`, conditional on `attribute` still being `value`.
    pub(super) fn delete_if(
        &self,
        pk: String,
        sk: &str,
        attribute: &str,
        value: AttributeValue,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .condition_expression("#a = :seen")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":seen", value)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Runs a transaction, retrying collisions with other transactions, and maps a cancelled
    /// condition to what `on_fail[i]` says item `i`'s condition means.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        on_fail: &[OnFail],
    ) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let service = match err.as_service_error() {
                Some(service) if service.is_transaction_canceled_exception() => service,
                _ => return Err(sdk_error("TransactWriteItems", err)),
            };
            let reasons = match service {
                aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                    c.cancellation_reasons().to_vec()
                }
                _ => Vec::new(),
            };
            let failed = reasons
                .iter()
                .enumerate()
                .find(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                .map(|(i, _)| i);
            if let Some(i) = failed {
                return Err(
                    match on_fail.get(i).copied().unwrap_or(OnFail::Inconsistent) {
                        OnFail::Condition => StoreError::ConditionFailed,
                        OnFail::Taken(what) => StoreError::Taken(what),
                        OnFail::Consumed => StoreError::Consumed,
                        OnFail::Capped => StoreError::Capped,
                        OnFail::Inconsistent => StoreError::Backend(format!(
                            "transaction item {i} found the table inconsistent"
                        )),
                    },
                );
            }
            let conflict = reasons
                .iter()
                .any(|r| r.code() == Some("TransactionConflict"));
            if conflict && attempt < CONFLICT_RETRIES {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(10 * (1 << attempt))).await;
                continue;
            }
            let codes: Vec<_> = reasons.iter().filter_map(|r| r.code()).collect();
            return Err(if conflict {
                StoreError::Throttled(format!("transaction kept conflicting: {codes:?}"))
            } else {
                StoreError::Backend(format!("transaction cancelled: {codes:?}"))
            });
        }
    }

    /// Reads items by key (at most 100), retrying what DynamoDB leaves unprocessed.
    pub(super) async fn batch_items(
        &self,
        keys: Vec<Item>,
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        if keys.is_empty() {
            return Ok(found);
        }
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(consistent)
                .build()
                .map_err(build_error)?,
        );
        let mut rounds = 0;
        while let Some(req) = request.take() {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, req)
                .send()
                .await
                .map_err(|e| sdk_error("BatchGetItem", e))?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            request = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys.is_empty());
            if request.is_some() {
                rounds += 1;
                if rounds > 8 {
                    return Err(StoreError::Throttled(
                        "BatchGetItem left keys unprocessed".into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(20 * rounds)).await;
            }
        }
        Ok(found)
    }

    /// Deletes items (by their keys) in batches of 25, retrying what DynamoDB leaves unprocessed.
    /// Public for the cold-start bench, which empties its table with it between invocations.
    pub async fn delete_items(&self, items: &[Item]) -> Result<(), StoreError> {
        let requests = items
            .iter()
            .map(|item| {
                DeleteRequest::builder()
                    .set_key(Some(key_of(item)))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(build_error)?;
        self.write_batches(requests).await
    }

    /// A change of the tenant's user count by `delta`, in a count item of the user's listing
    /// shard ([`items::count_sk_of`]), so concurrent sign-ups spread out. Goes in the
    /// transaction that creates or removes the user, so the count of each shard is exact: it
    /// is what tells a listing which shards to read.
    pub(super) fn count_update(
        &self,
        tenant: &TenantId,
        user: &UserId,
        delta: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::count(tenant), &items::count_sk_of(user))))
            .update_expression("ADD #n :d")
            .expression_attribute_names("#n", "users")
            .expression_attribute_values(":d", AttributeValue::N(delta.to_string()))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Sends writes in batches of 25, retrying what DynamoDB leaves unprocessed.
    pub(super) async fn write_batches(
        &self,
        requests: Vec<WriteRequest>,
    ) -> Result<(), StoreError> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            let mut rounds = 0;
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchWriteItem", e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if !pending.is_empty() {
                    rounds += 1;
                    if rounds > 8 {
                        return Err(StoreError::Throttled(
                            "BatchWriteItem left writes unprocessed".into(),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(20 * rounds)).await;
                }
            }
        }
        Ok(())
    }

    /// Removes leftovers of a user that is gone (tickets first).
    pub(super) async fn sweep(&self, user_pk: &str, items: &[Item]) -> Result<(), StoreError> {
        self.delete_items(&cleanup_order(user_pk, items)).await
    }

    /// [`Self::sweep`] once the user is gone for good: what a failure leaves expires by TTL.
    pub(super) async fn sweep_or_expire(&self, user_pk: &str, items: &[Item]) {
        if let Err(e) = self.sweep(user_pk, items).await {
            tracing::warn!(error = ?e, "items of a user that is gone are left to their TTL");
        }
    }

    /// Up to `limit` entries of one shard of the sparse due index (`gsi2`) whose due time has
    /// come at `now`, oldest first.
    pub(super) async fn due_shard(
        &self,
        shard: String,
        now: Timestamp,
        limit: usize,
    ) -> Result<aws_sdk_dynamodb::operation::query::QueryOutput, StoreError> {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("gsi2pk = :p AND gsi2sk <= :due")
            .expression_attribute_values(":p", s(shard))
            .expression_attribute_values(":due", s(format!("{now}#~")))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))
    }

    /// One item, read with strong consistency.
    pub(super) async fn item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item)
    }

    pub(super) async fn partition(&self, pk: &str) -> Result<Vec<Item>, StoreError> {
        self.query(pk, None).await
    }

    /// Every item of partition `pk` (whose sort key begins with `prefix`, when given), read
    /// with strong consistency, all pages.
    pub(super) async fn query(
        &self,
        pk: &str,
        prefix: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let condition = if prefix.is_some() {
            "pk = :pk AND begins_with(sk, :prefix)"
        } else {
            "pk = :pk"
        };
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start)
                .consistent_read(true);
            let out = match prefix {
                Some(p) => out.expression_attribute_values(":prefix", s(p)),
                None => out,
            };
            let out = out.send().await.map_err(|e| sdk_error("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// The items of partition `pk` whose sort key satisfies `condition` against `:bound`,
    /// read with strong consistency, all pages; and how many items DynamoDB read.
    pub(super) async fn range(
        &self,
        pk: &str,
        condition: &str,
        bound: &str,
    ) -> Result<(Vec<Item>, u64), StoreError> {
        let mut items = Vec::new();
        let mut read = 0;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(format!("pk = :pk AND {condition}"))
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":bound", s(bound))
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            read += u64::try_from(out.scanned_count).unwrap_or(0);
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok((items, read));
            }
        }
    }
}

pub(super) fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend(format!("request build: {e}"))
}

pub(super) fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &str,
    err: SdkError<E, HttpResponse>,
) -> StoreError {
    let code = err.code().unwrap_or("");
    // The SDK has retried these within its policy already; what is left is an outage, which
    // the caller answers 503 (docs/operations.md, "Timeouts and retries").
    let unreachable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => e.raw().status().is_server_error(),
        _ => false,
    };
    let throttled = matches!(
        code,
        "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "TransactionConflictException"
    );
    let detail = match &err {
        SdkError::ServiceError(e) => format!("{code}: {}", e.err().message().unwrap_or("")),
        other => format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(other)),
    };
    if throttled {
        StoreError::Throttled(format!("{operation}: {detail}"))
    } else if unreachable {
        StoreError::Unavailable(format!("{operation}: {detail}"))
    } else {
        StoreError::Backend(format!("{operation}: {detail}"))
    }
}

/// A single-item write's error: `ConditionFailed` when its condition did not hold.
pub(super) fn conditional<E>(
    operation: &str,
    err: SdkError<E, HttpResponse>,
    failed: impl Fn(&E) -> bool,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if err.as_service_error().is_some_and(failed) {
        StoreError::ConditionFailed
    } else {
        sdk_error(operation, err)
    }
}
