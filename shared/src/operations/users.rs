//! Managing users: create, read, update, list and find by email.

use super::{App, Races, Saved};
use crate::domain::Error;
use crate::domain::email::Email;
use crate::domain::erasure::first_review;
use crate::domain::idempotency::{Commit, in_flight};
use crate::domain::ids::{TenantId, UserId};
use crate::domain::listing::{Filter, Occupancy, PAGE_BUDGET_BYTES, Page, PageRequest, placed_id};
use crate::domain::login::Credential;
use crate::domain::message::SendCap;
use crate::domain::new_user::NewUser;
use crate::domain::password::PasswordHash;
use crate::domain::user::User;
use crate::domain::user_patch::UserPatch;
use crate::ports::{Effects, FieldUpdate, StoreError};
use crate::ports::{PasswordHasher, Store};

impl<S: Store, H: PasswordHasher> App<S, H> {
    /// Creates a user; a database user with an unverified address is sent a verification
    /// email, queued in the same transaction (see [`super::email`]). Under an idempotency key
    /// (`commit`), the same transaction marks its record committed to the new user.
    ///
    /// The user's id is drawn again so its listing shard is among those the tenant's size
    /// calls for ([`crate::domain::listing`]): a small tenant's users share one shard.
    pub async fn create_user(
        &self,
        mut new: NewUser,
        commit: Option<&Commit>,
    ) -> Result<Saved, Error> {
        let tenant = new.user.tenant_id.clone();
        let tenant = &tenant;
        // The hash needs nothing of the tenant's, so a cold cache's read of its settings and
        // size runs while it does (docs/performance.md, "Cold starts"); it is handed to its
        // thread first, before the read's request is built.
        let hashing = async {
            match &new.password {
                Some(password) => self.hasher.hash(password).await.map(Some),
                None => Ok(None),
            }
        };
        let (hash, spread) = tokio::join!(hashing, self.listing_spread(tenant));
        let hash = hash?;
        // Before anything names the id (its verification link, its key's record).
        new.place(placed_id(spread?));
        let policies = self.tenant(tenant).await?.policies;
        new.user.review_at = first_review(&policies, &new.user);
        let mail = match (&new.user.email, new.verify_email) {
            (Some(email), true) => vec![self.verification(&new.user, email, false)],
            _ => Vec::new(),
        };
        let prepared = self.prepare(mail)?;
        let created = self
            .users
            .create_committing(&new.user, hash.as_ref(), &prepared.queued, commit)
            .await;
        match created {
            // Another request took the key over (this one outlived its lease).
            Err(StoreError::ConditionFailed) if commit.is_some() => return Err(in_flight()),
            other => other?,
        }
        self.settings_cache.created(tenant);
        self.record_size_if_due(tenant).await;
        let emails = self.send_now(prepared, &new.user).await;
        Ok(Saved {
            user: new.user,
            emails,
        })
    }

    /// Applies `patch`. A change that only sets root fields without a guard and merges
    /// metadata is one conditional write; anything else (email, username, password) and any
    /// blind write whose condition failed is applied to the current user in a transaction
    /// conditional on its version.
    pub async fn patch_user(
        &self,
        tenant: &TenantId,
        id: &UserId,
        patch: &UserPatch,
        if_match: Option<u64>,
    ) -> Result<Saved, Error> {
        let mut must_read = patch.needs_current() || patch.is_noop();
        let mut hash: Option<PasswordHash> = None;
        let mut races = Races::new("a PATCH");
        loop {
            races.next()?;
            if !must_read {
                let (set, remove) = patch.root_changes();
                let update = FieldUpdate {
                    set,
                    remove,
                    user_metadata: patch.user_metadata.clone(),
                    app_metadata: patch.app_metadata.clone(),
                    updated_at: self.clock.now(),
                };
                match self.users.update(tenant, id, &update, if_match).await {
                    Ok(user) => return Ok(Saved::quiet(user)),
                    Err(StoreError::ConditionFailed) => {
                        must_read = true;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let current = self.get_matching(tenant, id, if_match).await?;
            if patch.is_noop() {
                return Ok(Saved::quiet(current));
            }
            let mut next = current.clone();
            let password = patch.apply(&mut next, self.clock.now())?;
            if let (Some(password), None) = (&password, &hash) {
                hash = Some(self.hasher.hash(password).await?);
            }
            // A new address that is not marked verified is sent a verification, unless the
            // patch says not to.
            let mail = match &next.email {
                Some(email)
                    if patch.email.is_some()
                        && current.email_key() != next.email_key()
                        && !next.email_verified
                        && patch.verify_email != Some(false) =>
                {
                    vec![self.verification(&next, email, false)]
                }
                _ => Vec::new(),
            };
            let prepared = self.prepare(mail)?;
            let effects = Effects {
                mail: &prepared.queued,
                cap: self.email.send_cap,
                redeem: None,
            };
            match self
                .users
                .replace(
                    &current,
                    &next,
                    hash.as_ref().map(|h| (&Credential::Own, h)),
                    effects,
                )
                .await
            {
                Ok(()) => {
                    if hash.is_some() {
                        self.clear_blocks_after_password(tenant, id).await;
                    }
                    let emails = self.send_now(prepared, &next).await;
                    return Ok(Saved { user: next, emails });
                }
                Err(StoreError::ConditionFailed) => continue,
                Err(StoreError::Capped) => return Err(SendCap::exceeded(self.clock.now())),
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub async fn list_users(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page, Error> {
        let mut page = self.users.list(tenant, page).await?;
        page.fit(PAGE_BUDGET_BYTES);
        Ok(page)
    }

    /// One page of the tenant's users a filter names.
    pub async fn list_users_where(
        &self,
        tenant: &TenantId,
        filter: &Filter,
        page: &PageRequest,
    ) -> Result<Page, Error> {
        let mut page = self.users.list_where(tenant, filter, page).await?;
        page.fit(PAGE_BUDGET_BYTES);
        Ok(page)
    }

    /// How many of the tenant's users a filter names, up to `at_most`; `known`, the tenant's
    /// counts if a page already read them.
    pub async fn count_users_where(
        &self,
        tenant: &TenantId,
        filter: &Filter,
        at_most: u64,
        known: Option<&Occupancy>,
    ) -> Result<u64, Error> {
        Ok(self
            .users
            .count_where(tenant, filter, at_most, known)
            .await?)
    }

    pub async fn users_by_email(
        &self,
        tenant: &TenantId,
        email: &Email,
    ) -> Result<Vec<User>, Error> {
        Ok(self.users.find_by_email(tenant, email).await?)
    }
}
