//! Tickets: single-use links that prove control of a mailbox (or were handed out by an
//! administrator). The raw value exists only in the link; the store keeps its SHA-256.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;
use zeroize::Zeroizing;

use super::Error;
use super::ids::{TenantId, UserId};
use super::time::Timestamp;

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
