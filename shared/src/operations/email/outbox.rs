//! Sending: the messages a write queued are tried once at once; the scheduled sender retries
//! what failed, with backoff, until each is sent or abandoned.

use serde::Serialize;

use super::Prepared;
use crate::domain::Error;
use crate::domain::email::same_address;
use crate::domain::locale::Locale;
use crate::domain::message::{
    Delivery, Job, JobRecord, JobStatus, Message, MessageKind, OutgoingEmail, Queued, Status, mask,
    mask_addresses,
};
use crate::domain::render::{self, Context};
use crate::domain::ticket::{RawTicket, Ticket, reset_target};
use crate::domain::user::User;
use crate::operations::App;
use crate::ports::{DueMessages, SendError, StoreError};
use crate::ports::{PasswordHasher, Store};

/// What trying a message once came to.
enum Attempt {
    Sent,
    /// The message no longer applies (the user is gone, or the address moved on).
    Moot,
    /// The address bounced for good or complained: not sent, and never will be.
    Suppressed,
}

/// What trying a message once left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Moot,
    Suppressed,
    Retrying,
    Abandoned,
}

impl Outcome {
    fn status(self) -> JobStatus {
        match self {
            Outcome::Sent => JobStatus::Completed,
            Outcome::Retrying => JobStatus::Pending,
            Outcome::Suppressed => JobStatus::Suppressed,
            Outcome::Moot | Outcome::Abandoned => JobStatus::Failed,
        }
    }
}

/// What a run of the scheduled sender did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    pub due: usize,
    pub sent: usize,
    pub retrying: usize,
    pub abandoned: usize,
    pub dropped: usize,
    /// Not sent because the address bounced for good or complained.
    pub suppressed: usize,
    /// Taken by a concurrent sender first.
    pub skipped: usize,
    /// Due items that did not read as messages: set aside, logged, the rest delivered.
    pub unreadable: usize,
    /// Whether the pass took as many as it could: more may be due.
    #[serde(skip)]
    pub more: bool,
}

impl<S: Store, H: PasswordHasher> App<S, H> {
    /// Mints the tickets the messages' first attempts will carry, for the write that queues
    /// them to store.
    pub(crate) fn prepare(&self, mail: Vec<Message>) -> Result<Prepared, Error> {
        let mut prepared = Prepared::default();
        for message in mail {
            let minted = match message.ticket_kind() {
                Some(kind) => {
                    let raw = RawTicket::generate()?;
                    let ticket = self.ticket_for(&message, kind);
                    Some((raw, ticket))
                }
                None => None,
            };
            prepared.queued.push(Queued {
                ticket: minted.as_ref().map(|(raw, t)| (raw.hash(), t.clone())),
                message,
            });
            prepared.raws.push(minted.map(|(raw, _)| raw));
        }
        Ok(prepared)
    }

    /// Queues prepared messages on their own (no other change causes them); `false` when the
    /// send cap refuses them, and then nothing is queued.
    pub(super) async fn queue(&self, prepared: &Prepared) -> Result<bool, Error> {
        match self
            .outbox
            .enqueue(&prepared.queued, self.email.send_cap, self.clock.now())
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::Capped) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// One immediate attempt at each queued message; what fails stays queued.
    pub(crate) async fn send_now(&self, prepared: Prepared, user: &User) -> Vec<Job> {
        let mut jobs = Vec::with_capacity(prepared.queued.len());
        for (queued, raw) in prepared.queued.into_iter().zip(prepared.raws) {
            let kind = queued.message.kind.job_type();
            let id = queued.message.id.clone();
            let minted = queued.ticket.map(|(_, ticket)| ticket).zip(raw);
            let status = self
                .attempt(queued.message, Some(user), minted)
                .await
                .status();
            jobs.push(Job { id, kind, status });
        }
        jobs
    }

    /// Tries a message once and records the outcome: removed when sent or moot, rescheduled
    /// with backoff after a transient failure, abandoned after the last try or a refusal.
    async fn attempt(
        &self,
        message: Message,
        user: Option<&User>,
        minted: Option<(Ticket, RawTicket)>,
    ) -> Outcome {
        let job = message.tracked.then(|| {
            (
                message.tenant_id.clone(),
                JobRecord::of(&message, JobStatus::Pending),
            )
        });
        let outcome = self.deliver(message, user, minted).await;
        if let Some((tenant, mut record)) = job
            && outcome != Outcome::Retrying
        {
            record.status = outcome.status();
            if let Err(e) = self.outbox.finish_job(&tenant, &record).await {
                tracing::error!(error = ?e, job = %record.id, "a job's outcome could not be recorded");
            }
        }
        outcome
    }

