//! Erasure (the right to be forgotten) and what proves it happened.
//!
//! Two paths erase a user, removing every item it has (profile, passwords of every identity
//! it holds, email, username and identity guards, tickets, queued mail, send and brute-force
//! counters): `DELETE /users/{id}` at once, and the scheduled purge once a self-service
//! deletion (`DELETE /me`) is due. The grace period ([`ErasureSettings::grace_days`],
//! `DELETION_GRACE_DAYS`, default 30; 0 makes it due at once) lets the user, or support,
//! change their mind: an admin `PATCH {"deletion_scheduled_at": null}` cancels it. While
//! scheduled, the account cannot sign in.
//!
//! Tenant policies (`TENANT_SETTINGS`, per tenant or under `"*"`, all off by default) add
//! two more reasons, decided by the same purge:
//! - `purge_unverified_after_days` N: a database sign-up whose email is still unverified N
//!   days after creation, and that never signed in, is erased;
//! - `inactive_after_days` N with `inactivity_warning_days` M (default 14): a database user
//!   with no sign-in for N - M days (counted from creation if never) is mailed a warning,
//!   and erased once N days have passed and at least M since the warning. A sign-in in
//!   between cancels it: the next look finds activity after the warning and waits again.
//!   Users of other connections sign in at their provider, unseen here, so the policy
//!   leaves them alone.
//!
//! A user under a policy carries `review_at`, when the purge next looks at it, set at
//! creation; the due index holds it at the earlier of that and `deletion_scheduled_at`. Each
//! look decides anew from the user as stored (erase, warn, or look again later), so a user
//! verified or active since is simply rescheduled. Policies apply to users created while
//! they are set: turning one on does not reach existing users.
//!
//! Each erasure writes, in the transaction that removes the profile, a receipt holding no
//! personal data: a keyed hash (HMAC-SHA256 under `ERASURE_RECEIPT_KEY`) of the tenant and
//! user id, the tenant, the time, the reason and the actor, kept for
//! [`ErasureSettings::receipt_days`] (`ERASURE_RECEIPT_DAYS`, default 1095) by TTL. Whoever
//! holds the key and a user id can show that user was erased and when; without the key a
//! receipt says nothing about whom it concerns.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::Error;
use super::ids::{TenantId, UserId};
use super::tenant::Policies;
use super::time::Timestamp;
use super::user::User;

pub const DAY_SECS: i64 = 24 * 3600;

/// How erasure is configured.
pub struct ErasureSettings {
    /// Only the functions that erase hold it (`delete-user`, `purge`).
    key: Option<Zeroizing<Vec<u8>>>,
    /// Days between `DELETE /me` and the erasure.
    pub grace_days: u32,
    /// Days a receipt is kept.
    pub receipt_days: u32,
}

impl std::fmt::Debug for ErasureSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErasureSettings")
            .field("grace_days", &self.grace_days)
            .field("receipt_days", &self.receipt_days)
            .finish_non_exhaustive()
    }
}

impl ErasureSettings {
    pub const DEFAULT_GRACE_DAYS: u32 = 30;
    pub const DEFAULT_RECEIPT_DAYS: u32 = 1095;
    /// A key shorter than this is refused: it would make receipts guessable offline.
    pub const MIN_KEY_BYTES: usize = 32;

    pub fn new(key: Option<&[u8]>, grace_days: u32, receipt_days: u32) -> Result<Self, String> {
        if key.is_some_and(|k| k.len() < Self::MIN_KEY_BYTES) {
            return Err(format!(
                "at least {} bytes of random key",
                Self::MIN_KEY_BYTES
            ));
        }
        Ok(ErasureSettings {
            key: key.map(|k| Zeroizing::new(k.to_vec())),
            grace_days,
            receipt_days,
        })
    }

    /// For local runs and tests: a fixed key, the default periods.
    pub fn local() -> Self {
        ErasureSettings {
            key: Some(Zeroizing::new(
                b"local-only erasure receipt key, never deployed".to_vec(),
            )),
            grace_days: Self::DEFAULT_GRACE_DAYS,
            receipt_days: Self::DEFAULT_RECEIPT_DAYS,
        }
    }

