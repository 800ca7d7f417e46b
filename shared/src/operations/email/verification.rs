//! Email verification: the message, its link (or a JSON POST) redeemed, and resends.

use url::Url;

use super::Unusable;
use crate::domain::Error;
use crate::domain::email::same_address;
use crate::domain::ids::TenantId;
use crate::domain::locale::Locale;
use crate::domain::message::{
    JobRecord, Message, MessageKind, SendCap, VerificationJob, job_not_found, parse_job_id,
};
use crate::domain::ticket::{Ticket, TicketHash, TicketKind, invalid_ticket};
use crate::domain::user::User;
use crate::operations::App;
use crate::ports::{PasswordHasher, Store};

/// How a verification ticket arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The emailed link, opened (GET): possibly by a mail scanner.
    Link,
    /// The confirmation page's form (POST): a person pressed its button.
    Form,
    /// A JSON POST from an app: answered with the outcome, never redirected.
    Api,
}

/// What `/email-verification/confirm` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    Redirect(Url),
    /// A link was opened (GET): show the page whose form confirms it. `change`: the link of
    /// an email change, else of a verification.
    Page {
        email: String,
        locale: Locale,
        change: bool,
    },
    /// Verified, and the tenant names no page to go to.
    Verified,
    /// No URL to send an error to: the caller answers 400 with this error.
    Refused(Error),
}

impl<S: Store, H: PasswordHasher> App<S, H> {
    /// The verification message for `to`: the user's address, or (`change`) the one it asked
    /// to switch to.
    pub(crate) fn verification(&self, user: &User, to: &str, change: bool) -> Message {
        let kind = if change {
            TicketKind::EmailChange
        } else {
            TicketKind::EmailVerification
        };
        let mut message = Message::new(
            MessageKind::VerifyEmail,
            user,
            to,
            kind.ttl_secs().0,
            self.clock.now(),
        );
        message.change = change;
        message
    }

    /// `/email-verification/confirm`: verifies the address (or completes an email change) and
    /// consumes the ticket. A browser is sent to the ticket's `result_url` or the tenant's
    /// default with `success=true`, or `success=false&error=<code>`; an API caller gets the
    /// outcome itself. Opening the link of an email change only shows a page whose form
    /// confirms it: a scanner fetching links in the new mailbox must not be able to move an
    /// account onto that address.
    pub async fn confirm_email(
        &self,
        tenant: &TenantId,
        raw: Option<&str>,
        via: Via,
    ) -> Confirmation {
        // The ticket first, with the settings when a cold container has none.
        let kinds = [TicketKind::EmailVerification, TicketKind::EmailChange];
        let found = self
            .live_ticket_reading_settings(tenant, raw.unwrap_or(""), &kinds)
            .await;
        let settings = match self.tenant(tenant).await {
            Ok(settings) => settings,
            Err(e) => {
                tracing::error!(error = %e, "reading the tenant's settings failed");
                return Confirmation::Refused(e);
            }
        };
        let to = |ticket: Option<&Ticket>, error: Option<&str>| -> Confirmation {
            let target = ticket
                .and_then(|t| t.result_url.clone())
                .or_else(|| settings.default_result_url.clone())
                .filter(|_| via != Via::Api);
            match target {
                Some(mut url) => {
                    {
                        let mut q = url.query_pairs_mut();
                        match error {
                            None => q.append_pair("success", "true"),
                            Some(code) => {
                                q.append_pair("success", "false").append_pair("error", code)
                            }
                        };
                    }
                    Confirmation::Redirect(url)
                }
                None => match error {
                    None => Confirmation::Verified,
                    Some("expired_ticket") => Confirmation::Refused(Error::invalid(
                        "expired_ticket",
                        "The verification link has expired.",
                    )),
                    Some("email_taken") => Confirmation::Refused(Error::Conflict {
                        code: "email_taken",
                        message: "Another user has this email address now.".into(),
                    }),
                    Some("server_error") => {
                        Confirmation::Refused(Error::unavailable("email verification failed"))
                    }
                    Some(_) => Confirmation::Refused(invalid_ticket()),
                },
            }
        };
        let (hash, ticket) = match found {
            Ok(found) => found,
            Err(Unusable::Expired(expired)) => return to(Some(&expired), Some("expired_ticket")),
            Err(Unusable::Unknown) => return to(None, Some("invalid_ticket")),
            Err(Unusable::Store(e)) => {
                tracing::error!(error = %e, "reading a verification ticket failed");
                return to(None, Some("server_error"));
            }
        };
        // Mail scanners fetch every link: a GET only shows the page whose form acts, or an
        // attacker's sign-up would be verified for whoever's mailbox the scanner guards.
        if via == Via::Link {
            let address = ticket.email.clone().unwrap_or_default();
            let change = ticket.kind == TicketKind::EmailChange;
            return match self.users.get(tenant, &ticket.user_id).await {
                Ok(Some(user)) => {
                    let current = if change {
                        user.pending_email.as_deref()
                    } else {
                        user.email.as_deref()
                    };
                    if same_address(current, &address) {
                        Confirmation::Page {
                            email: address,
                            locale: Locale::for_user(&user, settings.locale),
                            change,
                        }
                    } else {
                        to(Some(&ticket), Some("invalid_ticket"))
                    }
                }
                Ok(None) => to(Some(&ticket), Some("invalid_ticket")),
                Err(e) => {
                    tracing::error!(error = ?e, "reading the user of a verification link failed");
                    to(Some(&ticket), Some("server_error"))
                }
            };
        }
        match self.redeem_email(&hash, &ticket).await {
            Ok(()) => to(Some(&ticket), None),
            Err(Error::Conflict { .. }) => to(Some(&ticket), Some("email_taken")),
            Err(Error::Invalid { .. } | Error::NotFound { .. }) => {
                to(Some(&ticket), Some("invalid_ticket"))
            }
            Err(e) => {
                tracing::error!(error = %e, "email verification failed");
                to(Some(&ticket), Some("server_error"))
            }
        }
    }

