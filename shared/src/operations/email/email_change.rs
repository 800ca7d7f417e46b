//! Self-service email change: `PATCH /me` with a new address records it as pending and mails
//! both addresses; the new one's link switches, the old one's cancels.

use super::Unusable;
use crate::domain::Error;
use crate::domain::email::same_address;
use crate::domain::ids::{TenantId, UserId};
use crate::domain::locale::Locale;
use crate::domain::message::{Message, MessageKind, SendCap, mask};
use crate::domain::ticket::{TicketKind, invalid_ticket};
use crate::domain::user::User;
use crate::domain::user_patch::UserPatch;
use crate::operations::{App, Races, Saved};
use crate::ports::{Effects, StoreError};
use crate::ports::{PasswordHasher, Store};

/// What the page behind an email-change notice's link shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelPage {
    Confirm { new_email: String, locale: Locale },
    Invalid,
}

impl<S: Store, H: PasswordHasher> App<S, H> {
    /// The messages a self-service switch to `new` queues: a verification to the new address
    /// and, when there is one, a notice with a cancel link to the old.
    pub(super) fn email_change(&self, user: &User, new: &str) -> Vec<Message> {
        let mut mail = vec![self.verification(user, new, true)];
        if let Some(old) = &user.email {
            let mut notice = Message::new(
                MessageKind::EmailChangeNotice,
                user,
                old,
                TicketKind::EmailChangeCancel.ttl_secs().0,
                self.clock.now(),
            );
            notice.new_email = Some(new.to_owned());
            mail.push(notice);
        }
        mail
    }

    /// `PATCH /me`. A new `email` is not switched to: it is recorded as `pending_email`, the
    /// new address is sent a verification and the old one a notice with a cancel link; the
    /// switch happens when the new address is verified. Everything else applies as
    /// [`App::patch_user`] applies it.
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
        let mut races = Races::new("a PATCH");
        loop {
            races.next()?;
            let current = self.get_matching(tenant, id, if_match).await?;
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
                return Ok(Saved::quiet(current));
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
                Err(StoreError::Capped) => return Err(SendCap::exceeded(self.clock.now())),
                Err(e) => return Err(e.into()),
            }
        }
    }
    /// What the page behind a cancel link shows; reads, changes nothing.
    pub async fn email_change_page(
        &self,
        tenant: &TenantId,
        raw: &str,
    ) -> Result<CancelPage, Error> {
        let ticket = match self
            .live_ticket_reading_settings(tenant, raw, &[TicketKind::EmailChangeCancel])
            .await
        {
            Ok((_, ticket)) => ticket,
            Err(Unusable::Store(e)) => return Err(e),
            Err(_) => return Ok(CancelPage::Invalid),
        };
        Ok(match self.users.get(tenant, &ticket.user_id).await? {
            Some(user)
                if ticket
                    .email
                    .as_deref()
                    .is_some_and(|new| same_address(user.pending_email.as_deref(), new)) =>
            {
                let locale = Locale::for_user(&user, self.tenant(tenant).await?.locale);
                CancelPage::Confirm {
                    new_email: mask(ticket.email.as_deref().unwrap_or("")),
                    locale,
                }
            }
            _ => CancelPage::Invalid,
        })
    }

    /// `POST /email-change/cancel`: drops the pending address the ticket names.
    pub async fn cancel_email_change(&self, tenant: &TenantId, raw: &str) -> Result<(), Error> {
        let (hash, ticket) = self
            .live_ticket(tenant, raw, &[TicketKind::EmailChangeCancel])
            .await
            .map_err(Unusable::into_error)?;
        let pending = ticket.email.as_deref().unwrap_or("");
        self.redeem(&hash, &ticket, None, None, |user| {
            if !same_address(user.pending_email.as_deref(), pending) {
                return Err(invalid_ticket());
            }
            user.pending_email = None;
            Ok(())
        })
        .await
    }
}