    /// Whether this function can write receipts.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The keyed hash a receipt names its user by.
    pub fn subject(&self, tenant: &TenantId, id: &UserId) -> Result<String, Error> {
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| Error::internal("ERASURE_RECEIPT_KEY is not set for this function"))?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .map_err(|e| Error::internal(format!("HMAC key: {e}")))?;
        mac.update(format!("{tenant}#{id}").as_bytes());
        Ok(mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    pub fn receipt(
        &self,
        tenant: &TenantId,
        id: &UserId,
        now: Timestamp,
        reason: Reason,
        actor: &str,
    ) -> Result<Receipt, Error> {
        Ok(Receipt {
            subject: self.subject(tenant, id)?,
            tenant_id: tenant.clone(),
            erased_at: now,
            reason,
            actor: actor.chars().take(256).collect(),
            expires_at: now.plus_secs(i64::from(self.receipt_days) * DAY_SECS),
        })
    }
}

/// Why a user was erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// `DELETE /users/{id}` by a management caller.
    Admin,
    /// The user's own `DELETE /me`, once its grace period ended.
    SelfService,
    /// The tenant's policy for sign-ups that never verified their email.
    UnverifiedSignup,
    /// The tenant's inactivity policy, after its warning.
    Inactivity,
}

/// Proof of an erasure that holds no personal data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Receipt {
    /// HMAC-SHA256 of `{tenant}#{user_id}` under the receipt key, hex.
    pub subject: String,
    pub tenant_id: TenantId,
    pub erased_at: Timestamp,
    pub reason: Reason,
    /// Who erased: the management caller's `sub`, or `purge` for a due self-service deletion.
    pub actor: String,
    pub expires_at: Timestamp,
}

/// What one purge pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// Due accounts the pass read from the index.
    pub due: usize,
    pub purged: usize,
    /// Left for the next pass after an error (logged).
    pub failed: usize,
    /// Read as due but no longer due, or already erased by an overlapping pass.
    pub skipped: usize,
    /// Warned by email under the inactivity policy.
    pub warned: usize,
    /// Looked at under a policy and left for a later look (verified, or active, since).
    pub rescheduled: usize,
    /// Items DynamoDB read: index entries and leftovers.
    pub items_read: u64,
    /// Whether the index held more due entries than the pass read.
    #[serde(skip)]
    pub more: bool,
}

/// What a tenant's policies make of a user at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Erase(Reason),
    /// Send the inactivity warning; the erasure will be due at this time.
    Warn(Timestamp),
    /// Look again then (never, with `None`).
    Later(Option<Timestamp>),
}

fn days(n: u32) -> i64 {
    i64::from(n) * DAY_SECS
}

/// Decides what `policies` make of `user` at `now`.
pub fn decide(policies: &Policies, user: &User, now: Timestamp) -> Decision {
    let mut next: Option<Timestamp> = None;
    let mut later = |at: Timestamp| next = Some(next.map_or(at, |n| n.min(at)));
    // A sign-up that never signed in: an address an admin later changed (and so unverified)
    // on an account in use is not one.
    let unverified_signup = user.connection().is_database()
        && user.email.is_some()
        && !user.email_verified
        && user.last_login.is_none();
    if let (Some(n), true) = (policies.unverified_days, unverified_signup) {
        let due = user.created_at.plus_secs(days(n));
        if due <= now {
            return Decision::Erase(Reason::UnverifiedSignup);
        }
        later(due);
    }
    // Only sign-ins through this service (database passwords) are seen; a user who signs in
    // elsewhere would look idle. And a user without an address could not be warned.
    let watched = user.connection().is_database() && user.email.is_some();
    if let (Some(n), true) = (policies.inactive_days, watched) {
        let m = policies.warning_days.min(n.saturating_sub(1));
        let active = user.last_login.unwrap_or(user.created_at);
        match user.inactivity_warned_at.filter(|warned| *warned >= active) {
            // Warned, and no sign-in since: due after the full period and the full warning.
            Some(warned) => {
                let due = active.plus_secs(days(n)).max(warned.plus_secs(days(m)));
                if due <= now {
                    return Decision::Erase(Reason::Inactivity);
                }
                later(due);
            }
            None => {
                let warn_at = active.plus_secs(days(n - m));
                if warn_at <= now {
                    return Decision::Warn(active.plus_secs(days(n)).max(now.plus_secs(days(m))));
                }
                later(warn_at);
            }
        }
    }
    Decision::Later(next)
}

