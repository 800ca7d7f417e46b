//! The operations, as plain async functions over the ports. Handlers parse the request,
//! check the caller, and call one of these.

use std::sync::Arc;

use super::Error;
use super::create::NewUser;
use super::email::Email;
use super::erasure::{ErasureSettings, Reason};
use super::flows::{Job, too_many_emails};
use super::ids::{Connection, TenantId, UserId};
use super::listing::{PAGE_BUDGET_BYTES, Page, PageRequest};
use super::login::{
    BruteForce, Counter, Credential, Identifier, LoginRequest, LoginState, LoginSubject,
    PasswordChange, parse_ip,
};
use super::mail::EmailSettings;
use super::password::Password;
use super::password::PasswordHash;
use super::patch::UserPatch;
use super::ports::{
    Clock, Deleted, Effects, FieldUpdate, MailStore, Mailer, PasswordHasher, StoreError, UserStore,
};
use super::time::Timestamp;
use super::user::User;

/// How often a write that lost a race to a concurrent writer is retried before answering 503.
pub(super) const ATTEMPTS: usize = 4;

/// The fields an end user may change on their own profile (`PATCH /me`). Everything else on
/// the resource is the tenant's to manage, so naming it is 403 rather than 400: the field
/// exists, this token may not touch it.
pub const SELF_SERVICE_FIELDS: [&str; 8] = [
    "email",
    "user_metadata",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "username",
];

/// What `update:users_app_metadata` alone may change.
pub const METADATA_FIELDS: [&str; 2] = ["user_metadata", "app_metadata"];

#[derive(Clone)]
pub struct Services {
    pub users: Arc<dyn UserStore>,
    pub mail: Arc<dyn MailStore>,
    pub mailer: Arc<dyn Mailer>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
    pub brute_force: BruteForce,
    pub email: Arc<EmailSettings>,
    pub erasure: Arc<ErasureSettings>,
}

/// A user as a write left it, with the email the write queued.
#[derive(Debug)]
pub struct Saved {
    pub user: User,
    pub emails: Vec<Job>,
}

/// A brute-force block as `GET /user-blocks` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Block {
    /// The email (or, without one, the username) the attempts named.
    pub identifier: Option<String>,
    /// The address blocked, or `None` for the user's lock across all addresses.
    pub ip: Option<String>,
    pub connection: String,
    pub blocked_until: Timestamp,
}

/// The address a login counts against when neither the body nor API Gateway names one.
const UNKNOWN_IP: &str = "unknown";

/// How often a login re-reads after its bookkeeping lost a race to a concurrent attempt.
const LOGIN_ATTEMPTS: usize = 8;

/// What [`Services::judge`] decided, when it did not answer the attempt itself.
enum Verdict {
    Proven,
    Retry,
}

/// A password check's result and the stored hash it was made against.
struct Checked {
    hash: Option<PasswordHash>,
    right: bool,
}

pub(super) fn precondition_failed(current: u64) -> Error {
    Error::PreconditionFailed {
        message: format!("If-Match does not name the current version of the user ({current})."),
    }
}

impl Services {
    /// Creates a user; a database user with an unverified address is sent a verification
    /// email, queued in the same transaction (see [`super::flows`]).
    pub async fn create_user(&self, tenant: &TenantId, body: &[u8]) -> Result<Saved, Error> {
        let mut new = NewUser::parse(tenant, body, self.clock.now())?;
        let policies = self.email.tenants.tenant(tenant).policies;
        new.user.review_at = super::erasure::first_review(&policies, &new.user);
        let hash = match &new.password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        let mail = match (&new.user.email, new.verify_email) {
            (Some(email), true) => vec![self.verification(&new.user, email, false)],
            _ => Vec::new(),
        };
        let prepared = self.prepare(mail)?;
        self.users
            .create(&new.user, hash.as_ref(), &prepared.queued)
            .await?;
        let emails = self.send_now(prepared, &new.user).await;
        Ok(Saved {
            user: new.user,
            emails,
        })
    }

