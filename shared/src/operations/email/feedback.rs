//! Reputation feedback: a permanent bounce or a complaint marks the user whose address it
//! was, and the outbox sends nothing more to that address (docs/email.md, "Bounces and
//! complaints").

use crate::domain::Error;
use crate::domain::email::same_address;
use crate::domain::feedback::Mark;
use crate::operations::{App, Races};
use crate::ports::{FieldUpdate, StoreError};
use crate::ports::{PasswordHasher, Store};

/// What a mark came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// The user's address is marked undeliverable now.
    Yes,
    /// It was already, as of this record or a later one.
    Already,
    /// The user's address is no longer the one the record names (changed since), or it has
    /// none: nothing is marked.
    NotCurrent,
    /// No such user (erased since, or another deployment's tags).
    NoUser,
}

impl<S: Store, H: PasswordHasher> App<S, H> {
    /// Marks the user a bounce or complaint names, if its address is still the one that
    /// bounced or complained: one read, and one write conditional on the version read, so an
    /// address changed meanwhile is never marked with another's feedback.
    pub async fn mark_undeliverable(&self, mark: &Mark) -> Result<Marked, Error> {
        let mut races = Races::new("a bounce or complaint");
        loop {
            races.next()?;
            let Some(user) = self.users.get(&mark.tenant, &mark.user).await? else {
                return Ok(Marked::NoUser);
            };
            let current = user.email.as_deref();
            if !mark.recipients.iter().any(|r| same_address(current, r)) {
                return Ok(Marked::NotCurrent);
            }
            let now = self.clock.now();
            let undeliverable = mark.undeliverable(now);
            // Records arrive in any order and SNS may deliver one twice: the newest stands.
            if user
                .email_undeliverable
                .as_ref()
                .is_some_and(|held| held.at >= undeliverable.at)
            {
                return Ok(Marked::Already);
            }
            let value = serde_json::to_value(&undeliverable).map_err(Error::internal)?;
            let update = FieldUpdate {
                set: vec![("email_undeliverable", value)],
                remove: Vec::new(),
                user_metadata: None,
                app_metadata: None,
                updated_at: now,
            };
            match self
                .users
                .update(&mark.tenant, &mark.user, &update, Some(user.version))
                .await
            {
                Ok(_) => return Ok(Marked::Yes),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
