//! The data export (the rights of access and portability): everything stored about a user,
//! as one JSON document.
//!
//! It holds the profile (with `identities`, and each linked identity's profile data and
//! metadata), the sign-in failure counters with any brute-force block they impose, the
//! pending tickets (kind, address and lifetime, never the secret or its hash), and the email
//! queued for the user. The self-service export leaves `app_metadata` out, the user's own
//! and its linked identities', as `/me` does. Password hashes are secrets, not data about
//! the person, and are never exported. No audit trail of changes is kept: a profile
//! carries `created_at`, `updated_at` and `version`, which the export includes.

use serde::Serialize;
use serde_json::Value;

use super::Error;
use super::ids::UserId;
use super::login::{BruteForce, Counter, CounterRecord};
use super::message::{Message, Status};
use super::ticket::{Ticket, TicketKind};
use super::time::Timestamp;
use super::user::User;

/// Everything kept about a user, for an export. Password hashes are left out on purpose:
/// they are secrets, not data about the person.
#[derive(Debug)]
pub struct Stored {
    pub user: User,
    pub tickets: Vec<Ticket>,
    pub messages: Vec<Message>,
    pub counters: Vec<(Counter, CounterRecord)>,
}

/// Bumped when the document's shape changes in a way a reader must know of.
pub const FORMAT: &str = "profiles.export.v1";

#[derive(Serialize)]
struct Document {
    format: &'static str,
    exported_at: Timestamp,
    user: Value,
    sign_in_failures: Vec<Failures>,
    tickets: Vec<PendingTicket>,
    emails: Vec<QueuedEmail>,
}

#[derive(Serialize)]
struct Failures {
    /// The address counted, or `null` for the count across all addresses.
    ip: Option<String>,
    failures: u32,
    last_failure: Option<Timestamp>,
    last_success: Option<Timestamp>,
    blocked_until: Option<Timestamp>,
}

#[derive(Serialize)]
struct PendingTicket {
    #[serde(rename = "type")]
    kind: TicketKind,
    email: Option<String>,
    created_at: Timestamp,
    expires_at: Timestamp,
}

#[derive(Serialize)]
struct QueuedEmail {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    to: String,
    status: &'static str,
    attempts: u32,
    created_at: Timestamp,
    next_attempt: Timestamp,
}

/// The export document of what `stored` holds, at `now`; `own` for the user's own
/// (`/me/export`), without `app_metadata`.
pub fn document(
    stored: &Stored,
    own: bool,
    brute_force: &BruteForce,
    now: Timestamp,
) -> Result<Value, Error> {
    let user = if own {
        stored.user.to_self_json()
    } else {
        stored.user.to_admin_json()
    };
    let sign_in_failures = stored
        .counters
        .iter()
        .map(|(counter, record)| Failures {
            ip: match counter {
                Counter::Ip(ip) => Some(ip.clone()),
                Counter::User => None,
            },
            failures: record.count,
            last_failure: record.last_failure,
            last_success: record.last_success,
            blocked_until: brute_force.blocked_until(counter, record.failures().as_ref(), now),
        })
        .collect();
    let tickets = stored
        .tickets
        .iter()
        .filter(|t| t.is_live(now))
        .map(|t| PendingTicket {
            kind: t.kind,
            email: t.email.clone(),
            created_at: t.created_at,
            expires_at: t.expires,
        })
        .collect();
    let emails = stored
        .messages
        .iter()
        .map(|m| QueuedEmail {
            id: m.id.clone(),
            kind: m.kind.job_type(),
            to: m.to.clone(),
            status: match m.status {
                Status::Pending => "pending",
                Status::Abandoned => "failed",
            },
            attempts: m.attempts,
            created_at: m.created_at,
            next_attempt: m.next_attempt,
        })
        .collect();
    let document = Document {
        format: FORMAT,
        exported_at: now,
        user,
        sign_in_failures,
        tickets,
        emails,
    };
    serde_json::to_value(document).map_err(Error::internal)
}

/// The file name an export is offered under.
pub fn file_name(id: &UserId) -> String {
    format!("{id}.json")
}
