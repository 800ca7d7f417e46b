//! The email flows: verification, password reset, email change, the tickets API and the
//! outbox's delivery. Every message is queued (an outbox item) in the same write as the change
//! that causes it, then tried once at once; what fails is retried by the scheduled sender.

use serde::{Deserialize, Serialize};
use url::Url;
use zeroize::Zeroizing;

use super::Error;
use super::email::Email;
use super::ids::{Connection, TenantId, UserId};
use super::json;
use super::login::{Credential, Identifier};
use super::mail::{
    Delivery, Locale, Message, MessageKind, OutgoingEmail, Queued, SendCap, Status, mask,
};
use super::ops::Services;
use super::password::{Password, PasswordHash};
use super::ports::{Effects, SendError, StoreError};
use super::render::{self, Context};
use super::ticket::{RawTicket, Ticket, TicketHash, TicketKind, invalid_ticket};
use super::time::Timestamp;
use super::user::User;

/// How many times a redemption re-reads the user after losing a race to another write.
const REDEEM_ATTEMPTS: usize = 4;

/// Where a queued message stands, as a response reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// The provider accepted it.
    Completed,
    /// The first attempt failed; the outbox retries it.
    Pending,
    /// The provider refused it, or it no longer applies; nothing more will happen.
    Failed,
}

/// One queued message, as `POST /jobs/verification-email` and the responses of writes that
/// queue email report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub status: JobStatus,
}

pub(super) fn job_type(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::VerifyEmail => "verification_email",
        MessageKind::PasswordReset => "password_reset_email",
        MessageKind::EmailChangeNotice => "email_change_notice",
        MessageKind::AccountDeletionScheduled => "account_deletion_email",
        MessageKind::InactivityWarning => "inactivity_warning_email",
    }
}

/// Messages ready to queue, and the raw tickets of their first attempts' links (which only
/// ever travel in those links).
#[derive(Debug, Default)]
pub(super) struct Prepared {
    pub(super) queued: Vec<Queued>,
    raws: Vec<Option<RawTicket>>,
}

/// What trying a message once came to.
enum Attempt {
    Sent,
    /// The message no longer applies (the user is gone, or the address moved on).
    Moot,
}

/// What trying a message once left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Moot,
    Retrying,
    Abandoned,
}

