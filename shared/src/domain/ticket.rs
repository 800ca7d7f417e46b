//! Tickets: single-use links that prove control of a mailbox (or were handed out by an
//! administrator). The raw value exists only in the link; the store keeps its SHA-256.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;
use zeroize::Zeroizing;

use super::email::Email;
use super::ids::{Connection, TenantId, UserId};
use super::json;
use super::time::Timestamp;
use super::user::User;
use super::{Error, login::Identifier};

/// What a ticket lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    /// Marks `email` verified, if it is still the user's address.
    EmailVerification,
    /// Sets a new password (reset emails and the password-change tickets API).
    PasswordChange,
    /// Switches the user's address to `email`, if it is still the pending one.
    EmailChange,
    /// Cancels the pending switch to `email` (sent to the old address).
    EmailChangeCancel,
    /// Lifts every brute-force block of the user, while `email` is its verified address.
    Unblock,
}

impl TicketKind {
    /// How long a ticket lives unless the request says otherwise, and the longest it may.
    /// Verification links are harmless to hold on to (Auth0's default: 5 days); a link that
    /// sets a password is an account takeover for whoever finds it, so it lives an hour.
    pub fn ttl_secs(self) -> (u64, u64) {
        const HOUR: u64 = 3600;
        const DAY: u64 = 24 * HOUR;
        match self {
            TicketKind::EmailVerification => (5 * DAY, 30 * DAY),
            TicketKind::PasswordChange => (HOUR, 7 * DAY),
            TicketKind::EmailChange | TicketKind::EmailChangeCancel => (DAY, 7 * DAY),
            // As long as the longest block it lifts.
            TicketKind::Unblock => (DAY, DAY),
        }
    }
}

/// A fresh ticket as it goes into a link: 256 random bits, base64url without padding.
pub struct RawTicket(Zeroizing<String>);

/// The only form of a ticket the store sees.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TicketHash(String);

impl RawTicket {
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut_slice())
            .map_err(|e| Error::internal(format!("no randomness for a ticket: {e}")))?;
        Ok(RawTicket(Zeroizing::new(URL_SAFE_NO_PAD.encode(*bytes))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TicketHash {
        TicketHash::of(&self.0)
    }
}

impl fmt::Debug for RawTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawTicket(..)")
    }
}

impl TicketHash {
    /// The hash of a ticket a caller presented. Anything that cannot be one of ours is
    /// `invalid_ticket` without a read.
    pub fn parse(presented: &str) -> Result<Self, Error> {
        let decoded = URL_SAFE_NO_PAD
            .decode(presented.as_bytes())
            .map_err(|_| invalid_ticket())?;
        if decoded.len() != 32 {
            return Err(invalid_ticket());
        }
        Ok(TicketHash::of(presented))
    }

    fn of(raw: &str) -> Self {
        let digest = Sha256::digest(raw.as_bytes());
        TicketHash(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One answer for a ticket that is unknown, used, expired or no longer applies, so a
/// caller learns nothing about which.
pub fn invalid_ticket() -> Error {
    Error::invalid(
        "invalid_ticket",
        "The ticket is invalid, expired or already used.",
    )
}

/// A stored ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub tenant_id: TenantId,
    pub kind: TicketKind,
    pub user_id: UserId,
    /// The address the ticket is about: verified, switched to, or kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// For a password change of a linked database identity: that identity's `user_id` (the
    /// ticket's `user_id` is the user it is linked into).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_url: Option<Url>,
    /// For password changes issued by the tickets API: also mark the email verified (the
    /// holder proved the mailbox by opening the link).
    #[serde(default)]
    pub mark_email_verified: bool,
    pub created_at: Timestamp,
    pub expires: Timestamp,
}

impl Ticket {
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires
    }
}

/// `POST /tickets/email-verification`.
#[derive(Debug)]
pub struct VerificationTicketRequest {
    pub user_id: UserId,
    /// Checked against the tenant's allowed hosts by the operation, which holds its settings.
    pub result_url: Option<String>,
    pub ttl_secs: u64,
}

/// Whose password a password-change ticket changes.
#[derive(Debug)]
pub enum PasswordTicketFor {
    User(UserId),
    /// The account (or linked identity) that signs in with this address in this connection.
    Login(Identifier, Connection),
}

/// `POST /tickets/password-change`.
#[derive(Debug)]
pub struct PasswordTicketRequest {
    pub target: PasswordTicketFor,
    pub result_url: Option<String>,
    pub ttl_secs: u64,
    pub mark_email_verified: bool,
}

/// `POST /password-reset`: the address that asks, in a database connection.
#[derive(Debug)]
pub struct ResetRequest {
    pub email: Email,
    pub connection: Connection,
}

/// `POST /password-reset/confirm`.
pub struct ResetConfirmation {
    pub ticket: String,
    pub new_password: Zeroizing<String>,
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

fn connection_or_database(raw: Option<&str>) -> Result<Connection, Error> {
    raw.map_or_else(|| Ok(Connection::database()), Connection::parse)
}

impl VerificationTicketRequest {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let b: VerificationTicketBody = json::parse_body(body)?;
        Ok(VerificationTicketRequest {
            user_id: UserId::parse(&b.user_id)?,
            result_url: b.result_url,
            ttl_secs: ttl(TicketKind::EmailVerification, b.ttl_sec)?,
        })
    }
}

impl PasswordTicketRequest {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let b: PasswordTicketBody = json::parse_body(body)?;
        let ttl_secs = ttl(TicketKind::PasswordChange, b.ttl_sec)?;
        let target = match (&b.user_id, &b.email) {
            (Some(id), None) => {
                if b.connection.is_some() {
                    return Err(Error::body("connection goes with email, not with user_id."));
                }
                PasswordTicketFor::User(UserId::parse(id)?)
            }
            (None, Some(email)) => PasswordTicketFor::Login(
                Identifier::Email(Email::parse(email)?),
                connection_or_database(b.connection.as_deref())?,
            ),
            _ => {
                return Err(Error::body(
                    "Name the user by user_id, or by email (and connection), not both.",
                ));
            }
        };
        Ok(PasswordTicketRequest {
            target,
            result_url: b.result_url,
            ttl_secs,
            mark_email_verified: b.mark_email_as_verified.unwrap_or(false),
        })
    }
}