    async fn deliver(
        &self,
        mut message: Message,
        user: Option<&User>,
        minted: Option<(Ticket, RawTicket)>,
    ) -> Outcome {
        let outcome = self.try_send(&message, user, minted).await;
        let now = self.clock.now();
        let (status, cause) = match outcome {
            Ok(done) => {
                // Left queued, a sent message would go out again once its lease ends.
                if self.outbox.remove(&message).await.is_err()
                    && let Err(e) = self.outbox.remove(&message).await
                {
                    tracing::error!(error = ?e, job = %message.id, "a sent message could not be dequeued");
                }
                return match done {
                    Attempt::Sent => Outcome::Sent,
                    Attempt::Moot => Outcome::Moot,
                    Attempt::Suppressed => {
                        tracing::info!(
                            job = %message.id,
                            kind = message.kind.name(),
                            "email suppressed: the address bounced or complained"
                        );
                        Outcome::Suppressed
                    }
                };
            }
            Err(SendError::Rejected(cause)) => (Status::Abandoned, cause),
            Err(SendError::Transient(cause)) => {
                let tries = message.attempts + 1;
                if tries >= Delivery::MAX_ATTEMPTS {
                    (Status::Abandoned, cause)
                } else {
                    (Status::Pending, cause)
                }
            }
        };
        // Provider errors quote recipients; the log and the stored message keep none.
        let cause = mask_addresses(&cause);
        let taken = (message.attempts, message.next_attempt);
        message.attempts += 1;
        message.status = status;
        message.next_attempt = match status {
            Status::Pending => now.plus_secs(Delivery::backoff_secs(message.attempts)),
            Status::Abandoned => now,
        };
        tracing::warn!(
            job = %message.id,
            kind = message.kind.name(),
            attempts = message.attempts,
            abandoned = status == Status::Abandoned,
            cause = %cause,
            "email not sent"
        );
        message.last_error = Some(cause.chars().take(500).collect());
        match self.outbox.save(&message, taken).await {
            Ok(()) | Err(StoreError::ConditionFailed) => {}
            Err(e) => {
                tracing::error!(error = ?e, job = %message.id, "a failed message could not be rescheduled")
            }
        }
        match status {
            Status::Pending => Outcome::Retrying,
            Status::Abandoned => Outcome::Abandoned,
        }
    }

