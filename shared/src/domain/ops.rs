//! The operations, as plain async functions over the ports. Handlers parse the request,
//! check the caller, and call one of these.

use std::sync::Arc;

use super::Error;
use super::create::NewUser;
use super::email::Email;
use super::ids::{TenantId, UserId};
use super::listing::{PAGE_BUDGET_BYTES, Page, PageRequest};
use super::password::PasswordHash;
use super::patch::UserPatch;
use super::ports::{Clock, Deleted, FieldUpdate, PasswordHasher, StoreError, UserStore};
use super::user::User;

/// How often a write that lost a race to a concurrent writer is retried before answering 503.
const ATTEMPTS: usize = 4;

/// The fields an end user may change on their own profile (`PATCH /me`). Everything else on
/// the resource is the tenant's to manage, so naming it is 403 rather than 400: the field
/// exists, this token may not touch it.
pub const SELF_SERVICE_FIELDS: [&str; 7] = [
    "user_metadata",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "username",
];

/// What `update:users_app_metadata` alone may change.
pub const METADATA_FIELDS: [&str; 2] = ["user_metadata", "app_metadata"];

#[derive(Clone)]
pub struct Services {
    pub users: Arc<dyn UserStore>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
}

fn precondition_failed(current: u64) -> Error {
    Error::PreconditionFailed {
        message: format!("If-Match does not name the current version of the user ({current})."),
    }
}

impl Services {
    pub async fn create_user(&self, tenant: &TenantId, body: &[u8]) -> Result<User, Error> {
        let new = NewUser::parse(tenant, body, self.clock.now())?;
        let hash = match &new.password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        self.users.create(&new.user, hash.as_ref()).await?;
        Ok(new.user)
    }

    pub async fn get_user(&self, tenant: &TenantId, id: &UserId) -> Result<User, Error> {
        self.users
            .get(tenant, id)
            .await?
            .ok_or_else(Error::user_not_found)
    }

    /// Applies `patch`. A change that only sets root fields without a guard and merges
    /// metadata is one conditional write; anything else (email, username, password) and any
    /// blind write whose condition failed is applied to the current user in a transaction
    /// conditional on its version.
    pub async fn patch_user(
        &self,
        tenant: &TenantId,
        id: &UserId,
        patch: &UserPatch,
        if_match: Option<u64>,
    ) -> Result<User, Error> {
        let mut must_read = patch.needs_current() || patch.is_noop();
        let mut hash: Option<PasswordHash> = None;
        for _ in 0..ATTEMPTS {
            if !must_read {
                let (set, remove) = patch.root_changes();
                let update = FieldUpdate {
                    set,
                    remove,
                    user_metadata: patch.user_metadata.clone(),
                    app_metadata: patch.app_metadata.clone(),
                    updated_at: self.clock.now(),
                };
                match self.users.update(tenant, id, &update, if_match).await {
                    Ok(user) => return Ok(user),
                    Err(StoreError::ConditionFailed) => {
                        must_read = true;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let current = self.get_user(tenant, id).await?;
            if if_match.is_some_and(|v| v != current.version) {
                return Err(precondition_failed(current.version));
            }
            if patch.is_noop() {
                return Ok(current);
            }
            let mut next = current.clone();
            let password = patch.apply(&mut next, self.clock.now())?;
            if let (Some(password), None) = (&password, &hash) {
                hash = Some(self.hasher.hash(password).await?);
            }
            match self.users.replace(&current, &next, hash.as_ref()).await {
                Ok(()) => return Ok(next),
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable {
            cause: format!("PATCH lost {ATTEMPTS} races to concurrent writers"),
        })
    }

    pub async fn delete_user(
        &self,
        tenant: &TenantId,
        id: &UserId,
        if_match: Option<u64>,
    ) -> Result<(), Error> {
        for _ in 0..ATTEMPTS {
            match self.users.delete(tenant, id, if_match).await {
                Ok(Deleted::Yes) => return Ok(()),
                Ok(Deleted::NotFound) => return Err(Error::user_not_found()),
                Err(StoreError::ConditionFailed) if if_match.is_some() => {
                    let current = self.get_user(tenant, id).await?;
                    return Err(precondition_failed(current.version));
                }
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable {
            cause: format!("DELETE lost {ATTEMPTS} races to concurrent writers"),
        })
    }

    pub async fn list_users(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page, Error> {
        let mut page = self.users.list(tenant, page).await?;
        page.fit(PAGE_BUDGET_BYTES);
        Ok(page)
    }

    pub async fn users_by_email(
        &self,
        tenant: &TenantId,
        email: &Email,
    ) -> Result<Vec<User>, Error> {
        Ok(self.users.find_by_email(tenant, email).await?)
    }
}
