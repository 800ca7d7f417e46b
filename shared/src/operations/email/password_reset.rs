//! Password reset: asked for by address (always the same answer, the request queued), resolved
//! and mailed by a worker within seconds, and confirmed with the ticket and a new password.

use url::Url;

use super::Unusable;
use crate::domain::Error;
use crate::domain::ids::{TenantId, UserId};
use crate::domain::locale::Locale;
use crate::domain::login::{Credential, Identifier};
use crate::domain::mail_request::MailRequest;
use crate::domain::message::{Message, MessageKind};
use crate::domain::password::Password;
use crate::domain::ticket::{
    ResetConfirmation, ResetRequest, TicketKind, invalid_ticket, ticket_target,
};
use crate::operations::App;
use crate::ports::{PasswordHasher, Store};

impl<S: Store, H: PasswordHasher> App<S, H> {
    /// `POST /password-reset`: hands the request to the worker that resolves it, reading
    /// nothing, so the answer comes after the same work for every address.
    pub async fn request_password_reset(
        &self,
        tenant: TenantId,
        request: ResetRequest,
    ) -> Result<(), Error> {
        self.enqueue_mail(&MailRequest::Reset { tenant, request })
            .await
    }

    /// The worker's half of a reset request: sends a reset link if a database user has this
    /// address. A user over the cap, blocked or unknown gets nothing. An error is a store
    /// outage before any account was found: the request is worth retrying.
    pub async fn resolve_password_reset(
        &self,
        tenant: &TenantId,
        req: &ResetRequest,
    ) -> Result<(), Error> {
        let identifier = Identifier::Email(req.email.clone());
        let Some((id, credential)) = self
            .users
            .find_login(tenant, &identifier, &req.connection)
            .await?
        else {
            return Ok(());
        };
        // From here on only an account that exists is at stake: a failure is logged, never
        // answered differently from an unknown address.
        if let Err(e) = self.send_reset(tenant, &id, credential).await {
            tracing::error!(error = %e, "a password reset email was not queued");
        }
        Ok(())
    }

    /// Mails a reset of the password `credential` names to the address it signs in with.
    pub(super) async fn send_reset(
        &self,
        tenant: &TenantId,
        id: &UserId,
        credential: Credential,
    ) -> Result<(), Error> {
        let Some(user) = self.user_reading_settings(tenant, id).await? else {
            return Ok(());
        };
        let (to, identity) = match credential {
            Credential::Own => (user.email.clone(), None),
            Credential::Linked(identity) => (
                user.linked_database(&identity)
                    .and_then(|i| i.email().map(str::to_owned)),
                Some(identity),
            ),
        };
        let (Some(to), false) = (to, user.blocked) else {
            return Ok(());
        };
        let mut message = Message::new(
            MessageKind::PasswordReset,
            &user,
            &to,
            TicketKind::PasswordChange.ttl_secs().0,
            self.clock.now(),
        );
        message.identity = identity;
        let prepared = self.prepare(vec![message])?;
        if self.queue(&prepared).await? {
            self.send_now(prepared, &user).await;
        }
        Ok(())
    }

    /// `POST /password-reset/confirm`: sets the password the ticket allows, once. A password
    /// the policy refuses leaves the ticket usable.
    pub async fn confirm_password_reset(
        &self,
        tenant: &TenantId,
        req: ResetConfirmation,
    ) -> Result<Option<Url>, Error> {
        let (hash, ticket) = self
            .live_ticket(tenant, &req.ticket, &[TicketKind::PasswordChange])
            .await
            .map_err(Unusable::into_error)?;
        let current = self
            .users
            .get(tenant, &ticket.user_id)
            .await?
            .ok_or_else(invalid_ticket)?;
        let Some(reset) = ticket_target(&ticket, &current) else {
            return Err(invalid_ticket());
        };
        // Checked against the user as read; a concurrent change of its email or username
        // would only have made a different word count as "known" to the strength check.
        let password = Password::parse(req.new_password, reset.email, reset.username)?;
        let stored = self.hasher.hash(&password).await?;
        let credential = match &ticket.identity {
            None => Credential::Own,
            Some(identity) => Credential::Linked(identity.clone()),
        };
        let now = self.clock.now();
        self.redeem(
            &hash,
            &ticket,
            Some((&credential, &stored)),
            Some(current),
            |user| {
                // Again on every read: a lost race may have been a change of address or
                // password, or an unlink.
                if ticket_target(&ticket, user).is_none() {
                    return Err(invalid_ticket());
                }
                let mark = ticket.mark_email_verified;
                match &ticket.identity {
                    None => {
                        user.last_password_reset = Some(now);
                        user.email_verified |= mark;
                        // The link reached the address: as a verification, it lifts the mark.
                        if mark {
                            user.clear_undeliverable();
                        }
                    }
                    Some(identity) => {
                        let linked = user
                            .linked_database_mut(identity)
                            .ok_or_else(invalid_ticket)?;
                        if let Some(standalone) = linked.standalone.as_mut() {
                            standalone.last_password_reset = Some(now);
                        }
                        if let Some(profile) = linked.profile_data.as_mut() {
                            profile.email_verified |= mark;
                        }
                    }
                }
                Ok(())
            },
        )
        .await?;
        self.clear_blocks_after_password(tenant, &ticket.user_id)
            .await;
        Ok(ticket.result_url)
    }

    /// The hosted reset page a reset link opens (when the tenant has no page of its own):
    /// its form, in the user's language, for a live ticket whose account it still applies
    /// to; else the page that says the link is of no use. Changes nothing.
    pub async fn reset_page(&self, tenant: &TenantId, raw: &str) -> Result<ResetPage, Error> {
        let ticket = match self
            .live_ticket_reading_settings(tenant, raw, &[TicketKind::PasswordChange])
            .await
        {
            Ok((_, ticket)) => ticket,
            Err(Unusable::Store(e)) => return Err(e),
            Err(_) => return Ok(ResetPage::Invalid),
        };
        Ok(match self.users.get(tenant, &ticket.user_id).await? {
            Some(user) if ticket_target(&ticket, &user).is_some() => ResetPage::Form {
                locale: Locale::for_user(&user, self.tenant(tenant).await?.locale),
                redirects: ticket.result_url.is_some(),
            },
            _ => ResetPage::Invalid,
        })
    }
}

/// What the hosted reset page shows for a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetPage {
    /// The form that sets the new password, in the user's language; `redirects` when its
    /// success goes to the ticket's `result_url`.
    Form {
        locale: Locale,
        redirects: bool,
    },
    Invalid,
}
