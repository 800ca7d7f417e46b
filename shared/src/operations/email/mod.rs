//! The email flows: verification, password reset, email change, the tickets API, the
//! outbox's delivery, and the provider's bounces and complaints. Every message is queued (an
//! outbox item) in the same write as the change that causes it, then tried once at once; what
//! fails is retried by the scheduled sender.

mod email_change;
mod feedback;
mod outbox;
mod password_reset;
mod tickets;
mod unblock;
mod verification;

pub use email_change::CancelPage;
pub use feedback::Marked;
pub use outbox::DeliveryReport;
pub use password_reset::ResetPage;
pub use unblock::UnblockPage;
pub use verification::{Confirmation, Via};

use crate::domain::Error;
use crate::domain::message::Queued;
use crate::domain::ticket::{RawTicket, Ticket, invalid_ticket};

/// Messages ready to queue, and the raw tickets of their first attempts' links (which only
/// ever travel in those links).
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    pub(crate) queued: Vec<Queued>,
    pub(crate) raws: Vec<Option<RawTicket>>,
}

/// Why a presented ticket cannot be used.
pub(crate) enum Unusable {
    /// Malformed, unknown, used, or of another kind.
    Unknown,
    /// It exists but has expired; a redirect can still reach its `result_url`.
    Expired(Ticket),
    /// The store failed: not the caller's fault, so not `invalid_ticket`.
    Store(Error),
}

impl Unusable {
    pub(crate) fn into_error(self) -> Error {
        match self {
            Unusable::Store(e) => e,
            Unusable::Unknown | Unusable::Expired(_) => invalid_ticket(),
        }
    }
}