/// When the purge first looks at a new user under `policies`.
pub fn first_review(policies: &Policies, user: &User) -> Option<Timestamp> {
    match decide(policies, user, user.created_at) {
        Decision::Later(at) => at,
        // A policy of less than a day: look at once.
        Decision::Erase(_) | Decision::Warn(_) => Some(user.created_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: i64) -> Timestamp {
        Timestamp::from_datetime(time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(10_000))
            .plus_secs(day * DAY_SECS)
    }

    fn user_created(day: i64) -> User {
        let mut user = crate::domain::user::fixtures::user();
        user.created_at = at(day);
        user.email_verified = true;
        user
    }

    fn policies(unverified: Option<u32>, inactive: Option<u32>) -> Policies {
        Policies {
            unverified_days: unverified,
            inactive_days: inactive,
            warning_days: 7,
        }
    }

    #[test]
    fn an_unverified_sign_up_is_erased_after_its_days_and_a_verified_one_never() {
        let p = policies(Some(10), None);
        let mut user = user_created(0);
        user.email_verified = false;
        assert_eq!(first_review(&p, &user), Some(at(10)));
        assert_eq!(decide(&p, &user, at(9)), Decision::Later(Some(at(10))));
        assert_eq!(
            decide(&p, &user, at(10)),
            Decision::Erase(Reason::UnverifiedSignup)
        );
        // Signed in once: an account in use whose address changed, not a stale sign-up.
        user.last_login = Some(at(1));
        assert_eq!(decide(&p, &user, at(10)), Decision::Later(None));
        user.last_login = None;
        user.email_verified = true;
        assert_eq!(decide(&p, &user, at(10)), Decision::Later(None));
        assert_eq!(first_review(&policies(None, None), &user), None);
    }

    #[test]
    fn inactivity_warns_first_erases_after_the_full_warning_and_a_sign_in_cancels() {
        let p = policies(None, Some(30));
        let mut user = user_created(0);
        assert_eq!(first_review(&p, &user), Some(at(23)));
        assert_eq!(decide(&p, &user, at(23)), Decision::Warn(at(30)));
        // Warned late (the purge ran behind): the full warning period still applies.
        assert_eq!(decide(&p, &user, at(40)), Decision::Warn(at(47)));
        user.inactivity_warned_at = Some(at(23));
        assert_eq!(decide(&p, &user, at(29)), Decision::Later(Some(at(30))));
        assert_eq!(
            decide(&p, &user, at(30)),
            Decision::Erase(Reason::Inactivity)
        );
        // A sign-in after the warning starts the count again.
        user.last_login = Some(at(25));
        assert_eq!(decide(&p, &user, at(30)), Decision::Later(Some(at(48))));
        // Sign-ins elsewhere are unseen: users of other connections are left alone.
        user.identities = vec![crate::domain::user::Identity::social(
            crate::domain::ids::Connection::parse("google-oauth2").unwrap(),
            "1".into(),
        )];
        assert_eq!(decide(&p, &user, at(400)), Decision::Later(None));
    }

    #[test]
    fn a_receipt_names_its_user_only_through_the_key() {
        let tenant = TenantId::parse("acme").unwrap();
        let id = UserId::generate();
        let now = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
        let a = ErasureSettings::new(Some(&[7; 32]), 30, 10).unwrap();
        let b = ErasureSettings::new(Some(&[8; 32]), 30, 10).unwrap();
        let receipt = a
            .receipt(&tenant, &id, now, Reason::SelfService, "purge")
            .unwrap();
        assert_eq!(receipt.subject, a.subject(&tenant, &id).unwrap());
        assert_ne!(receipt.subject, b.subject(&tenant, &id).unwrap());
        assert_eq!(receipt.subject.len(), 64);
        let text = serde_json::to_string(&receipt).unwrap();
        assert!(!text.contains(&id.to_string()), "{text}");
        assert_eq!(receipt.expires_at, now.plus_secs(10 * DAY_SECS));
        assert!(ErasureSettings::new(Some(&[1; 31]), 30, 10).is_err());
        let keyless = ErasureSettings::new(None, 30, 10).unwrap();
        assert!(
            keyless
                .receipt(&tenant, &id, now, Reason::Admin, "x")
                .is_err()
        );
    }
}
