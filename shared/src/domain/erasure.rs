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
//! personal data: a keyed hash (HMAC-SHA256 under the receipt key) of the tenant and user id,
//! the version of the key it was hashed under, the tenant, the time, the reason and the
//! actor, kept for [`ErasureSettings::receipt_days`] (`ERASURE_RECEIPT_DAYS`, default 1095)
//! by TTL. Whoever holds the key of that version and a user id can show that user was erased
//! and when; without it a receipt says nothing about whom it concerns. The key is a secret
//! with versions ([`ReceiptKey`]): rotating it makes a new version current, and each receipt
//! names the one it used, so older receipts stay checkable under their own version.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::Error;
use super::ids::{TenantId, UserId};
use super::tenant::Policies;
use super::time::Timestamp;
use super::user::User;

pub const DAY_SECS: i64 = 24 * 3600;

/// The version of the receipt key a receipt was hashed under: the version id of the secret
/// that holds the key (AWS Secrets Manager's `VersionId`, a UUID).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyVersion(String);

impl KeyVersion {
    /// 1 to 64 ASCII letters, digits, `-` and `_`: what Secrets Manager hands out as version
    /// ids (and a caller's own `ClientRequestToken`), and nothing a key or a log line could
    /// trip on.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(KeyVersion(raw.to_owned()))
        } else {
            Err("a key version is 1 to 64 ASCII letters, digits, '-' or '_'".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyVersion {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        KeyVersion::parse(&raw)
    }
}

impl From<KeyVersion> for String {
    fn from(v: KeyVersion) -> String {
        v.0
    }
}

impl std::fmt::Display for KeyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One version of the key receipts hash user ids under. The bytes stay in memory that is
/// wiped when dropped, and nothing prints them: `Debug` shows the version only.
#[derive(Clone)]
pub struct ReceiptKey {
    version: KeyVersion,
    secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ReceiptKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptKey")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl ReceiptKey {
    /// A key shorter than this is refused: it would make receipts guessable offline.
    pub const MIN_BYTES: usize = 32;

    pub fn new(version: KeyVersion, secret: Zeroizing<Vec<u8>>) -> Result<Self, String> {
        if secret.len() < Self::MIN_BYTES {
            return Err(format!(
                "the receipt key of version {version} is shorter than {} bytes",
                Self::MIN_BYTES
            ));
        }
        Ok(ReceiptKey { version, secret })
    }

    pub fn version(&self) -> &KeyVersion {
        &self.version
    }

    /// The keyed hash a receipt names `{tenant}#{id}` by under this key, hex.
    pub fn subject(&self, tenant: &TenantId, id: &UserId) -> Result<String, Error> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .map_err(|e| Error::internal(format!("HMAC key: {e}")))?;
        mac.update(format!("{tenant}#{id}").as_bytes());
        Ok(mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }
}

/// How erasure is configured.
pub struct ErasureSettings {
    /// Only the functions that erase hold it (`delete-user`, `purge`), read once at start.
    key: Option<ReceiptKey>,
    /// Days between `DELETE /me` and the erasure.
    pub grace_days: u32,
    /// Days a receipt is kept.
    pub receipt_days: u32,
}

impl std::fmt::Debug for ErasureSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErasureSettings")
            .field("key_version", &self.key.as_ref().map(ReceiptKey::version))
            .field("grace_days", &self.grace_days)
            .field("receipt_days", &self.receipt_days)
            .finish_non_exhaustive()
    }
}

impl ErasureSettings {
    pub const DEFAULT_GRACE_DAYS: u32 = 30;
    pub const DEFAULT_RECEIPT_DAYS: u32 = 1095;

    /// Settings without a key: such a function cannot erase ([`ErasureSettings::keyed`]).
    pub fn new(grace_days: u32, receipt_days: u32) -> Self {
        ErasureSettings {
            key: None,
            grace_days,
            receipt_days,
        }
    }

    /// The same settings, writing receipts under `key`.
    pub fn keyed(&self, key: ReceiptKey) -> Self {
        ErasureSettings {
            key: Some(key),
            grace_days: self.grace_days,
            receipt_days: self.receipt_days,
        }
    }

    /// For local runs and tests: a fixed key of version `local`, the default periods.
    pub fn local() -> Self {
        let key = ReceiptKey {
            version: KeyVersion("local".into()),
            secret: Zeroizing::new(b"local-only erasure receipt key, never deployed".to_vec()),
        };
        ErasureSettings::new(Self::DEFAULT_GRACE_DAYS, Self::DEFAULT_RECEIPT_DAYS).keyed(key)
    }