impl Outcome {
    fn status(self) -> JobStatus {
        match self {
            Outcome::Sent => JobStatus::Completed,
            Outcome::Retrying => JobStatus::Pending,
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
    /// Taken by a concurrent sender first.
    pub skipped: usize,
}

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
    /// An email change's link was opened: show the page that confirms it.
    Page {
        email: String,
        locale: Locale,
    },
    /// Verified, and the tenant names no page to go to.
    Verified,
    /// No URL to send an error to: the caller answers 400 with this error.
    Refused(Error),
}

/// Why a presented ticket cannot be used.
enum Unusable {
    /// Malformed, unknown, used, or of another kind.
    Unknown,
    /// It exists but has expired; a redirect can still reach its `result_url`.
    Expired(Ticket),
    /// The store failed: not the caller's fault, so not `invalid_ticket`.
    Store(Error),
}

impl Unusable {
    fn into_error(self) -> Error {
        match self {
            Unusable::Store(e) => e,
            Unusable::Unknown | Unusable::Expired(_) => invalid_ticket(),
        }
    }
}

/// What the page behind an email-change notice's link shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelPage {
    Confirm { new_email: String, locale: Locale },
    Invalid,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct JobBody {
    user_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct VerificationTicketBody {
    user_id: String,
    result_url: Option<String>,
    ttl_sec: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct PasswordTicketBody {
    user_id: Option<String>,
    email: Option<String>,
    connection: Option<String>,
    result_url: Option<String>,
    ttl_sec: Option<u64>,
    mark_email_as_verified: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct ResetBody {
    email: String,
    connection: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct ResetConfirmBody {
    ticket: String,
    #[serde(default, deserialize_with = "json::secret")]
    new_password: Option<Zeroizing<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct TicketOnlyBody {
    ticket: String,
}

fn same_address(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(b))
}

/// Whether a reset ticket still speaks for its account: a link mailed to an address the
/// account has since left, or no newer than its last password change, does not.
/// The password a reset names: the user's own (a database user's), or that of the linked
/// database identity `identity`.
struct ResetTarget<'a> {
    email: Option<&'a str>,
    username: Option<&'a str>,
    last_reset: Option<Timestamp>,
    /// When a linked identity was linked: a reset asked for before belongs to another life of
    /// the identity (a link, unlink and link again).
    linked_at: Option<Timestamp>,
}

impl ResetTarget<'_> {
    /// Whether a reset asked for at `asked`, mailed to `address`, still applies: the address
    /// is still this password's, and the password has not been reset since.
    fn allows(&self, address: Option<&str>, asked: Timestamp) -> bool {
        let same = match (address, self.email) {
            (Some(to), Some(now)) => to.eq_ignore_ascii_case(now),
            (None, None) => true,
            _ => false,
        };
        same && self.last_reset.is_none_or(|at| at < asked)
            && self.linked_at.is_none_or(|at| at < asked)
    }
}

fn reset_target<'a>(user: &'a User, identity: Option<&str>) -> Option<ResetTarget<'a>> {
    match identity {
        None if user.connection().is_database() => Some(ResetTarget {
            email: user.email.as_deref(),
            username: user.username.as_deref(),
            last_reset: user.last_password_reset,
            linked_at: None,
        }),
        None => None,
        Some(identity) => {
            let linked = user.linked_database(identity)?;
            Some(ResetTarget {
                email: linked.email(),
                username: linked.username(),
                last_reset: linked.standalone.as_ref()?.last_password_reset,
                linked_at: Some(linked.linked_at?),
            })
        }
    }
}

/// What a reset ticket resets, if it still may.
fn ticket_target<'a>(ticket: &Ticket, user: &'a User) -> Option<ResetTarget<'a>> {
    reset_target(user, ticket.identity.as_deref())
        .filter(|t| t.allows(ticket.email.as_deref(), ticket.created_at))
}

fn ttl(kind: TicketKind, asked: Option<u64>) -> Result<u64, Error> {
    let (default, max) = kind.ttl_secs();
    match asked {
        None => Ok(default),
        Some(secs) if (60..=max).contains(&secs) => Ok(secs),
        Some(_) => Err(Error::body(format!(
            "ttl_sec must be from 60 to {max} seconds for this ticket."
        ))),
    }
}

fn no_email() -> Error {
    Error::invalid("no_email", "The user has no email address to verify.")
}

pub(super) fn too_many_emails(now: Timestamp) -> Error {
    Error::TooManyRequests {
        retry_after_secs: SendCap::retry_after(now),
        message: "Too many emails of this kind were sent to this user; retry later.".into(),
    }
}