    pub(super) async fn redeem_email(
        &self,
        hash: &TicketHash,
        ticket: &Ticket,
    ) -> Result<(), Error> {
        let address = ticket.email.as_deref().unwrap_or("");
        self.redeem(hash, ticket, None, None, |user| {
            if ticket.kind == TicketKind::EmailChange {
                if !same_address(user.pending_email.as_deref(), address) {
                    return Err(invalid_ticket());
                }
                user.email = user.pending_email.take();
            } else if !same_address(user.email.as_deref(), address) {
                return Err(invalid_ticket());
            }
            user.email_verified = true;
            // A new address, or this one proven to reach its owner again: mail may go to it.
            user.clear_undeliverable();
            Ok(())
        })
        .await
    }

    /// `POST /jobs/verification-email`.
    pub async fn send_verification_email(
        &self,
        tenant: &TenantId,
        job: &VerificationJob,
    ) -> Result<JobRecord, Error> {
        let user = self.get_user_reading_settings(tenant, &job.user_id).await?;
        let email = user.email.clone().ok_or_else(Error::no_email)?;
        if user.email_verified {
            return Err(Error::invalid(
                "email_already_verified",
                "The user's email address is already verified.",
            ));
        }
        let mut message = self.verification(&user, &email, false);
        message.tracked = true;
        let created_at = message.created_at;
        let prepared = self.prepare(vec![message])?;
        if !self.queue(&prepared).await? {
            return Err(SendCap::exceeded(self.clock.now()));
        }
        let job = self
            .send_now(prepared, &user)
            .await
            .pop()
            .ok_or_else(|| Error::internal("a queued message has no job"))?;
        Ok(JobRecord {
            id: job.id,
            kind: job.kind.to_owned(),
            status: job.status,
            created_at,
        })
    }

    /// `GET /jobs/{id}`: a job `POST /jobs/verification-email` queued in the tenant within
    /// the last [`JobRecord::KEEP_SECS`].
    pub async fn job(&self, tenant: &TenantId, id: &str) -> Result<JobRecord, Error> {
        let id = parse_job_id(id)?;
        let record = self.outbox.job(tenant, id).await?;
        let expired =
            |r: &JobRecord| r.created_at.plus_secs(JobRecord::KEEP_SECS) <= self.clock.now();
        record.filter(|r| !expired(r)).ok_or_else(job_not_found)
    }
}
