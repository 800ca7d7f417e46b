//! Email: what is sent, to whom, in which language, how often, and what happens when the
//! provider fails. Messages are durable: each is an outbox item until it is sent or given up.

use serde::{Deserialize, Serialize};
use url::Url;

use super::ids::{TenantId, UserId};
use super::ticket::{Ticket, TicketHash, TicketKind};
use super::time::Timestamp;
use super::user::User;
use super::{Error, json};

/// The kinds of message, each with its templates (`shared/templates/email/<locale>/<kind>.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    VerifyEmail,
    PasswordReset,
    EmailChangeNotice,
    AccountDeletionScheduled,
    /// The tenant's inactivity policy will erase the account unless the user signs in.
    InactivityWarning,
    /// A brute-force block started: a link that lifts every block of the account.
    Unblock,
}

impl MessageKind {
    pub const ALL: [MessageKind; 6] = [
        MessageKind::VerifyEmail,
        MessageKind::PasswordReset,
        MessageKind::EmailChangeNotice,
        MessageKind::AccountDeletionScheduled,
        MessageKind::InactivityWarning,
        MessageKind::Unblock,
    ];

    /// The `type` a job of this kind reports (Auth0's job names where Auth0 has one).
    pub fn job_type(self) -> &'static str {
        match self {
            MessageKind::VerifyEmail => "verification_email",
            MessageKind::PasswordReset => "password_reset_email",
            MessageKind::EmailChangeNotice => "email_change_notice",
            MessageKind::AccountDeletionScheduled => "account_deletion_email",
            MessageKind::InactivityWarning => "inactivity_warning_email",
            MessageKind::Unblock => "unblock_email",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MessageKind::VerifyEmail => "verify_email",
            MessageKind::PasswordReset => "password_reset",
            MessageKind::EmailChangeNotice => "email_change_notice",
            MessageKind::AccountDeletionScheduled => "account_deletion_scheduled",
            MessageKind::InactivityWarning => "inactivity_warning",
            MessageKind::Unblock => "unblock",
        }
    }
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for its first or next attempt.
    Pending,
    /// Given up after [`Delivery::MAX_ATTEMPTS`] failures, or refused by the provider.
    Abandoned,
}

/// An outbox item: the intent to send one message. It holds no secret; the ticket a link
/// carries is minted when the message is rendered, so a retried message gets a fresh,
/// full-lifetime link and the store never sees a raw ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub kind: MessageKind,
    pub to: String,
    /// A verification of the new address of a pending email change.
    #[serde(default)]
    pub change: bool,
    /// For an email-change notice: the address being switched to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_email: Option<String>,
    /// For a password reset of a linked database identity: that identity's `user_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_url: Option<Url>,
    /// Whether a caller can look the message up as a job ([`JobRecord`]): what
    /// `POST /jobs/verification-email` queues. Messages that writes queue as a side effect
    /// are not, which spares each of them a write.
    #[serde(default)]
    pub tracked: bool,
    pub ttl_secs: u64,
    pub status: Status,
    pub attempts: u32,
    pub next_attempt: Timestamp,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Message {
    pub fn new(kind: MessageKind, user: &User, to: &str, ttl_secs: u64, now: Timestamp) -> Message {
        Message {
            id: format!("job_{}", ulid::Ulid::generate()),
            tenant_id: user.tenant_id.clone(),
            user_id: user.user_id,
            kind,
            to: to.to_owned(),
            change: false,
            new_email: None,
            identity: None,
            result_url: None,
            tracked: false,
            ttl_secs,
            status: Status::Pending,
            attempts: 0,
            // Picked up by the scheduled sender only if the inline attempt never reports back
            // (a crash or timeout between the write and the send).
            next_attempt: now.plus_secs(Delivery::LEASE_SECS),
            created_at: now,
            last_error: None,
        }
    }

    /// The ticket the message's link carries, if it has one.
    pub fn ticket_kind(&self) -> Option<TicketKind> {
        match self.kind {
            MessageKind::VerifyEmail if self.change => Some(TicketKind::EmailChange),
            MessageKind::VerifyEmail => Some(TicketKind::EmailVerification),
            MessageKind::PasswordReset => Some(TicketKind::PasswordChange),
            MessageKind::EmailChangeNotice => Some(TicketKind::EmailChangeCancel),
            MessageKind::Unblock => Some(TicketKind::Unblock),
            MessageKind::AccountDeletionScheduled | MessageKind::InactivityWarning => None,
        }
    }
}

/// A message as it is queued: with the ticket its first attempt's link will carry, stored in
/// the same write (only as its hash), so that attempt needs no write of its own.
#[derive(Debug, Clone)]
pub struct Queued {
    pub message: Message,
    pub ticket: Option<(TicketHash, Ticket)>,
}

/// Retry policy of the outbox.
pub struct Delivery;

impl Delivery {
    /// Attempts (the inline one included) before a message is abandoned: with the backoff
    /// below, the last one is about two hours after the first.
    pub const MAX_ATTEMPTS: u32 = 8;
    /// How long an attempt in progress owns its message before another sender may take it.
    pub const LEASE_SECS: i64 = 120;

    /// The wait after failed attempt `attempts` (1-based): 1, 2, 4, ... minutes, at most an hour.
    pub fn backoff_secs(attempts: u32) -> i64 {
        let exp = attempts.saturating_sub(1).min(6);
        (60_i64 << exp).min(3600)
    }
}

