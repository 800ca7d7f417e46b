//! Unblock links: when a brute-force block starts, the account's verified address is mailed a
//! link whose page lifts every block of the account (docs/api.md, "Signing in and attack
//! protection"). The notice travels through the account mail queue, so a block that starts
//! on an account costs the sign-in what one on an unknown identifier does.

use super::Unusable;
use crate::domain::Error;
use crate::domain::email::same_address;
use crate::domain::ids::{TenantId, UserId};
use crate::domain::locale::Locale;
use crate::domain::login::LoginSubject;
use crate::domain::mail_request::MailRequest;
use crate::domain::message::{Message, MessageKind};
use crate::domain::ticket::{TicketKind, invalid_ticket};
use crate::domain::user::User;
use crate::operations::App;
use crate::ports::{PasswordHasher, Store};

/// What the unblock link's page shows.
#[derive(Debug)]
pub enum UnblockPage {
    /// A form whose POST lifts the blocks, in the user's language.
    Confirm {
        locale: Locale,
    },
    Invalid,
}

impl<S: Store, H: PasswordHasher> App<S, H> {
    /// Hands a mail request to the account mail queue.
    pub(crate) async fn enqueue_mail(&self, request: &MailRequest) -> Result<(), Error> {
        let queue = self
            .mail_queue
            .as_ref()
            .ok_or_else(|| Error::internal("no mail queue is wired"))?;
        Ok(queue.enqueue(request).await?)
    }

    /// Queues the notice of a block that just started for `subject`: one queue message,
    /// whoever it is (the worker drops an unknown one). A failure is logged: the sign-in's
    /// answer must not depend on it.
    pub(crate) async fn notify_block(&self, subject: &LoginSubject) {
        let request = match subject {
            LoginSubject::User(tenant, id, _) => MailRequest::Unblock {
                tenant: tenant.clone(),
                user: Some(*id),
            },
            LoginSubject::Unknown { tenant, .. } => MailRequest::Unblock {
                tenant: tenant.clone(),
                user: None,
            },
        };
        if let Err(e) = self.enqueue_mail(&request).await {
            tracing::error!(error = %e, "an unblock notice was not queued");
        }
    }

    /// The worker's half of a block notice: an unblock link to the user's verified address,
    /// under the send cap. Nothing for an unknown identifier, a gone user, or an address
    /// nobody has proven (an unblock link must not reach a mailbox that is not the owner's).
    pub async fn resolve_unblock(
        &self,
        tenant: &TenantId,
        user: Option<UserId>,
    ) -> Result<(), Error> {
        let Some(id) = user else {
            return Ok(());
        };
        let Some(user) = self.user_reading_settings(tenant, &id).await? else {
            return Ok(());
        };
        let (Some(to), true) = (user.email.clone(), user.email_verified) else {
            return Ok(());
        };
        let message = Message::new(
            MessageKind::Unblock,
            &user,
            &to,
            TicketKind::Unblock.ttl_secs().0,
            self.clock.now(),
        );
        let prepared = self.prepare(vec![message])?;
        if self.queue(&prepared).await? {
            self.send_now(prepared, &user).await;
        }
        Ok(())
    }

    /// `GET /unblock?ticket=`: the page, changing nothing (mail scanners open links).
    pub async fn unblock_page(&self, tenant: &TenantId, raw: &str) -> Result<UnblockPage, Error> {
        let read = self.live_ticket_reading_settings(tenant, raw, &[TicketKind::Unblock]);
        let ticket = match read.await {
            Ok((_, ticket)) => ticket,
            Err(Unusable::Store(e)) => return Err(e),
            Err(_) => return Ok(UnblockPage::Invalid),
        };
        Ok(match self.users.get(tenant, &ticket.user_id).await? {
            Some(user)
                if user.email_verified
                    && same_address(
                        user.email.as_deref(),
                        ticket.email.as_deref().unwrap_or(""),
                    ) =>
            {
                UnblockPage::Confirm {
                    locale: Locale::for_user(&user, self.tenant(tenant).await?.locale),
                }
            }
            _ => UnblockPage::Invalid,
        })
    }

    /// `POST /unblock`: uses the ticket up and lifts every brute-force block of the account,
    /// while the address the link went to is still the account's verified one. The admin
    /// `blocked` flag, and an address's throttle across accounts, are not the owner's to lift.
    pub async fn unblock(&self, tenant: &TenantId, raw: &str) -> Result<(), Error> {
        let (hash, ticket) = self
            .live_ticket(tenant, raw, &[TicketKind::Unblock])
            .await
            .map_err(Unusable::into_error)?;
        let to = ticket.email.clone().unwrap_or_default();
        let applies = |user: &User| {
            if user.email_verified && same_address(user.email.as_deref(), &to) {
                Ok(())
            } else {
                Err(invalid_ticket())
            }
        };
        let user = self
            .users
            .get(tenant, &ticket.user_id)
            .await?
            .ok_or_else(invalid_ticket)?;
        applies(&user)?;
        // Lifted before the ticket is used up: a clear that failed leaves the link to try again.
        self.logins.clear_failures(tenant, &ticket.user_id).await?;
        self.redeem(&hash, &ticket, None, Some(user), |user| applies(user))
            .await
    }
}
