//! Erasure: at once (`DELETE /users/{id}`), self-service after a grace period (`DELETE /me`),
//! the scheduled purge that erases what is due and applies the tenants' policies, and the
//! re-application of erasures to a table restored to an earlier point in time. The rules are
//! [`crate::domain::erasure`]'s.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::{App, Races, Saved, precondition_failed};
use crate::domain::Error;
use crate::domain::erasure::{
    DAY_SECS, Decision, KeyVersion, PurgeReport, Reason, Receipt, ReceiptKey, decide,
};
use crate::domain::ids::{TenantId, UserId};
use crate::domain::listing::{MAX_LIMIT, PageRequest, Position};
use crate::domain::message::{Job, Message, MessageKind, SendCap};
use crate::domain::time::Timestamp;
use crate::domain::user::User;
use crate::ports::{Deleted, Effects, StoreError};
use crate::ports::{PasswordHasher, ReceiptKeys, Store};

/// What re-applying erasures to a restored table did ([`App::reapply_erasures`]).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ReapplyReport {
    /// Receipts given.
    pub receipts: usize,
    /// Users found in the restored table and erased there.
    pub erased: usize,
    /// Receipts whose user the table did not hold (or that could not be matched), written
    /// to it because it did not hold them yet.
    pub receipts_copied: usize,
    /// Receipts that name no key version, with none given for them: copied, not matched.
    pub unversioned: usize,
    /// Receipts whose key version the secret no longer has: copied, not matched.
    pub unmatchable: usize,
    /// Those versions.
    pub missing_versions: Vec<KeyVersion>,
}

impl ReapplyReport {
    /// Whether every receipt could be looked for: none of unknown key or without a version.
    pub fn complete(&self) -> bool {
        self.unversioned == 0 && self.unmatchable == 0
    }
}

/// What looking at one due account came to (with the items it read).
enum Outcome {
    Purged(u64),
    Skipped(u64),
    Warned(u64),
    Rescheduled(u64),
}

impl<S: Store, H: PasswordHasher> App<S, H> {
    /// `DELETE /users/{id}`: erasure now, receipted with `actor` (the caller's `sub`).
    pub async fn delete_user(
        &self,
        tenant: &TenantId,
        id: &UserId,
        if_match: Option<u64>,
        actor: &str,
    ) -> Result<(), Error> {
        let receipt = || {
            self.erasure
                .receipt(tenant, id, self.clock.now(), Reason::Admin, actor)
        };
        match self.erase_now(tenant, id, if_match, receipt).await? {
            Deleted::Yes => Ok(()),
            Deleted::NotFound => Err(Error::user_not_found()),
        }
    }

