//! Tickets: minted for links, issued by the tickets API, looked up and redeemed.

use url::Url;

use super::Unusable;
use crate::domain::Error;
use crate::domain::ids::TenantId;
use crate::domain::login::Credential;
use crate::domain::message::Message;
use crate::domain::password::PasswordHash;
use crate::domain::tenant::TenantEmail;
use crate::domain::ticket::{
    PasswordTicketFor, PasswordTicketRequest, RawTicket, Ticket, TicketHash, TicketKind,
    VerificationTicketRequest, invalid_ticket,
};
use crate::domain::user::User;
use crate::operations::{App, Races};
use crate::ports::{Effects, StoreError};
use crate::ports::{PasswordHasher, Store};

impl<S: Store, H: PasswordHasher> App<S, H> {
    /// The ticket a message's link carries: dated from the request that caused the message
    /// (a retried reset link still dies with a password changed since), living its full
    /// lifetime from now.
    pub(super) fn ticket_for(&self, message: &Message, kind: TicketKind) -> Ticket {
        let now = self.clock.now();
        Ticket {
            tenant_id: message.tenant_id.clone(),
            kind,
            user_id: message.user_id,
            email: match kind {
                TicketKind::EmailChangeCancel => message.new_email.clone(),
                _ => Some(message.to.clone()),
            },
            identity: message.identity.clone(),
            result_url: message.result_url.clone(),
            mark_email_verified: false,
            created_at: message.created_at,
            expires: now.plus_secs(i64::try_from(message.ttl_secs).unwrap_or(i64::MAX)),
        }
    }

    /// The link a ticket travels in; a password change's leads to the tenant's reset page, or
    /// to the one this API serves.
    pub(super) fn link(&self, ticket: &Ticket, raw: &RawTicket, tenant: &TenantEmail) -> Url {
        let t = &ticket.tenant_id;
        match ticket.kind {
            TicketKind::EmailVerification | TicketKind::EmailChange => self.email.api_link(
                &format!("/v1/tenants/{t}/email-verification/confirm"),
                raw.as_str(),
            ),
            TicketKind::EmailChangeCancel => self.email.api_link(
                &format!("/v1/tenants/{t}/email-change/cancel"),
                raw.as_str(),
            ),
            TicketKind::Unblock => self
                .email
                .api_link(&format!("/v1/tenants/{t}/unblock"), raw.as_str()),
            TicketKind::PasswordChange => match &tenant.password_reset_url {
                Some(page) => {
                    let mut url = page.clone();
                    {
                        let mut query = url.query_pairs_mut();
                        query.append_pair("ticket", raw.as_str());
                        if let Some(result) = &ticket.result_url {
                            query.append_pair("result_url", result.as_str());
                        }
                    }
                    url
                }
                // The hosted page reads the ticket's result_url itself.
                None => self.email.api_link(
                    &format!("/v1/tenants/{t}/password-reset/confirm"),
                    raw.as_str(),
                ),
            },
        }
    }

    /// A ticket request's `result_url`, if the tenant allows its host.
    fn result_url(settings: &TenantEmail, raw: Option<&str>) -> Result<Option<Url>, Error> {
        raw.map(|raw| settings.result_url(raw)).transpose()
    }

    /// `POST /tickets/email-verification`: a verification link for the caller to deliver.
    pub async fn email_verification_ticket(
        &self,
        tenant: &TenantId,
        req: &VerificationTicketRequest,
    ) -> Result<Url, Error> {
        // The user first, with the settings when a cold container has none; a refused
        // result_url still answers before a missing user.
        let user = self.get_user_reading_settings(tenant, &req.user_id).await;
        let settings = self.tenant(tenant).await?;
        let result_url = Self::result_url(&settings, req.result_url.as_deref())?;
        let user = user?;
        let email = user.email.clone().ok_or_else(Error::no_email)?;
        let mut ticket = self.ticket(
            &user,
            TicketKind::EmailVerification,
            Some(email),
            req.ttl_secs,
        );
        ticket.result_url = result_url;
        self.issue(ticket, &settings).await
    }

    /// `POST /tickets/password-change`: a link to the tenant's reset page.
    pub async fn password_change_ticket(
        &self,
        tenant: &TenantId,
        req: &PasswordTicketRequest,
    ) -> Result<Url, Error> {
        // The user, or the login's guard item, first, with the settings when a cold container
        // has none. A refused result_url still answers before a missing user.
        let (settings, found) = match &req.target {
            PasswordTicketFor::User(id) => {
                let user = self.get_user_reading_settings(tenant, id).await;
                let found = user.map(|user| (*id, Credential::Own, Some(user)));
                (self.tenant(tenant).await, found)
            }
            PasswordTicketFor::Login(identifier, connection) => {
                let (found, settings) = self
                    .find_login_reading_settings(tenant, identifier, connection)
                    .await?;
                let found = found.ok_or_else(Error::user_not_found);
                (
                    Ok(settings),
                    found.map(|(id, credential)| (id, credential, None)),
                )
            }
        };
        let settings = settings?;
        let result_url = Self::result_url(&settings, req.result_url.as_deref())?;
        let (id, credential, user) = found?;
        let user = match user {
            Some(user) => user,
            None => self.get_user(tenant, &id).await?,
        };
        // The ticket changes the password the address signs in with: a linked database
        // identity's own, when the address is that identity's.
        let (email, identity) = match credential {
            Credential::Own if user.connection().is_database() => (user.email.clone(), None),
            Credential::Own => {
                return Err(Error::body(format!(
                    "The user signs in with {}; there is no password to change.",
                    user.connection()
                )));
            }
            Credential::Linked(identity) => {
                let linked = user
                    .linked_database(&identity)
                    .ok_or_else(Error::user_not_found)?;
                (linked.email().map(str::to_owned), Some(identity))
            }
        };
        let mut ticket = self.ticket(&user, TicketKind::PasswordChange, email, req.ttl_secs);
        ticket.identity = identity;
        ticket.result_url = result_url;
        ticket.mark_email_verified = req.mark_email_verified;
        self.issue(ticket, &settings).await
    }