impl ResetRequest {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let b: ResetBody = json::parse_body(body)?;
        let email = Email::parse(&b.email)?;
        let connection = connection_or_database(b.connection.as_deref())?;
        if !connection.is_database() {
            return Err(Error::body(format!(
                "{connection} has no passwords to reset; only the database connection has."
            )));
        }
        Ok(ResetRequest { email, connection })
    }
}

impl ResetConfirmation {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let b: ResetConfirmBody = json::parse_body(body)?;
        Ok(ResetConfirmation {
            ticket: b.ticket,
            new_password: b
                .new_password
                .ok_or_else(|| Error::body("new_password is required."))?,
        })
    }
}

/// The ticket of a JSON body `{"ticket"}`.
pub fn ticket_of(body: &[u8]) -> Result<String, Error> {
    let b: TicketOnlyBody = json::parse_body(body)?;
    Ok(b.ticket)
}

/// The password a reset names: the user's own (a database user's), or that of a linked
/// database identity.
pub struct ResetTarget<'a> {
    pub email: Option<&'a str>,
    pub username: Option<&'a str>,
    last_reset: Option<Timestamp>,
    /// When a linked identity was linked: a reset asked for before belongs to another life of
    /// the identity (a link, unlink and link again).
    linked_at: Option<Timestamp>,
}

impl ResetTarget<'_> {
    /// Whether a reset asked for at `asked`, mailed to `address`, still applies: the address
    /// is still this password's, and the password has not been reset since. A link mailed to
    /// an address the account has since left, or no newer than its last password change,
    /// does not.
    pub fn allows(&self, address: Option<&str>, asked: Timestamp) -> bool {
        let same = match (address, self.email) {
            (Some(to), Some(now)) => super::email::same_address(Some(to), now),
            (None, None) => true,
            _ => false,
        };
        same && self.last_reset.is_none_or(|at| at < asked)
            && self.linked_at.is_none_or(|at| at < asked)
    }
}

/// The password of `user` a reset resets: its own (`identity` `None`, database users only),
/// or the linked database identity `identity`'s.
pub fn reset_target<'a>(user: &'a User, identity: Option<&str>) -> Option<ResetTarget<'a>> {
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
pub fn ticket_target<'a>(ticket: &Ticket, user: &'a User) -> Option<ResetTarget<'a>> {
    reset_target(user, ticket.identity.as_deref())
        .filter(|t| t.allows(ticket.email.as_deref(), ticket.created_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_ticket_is_256_bits_of_url_safe_text_and_parses_to_its_own_hash() {
        let raw = RawTicket::generate().unwrap();
        assert_eq!(raw.as_str().len(), 43);
        assert!(
            raw.as_str()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(TicketHash::parse(raw.as_str()).unwrap(), raw.hash());
        assert_eq!(raw.hash().as_str().len(), 64);
        assert_ne!(
            RawTicket::generate().unwrap().as_str(),
            RawTicket::generate().unwrap().as_str()
        );
    }

    #[test]
    fn anything_that_cannot_be_a_ticket_is_invalid_without_a_lookup() {
        for bad in ["", "abc", "!!!!", &"A".repeat(44), &"A".repeat(42)] {
            let e = TicketHash::parse(bad).unwrap_err();
            assert!(matches!(
                e,
                Error::Invalid {
                    code: "invalid_ticket",
                    ..
                }
            ));
        }
    }

    #[test]
    fn a_raw_ticket_never_prints() {
        let raw = RawTicket::generate().unwrap();
        assert!(!format!("{raw:?}").contains(raw.as_str()));
    }
}