    /// `minted`: the ticket the write that queued the message stored; a retry mints its own.
    async fn try_send(
        &self,
        message: &Message,
        user: Option<&User>,
        minted: Option<(Ticket, RawTicket)>,
    ) -> Result<Attempt, SendError> {
        let transient = |e: Error| SendError::Transient(e.to_string());
        let read;
        let user = match user {
            Some(user) => user,
            None => {
                read = self
                    .users
                    .get(&message.tenant_id, &message.user_id)
                    .await
                    .map_err(|e| transient(e.into()))?;
                match &read {
                    Some(user) => user,
                    None => return Ok(Attempt::Moot),
                }
            }
        };
        let applies = match message.kind {
            MessageKind::VerifyEmail if message.change => {
                same_address(user.pending_email.as_deref(), &message.to)
            }
            MessageKind::VerifyEmail => {
                !user.email_verified && same_address(user.email.as_deref(), &message.to)
            }
            // The old address hears of the change whatever happened since: it is the owner's
            // warning even when the new address was verified before a retry got through.
            MessageKind::EmailChangeNotice => true,
            MessageKind::PasswordReset => {
                !user.blocked
                    && reset_target(user, message.identity.as_deref())
                        .is_some_and(|t| t.allows(Some(&message.to), message.created_at))
            }
            MessageKind::AccountDeletionScheduled => user.deletion_scheduled_at.is_some(),
            // Only to the address the account has proven, and only while it is the account's.
            MessageKind::Unblock => {
                user.email_verified && same_address(user.email.as_deref(), &message.to)
            }
            // A sign-in since the warning was queued cancels what it warns of.
            MessageKind::InactivityWarning => {
                user.last_login.is_none_or(|at| at < message.created_at)
                    && user.deletion_scheduled_at.is_none()
            }
        };
        if !applies {
            return Ok(Attempt::Moot);
        }
        // Every message passes here, the first attempt and each retry alike: mail to an
        // address that bounced for good or complained hurts the sender's standing with every
        // mailbox provider (docs/email.md, "Bounces and complaints"). Before a ticket is
        // minted or a template rendered.
        if user.suppresses(&message.to) {
            return Ok(Attempt::Suppressed);
        }
        let tenant = self.tenant(&message.tenant_id).await.map_err(transient)?;
        let link = match (message.ticket_kind(), minted) {
            (None, _) => None,
            (Some(_), Some((ticket, raw))) => Some(self.link(&ticket, &raw, &tenant)),
            (Some(kind), None) => {
                let raw = RawTicket::generate().map_err(transient)?;
                let ticket = self.ticket_for(message, kind);
                self.tickets
                    .put_ticket(&raw.hash(), &ticket)
                    .await
                    .map_err(|e| transient(e.into()))?;
                Some(self.link(&ticket, &raw, &tenant))
            }
        };
        let locale = Locale::for_user(user, tenant.locale);
        let ctx = Context {
            app_name: tenant.name(&message.tenant_id).to_owned(),
            // Mail to an address nobody has proven carries no text whoever typed it chose, or a
            // sign-up or a self-service change would send anyone's words to any mailbox.
            user_name: if message.change
                || !user.email_verified
                || !same_address(user.email.as_deref(), &message.to)
            {
                None
            } else {
                user.given_name
                    .clone()
                    .or_else(|| user.name.clone())
                    .or_else(|| user.nickname.clone())
            },
            email: message.to.clone(),
            lang: locale.tag(),
            link: link.map(String::from),
            is_change: message.change,
            new_email: message.new_email.as_deref().map(mask),
            deletion_date: match message.kind {
                MessageKind::InactivityWarning => user.review_at,
                _ => user.deletion_scheduled_at,
            }
            .map(|at| at.to_string().chars().take(10).collect()),
            ..Context::default()
        }
        .with_ttl(message.ttl_secs);
        // A template that fails to render fails the same way on every try.
        let rendered = render::render(message.kind, locale, &ctx)
            .map_err(|e| SendError::Rejected(e.to_string()))?;
        self.mailer
            .send(&OutgoingEmail {
                tenant_id: message.tenant_id.clone(),
                user_id: message.user_id,
                to: message.to.clone(),
                subject: rendered.subject,
                text: rendered.text,
                html: rendered.html,
            })
            .await?;
        Ok(Attempt::Sent)
    }

    /// The scheduled sender's run: every due message (at most `limit`), each taken with a
    /// lease first so concurrent runs never send one twice.
    pub async fn deliver_due(&self, limit: usize) -> Result<DeliveryReport, Error> {
        use futures::StreamExt;
        let now = self.clock.now();
        let DueMessages {
            messages: due,
            unreadable,
        } = self.outbox.due(now, limit).await?;
        let mut report = DeliveryReport {
            unreadable,
            due: due.len(),
            more: due.len() >= limit,
            ..DeliveryReport::default()
        };
        let lease = now.plus_secs(Delivery::LEASE_SECS);
        let outcomes: Vec<Option<Outcome>> = futures::stream::iter(due)
            .map(|message| async move {
                match self.outbox.claim(&message, lease).await {
                    Ok(()) => {}
                    Err(StoreError::ConditionFailed) => return None,
                    Err(e) => {
                        tracing::error!(error = ?e, job = %message.id, "claiming a message failed");
                        return None;
                    }
                }
                let mut leased = message;
                leased.next_attempt = lease;
                Some(self.attempt(leased, None, None).await)
            })
            .buffer_unordered(8)
            .collect()
            .await;
        for outcome in outcomes {
            match outcome {
                None => report.skipped += 1,
                Some(Outcome::Sent) => report.sent += 1,
                Some(Outcome::Retrying) => report.retrying += 1,
                Some(Outcome::Abandoned) => report.abandoned += 1,
                Some(Outcome::Moot) => report.dropped += 1,
                Some(Outcome::Suppressed) => report.suppressed += 1,
            }
        }
        Ok(report)
    }
}