/// How many messages of one kind a user may be sent per clock hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendCap {
    pub per_hour: u32,
}

impl Default for SendCap {
    fn default() -> Self {
        SendCap { per_hour: 5 }
    }
}

impl SendCap {
    /// The hour `now` falls in, as whole hours since the epoch: the window a send counts in.
    pub fn window(now: Timestamp) -> i64 {
        now.epoch_secs().div_euclid(3600)
    }

    /// The answer to a message the cap refuses.
    pub fn exceeded(now: Timestamp) -> Error {
        Error::TooManyRequests {
            retry_after_secs: Self::retry_after(now),
            message: "Too many emails of this kind were sent to this user; retry later.".into(),
        }
    }

    /// Seconds from `now` until the next window opens.
    pub fn retry_after(now: Timestamp) -> u64 {
        let next = (Self::window(now) + 1) * 3600;
        (next - now.epoch_secs()).max(1) as u64
    }
}

/// Where a queued message stands, as a response reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// The provider accepted it.
    Completed,
    /// The first attempt failed; the outbox retries it.
    Pending,
    /// The provider refused it, or it no longer applies; nothing more will happen.
    Failed,
    /// Not sent, and never will be: the address bounced for good or complained
    /// ([`super::feedback`]). Not an error; the user's `email_undeliverable` says why.
    Suppressed,
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

/// A tracked message as `GET /jobs/{id}` reports it, kept for [`JobRecord::KEEP_SECS`]
/// after it was queued. It names no one: the recipient and the user stay on the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: JobStatus,
    pub created_at: Timestamp,
}

impl JobRecord {
    /// How long a job can be looked up: a day, well past the outbox's last retry.
    pub const KEEP_SECS: i64 = 24 * 3600;

    /// A tracked message's job, standing at `status`.
    pub fn of(message: &Message, status: JobStatus) -> Self {
        JobRecord {
            id: message.id.clone(),
            kind: message.kind.job_type().to_owned(),
            status,
            created_at: message.created_at,
        }
    }
}

/// A job id as a path names it: `job_` and a ULID, which every message id is. Anything else
/// names no job.
pub fn parse_job_id(raw: &str) -> Result<&str, Error> {
    let ulid = raw.strip_prefix("job_").ok_or_else(job_not_found)?;
    ulid::Ulid::from_string(ulid).map_err(|_| job_not_found())?;
    Ok(raw)
}

/// 404 for a job id that names no job kept in the tenant.
pub fn job_not_found() -> Error {
    Error::NotFound {
        code: "job_not_found",
        message: "The job does not exist.".into(),
    }
}

/// `POST /jobs/verification-email`: the user to send a verification.
#[derive(Debug)]
pub struct VerificationJob {
    pub user_id: UserId,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct JobBody {
    user_id: String,
}

impl VerificationJob {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let b: JobBody = json::parse_body(body)?;
        Ok(VerificationJob {
            user_id: UserId::parse(&b.user_id)?,
        })
    }
}

/// A rendered message, ready for the provider.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    /// Whom it is for: the provider tags the message with both, so its bounces and
    /// complaints lead back to the user ([`super::feedback`]).
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Hides most of an address for a message to someone else's mailbox (`ana@x.com` → `a**@x.com`).
pub fn mask(address: &str) -> String {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return "***".into();
    };
    let first: String = local.chars().take(1).collect();
    let hidden = local.chars().count().saturating_sub(1).clamp(2, 8);
    format!("{first}{}@{domain}", "*".repeat(hidden))
}

/// `text` with every email address in it [`mask`]ed: provider errors quote recipients, and
/// what is logged or kept for inspection must not.
pub fn mask_addresses(text: &str) -> String {
    let is_local = |c: char| c.is_alphanumeric() || "._%+-!#$&'*/=?^`{|}~".contains(c);
    let is_domain = |c: char| c.is_alphanumeric() || c == '.' || c == '-';
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '@' {
            let mut start = i;
            while start > 0 && is_local(chars[start - 1]) {
                start -= 1;
            }
            let mut end = i + 1;
            while end < chars.len() && is_domain(chars[end]) {
                end += 1;
            }
            if start < i && end > i + 1 {
                // The local part was already copied out: take it back, then write the mask.
                let local: String = chars[start..i].iter().collect();
                out.truncate(out.len() - local.len());
                let address: String = chars[start..end].iter().collect();
                out.push_str(&mask(&address));
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let waits: Vec<i64> = (1..=8).map(Delivery::backoff_secs).collect();
        assert_eq!(waits, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }

    #[test]
    fn addresses_in_a_providers_error_are_masked() {
        assert_eq!(
            mask_addresses(
                "MessageRejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: ana.silva@example.com, <bob@x.org>"
            ),
            "MessageRejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: a********@example.com, <b**@x.org>"
        );
        assert_eq!(
            mask_addresses("no address @ all, a@ and @b"),
            "no address @ all, a@ and @b"
        );
        assert_eq!(
            mask_addresses("Ünïcode: jörg@bücher.example"),
            "Ünïcode: j***@bücher.example"
        );
    }

    #[test]
    fn masking_keeps_the_first_letter_and_the_domain() {
        assert_eq!(mask("ana@example.com"), "a**@example.com");
        assert_eq!(mask("jonathan.smith@x.org"), "j********@x.org");
        assert_eq!(mask("a@x.org"), "a**@x.org");
    }
}
