//! Linking a secondary user into a primary, and giving it back; the rules are
//! [`crate::domain::linking`]'s.

use super::{App, Races};
use crate::domain::Error;
use crate::domain::ids::{Connection, ProviderUserId, TenantId, UserId};
use crate::domain::linking::{
    LinkRequest, MAX_LINKED_BYTES, Secondary, conflict, identity_not_found, linked, refusal,
    too_large, unlinked,
};
use crate::domain::user::User;
use crate::ports::StoreError;
use crate::ports::{PasswordHasher, Store};

impl<S: Store, H: PasswordHasher> App<S, H> {
    /// The user `secondary` names, read in `tenant` only.
    async fn secondary(&self, tenant: &TenantId, named: &Secondary) -> Result<User, Error> {
        match named {
            Secondary::User(id) => self.users.get(tenant, id).await?.ok_or(Error::NotFound {
                code: "user_not_found",
                message: "The user to link does not exist.".into(),
            }),
            Secondary::Identity { provider, user_id } => {
                let owner = self
                    .users
                    .identity_owner(tenant, provider.as_str(), user_id.as_str())
                    .await?
                    .ok_or_else(identity_not_found)?;
                let user = self
                    .users
                    .get(tenant, &owner)
                    .await?
                    .ok_or_else(identity_not_found)?;
                if !user.identities[0].is(provider.as_str(), user_id.as_str()) {
                    return Err(conflict(
                        "identity_already_linked",
                        "This identity is already linked into a user; unlink it first.",
                    ));
                }
                Ok(user)
            }
        }
    }

    /// `POST /users/{primary}/identities`: returns the primary as linked.
    pub async fn link_user(
        &self,
        tenant: &TenantId,
        primary_id: &UserId,
        req: &LinkRequest,
        if_match: Option<u64>,
    ) -> Result<User, Error> {
        let mut races = Races::new("a link");
        loop {
            races.next()?;
            let primary = self.get_matching(tenant, primary_id, if_match).await?;
            let secondary = self.secondary(tenant, &req.secondary).await?;
            if let Some(refused) = refusal(&primary, &secondary, req.allow_unverified) {
                return Err(refused);
            }
            let now = self.clock.now();
            let locked = self
                .logins
                .failure_counters(tenant, &secondary.user_id)
                .await?
                .iter()
                .any(|(counter, failures)| {
                    self.brute_force
                        .blocked_until(counter, Some(failures), now)
                        .is_some()
                });
            if locked {
                return Err(conflict(
                    "secondary_locked",
                    "The user to link is under a brute-force block; linking would reset it. Clear its blocks first.",
                ));
            }
            let next = linked(&primary, &secondary, now);
            if too_large(&next) {
                return Err(conflict(
                    "profile_too_large",
                    format!(
                        "The linked identities would exceed {MAX_LINKED_BYTES} bytes; trim the metadata of the user to link first."
                    ),
                ));
            }
            match self.links.link(&primary, &next, &secondary).await {
                Ok(()) => return Ok(next),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `DELETE /users/{primary}/identities/{provider}/{identity_id}`: returns the primary as
    /// it is left.
    pub async fn unlink_identity(
        &self,
        tenant: &TenantId,
        primary_id: &UserId,
        provider: &Connection,
        identity_id: &ProviderUserId,
        if_match: Option<u64>,
    ) -> Result<User, Error> {
        let mut races = Races::new("an unlink");
        loop {
            races.next()?;
            let primary = self.get_matching(tenant, primary_id, if_match).await?;
            let index = primary
                .identities
                .iter()
                .position(|i| i.is(provider.as_str(), identity_id.as_str()))
                .ok_or(Error::NotFound {
                    code: "identity_not_found",
                    message: "The user has no such identity.".into(),
                })?;
            if index == 0 {
                return Err(Error::invalid(
                    "primary_identity",
                    "A user's own identity cannot be unlinked; delete the user instead.",
                ));
            }
            let (next, restored) = unlinked(&primary, index, self.clock.now())?;
            match self.links.unlink(&primary, &next, &restored).await {
                Ok(()) => return Ok(next),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
