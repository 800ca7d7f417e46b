//! Erasure: at once (`DELETE /users/{id}`), self-service after a grace period (`DELETE /me`),
//! and the scheduled purge that erases what is due and applies the tenants' policies. The
//! rules are [`crate::domain::erasure`]'s.

use super::{App, Races, Saved, precondition_failed};
use crate::domain::Error;
use crate::domain::erasure::{DAY_SECS, Decision, PurgeReport, Reason, decide};
use crate::domain::ids::{TenantId, UserId};
use crate::domain::message::{Job, Message, MessageKind, SendCap};
use crate::domain::time::Timestamp;
use crate::domain::user::User;
use crate::ports::{Deleted, Effects, StoreError};
use crate::ports::{PasswordHasher, Store};

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
        let mut races = Races::new("a DELETE");
        loop {
            races.next()?;
            let receipt =
                self.erasure
                    .receipt(tenant, id, self.clock.now(), Reason::Admin, actor)?;
            match self.erasures.delete(tenant, id, if_match, &receipt).await {
                Ok(Deleted::Yes) => return Ok(()),
                Ok(Deleted::NotFound) => return Err(Error::user_not_found()),
                Err(StoreError::ConditionFailed) if if_match.is_some() => {
                    let current = self.get_user(tenant, id).await?;
                    return Err(precondition_failed(current.version));
                }
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
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
            let current = self.get_user(tenant, id).await?;
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
        let outcomes: Vec<Result<Outcome, Error>> = futures::stream::iter(due.users)
            .map(|user| self.purge_one(user, now))
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        for outcome in outcomes {
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
                    tracing::error!(error = %e, "a due erasure failed; the next pass retries it");
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
