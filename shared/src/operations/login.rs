//! Signing in for a trusted login service, changing one's own password, and the brute-force
//! blocks both count against.

use super::{App, Races};
use crate::domain::Error;
use crate::domain::ids::{Connection, TenantId, UserId};
use crate::domain::login::{
    BlocksOf, Counter, Credential, LoginRequest, LoginState, LoginSubject, PasswordChange, parse_ip,
};
use crate::domain::password::{Password, PasswordHash};
use crate::domain::throttle::AddressThrottle;
use crate::domain::time::Timestamp;
use crate::domain::user::User;
use crate::ports::{Effects, StoreError};
use crate::ports::{PasswordHasher, Store};

/// A brute-force block as `GET /user-blocks` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Block {
    /// The email (or, without one, the username) the attempts named.
    pub identifier: Option<String>,
    /// The address blocked, or `None` for the user's lock across all addresses.
    pub ip: Option<String>,
    /// The user's connection; `None` for an address's throttle, which spans them all.
    pub connection: Option<String>,
    pub blocked_until: Timestamp,
}

/// What `GET /user-blocks` answers: the blocks in force and, for an address, its throttle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Blocks {
    pub blocked_for: Vec<Block>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle: Option<Throttle>,
}

/// An address's throttle across the tenant's accounts, as an admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Throttle {
    pub ip: String,
    /// Failures the bucket holds now.
    pub failures: u64,
    /// The tenant's capacity; `None` while the throttle is off.
    pub failures_per_day: Option<u32>,
    /// Whether the tenant's allow-list exempts the address.
    pub allowed: bool,
    /// When the bucket will be empty.
    pub drains_at: Option<Timestamp>,
}

/// The address a login counts against when neither the body nor API Gateway names one.
const UNKNOWN_IP: &str = "unknown";

/// How often a login re-reads after its bookkeeping lost a race to a concurrent attempt.
const LOGIN_ATTEMPTS: usize = 8;

/// What [`App::judge`] decided, when it did not answer the attempt itself.
enum Verdict {
    Proven,
    Retry,
}

/// A password check's result and the stored hash it was made against.
struct Checked {
    hash: Option<PasswordHash>,
    right: bool,
}

