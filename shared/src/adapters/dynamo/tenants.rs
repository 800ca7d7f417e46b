//! Tenant settings: one item per tenant with the stored layer and its version, and one item
//! per change, in the tenant's own partition.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::items::*;
use super::mail::ticket_of;
use super::users::{login_guard, login_of};
use super::{DynamoStore, OnFail, sdk_error};
use crate::domain::ids::{Connection, TenantId, UserId};
use crate::domain::login::{Credential, Identifier};
use crate::domain::tenant::{SettingsChange, StoredSettings};
use crate::domain::ticket::{Ticket, TicketHash};
use crate::domain::user::User;
use crate::ports::{StoreError, TenantSize, TenantStore};

#[async_trait]
impl TenantStore for DynamoStore {
    async fn settings(&self, tenant: &TenantId) -> Result<Option<StoredSettings>, StoreError> {
        self.item(keys::settings(tenant), SETTINGS)
            .await?
            .map(settings_of)
            .transpose()
    }

    async fn settings_and_size(
        &self,
        tenant: &TenantId,
    ) -> Result<(Option<StoredSettings>, TenantSize), StoreError> {
        // 50 keys, within one BatchGetItem's 100: the settings item, every count item and the
        // recorded size.
        let settings_key = key(keys::settings(tenant), SETTINGS);
        let mut wanted = vec![settings_key.clone()];
        wanted.extend(count_keys(tenant));
        wanted.push(key(keys::count(tenant), keys::RECORDED_SIZE));
        let mut stored = None;
        let mut counted: i64 = 0;
        let mut recorded = None;
        for item in self.batch_items(wanted, true).await? {
            if item.get(PK) == settings_key.get(PK) {
                stored = Some(settings_of(item)?);
            } else if matches!(item.get(SK), Some(AttributeValue::S(sk)) if sk == keys::RECORDED_SIZE)
            {
                recorded = Some(recorded_users(&item));
            } else {
                counted = counted.saturating_add(counted_users(&item));
            }
        }
        let size = TenantSize {
            counted: u64::try_from(counted).unwrap_or(0),
            recorded,
        };
        Ok((stored, size))
    }

    async fn settings_and_recorded_size(
        &self,
        tenant: &TenantId,
    ) -> Result<(Option<StoredSettings>, Option<u64>), StoreError> {
        let size_key = key(keys::count(tenant), keys::RECORDED_SIZE);
        let (stored, size) = self.settings_beside(tenant, size_key).await?;
        Ok((stored, size.as_ref().map(recorded_users)))
    }

    async fn settings_and_user(
        &self,
        tenant: &TenantId,
        id: &UserId,
    ) -> Result<(Option<StoredSettings>, Option<User>), StoreError> {
        let user_key = key(keys::user(tenant, id), PROFILE);
        let (stored, user) = self.settings_beside(tenant, user_key).await?;
        Ok((stored, user.map(user_of).transpose()?))
    }

    async fn settings_and_login(
        &self,
        tenant: &TenantId,
        identifier: &Identifier,
        connection: &Connection,
    ) -> Result<(Option<StoredSettings>, Option<(UserId, Credential)>), StoreError> {
        let guard = login_guard(tenant, identifier, connection);
        let (stored, found) = self
            .settings_beside(tenant, key(guard.pk, &guard.sk))
            .await?;
        Ok((stored, found.as_ref().and_then(login_of)))
    }

    async fn settings_and_ticket(
        &self,
        tenant: &TenantId,
        hash: &TicketHash,
    ) -> Result<(Option<StoredSettings>, Option<Ticket>), StoreError> {
        let ticket_key = key(ticket_pk(tenant, hash), TICKET);
        let (stored, found) = self.settings_beside(tenant, ticket_key).await?;
        let ticket = found.map(|item| ticket_of(item, tenant)).transpose()?;
        Ok((stored, ticket.flatten()))
    }

    async fn record_size(&self, tenant: &TenantId, users: u64) -> Result<(), StoreError> {
        // An UpdateItem, not a PutItem: the create function links UpdateItem already (the
        // rate limiter's draw), and PutItem's code would add to its size.
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::count(tenant), keys::RECORDED_SIZE)))
            .update_expression("SET #users = :users")
            .expression_attribute_names("#users", "users")
            .expression_attribute_values(":users", AttributeValue::N(users.to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("UpdateItem", e))
    }

    async fn settings_with_history(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<(Option<StoredSettings>, Vec<SettingsChange>), StoreError> {
        // Newest first: `SETTINGS` sorts after every `HISTORY#`, so it comes first.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::settings(tenant)))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        let mut stored = None;
        let mut history = Vec::new();
        for item in out.items.unwrap_or_default() {
            match item.get(SK) {
                Some(AttributeValue::S(sk)) if sk == SETTINGS => stored = Some(settings_of(item)?),
                Some(AttributeValue::S(sk)) if sk.starts_with(HISTORY_PREFIX) => {
                    history.push(change_of(item)?)
                }
                _ => {}
            }
        }
        history.truncate(limit);
        Ok((stored, history))
    }

    async fn put_settings(
        &self,
        tenant: &TenantId,
        next: &StoredSettings,
        expected: u64,
        change: &SettingsChange,
    ) -> Result<(), StoreError> {
        let settings = if expected == 0 {
            self.put(
                settings_item(tenant, next)?,
                Some("attribute_not_exists(pk)"),
                None,
            )?
        } else {
            self.put_at_version(settings_item(tenant, next)?, expected)?
        };
        let history = self.put(
            change_item(tenant, change)?,
            Some("attribute_not_exists(pk)"),
            None,
        )?;
        self.transact(
            vec![settings, history],
            &[OnFail::Condition, OnFail::Condition],
        )
        .await
    }
}

/// The `users` of the recorded size item: written as a count, so a count item's reading.
fn recorded_users(item: &Item) -> u64 {
    u64::try_from(counted_users(item)).unwrap_or(0)
}

impl DynamoStore {
    /// The tenant's settings and one other item (`other`, a key outside the settings'
    /// partition), in one strongly consistent `BatchGetItem` of the two.
    async fn settings_beside(
        &self,
        tenant: &TenantId,
        other: Item,
    ) -> Result<(Option<StoredSettings>, Option<Item>), StoreError> {
        let settings_key = key(keys::settings(tenant), SETTINGS);
        let mut stored = None;
        let mut found = None;
        for item in self
            .batch_items(vec![settings_key.clone(), other], true)
            .await?
        {
            if item.get(PK) == settings_key.get(PK) {
                stored = Some(settings_of(item)?);
            } else {
                found = Some(item);
            }
        }
        Ok((stored, found))
    }
}
