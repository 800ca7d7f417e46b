//! Erasure: everything of a user removed with a receipt, and the sparse, sharded due index
//! the purge reads.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem};

use super::items::*;
use super::{DynamoStore, OnFail, TRANSACTION_MAX_ITEMS, build_error, key_of, sdk_error};
use crate::domain::erasure::Receipt;
use crate::domain::ids::{TenantId, UserId};
use crate::domain::login::Credential;
use crate::domain::time::Timestamp;
use crate::domain::user::User;
use crate::ports::StoreError;
use crate::ports::{Deleted, Due, ErasureStore};

impl DynamoStore {
    /// Erases `user` in one transaction: the profile (conditional on the version read), its
    /// passwords and guards, the receipt, the count, and `leftovers` (its other items, and the
    /// tickets they name). Leftovers beyond what a transaction holds go first, tickets first,
    /// in transactions of their own, so an erasure stopped halfway leaves the profile, and
    /// with it the way back to everything else. Transactions rather than `BatchWriteItem`:
    /// a usual erasure is one call, all or nothing, and a function that erases links one
    /// DynamoDB operation fewer (docs/performance.md, "Sizes"); they cost twice the write
    /// units of a batch, once per erasure.
    pub(super) async fn erase_with(
        &self,
        user: &User,
        leftovers: &[Item],
        receipt: &Receipt,
    ) -> Result<(), StoreError> {
        let pk = keys::user(&user.tenant_id, &user.user_id);
        let leftovers: Vec<Item> = leftovers
            .iter()
            .filter(|i| !is_search_entry(i))
            .cloned()
            .collect();
        let mut leftovers = cleanup_order(&pk, &leftovers);
        // A transaction may name an item once.
        let mut seen = std::collections::HashSet::new();
        leftovers.retain(|item| {
            let text = |name| match item.get(name) {
                Some(AttributeValue::S(v)) => v.clone(),
                _ => String::new(),
            };
            seen.insert((text(PK), text(SK)))
        });
        let mut writes = vec![self.delete_if(
            pk.clone(),
            PROFILE,
            "version",
            AttributeValue::N(user.version.to_string()),
        )?];
        let mut on_fail = vec![OnFail::Condition];
        let passwords = std::iter::once(Credential::Own).chain(
            user.identities[1..]
                .iter()
                .filter(|i| i.connection.is_database())
                .map(|i| Credential::Linked(i.user_id.clone())),
        );
        for credential in passwords {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), &password_sk(&credential))))
                .build()
                .map_err(build_error)?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
            on_fail.push(OnFail::Inconsistent);
        }
        for guard in guards(user) {
            writes.push(self.guard_delete(&guard, &user.user_id)?);
            on_fail.push(OnFail::Inconsistent);
        }
        writes.push(self.put(receipt_item(receipt)?, None, None)?);
        on_fail.push(OnFail::Inconsistent);
        writes.push(self.count_update(&user.tenant_id, &user.user_id, -1)?);
        on_fail.push(OnFail::Inconsistent);
        let room = TRANSACTION_MAX_ITEMS.saturating_sub(writes.len());
        let inside = leftovers.split_off(leftovers.len().saturating_sub(room));
        for chunk in leftovers.chunks(TRANSACTION_MAX_ITEMS) {
            let deletes = chunk
                .iter()
                .map(|item| self.delete_of(item))
                .collect::<Result<Vec<_>, _>>()?;
            let on_fail = vec![OnFail::Inconsistent; deletes.len()];
            self.transact(deletes, &on_fail).await?;
        }
        for item in &inside {
            writes.push(self.delete_of(item)?);
            on_fail.push(OnFail::Inconsistent);
        }
        self.transact(writes, &on_fail).await
    }

    /// A transaction's unconditional delete of `item` (by its key).
    fn delete_of(&self, item: &Item) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key_of(item)))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