impl<S: Store, H: PasswordHasher> App<S, H> {
    /// Checks a database user's password for a trusted login service. An unknown account and
    /// a wrong password get the same answer after the same work (the same reads and writes, a
    /// dummy verification); a block is revealed only to someone who proved the password.
    pub async fn authenticate(&self, tenant: &TenantId, req: &LoginRequest) -> Result<User, Error> {
        let ip = &req.ip;
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
        let (first, settings) = self.login_state_reading_settings(&subject, ip).await?;
        let mut first = Some(first);
        let throttle = &settings.ip_throttle;
        let mut checked = None;
        let mut rehash: Option<(PasswordHash, PasswordHash)> = None;
        let mut races = Races::with_attempts("a login", LOGIN_ATTEMPTS);
        loop {
            races.next()?;
            let state = match first.take() {
                Some(state) => state,
                None => self.logins.login_state(&subject, ip).await?,
            };
            let now = self.clock.now();
            if let Verdict::Retry = self
                .judge(
                    &subject,
                    &state,
                    req.password.as_ref(),
                    &mut checked,
                    (ip, throttle),
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
                match self.logins.confirm_unchanged(&subject, &state, ip).await {
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
            match self
                .logins
                .record_login(&state, ip, now, &self.brute_force, upgrade, true)
                .await
            {
                Ok(user) => return Ok(user),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Counts a failure against the address's throttle across the tenant's accounts: after
    /// the failure itself is recorded and apart from it. A write that failed is logged, never
    /// answered, so the answer to a guess cannot depend on how this write fared.
    async fn fill_throttle(
        &self,
        subject: &LoginSubject,
        ip: &str,
        now: Timestamp,
        (interval, read): (i64, Option<Timestamp>),
    ) {
        if let Err(e) = self
            .logins
            .fill_address_throttle(subject.tenant(), ip, now, interval, read)
            .await
        {
            tracing::error!(error = ?e, "a failure was not added to its address's throttle");
        }
    }

    /// Decides one attempt against what `state` read: 429 while a block or the address's
    /// throttle holds (the password unchecked); otherwise the password is checked (once, kept
    /// in `checked` across re-reads) and a wrong one is counted by a write conditional on
    /// `state`, then added to the address's throttle unless the tenant exempts the address,
    /// and only then answered 401. `Retry` means that write lost to a concurrent attempt: read again.
    async fn judge(
        &self,
        subject: &LoginSubject,
        state: &LoginState,
        offered: Option<&Password>,
        checked: &mut Option<Checked>,
        (ip, throttle): (&str, &AddressThrottle),
        now: Timestamp,
    ) -> Result<Verdict, Error> {
        let throttled = throttle.applies_to(ip);
        let address = throttled
            .then(|| throttle.blocked_until(state.address, now))
            .flatten();
        if let Some(until) = state.blocked_until(&self.brute_force, ip, now).max(address) {
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
            .logins
            .record_failure(subject, state, ip, now, &self.brute_force)
            .await
        {
            Ok(()) => {
                if let Some(interval) = throttle.interval_secs().filter(|_| throttled) {
                    self.fill_throttle(subject, ip, now, (interval, state.address))
                        .await;
                }
                if state.failure_starts_block(&self.brute_force, ip, now) {
                    self.notify_block(subject).await;
                }
                Err(Error::invalid_credentials())
            }
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
        let (first, settings) = self.login_state_reading_settings(&subject, &ip).await?;
        let mut first = Some(first);
        let throttle = &settings.ip_throttle;
        let mut checked = None;
        let mut hash = None;
        let mut races = Races::with_attempts("a password change", LOGIN_ATTEMPTS);
        loop {
            races.next()?;
            let state = match first.take() {
                Some(state) => state,
                None => self.logins.login_state(&subject, &ip).await?,
            };
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
                    (&ip, throttle),
                    now,
                )
                .await?
            {
                continue;
            }
            // The proof counts only if no racing guess changed the counters since they were read.
            match self.logins.confirm_unchanged(&subject, &state, &ip).await {
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
    }

    /// The user a blocks route names, if any: by id, or the database user an identifier
    /// signs in (`None` when no account has it).
    async fn blocks_subject(
        &self,
        tenant: &TenantId,
        who: &BlocksOf,
    ) -> Result<Option<UserId>, Error> {
        match who {
            BlocksOf::User(id) => Ok(Some(*id)),
            BlocksOf::Identifier(identifier) => Ok(self
                .users
                .find_login(tenant, identifier, &Connection::database())
                .await?
                .map(|(id, _)| id)),
            BlocksOf::Address(_) => Ok(None),
        }
    }

    /// `GET /user-blocks`: the blocks in force for a user (by id, or by the identifier it
    /// signs in with: none for an unknown one), or an address's throttle.
    pub async fn blocks(&self, tenant: &TenantId, who: &BlocksOf) -> Result<Blocks, Error> {
        if let BlocksOf::Address(ip) = who {
            let throttle = self.tenant(tenant).await?.ip_throttle.clone();
            let drained_at = self.logins.address_throttle(tenant, ip).await?;
            let now = self.clock.now();
            let drains_at = drained_at.filter(|d| *d > now);
            let allowed = throttle.failures_per_day.is_some() && !throttle.applies_to(ip);
            let until = (!allowed)
                .then(|| throttle.blocked_until(drains_at, now))
                .flatten();
            return Ok(Blocks {
                blocked_for: until
                    .map(|until| Block {
                        identifier: None,
                        ip: Some(ip.clone()),
                        connection: None,
                        blocked_until: until,
                    })
                    .into_iter()
                    .collect(),
                throttle: Some(Throttle {
                    ip: ip.clone(),
                    failures: drains_at.map_or(0, |d| throttle.failures(d, now)),
                    failures_per_day: throttle.failures_per_day,
                    allowed,
                    drains_at,
                }),
            });
        }
        let blocked_for = match self.blocks_subject(tenant, who).await? {
            Some(id) => self.user_blocks(tenant, &id).await?,
            None => Vec::new(),
        };
        Ok(Blocks {
            blocked_for,
            throttle: None,
        })
    }

    /// `DELETE /user-blocks`: lifts a user's blocks (by id, or by identifier: nothing for an
    /// unknown one), or empties an address's throttle.
    pub async fn clear_blocks(&self, tenant: &TenantId, who: &BlocksOf) -> Result<(), Error> {
        if let BlocksOf::Address(ip) = who {
            return Ok(self.logins.clear_address_throttle(tenant, ip).await?);
        }
        match self.blocks_subject(tenant, who).await? {
            Some(id) => self.clear_user_blocks(tenant, &id).await,
            None => Ok(()),
        }
    }

    /// The brute-force blocks in force for a user.
    async fn user_blocks(&self, tenant: &TenantId, id: &UserId) -> Result<Vec<Block>, Error> {
        let user = self.get_user(tenant, id).await?;
        let now = self.clock.now();
        let identifier = user.email.clone().or_else(|| user.username.clone());
        let mut blocks: Vec<Block> = self
            .logins
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
                    connection: Some(user.connection().to_string()),
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
        Ok(self.logins.clear_failures(tenant, id).await?)
    }
}
