//! The use cases, over the ports: typed requests in (parsed by the handlers with the domain's
//! parsers), domain values out. Each file is one area; files share helpers through this
//! module, never through each other.

use std::sync::Arc;

use crate::domain::Error;
use crate::domain::erasure::ErasureSettings;
use crate::domain::ids::{TenantId, UserId};
use crate::domain::login::BruteForce;
use crate::domain::message::Job;
use crate::domain::tenant::EmailSettings;
use crate::domain::user::User;
use crate::ports::{Clock, MailQueue, Mailer, PasswordHasher, Store};

pub mod email;
pub mod erasure;
pub mod export;
pub mod linking;
pub mod login;
pub mod rate_limit;
pub mod tenant;
pub mod users;

/// Everything an operation needs, wired once per cold start (`crate::app`), over the store
/// `S` ([`Store`]) and the password hasher `H`: concrete types rather than trait objects, so a
/// binary links only the store calls and hashing its operation makes. Cheap to clone.
pub struct App<S, H> {
    pub users: Arc<S>,
    pub logins: Arc<S>,
    pub links: Arc<S>,
    pub erasures: Arc<S>,
    pub tickets: Arc<S>,
    pub outbox: Arc<S>,
    pub tenants: Arc<S>,
    pub rate_limiter: Arc<S>,
    pub idempotency: Arc<S>,
    /// Where mail requests wait for their worker; only the functions making them have one
    /// (`crate::app::Wired::with_mail_queue`).
    pub mail_queue: Option<Arc<dyn MailQueue>>,
    pub mailer: Arc<dyn Mailer>,
    pub hasher: Arc<H>,
    pub clock: Arc<dyn Clock>,
    pub brute_force: BruteForce,
    pub email: Arc<EmailSettings>,
    pub erasure: Arc<ErasureSettings>,
    /// Tenants' effective settings, kept briefly ([`tenant::SETTINGS_CACHE_SECS`]).
    pub settings_cache: Arc<tenant::SettingsCache>,
    /// About how many users a listing shard takes before a tenant's new users spread further
    /// ([`crate::domain::listing::USERS_PER_SHARD`]; the tests lower it to grow a tenant in a
    /// few dozen sign-ups).
    pub users_per_shard: u64,
}

// By hand: a derive would ask `S: Clone`, and the store is shared, not cloned.
impl<S, H> Clone for App<S, H> {
    fn clone(&self) -> Self {
        App {
            users: self.users.clone(),
            logins: self.logins.clone(),
            links: self.links.clone(),
            erasures: self.erasures.clone(),
            tickets: self.tickets.clone(),
            outbox: self.outbox.clone(),
            tenants: self.tenants.clone(),
            rate_limiter: self.rate_limiter.clone(),
            idempotency: self.idempotency.clone(),
            mail_queue: self.mail_queue.clone(),
            mailer: self.mailer.clone(),
            hasher: self.hasher.clone(),
            clock: self.clock.clone(),
            brute_force: self.brute_force,
            email: self.email.clone(),
            erasure: self.erasure.clone(),
            settings_cache: self.settings_cache.clone(),
            users_per_shard: self.users_per_shard,
        }
    }
}

/// A user as a write left it, with the email the write queued.
#[derive(Debug)]
pub struct Saved {
    pub user: User,
    pub emails: Vec<Job>,
}

impl Saved {
    /// A write that queued nothing.
    pub fn quiet(user: User) -> Self {
        Saved {
            user,
            emails: Vec::new(),
        }
    }
}

/// How often a write that lost a race to a concurrent writer is tried before answering 503.
const ATTEMPTS: usize = 4;

/// The attempts of one optimistic-concurrency loop: read, decide, write conditionally on what
/// was read, and on a lost race read again. Every such loop in the operations runs on this,
/// so each ends the same way: a 503 (safe to retry) naming what lost, after a bounded number
/// of tries.
///
/// ```ignore
/// let mut races = Races::new("a PATCH");
/// loop {
///     races.next()?;
///     // read, decide; `continue` on ConditionFailed, `return` otherwise
/// }
/// ```
pub(crate) struct Races {
    what: &'static str,
    tried: usize,
    attempts: usize,
}

impl Races {
    pub(crate) fn new(what: &'static str) -> Self {
        Self::with_attempts(what, ATTEMPTS)
    }

    pub(crate) fn with_attempts(what: &'static str, attempts: usize) -> Self {
        Races {
            what,
            tried: 0,
            attempts,
        }
    }

    /// Starts the next attempt, or ends the loop with the 503 once every attempt lost.
    pub(crate) fn next(&mut self) -> Result<(), Error> {
        if self.tried == self.attempts {
            return Err(Error::unavailable(format!(
                "{} lost {} races to concurrent writers",
                self.what, self.attempts
            )));
        }
        self.tried += 1;
        Ok(())
    }
}

pub(crate) fn precondition_failed(current: u64) -> Error {
    Error::PreconditionFailed {
        message: format!("If-Match does not name the current version of the user ({current})."),
    }
}

impl<S: Store, H: PasswordHasher> App<S, H> {
    pub async fn get_user(&self, tenant: &TenantId, id: &UserId) -> Result<User, Error> {
        self.users
            .get(tenant, id)
            .await?
            .ok_or_else(Error::user_not_found)
    }

    /// How many users the tenant has (kept by the writes, never counted by a scan).
    pub async fn count_users(&self, tenant: &TenantId) -> Result<u64, Error> {
        Ok(self.users.count(tenant).await?)
    }

    /// The user holding an identity, as its own or linked (one read of its guard).
    pub async fn identity_owner(
        &self,
        tenant: &TenantId,
        provider: &str,
        provider_user_id: &str,
    ) -> Result<Option<UserId>, Error> {
        Ok(self
            .users
            .identity_owner(tenant, provider, provider_user_id)
            .await?)
    }

    /// The user, if `if_match` (when given) names its current version.
    pub(crate) async fn get_matching(
        &self,
        tenant: &TenantId,
        id: &UserId,
        if_match: Option<u64>,
    ) -> Result<User, Error> {
        let user = self.get_user(tenant, id).await?;
        match if_match {
            Some(v) if v != user.version => Err(precondition_failed(user.version)),
            _ => Ok(user),
        }
    }

    /// A new password ends every brute-force block. The password is already stored, so a
    /// failure here is logged and left to the counters' TTL rather than failing the request.
    pub(crate) async fn clear_blocks_after_password(&self, tenant: &TenantId, id: &UserId) {
        if let Err(e) = self.logins.clear_failures(tenant, id).await {
            tracing::error!(error = ?e, "clearing brute-force blocks after a password change failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn races_allow_their_attempts_then_answer_503() {
        let mut races = Races::with_attempts("a test", 2);
        assert!(races.next().is_ok());
        assert!(races.next().is_ok());
        let e = races.next().unwrap_err();
        assert!(
            matches!(&e, Error::Unavailable { cause } if cause.contains("a test lost 2 races"))
        );
    }
}
