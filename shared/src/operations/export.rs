//! The data export (GDPR access and portability); the document is [`crate::domain::export`]'s.

use serde_json::Value;

use super::App;
use crate::domain::Error;
use crate::domain::export::document;
use crate::domain::ids::{TenantId, UserId};
use crate::ports::{PasswordHasher, Store};

impl<S: Store, H: PasswordHasher> App<S, H> {
    /// The export of user `id`; `own` for the user's own (`/me/export`), without
    /// `app_metadata`.
    pub async fn export_user(
        &self,
        tenant: &TenantId,
        id: &UserId,
        own: bool,
    ) -> Result<Value, Error> {
        let stored = self
            .users
            .stored(tenant, id)
            .await?
            .ok_or_else(Error::user_not_found)?;
        document(&stored, own, &self.brute_force, self.clock.now())
    }
}
