//! Linking and unlinking: both users, their passwords and their guards in one transaction.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::items::*;
use super::{DynamoStore, OnFail};
use crate::domain::login::Credential;
use crate::domain::user::User;
use crate::ports::LinkStore;
use crate::ports::StoreError;

#[async_trait]
impl LinkStore for DynamoStore {
    async fn link(&self, primary: &User, next: &User, secondary: &User) -> Result<(), StoreError> {
        let tenant = &primary.tenant_id;
        let gone = keys::user(tenant, &secondary.user_id);
        let items = self.partition(&gone).await?;
        let mut writes = vec![
            self.put_at_version(self.profile_item(next)?, primary.version)?,
            self.delete_if(
                gone.clone(),
                PROFILE,
                "version",
                AttributeValue::N(secondary.version.to_string()),
            )?,
        ];
        let mut on_fail = vec![OnFail::Condition, OnFail::Condition];
        let hash = items
            .iter()
            .find(|i| i.get(SK) == Some(&s(PASSWORD)))
            .and_then(|i| match i.get("hash") {
                Some(AttributeValue::S(h)) => Some(h.clone()),
                _ => None,
            });
        if let Some(hash) = hash {
            let identity = Credential::Linked(secondary.identities[0].user_id.clone());
            writes.extend(self.password_move(
                (gone.clone(), PASSWORD),
                (
                    keys::user(tenant, &primary.user_id),
                    &password_sk(&identity),
                ),
                &hash,
                next.updated_at,
            )?);
            on_fail.extend([OnFail::Condition, OnFail::Inconsistent]);
        }
        let mut before = guards(primary);
        before.extend(guards(secondary));
        let (guard_writes, fails) = self.guard_writes(&before, &guards(next))?;
        writes.extend(guard_writes);
        on_fail.extend(fails);
        writes.push(self.count_update(tenant, &secondary.user_id, -1)?);
        on_fail.push(OnFail::Inconsistent);
        self.transact(writes, &on_fail).await?;
        // The password moved and the presence entries went with the guards, in the transaction.
        let rest: Vec<Item> = items
            .into_iter()
            .filter(|i| i.get(SK) != Some(&s(PASSWORD)) && !is_search_entry(i))
            .collect();
        self.sweep_or_expire(&gone, &rest).await;
        Ok(())
    }

    async fn unlink(&self, primary: &User, next: &User, restored: &User) -> Result<(), StoreError> {
        let tenant = &primary.tenant_id;
        let back = keys::user(tenant, &restored.user_id);
        let leftovers = self.partition(&back).await?;
        // A user already there is a concurrent unlink of the same identity that won: the
        // caller reads the primary again and finds the identity gone.
        if leftovers.iter().any(|i| i.get(SK) == Some(&s(PROFILE))) {
            return Err(StoreError::ConditionFailed);
        }
        // Whatever is left under the id (a ticket minted while the link committed, counters
        // of a login in flight) must not come back to life with the user: no restore until
        // it is gone.
        self.sweep(&back, &leftovers).await?;
        let held = keys::user(tenant, &primary.user_id);
        let linked_sk = password_sk(&Credential::Linked(restored.identities[0].user_id.clone()));
        // Only a database identity has a password to move back.
        let stored = if restored.connection().is_database() {
            self.item(held.clone(), &linked_sk).await?
        } else {
            None
        };
        let hash = match stored.as_ref().and_then(|i| i.get("hash")) {
            Some(AttributeValue::S(h)) => Some(h.clone()),
            _ => None,
        };
        let mut writes = vec![
            self.put_at_version(self.profile_item(next)?, primary.version)?,
            self.put(
                self.profile_item(restored)?,
                Some("attribute_not_exists(pk)"),
                None,
            )?,
        ];
        let mut on_fail = vec![OnFail::Condition, OnFail::Inconsistent];
        if let Some(hash) = hash {
            writes.extend(self.password_move(
                (held, &linked_sk),
                (back, PASSWORD),
                &hash,
                next.updated_at,
            )?);
            on_fail.extend([OnFail::Condition, OnFail::Inconsistent]);
        }
        let mut after = guards(next);
        after.extend(guards(restored));
        let (guard_writes, fails) = self.guard_writes(&guards(primary), &after)?;
        writes.extend(guard_writes);
        on_fail.extend(fails);
        writes.push(self.count_update(tenant, &restored.user_id, 1)?);
        on_fail.push(OnFail::Inconsistent);
        self.transact(writes, &on_fail).await
    }
}