    /// A ticket of `kind` for `user`, about `email`, living `ttl_secs` from now.
    pub(super) fn ticket(
        &self,
        user: &User,
        kind: TicketKind,
        email: Option<String>,
        ttl_secs: u64,
    ) -> Ticket {
        let now = self.clock.now();
        Ticket {
            tenant_id: user.tenant_id.clone(),
            kind,
            user_id: user.user_id,
            email,
            identity: None,
            result_url: None,
            mark_email_verified: false,
            created_at: now,
            expires: now.plus_secs(i64::try_from(ttl_secs).unwrap_or(i64::MAX)),
        }
    }

    /// Stores `ticket` and returns the link that carries it.
    pub(super) async fn issue(&self, ticket: Ticket, tenant: &TenantEmail) -> Result<Url, Error> {
        let raw = RawTicket::generate()?;
        self.tickets.put_ticket(&raw.hash(), &ticket).await?;
        Ok(self.link(&ticket, &raw, tenant))
    }

    /// A live ticket of one of `kinds`.
    pub(super) async fn live_ticket(
        &self,
        tenant: &TenantId,
        raw: &str,
        kinds: &[TicketKind],
    ) -> Result<(TicketHash, Ticket), Unusable> {
        self.live_ticket_of(tenant, raw, kinds, false).await
    }

    /// As [`App::live_ticket`], read with the tenant's settings when the cache holds none
    /// fresh: for a page that shows them and whose first read is its ticket
    /// (docs/performance.md, "Cold starts"). A malformed ticket reads nothing.
    pub(super) async fn live_ticket_reading_settings(
        &self,
        tenant: &TenantId,
        raw: &str,
        kinds: &[TicketKind],
    ) -> Result<(TicketHash, Ticket), Unusable> {
        self.live_ticket_of(tenant, raw, kinds, true).await
    }

    async fn live_ticket_of(
        &self,
        tenant: &TenantId,
        raw: &str,
        kinds: &[TicketKind],
        reading_settings: bool,
    ) -> Result<(TicketHash, Ticket), Unusable> {
        let Ok(hash) = TicketHash::parse(raw) else {
            return Err(Unusable::Unknown);
        };
        let read = if reading_settings {
            let with = self.tenants.settings_and_ticket(tenant, &hash);
            let read = self.reading_settings(tenant, self.tickets.ticket(tenant, &hash), with);
            read.await.map(|(ticket, _)| ticket)
        } else {
            self.tickets
                .ticket(tenant, &hash)
                .await
                .map_err(Error::from)
        };
        let ticket = match read {
            Ok(Some(ticket)) if kinds.contains(&ticket.kind) => ticket,
            Ok(_) => return Err(Unusable::Unknown),
            Err(e) => return Err(Unusable::Store(e)),
        };
        if !ticket.is_live(self.clock.now()) {
            return Err(Unusable::Expired(ticket));
        }
        Ok((hash, ticket))
    }

    /// Consumes the ticket and applies `change` to its user in one transaction, conditional
    /// on the user's version; re-reads and retries when another write got there first. A
    /// `change` that finds the ticket no longer applies answers `invalid_ticket`. `first` is
    /// the user when the caller has just read it.
    pub(super) async fn redeem(
        &self,
        hash: &TicketHash,
        ticket: &Ticket,
        password: Option<(&Credential, &PasswordHash)>,
        mut first: Option<User>,
        change: impl Fn(&mut User) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut races = Races::new("a ticket redemption");
        loop {
            races.next()?;
            let current = match first.take() {
                Some(user) => user,
                None => self
                    .users
                    .get(&ticket.tenant_id, &ticket.user_id)
                    .await?
                    .ok_or_else(invalid_ticket)?,
            };
            let mut next = current.clone();
            change(&mut next)?;
            next.updated_at = self.clock.now();
            next.version += 1;
            let effects = Effects {
                redeem: Some((&ticket.tenant_id, hash)),
                ..Effects::default()
            };
            match self.users.replace(&current, &next, password, effects).await {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed) => continue,
                Err(StoreError::Taken(_)) => {
                    return Err(Error::Conflict {
                        code: "email_taken",
                        message: "Another user has this email address now.".into(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