    /// The version of the key receipts are written under now.
    pub fn key_version(&self) -> Option<&KeyVersion> {
        self.key.as_ref().map(ReceiptKey::version)
    }

    fn key(&self) -> Result<&ReceiptKey, Error> {
        self.key
            .as_ref()
            .ok_or_else(|| Error::internal("this function holds no erasure receipt key"))
    }

    /// The keyed hash a receipt written now names its user by.
    pub fn subject(&self, tenant: &TenantId, id: &UserId) -> Result<String, Error> {
        self.key()?.subject(tenant, id)
    }

    pub fn receipt(
        &self,
        tenant: &TenantId,
        id: &UserId,
        now: Timestamp,
        reason: Reason,
        actor: &str,
    ) -> Result<Receipt, Error> {
        let key = self.key()?;
        Ok(Receipt {
            subject: key.subject(tenant, id)?,
            key_version: Some(key.version().clone()),
            tenant_id: tenant.clone(),
            erased_at: now,
            reason,
            actor: actor.chars().take(256).collect(),
            expires_at: now.plus_secs(i64::from(self.receipt_days) * DAY_SECS),
        })
    }
}

/// Why a user was erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// HMAC-SHA256 of `{tenant}#{user_id}` under the receipt key of `key_version`, hex.
    pub subject: String,
    /// The version of the key `subject` was hashed under. Every receipt written since the key
    /// moved to Secrets Manager names one; older ones do not (docs/erasure.md, "Upgrading
    /// from `ERASURE_RECEIPT_KEY`").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_version: Option<KeyVersion>,
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

    fn key(version: &str, byte: u8, len: usize) -> Result<ReceiptKey, String> {
        ReceiptKey::new(
            KeyVersion::parse(version).unwrap(),
            Zeroizing::new(vec![byte; len]),
        )
    }

    #[test]
    fn a_receipt_names_its_user_only_through_the_key_and_names_the_key_version() {
        let tenant = TenantId::parse("acme").unwrap();
        let id = UserId::generate();
        let now = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
        let a = ErasureSettings::new(30, 10).keyed(key("v1", 7, 32).unwrap());
        let b = ErasureSettings::new(30, 10).keyed(key("v2", 8, 32).unwrap());
        let receipt = a
            .receipt(&tenant, &id, now, Reason::SelfService, "purge")
            .unwrap();
        assert_eq!(receipt.subject, a.subject(&tenant, &id).unwrap());
        assert_ne!(receipt.subject, b.subject(&tenant, &id).unwrap());
        assert_eq!(receipt.subject.len(), 64);
        assert_eq!(receipt.key_version, Some(KeyVersion::parse("v1").unwrap()));
        let text = serde_json::to_string(&receipt).unwrap();
        assert!(!text.contains(&id.to_string()), "{text}");
        assert!(text.contains(r#""key_version":"v1""#), "{text}");
        assert_eq!(receipt.expires_at, now.plus_secs(10 * DAY_SECS));
        let keyless = ErasureSettings::new(30, 10);
        assert!(
            keyless
                .receipt(&tenant, &id, now, Reason::Admin, "x")
                .is_err()
        );
    }

    #[test]
    fn a_key_shorter_than_32_bytes_is_refused_and_no_key_is_ever_printed() {
        assert!(key("v1", 1, 31).is_err());
        let k = key("v1", b'z', 40).unwrap();
        let printed = format!("{k:?} {:?}", ErasureSettings::new(1, 1).keyed(k.clone()));
        assert!(!printed.contains("zzzz"), "{printed}");
        assert!(printed.contains("v1"), "{printed}");
    }

    #[test]
    fn a_key_version_is_a_short_token_and_nothing_else() {
        for good in ["a", "3f0c2a8e-5b1d-4c43-9a57-0e1f2d3c4b5a", &"x".repeat(64)] {
            assert!(KeyVersion::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "a#b", "a b", "é", &"x".repeat(65)] {
            assert!(KeyVersion::parse(bad).is_err(), "{bad}");
        }
        let back: Result<KeyVersion, _> = serde_json::from_str(r#""a#b""#);
        assert!(back.is_err());
    }

    #[test]
    fn a_receipt_written_before_key_versions_reads_back_without_one() {
        let old = r#"{"subject":"ab","tenant_id":"acme","erased_at":"2026-01-02T03:04:05.000Z","reason":"admin","actor":"x","expires_at":"2029-01-01T00:00:00.000Z"}"#;
        let receipt: Receipt = serde_json::from_str(old).unwrap();
        assert_eq!(receipt.key_version, None);
        assert!(
            !serde_json::to_string(&receipt)
                .unwrap()
                .contains("key_version")
        );
    }
}