#[async_trait]
impl ErasureStore for DynamoStore {
    async fn delete(
        &self,
        tenant: &TenantId,
        id: &UserId,
        expected: Option<u64>,
        receipt: &Receipt,
    ) -> Result<Deleted, StoreError> {
        let pk = keys::user(tenant, id);
        let items = self.partition(&pk).await?;
        let Some(profile) = items
            .iter()
            .find(|i| i.get(SK) == Some(&s(PROFILE)))
            .cloned()
        else {
            return Ok(Deleted::NotFound);
        };
        let user = user_of(profile)?;
        if expected.is_some_and(|v| v != user.version) {
            return Err(StoreError::ConditionFailed);
        }
        let leftovers: Vec<Item> = items
            .into_iter()
            .filter(|i| match i.get(SK) {
                Some(AttributeValue::S(sk)) => sk != PROFILE && !sk.starts_with(PASSWORD),
                _ => false,
            })
            .collect();
        self.erase_with(&user, &leftovers, receipt).await?;
        Ok(Deleted::Yes)
    }

    async fn due_erasures(&self, now: Timestamp, limit: usize) -> Result<Due, StoreError> {
        let per_shard = limit.div_ceil(usize::from(ERASE_SHARDS)).max(1);
        let queries =
            (0..ERASE_SHARDS).map(|shard| self.due_shard(erase_shard_key(shard), now, per_shard));
        let mut due = Due {
            users: Vec::new(),
            items_read: 0,
            more: false,
        };
        for out in futures::future::join_all(queries).await {
            let out = out?;
            due.items_read += u64::try_from(out.scanned_count).unwrap_or(0);
            due.more |= out.last_evaluated_key.is_some();
            for item in out.items.unwrap_or_default() {
                // One profile that does not parse must not stop every tenant's purge.
                match user_of(item) {
                    Ok(user) => due.users.push(user),
                    Err(e) => tracing::error!(error = ?e, "a due profile does not parse; skipped"),
                }
            }
        }
        Ok(due)
    }

    async fn erase(&self, user: &User, receipt: &Receipt) -> Result<u64, StoreError> {
        let pk = keys::user(&user.tenant_id, &user.user_id);
        // `user` comes from the index, which may lag: claim the profile (a write conditional
        // on the version read) before removing anything, so a deletion cancelled or a user
        // changed since loses nothing.
        let claimed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), PROFILE)))
            .update_expression("SET #version = :next")
            .condition_expression("#version = :seen")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":seen", AttributeValue::N(user.version.to_string()))
            .expression_attribute_values(":next", AttributeValue::N((user.version + 1).to_string()))
            .send()
            .await;
        if let Err(err) = claimed {
            return Err(
                if err
                    .as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception())
                {
                    StoreError::ConditionFailed
                } else {
                    sdk_error("UpdateItem", err)
                },
            );
        }
        let mut user = user.clone();
        user.version += 1;
        let user = &user;
        // The profile and passwords are known from `user`: only what sorts before the
        // passwords (LOGIN#, OUTBOX#) and after the profile (SENDS#, TICKET#) is read.
        let (before, after) = futures::future::join(
            self.range(&pk, "sk < :bound", PASSWORD),
            self.range(&pk, "sk > :bound", PROFILE),
        )
        .await;
        let (mut leftovers, read_before) = before?;
        let (rest, read_after) = after?;
        leftovers.extend(rest);
        self.erase_with(user, &leftovers, receipt).await?;
        Ok(read_before + read_after)
    }

    async fn keep_receipt(&self, receipt: &Receipt) -> Result<bool, StoreError> {
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(receipt_item(receipt)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match written {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error("PutItem", e)),
        }
    }
}

impl DynamoStore {
    /// Every erasure receipt erased at or after `from`, by a scan of the whole table (receipts
    /// have no index): for re-applying erasures after a restore, an operator's one-off, never
    /// a function's path. The scan reads every item once; only receipts come back.
    pub async fn receipts_since(&self, from: Timestamp) -> Result<Vec<Receipt>, StoreError> {
        let filter = super::ScanFilter {
            // Timestamps are fixed-width UTC text, so they compare as they sort.
            expression: "sk = :receipt AND erased_at >= :from",
            values: &[(":receipt", s("RECEIPT")), (":from", s(from.to_string()))],
        };
        super::scan_where(&self.client, &self.table, Some(&filter))
            .await
            .map_err(StoreError::Backend)?
            .into_iter()
            .map(receipt_of)
            .collect()
    }
}