    /// Erases the user at once with the receipt `receipt` makes (afresh on each try, as its
    /// time is the erasure's), retrying lost races unless `if_match` pins the version.
    async fn erase_now(
        &self,
        tenant: &TenantId,
        id: &UserId,
        if_match: Option<u64>,
        receipt: impl Fn() -> Result<Receipt, Error>,
    ) -> Result<Deleted, Error> {
        let mut races = Races::new("a DELETE");
        loop {
            races.next()?;
            match self
                .erasures
                .delete(tenant, id, if_match, &receipt()?)
                .await
            {
                Ok(deleted) => return Ok(deleted),
                Err(StoreError::ConditionFailed) if if_match.is_some() => {
                    let current = self.get_user(tenant, id).await?;
                    return Err(precondition_failed(current.version));
                }
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Re-applies, to this app's table (restored to an earlier point in time), the erasures
    /// `receipts` record (read from the table that went on after that point): each receipt's
    /// user, found here by computing the keyed hash of every user of the receipt's tenant
    /// under the key version the receipt names, is erased through the same erasure as
    /// `DELETE /users/{id}`, whose transaction writes the receipt itself, unchanged (no new
    /// receipt: the restored table gets the proof the other one holds). A receipt whose user
    /// this table does not hold (created after the restore point, or already erased here) is
    /// copied unless already here. Running it again erases nothing and writes nothing.
    /// `unversioned`: the key version of receipts that name none (written before the key
    /// moved to Secrets Manager); without it they are copied, never matched.
    pub async fn reapply_erasures(
        &self,
        receipts: &[Receipt],
        keys: &impl ReceiptKeys,
        unversioned: Option<&KeyVersion>,
    ) -> Result<ReapplyReport, Error> {
        let mut report = ReapplyReport {
            receipts: receipts.len(),
            ..ReapplyReport::default()
        };
        // Each key version once, and each tenant's receipts by the version they need.
        let mut versions: BTreeMap<KeyVersion, Option<ReceiptKey>> = BTreeMap::new();
        let mut wanted: BTreeMap<String, Vec<&Receipt>> = BTreeMap::new();
        let mut unmatched: Vec<&Receipt> = Vec::new();
        for receipt in receipts {
            let Some(version) = receipt.key_version.as_ref().or(unversioned) else {
                report.unversioned += 1;
                unmatched.push(receipt);
                continue;
            };
            if !versions.contains_key(version) {
                let key = keys.version(version).await?;
                if key.is_none() {
                    report.missing_versions.push(version.clone());
                }
                versions.insert(version.clone(), key);
            }
            if versions[version].is_none() {
                report.unmatchable += 1;
                unmatched.push(receipt);
                continue;
            }
            wanted
                .entry(receipt.tenant_id.to_string())
                .or_default()
                .push(receipt);
        }
        for tenant_receipts in wanted.values() {
            let tenant = &tenant_receipts[0].tenant_id;
            let mut found = self
                .match_receipts(tenant, tenant_receipts, &versions, unversioned)
                .await?;
            for receipt in tenant_receipts {
                let Some(id) = found.remove(&receipt.subject) else {
                    unmatched.push(receipt);
                    continue;
                };
                let copy = || Ok((*receipt).clone());
                match self.erase_now(tenant, &id, None, copy).await? {
                    Deleted::Yes => report.erased += 1,
                    // Erased since the walk read it: by an earlier run, or another erasure.
                    Deleted::NotFound => unmatched.push(receipt),
                }
            }
        }
        for receipt in unmatched {
            if self.erasures.keep_receipt(receipt).await? {
                report.receipts_copied += 1;
            }
        }
        Ok(report)
    }

    /// The users of `tenant` that `receipts` name, by subject: one walk of the tenant's
    /// listing, each user hashed under every key version those receipts use.
    async fn match_receipts(
        &self,
        tenant: &TenantId,
        receipts: &[&Receipt],
        versions: &BTreeMap<KeyVersion, Option<ReceiptKey>>,
        unversioned: Option<&KeyVersion>,
    ) -> Result<HashMap<String, UserId>, Error> {
        let mut subjects: HashSet<&str> = HashSet::new();
        let mut keys: BTreeMap<&KeyVersion, &ReceiptKey> = BTreeMap::new();
        for receipt in receipts {
            subjects.insert(&receipt.subject);
            if let Some(version) = receipt.key_version.as_ref().or(unversioned)
                && let Some(Some(key)) = versions.get(version)
            {
                keys.insert(version, key);
            }
        }
        let mut found = HashMap::new();
        let mut start = Some(Position::default());
        while let Some(position) = start {
            let page = self
                .users
                .list(
                    tenant,
                    &PageRequest {
                        limit: MAX_LIMIT,
                        start: position,
                    },
                )
                .await?;
            for user in &page.users {
                for key in keys.values() {
                    let subject = key.subject(tenant, &user.user_id)?;
                    if subjects.contains(subject.as_str()) {
                        found.insert(subject, user.user_id);
                    }
                }
            }
            start = page.next;
        }
        Ok(found)
    }

    /// `DELETE /me`: schedules the caller's erasure after the grace period and mails a
    /// confirmation. Asking again keeps the date first set (and sends nothing).
    pub async fn schedule_own_deletion(
        &self,
        tenant: &TenantId,
        id: &UserId,
    ) -> Result<Saved, Error> {
        let mut races = Races::new("a DELETE /me");
        loop {
            races.next()?;
            // With the settings when a cold container has none: the notice needs them.
            let current = self.get_user_reading_settings(tenant, id).await?;
            if current.deletion_scheduled_at.is_some() {
                return Ok(Saved::quiet(current));
            }
            let now = self.clock.now();
            let mut next = current.clone();
            next.deletion_scheduled_at =
                Some(now.plus_secs(i64::from(self.erasure.grace_days) * DAY_SECS));
            next.updated_at = now;
            next.version += 1;
            match self
                .replace_with_notice(&current, &next, MessageKind::AccountDeletionScheduled, now)
                .await
            {
                Ok(emails) => return Ok(Saved { user: next, emails }),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One pass of the scheduled purge: reads up to `batch` due accounts from the index and
    /// erases them, `concurrency` at a time. Safe to run twice at once: each erasure is
    /// conditional on the version the index showed, so an account is erased (and receipted)
    /// once, and a cancelled deletion is skipped.
    pub async fn purge_due(&self, batch: usize, concurrency: usize) -> Result<PurgeReport, Error> {
        use futures::StreamExt;
        let now = self.clock.now();
        let due = self.erasures.due_erasures(now, batch).await?;
        let mut report = PurgeReport {
            due: due.users.len(),
            items_read: due.items_read,
            more: due.more,
            ..PurgeReport::default()
        };
        // Each outcome keeps whose it is: a failure names the account (tenant and id, never
        // an address) so the on-call can find it (docs/operations.md, "An erasure stuck").
        let outcomes: Vec<(TenantId, UserId, Result<Outcome, Error>)> =
            futures::stream::iter(due.users)
                .map(|user| async move {
                    let (tenant, id) = (user.tenant_id.clone(), user.user_id);
                    (tenant, id, self.purge_one(user, now).await)
                })
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await;
        for (tenant, id, outcome) in outcomes {
            match outcome {
                Ok(Outcome::Purged(read)) => {
                    report.purged += 1;
                    report.items_read += read;
                }
                Ok(Outcome::Skipped(read)) => {
                    report.skipped += 1;
                    report.items_read += read;
                }
                Ok(Outcome::Warned(read)) => {
                    report.warned += 1;
                    report.items_read += read;
                }
                Ok(Outcome::Rescheduled(read)) => {
                    report.rescheduled += 1;
                    report.items_read += read;
                }
                Err(e) => {
                    report.failed += 1;
                    tracing::error!(
                        tenant_id = %tenant,
                        user_id = %id,
                        error = %e,
                        "a due erasure failed; the next pass retries it"
                    );
                }
            }
        }
        Ok(report)
    }

    async fn purge_one(&self, seen: User, now: Timestamp) -> Result<Outcome, Error> {
        let mut user = seen;
        let mut read = 0;
        let mut races = Races::new("an erasure");
        loop {
            races.next()?;
            let policies = self.tenant(&user.tenant_id).await?.policies;
            let decision = if user.deletion_scheduled_at.is_some_and(|due| due <= now) {
                Decision::Erase(Reason::SelfService)
            } else if user.review_at.is_some_and(|at| at <= now) {
                decide(&policies, &user, now)
            } else {
                return Ok(Outcome::Skipped(read));
            };
            let result = match decision {
                Decision::Erase(reason) => {
                    let receipt = self.erasure.receipt(
                        &user.tenant_id,
                        &user.user_id,
                        self.clock.now(),
                        reason,
                        "purge",
                    )?;
                    self.erasures
                        .erase(&user, &receipt)
                        .await
                        .map(|n| Outcome::Purged(read + n))
                }
                Decision::Warn(due) => self
                    .warn_inactive(&user, due, now)
                    .await
                    .map(|()| Outcome::Warned(read)),
                Decision::Later(at) => {
                    let mut next = user.clone();
                    next.review_at = at;
                    next.version += 1;
                    self.users
                        .replace(&user, &next, None, Effects::default())
                        .await
                        .map(|()| Outcome::Rescheduled(read))
                }
            };
            match result {
                Ok(outcome) => return Ok(outcome),
                Err(StoreError::ConditionFailed) => {
                    // Changed since the index showed it (cancelled, edited, signed in) or done
                    // by an overlapping pass: decide again on what is stored now.
                    read += 1;
                    match self.users.get(&user.tenant_id, &user.user_id).await? {
                        Some(current) => user = current,
                        None => return Ok(Outcome::Skipped(read)),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Records the inactivity warning and queues its email in one write; the purge looks
    /// again when the erasure is `due`.
    async fn warn_inactive(
        &self,
        user: &User,
        due: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut next = user.clone();
        next.inactivity_warned_at = Some(now);
        next.review_at = Some(due);
        next.version += 1;
        self.replace_with_notice(user, &next, MessageKind::InactivityWarning, now)
            .await
            .map(drop)
    }

    /// Replaces `current` with `next` and, in the same write, queues a linkless notice of
    /// `kind` to the user's address, then tries it once. Such a notice is sent once per event,
    /// so the send cap does not hold it back.
    async fn replace_with_notice(
        &self,
        current: &User,
        next: &User,
        kind: MessageKind,
        now: Timestamp,
    ) -> Result<Vec<Job>, StoreError> {
        let mail = match &next.email {
            Some(to) => vec![Message::new(kind, next, to, 0, now)],
            None => Vec::new(),
        };
        let prepared = self
            .prepare(mail)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let effects = Effects {
            mail: &prepared.queued,
            cap: SendCap { per_hour: u32::MAX },
            redeem: None,
        };
        self.users.replace(current, next, None, effects).await?;
        Ok(self.send_now(prepared, next).await)
    }
}