impl Services {
    /// The verification message for `to`: the user's address, or (`change`) the one it asked
    /// to switch to.
    pub(super) fn verification(&self, user: &User, to: &str, change: bool) -> Message {
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

    /// Mints the tickets the messages' first attempts will carry, for the write that queues
    /// them to store.
    pub(super) fn prepare(&self, mail: Vec<Message>) -> Result<Prepared, Error> {
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
    async fn queue(&self, prepared: &Prepared) -> Result<bool, Error> {
        match self
            .mail
            .enqueue(&prepared.queued, self.email.send_cap, self.clock.now())
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::Capped) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// One immediate attempt at each queued message; what fails stays queued.
    pub(super) async fn send_now(&self, prepared: Prepared, user: &User) -> Vec<Job> {
        let mut jobs = Vec::with_capacity(prepared.queued.len());
        for (queued, raw) in prepared.queued.into_iter().zip(prepared.raws) {
            let kind = job_type(queued.message.kind);
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

    /// The ticket a message's link carries: dated from the request that caused the message
    /// (a retried reset link still dies with a password changed since), living its full
    /// lifetime from now.
    fn ticket_for(&self, message: &Message, kind: TicketKind) -> Ticket {
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

    /// Tries a message once and records the outcome: removed when sent or moot, rescheduled
    /// with backoff after a transient failure, abandoned after the last try or a refusal.
    async fn attempt(
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
                if self.mail.remove(&message).await.is_err()
                    && let Err(e) = self.mail.remove(&message).await
                {
                    tracing::error!(error = ?e, job = %message.id, "a sent message could not be dequeued");
                }
                return match done {
                    Attempt::Sent => Outcome::Sent,
                    Attempt::Moot => Outcome::Moot,
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
        match self.mail.save(&message, taken).await {
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
            // A sign-in since the warning was queued cancels what it warns of.
            MessageKind::InactivityWarning => {
                user.last_login.is_none_or(|at| at < message.created_at)
                    && user.deletion_scheduled_at.is_none()
            }
        };
        if !applies {
            return Ok(Attempt::Moot);
        }
        let tenant = self.email.tenants.tenant(&message.tenant_id);
        let link = match (message.ticket_kind(), minted) {
            (None, _) => None,
            (Some(_), Some((ticket, raw))) => Some(self.link(&ticket, &raw)),
            (Some(kind), None) => {
                let raw = RawTicket::generate().map_err(transient)?;
                let ticket = self.ticket_for(message, kind);
                self.mail
                    .put_ticket(&raw.hash(), &ticket)
                    .await
                    .map_err(|e| transient(e.into()))?;
                Some(self.link(&ticket, &raw))
            }
        };
        let locale = Locale::for_user(user, tenant.locale);
        let ctx = Context {
            app_name: tenant.name(&message.tenant_id).to_owned(),
            // Mail to an address the user merely typed carries no text the user chose, or a
            // self-service change would send anyone's words to any mailbox.
            user_name: if message.change {
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
                to: message.to.clone(),
                subject: rendered.subject,
                text: rendered.text,
                html: rendered.html,
            })
            .await?;
        Ok(Attempt::Sent)
    }

    /// The link a ticket travels in.
    fn link(&self, ticket: &Ticket, raw: &RawTicket) -> Url {
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
            TicketKind::PasswordChange => {
                let mut url = self.email.tenants.tenant(t).password_reset_url.clone();
                {
                    let mut query = url.query_pairs_mut();
                    query.append_pair("ticket", raw.as_str());
                    if let Some(result) = &ticket.result_url {
                        query.append_pair("result_url", result.as_str());
                    }
                }
                url
            }
        }
    }

    /// The scheduled sender's run: every due message (at most `limit`), each taken with a
    /// lease first so concurrent runs never send one twice.
    pub async fn deliver_due(&self, limit: usize) -> Result<DeliveryReport, Error> {
        use futures::StreamExt;
        let now = self.clock.now();
        let due = self.mail.due(now, limit).await?;
        let mut report = DeliveryReport {
            due: due.len(),
            ..DeliveryReport::default()
        };
        let lease = now.plus_secs(Delivery::LEASE_SECS);
        let outcomes: Vec<Option<Outcome>> = futures::stream::iter(due)
            .map(|message| async move {
                match self.mail.claim(&message, lease).await {
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
            }
        }
        Ok(report)
    }

    /// `POST /jobs/verification-email`.
    pub async fn send_verification_email(
        &self,
        tenant: &TenantId,
        body: &[u8],
    ) -> Result<Job, Error> {
        let b: JobBody = json::parse_body(body)?;
        let id = UserId::parse(&b.user_id)?;
        let user = self.get_user(tenant, &id).await?;
        let email = user.email.clone().ok_or_else(no_email)?;
        if user.email_verified {
            return Err(Error::invalid(
                "email_already_verified",
                "The user's email address is already verified.",
            ));
        }
        let prepared = self.prepare(vec![self.verification(&user, &email, false)])?;
        if !self.queue(&prepared).await? {
            return Err(too_many_emails(self.clock.now()));
        }
        self.send_now(prepared, &user)
            .await
            .pop()
            .ok_or_else(|| Error::internal("a queued message has no job"))
    }

    /// `POST /tickets/email-verification`: a verification link for the caller to deliver.
    pub async fn email_verification_ticket(
        &self,
        tenant: &TenantId,
        body: &[u8],
    ) -> Result<Url, Error> {
        let b: VerificationTicketBody = json::parse_body(body)?;
        let id = UserId::parse(&b.user_id)?;
        let settings = self.email.tenants.tenant(tenant);
        let result_url = b
            .result_url
            .as_deref()
            .map(|raw| settings.result_url(raw))
            .transpose()?;
        let ttl = ttl(TicketKind::EmailVerification, b.ttl_sec)?;
        let user = self.get_user(tenant, &id).await?;
        let email = user.email.clone().ok_or_else(no_email)?;
        let mut ticket = self.ticket(&user, TicketKind::EmailVerification, Some(email), ttl);
        ticket.result_url = result_url;
        self.issue(ticket).await
    }

    /// `POST /tickets/password-change`: a link to the tenant's reset page.
    pub async fn password_change_ticket(
        &self,
        tenant: &TenantId,
        body: &[u8],
    ) -> Result<Url, Error> {
        let b: PasswordTicketBody = json::parse_body(body)?;
        let settings = self.email.tenants.tenant(tenant);
        let result_url = b
            .result_url
            .as_deref()
            .map(|raw| settings.result_url(raw))
            .transpose()?;
        let ttl = ttl(TicketKind::PasswordChange, b.ttl_sec)?;
        let (id, credential) = match (&b.user_id, &b.email) {
            (Some(id), None) => {
                if b.connection.is_some() {
                    return Err(Error::body("connection goes with email, not with user_id."));
                }
                (UserId::parse(id)?, Credential::Own)
            }
            (None, Some(email)) => {
                let email = Email::parse(email)?;
                let connection = match &b.connection {
                    Some(raw) => Connection::parse(raw)?,
                    None => Connection::database(),
                };
                self.users
                    .find_login(tenant, &Identifier::Email(email), &connection)
                    .await?
                    .ok_or_else(Error::user_not_found)?
            }
            _ => {
                return Err(Error::body(
                    "Name the user by user_id, or by email (and connection), not both.",
                ));
            }
        };
        let user = self.get_user(tenant, &id).await?;
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
        let mut ticket = self.ticket(&user, TicketKind::PasswordChange, email, ttl);
        ticket.identity = identity;
        ticket.result_url = result_url;
        ticket.mark_email_verified = b.mark_email_as_verified.unwrap_or(false);
        self.issue(ticket).await
    }

    /// A ticket of `kind` for `user`, about `email`, living `ttl_secs` from now.
    fn ticket(
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
    async fn issue(&self, ticket: Ticket) -> Result<Url, Error> {
        let raw = RawTicket::generate()?;
        self.mail.put_ticket(&raw.hash(), &ticket).await?;
        Ok(self.link(&ticket, &raw))
    }

    /// A live ticket of one of `kinds`.
    async fn live_ticket(
        &self,
        tenant: &TenantId,
        raw: &str,
        kinds: &[TicketKind],
    ) -> Result<(TicketHash, Ticket), Unusable> {
        let Ok(hash) = TicketHash::parse(raw) else {
            return Err(Unusable::Unknown);
        };
        let ticket = match self.mail.ticket(tenant, &hash).await {
            Ok(Some(ticket)) if kinds.contains(&ticket.kind) => ticket,
            Ok(_) => return Err(Unusable::Unknown),
            Err(e) => return Err(Unusable::Store(e.into())),
        };
        if !ticket.is_live(self.clock.now()) {
            return Err(Unusable::Expired(ticket));
        }
        Ok((hash, ticket))
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
        let settings = self.email.tenants.tenant(tenant);
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
                    Some("server_error") => Confirmation::Refused(Error::Unavailable {
                        cause: "email verification failed".into(),
                    }),
                    Some(_) => Confirmation::Refused(invalid_ticket()),
                },
            }
        };
        let kinds = [TicketKind::EmailVerification, TicketKind::EmailChange];
        let (hash, ticket) = match self.live_ticket(tenant, raw.unwrap_or(""), &kinds).await {
            Ok(found) => found,
            Err(Unusable::Expired(expired)) => return to(Some(&expired), Some("expired_ticket")),
            Err(Unusable::Unknown) => return to(None, Some("invalid_ticket")),
            Err(Unusable::Store(e)) => {
                tracing::error!(error = %e, "reading a verification ticket failed");
                return to(None, Some("server_error"));
            }
        };
        if via == Via::Link && ticket.kind == TicketKind::EmailChange {
            let address = ticket.email.clone().unwrap_or_default();
            return match self.users.get(tenant, &ticket.user_id).await {
                Ok(Some(user)) if same_address(user.pending_email.as_deref(), &address) => {
                    Confirmation::Page {
                        email: address,
                        locale: Locale::for_user(&user, settings.locale),
                    }
                }
                Ok(_) => to(Some(&ticket), Some("invalid_ticket")),
                Err(e) => {
                    tracing::error!(error = ?e, "reading the user of an email change failed");
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

    /// Consumes the ticket and applies `change` to its user in one transaction, conditional
    /// on the user's version; re-reads and retries when another write got there first. A
    /// `change` that finds the ticket no longer applies answers `invalid_ticket`. `first` is
    /// the user when the caller has just read it.
    async fn redeem(
        &self,
        hash: &TicketHash,
        ticket: &Ticket,
        password: Option<(&Credential, &PasswordHash)>,
        mut first: Option<User>,
        change: impl Fn(&mut User) -> Result<(), Error>,
    ) -> Result<(), Error> {
        for _ in 0..REDEEM_ATTEMPTS {
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
        Err(Error::Unavailable {
            cause: format!(
                "a ticket redemption lost {REDEEM_ATTEMPTS} races to concurrent writers"
            ),
        })
    }

    async fn redeem_email(&self, hash: &TicketHash, ticket: &Ticket) -> Result<(), Error> {
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
            Ok(())
        })
        .await
    }

    /// `POST /password-reset`: sends a reset link if a database user has this address, and
    /// answers the same either way. A user over the cap, blocked or unknown gets nothing.
    pub async fn request_password_reset(
        &self,
        tenant: &TenantId,
        body: &[u8],
    ) -> Result<(), Error> {
        let b: ResetBody = json::parse_body(body)?;
        let email = Email::parse(&b.email)?;
        let connection = match &b.connection {
            Some(raw) => Connection::parse(raw)?,
            None => Connection::database(),
        };
        if !connection.is_database() {
            return Err(Error::body(format!(
                "{connection} has no passwords to reset; only the database connection has."
            )));
        }
        let Some((id, credential)) = self
            .users
            .find_login(tenant, &Identifier::Email(email), &connection)
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
    async fn send_reset(
        &self,
        tenant: &TenantId,
        id: &UserId,
        credential: Credential,
    ) -> Result<(), Error> {
        let Some(user) = self.users.get(tenant, id).await? else {
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
        body: &[u8],
    ) -> Result<(), Error> {
        let b: ResetConfirmBody = json::parse_body(body)?;
        let raw_password = b
            .new_password
            .ok_or_else(|| Error::body("new_password is required."))?;
        let (hash, ticket) = self
            .live_ticket(tenant, &b.ticket, &[TicketKind::PasswordChange])
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
        let password = Password::parse(raw_password, reset.email, reset.username)?;
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
        Ok(())
    }

    /// What the page behind a cancel link shows; reads, changes nothing.
    pub async fn email_change_page(
        &self,
        tenant: &TenantId,
        raw: &str,
    ) -> Result<CancelPage, Error> {
        let ticket = match self
            .live_ticket(tenant, raw, &[TicketKind::EmailChangeCancel])
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
                let locale = Locale::for_user(&user, self.email.tenants.tenant(tenant).locale);
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

    /// The ticket of a JSON body `{"ticket"}`.
    pub fn ticket_of(body: &[u8]) -> Result<String, Error> {
        let b: TicketOnlyBody = json::parse_body(body)?;
        Ok(b.ticket)
    }
}