    pub async fn get_user(&self, tenant: &TenantId, id: &UserId) -> Result<User, Error> {
        self.users
            .get(tenant, id)
            .await?
            .ok_or_else(Error::user_not_found)
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
        for _ in 0..ATTEMPTS {
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
                    Ok(user) => {
                        return Ok(Saved {
                            user,
                            emails: Vec::new(),
                        });
                    }
                    Err(StoreError::ConditionFailed) => {
                        must_read = true;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let current = self.get_user(tenant, id).await?;
            if if_match.is_some_and(|v| v != current.version) {
                return Err(precondition_failed(current.version));
            }
            if patch.is_noop() {
                return Ok(Saved {
                    user: current,
                    emails: Vec::new(),
                });
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
                Err(StoreError::Capped) => return Err(too_many_emails(self.clock.now())),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable {
            cause: format!("PATCH lost {ATTEMPTS} races to concurrent writers"),
        })
    }

    /// Checks a database user's password for a trusted login service. An unknown account and
    /// a wrong password get the same answer after the same work (the same reads and writes, a
    /// dummy verification); a block is revealed only to someone who proved the password.
    pub async fn authenticate(
        &self,
        tenant: &TenantId,
        req: &LoginRequest,
        caller_ip: Option<&str>,
    ) -> Result<User, Error> {
        let ip = match (&req.ip, caller_ip) {
            (Some(ip), _) => ip.clone(),
            (None, Some(raw)) => parse_ip(raw).unwrap_or_else(|_| UNKNOWN_IP.to_owned()),
            (None, None) => UNKNOWN_IP.to_owned(),
        };
        let subject = match self
            .users
            .find_login(tenant, &req.identifier, &req.connection)
            .await?
        {
            Some((id, credential)) => LoginSubject::User(tenant.clone(), id, credential),
            None => LoginSubject::Unknown {
                tenant: tenant.clone(),
                connection: req.connection.clone(),
                identifier: req.identifier.clone(),
            },
        };
        let mut checked = None;
        let mut rehash: Option<(PasswordHash, PasswordHash)> = None;
        for _ in 0..LOGIN_ATTEMPTS {
            let state = self.users.login_state(&subject, &ip).await?;
            let now = self.clock.now();
            if let Verdict::Retry = self
                .judge(
                    &subject,
                    &state,
                    req.password.as_ref(),
                    &mut checked,
                    &ip,
                    now,
                )
                .await?
            {
                continue;
            }
            let Some(user) = &state.user else {
                return Err(Error::invalid_credentials());
            };
            if user.blocked || user.deletion_scheduled_at.is_some() {
                // Said only to a proven password, and only if no racing attempt changed the
                // counters since they were read.
                match self.users.confirm_unchanged(&subject, &state, &ip).await {
                    Ok(()) => {}
                    Err(StoreError::ConditionFailed) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            if user.blocked {
                return Err(Error::Unauthenticated {
                    code: "user_blocked",
                    message: "The user is blocked.".into(),
                });
            }
            if user.deletion_scheduled_at.is_some() {
                return Err(Error::Unauthenticated {
                    code: "deletion_scheduled",
                    message: "The account is scheduled for deletion and cannot sign in.".into(),
                });
            }
            // Upgrade a hash made with older parameters now that the password is at hand; only
            // ever in place of the very hash the password was checked against.
            if let (Some(hash), Some(password)) = (&state.hash, &req.password)
                && self.hasher.needs_rehash(hash)
                && rehash.as_ref().is_none_or(|(verified, _)| verified != hash)
            {
                rehash = Some((hash.clone(), self.hasher.hash(password).await?));
            }
            let upgrade = rehash
                .as_ref()
                .filter(|(verified, _)| state.hash.as_ref() == Some(verified))
                .map(|(_, new)| new);
            // Only an address the login service named becomes trusted: its own address, used
            // for everyone, must never exempt anyone from the per-user lock.
            let trust = req.ip.is_some();
            match self
                .users
                .record_login(&state, &ip, now, &self.brute_force, upgrade, trust)
                .await
            {
                Ok(user) => return Ok(user),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable {
            cause: format!("login lost {LOGIN_ATTEMPTS} races to concurrent attempts"),
        })
    }

    /// Decides one attempt against what `state` read: 429 while a block holds (the password
    /// unchecked); otherwise the password is checked (once, kept in `checked` across
    /// re-reads) and a wrong one is counted by a write conditional on `state`, and only then
    /// answered 401. `Retry` means that write lost to a concurrent attempt: read again.
    async fn judge(
        &self,
        subject: &LoginSubject,
        state: &LoginState,
        offered: Option<&Password>,
        checked: &mut Option<Checked>,
        ip: &str,
        now: Timestamp,
    ) -> Result<Verdict, Error> {
        if let Some(until) = state.blocked_until(&self.brute_force, ip, now) {
            return Err(Error::TooManyAttempts {
                retry_after_secs: now.secs_until(until),
            });
        }
        // A verdict is reused across re-reads only while the stored hash is the one checked:
        // a password changed meanwhile is checked again.
        let right = match checked.as_ref().filter(|c| c.hash == state.hash) {
            Some(c) => c.right,
            None => {
                let right = match (offered, &state.hash, &state.user) {
                    (Some(password), Some(hash), Some(_)) => {
                        self.hasher.verify(password, hash).await?
                    }
                    _ => {
                        self.hasher.verify_nothing(offered).await;
                        false
                    }
                };
                *checked = Some(Checked {
                    hash: state.hash.clone(),
                    right,
                });
                right
            }
        };
        if right {
            return Ok(Verdict::Proven);
        }
        match self
            .users
            .record_failure(subject, state, ip, now, &self.brute_force)
            .await
        {
            Ok(()) => Err(Error::invalid_credentials()),
            Err(StoreError::ConditionFailed) => Ok(Verdict::Retry),
            Err(e) => Err(e.into()),
        }
    }

    /// `POST /me/password`: the current password proves the caller (a wrong one counts as a
    /// failed login), then the new one must meet the policy. Clears every brute-force block.
    pub async fn change_own_password(
        &self,
        tenant: &TenantId,
        id: &UserId,
        change: &PasswordChange,
        caller_ip: Option<&str>,
    ) -> Result<(), Error> {
        let ip = caller_ip
            .and_then(|raw| parse_ip(raw).ok())
            .unwrap_or_else(|| UNKNOWN_IP.to_owned());
        let subject = LoginSubject::User(tenant.clone(), *id, Credential::Own);
        let mut checked = None;
        let mut hash = None;
        for _ in 0..LOGIN_ATTEMPTS {
            let state = self.users.login_state(&subject, &ip).await?;
            let user = state.user.as_ref().ok_or_else(Error::user_not_found)?;
            if !user.connection().is_database() {
                return Err(Error::body(format!(
                    "You sign in with {}; there is no password here to change.",
                    user.connection()
                )));
            }
            let now = self.clock.now();
            if let Verdict::Retry = self
                .judge(
                    &subject,
                    &state,
                    change.current.as_ref(),
                    &mut checked,
                    &ip,
                    now,
                )
                .await?
            {
                continue;
            }
            // The proof counts only if no racing guess changed the counters since they were read.
            match self.users.confirm_unchanged(&subject, &state, &ip).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
            let new = Password::parse(
                change.new.clone(),
                user.email.as_deref(),
                user.username.as_deref(),
            )?;
            if hash.is_none() {
                hash = Some(self.hasher.hash(&new).await?);
            }
            let mut next = user.clone();
            next.last_password_reset = Some(now);
            next.updated_at = now;
            next.version += 1;
            match self
                .users
                .replace(
                    user,
                    &next,
                    hash.as_ref().map(|h| (&Credential::Own, h)),
                    Effects::default(),
                )
                .await
            {
                Ok(()) => {
                    self.clear_blocks_after_password(tenant, id).await;
                    return Ok(());
                }
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable {
            cause: format!("password change lost {LOGIN_ATTEMPTS} races to concurrent writers"),
        })
    }

    /// `PATCH /me`. A new `email` is not switched to: it is recorded as `pending_email`, the
    /// new address is sent a verification and the old one a notice with a cancel link; the
    /// switch happens when the new address is verified. Everything else applies as
    /// [`Services::patch_user`] applies it.
    pub async fn patch_own(
        &self,
        tenant: &TenantId,
        id: &UserId,
        mut patch: UserPatch,
        if_match: Option<u64>,
    ) -> Result<Saved, Error> {
        let Some(new) = patch.email.take() else {
            return self.patch_user(tenant, id, &patch, if_match).await;
        };
        for _ in 0..ATTEMPTS {
            let current = self.get_user(tenant, id).await?;
            if if_match.is_some_and(|v| v != current.version) {
                return Err(precondition_failed(current.version));
            }
            let mut next = current.clone();
            patch.apply(&mut next, self.clock.now())?;
            let mail = if current.email_key().as_deref() == Some(new.normalized()) {
                // Asking for the address one has withdraws any other request.
                next.pending_email = None;
                Vec::new()
            } else {
                next.pending_email = Some(new.as_str().to_owned());
                self.email_change(&current, new.as_str())
            };
            let unchanged = patch.is_noop() && next.pending_email == current.pending_email;
            if unchanged && mail.is_empty() {
                return Ok(Saved {
                    user: current,
                    emails: Vec::new(),
                });
            }
            let prepared = self.prepare(mail)?;
            let effects = Effects {
                mail: &prepared.queued,
                cap: self.email.send_cap,
                redeem: None,
            };
            match self.users.replace(&current, &next, None, effects).await {
                Ok(()) => {
                    let emails = self.send_now(prepared, &next).await;
                    return Ok(Saved { user: next, emails });
                }
                Err(StoreError::ConditionFailed) => continue,
                Err(StoreError::Capped) => return Err(too_many_emails(self.clock.now())),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable {
            cause: format!("PATCH lost {ATTEMPTS} races to concurrent writers"),
        })
    }

    /// A new password ends every brute-force block. The password is already stored, so a
    /// failure here is logged and left to the counters' TTL rather than failing the request.
    pub(super) async fn clear_blocks_after_password(&self, tenant: &TenantId, id: &UserId) {
        if let Err(e) = self.users.clear_failures(tenant, id).await {
            tracing::error!(error = ?e, "clearing brute-force blocks after a password change failed");
        }
    }

    /// The user a blocks lookup by identifier names (database connection), if any.
    pub async fn user_by_identifier(
        &self,
        tenant: &TenantId,
        raw: &str,
    ) -> Result<Option<UserId>, Error> {
        let identifier = Identifier::parse(raw)?;
        Ok(self
            .users
            .find_login(tenant, &identifier, &Connection::database())
            .await?
            .map(|(id, _)| id))
    }

    /// The brute-force blocks in force for a user.
    pub async fn user_blocks(&self, tenant: &TenantId, id: &UserId) -> Result<Vec<Block>, Error> {
        let user = self.get_user(tenant, id).await?;
        let now = self.clock.now();
        let identifier = user.email.clone().or_else(|| user.username.clone());
        let mut blocks: Vec<Block> = self
            .users
            .failure_counters(tenant, id)
            .await?
            .into_iter()
            .filter_map(|(counter, failures)| {
                let until = self
                    .brute_force
                    .blocked_until(&counter, Some(&failures), now)?;
                Some(Block {
                    identifier: identifier.clone(),
                    ip: match counter {
                        Counter::Ip(ip) => Some(ip),
                        Counter::User => None,
                    },
                    connection: user.connection().to_string(),
                    blocked_until: until,
                })
            })
            .collect();
        blocks.sort_by(|a, b| a.ip.cmp(&b.ip));
        Ok(blocks)
    }

    /// Clears every brute-force block (and failure count) of a user. The admin `blocked`
    /// flag is a different thing and stays as it is.
    pub async fn clear_user_blocks(&self, tenant: &TenantId, id: &UserId) -> Result<(), Error> {
        self.get_user(tenant, id).await?;
        Ok(self.users.clear_failures(tenant, id).await?)
    }

    /// `DELETE /users/{id}`: erasure now, receipted with `actor` (the caller's `sub`).
    pub async fn delete_user(
        &self,
        tenant: &TenantId,
        id: &UserId,
        if_match: Option<u64>,
        actor: &str,
    ) -> Result<(), Error> {
        for _ in 0..ATTEMPTS {
            let receipt =
                self.erasure
                    .receipt(tenant, id, self.clock.now(), Reason::Admin, actor)?;
            match self.users.delete(tenant, id, if_match, &receipt).await {
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
        Err(Error::Unavailable {
            cause: format!("DELETE lost {ATTEMPTS} races to concurrent writers"),
        })
    }

    pub async fn list_users(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page, Error> {
        let mut page = self.users.list(tenant, page).await?;
        page.fit(PAGE_BUDGET_BYTES);
        Ok(page)
    }

    pub async fn users_by_email(
        &self,
        tenant: &TenantId,
        email: &Email,
    ) -> Result<Vec<User>, Error> {
        Ok(self.users.find_by_email(tenant, email).await?)
    }
}
