//! Who is calling and what they may do, from the claims API Gateway's JWT authorizer verified.

use std::collections::BTreeSet;

use super::Error;
use super::ids::{TenantId, UserId};

/// Management scopes (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    ReadUsers,
    CreateUsers,
    UpdateUsers,
    UpdateUsersAppMetadata,
    DeleteUsers,
    CreateUserTickets,
    AuthenticateUsers,
    ReadTenantSettings,
    UpdateTenantSettings,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadUsers => "read:users",
            Scope::CreateUsers => "create:users",
            Scope::UpdateUsers => "update:users",
            Scope::UpdateUsersAppMetadata => "update:users_app_metadata",
            Scope::DeleteUsers => "delete:users",
            Scope::CreateUserTickets => "create:user_tickets",
            Scope::AuthenticateUsers => "authenticate:users",
            Scope::ReadTenantSettings => "read:tenant_settings",
            Scope::UpdateTenantSettings => "update:tenant_settings",
        }
    }
}

/// The verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    subject: String,
    tenant: Option<String>,
    scopes: BTreeSet<String>,
}

impl Caller {
    /// `scope` is the space-separated claim; API Gateway renders an array claim as
    /// `[a b c]`, which is accepted too.
    pub fn new(subject: String, tenant: Option<String>, scope: &str) -> Self {
        let scope = scope.trim().trim_start_matches('[').trim_end_matches(']');
        let scopes = scope.split_whitespace().map(str::to_owned).collect();
        Caller {
            subject,
            tenant,
            scopes,
        }
    }

    /// The token's `sub`: who is calling.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(scope.as_str())
    }

    pub fn require(&self, scope: Scope) -> Result<(), Error> {
        self.require_any(&[scope])
    }

    /// At least one of `scopes`; refused in Auth0's words, which its clients may match.
    pub fn require_any(&self, scopes: &[Scope]) -> Result<(), Error> {
        if scopes.iter().any(|s| self.has(*s)) {
            return Ok(());
        }
        let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        Err(Error::forbidden(format!(
            "Insufficient scope, expected any of: {}",
            names.join(",")
        )))
    }

    /// The path's tenant, if the token belongs to it. Any other tenant is answered as if the
    /// path did not exist.
    pub fn tenant(&self, path_tenant: &TenantId) -> Result<(), Error> {
        if self.tenant.as_deref() == Some(path_tenant.as_str()) {
            Ok(())
        } else {
            Err(Error::not_found())
        }
    }

    /// The user an end-user token speaks for (`sub`).
    pub fn own_user_id(&self) -> Result<UserId, Error> {
        UserId::parse(&self.subject).map_err(|_| {
            Error::forbidden("This route needs an end-user token whose sub is a user id.")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_read_from_a_space_separated_or_bracketed_claim() {
        let c = Caller::new("s".into(), None, "read:users update:users");
        assert!(c.has(Scope::ReadUsers) && c.has(Scope::UpdateUsers) && !c.has(Scope::DeleteUsers));
        let c = Caller::new("s".into(), None, "[read:users delete:users]");
        assert!(c.has(Scope::ReadUsers) && c.has(Scope::DeleteUsers));
    }

    #[test]
    fn a_foreign_or_missing_tenant_claim_is_not_found() {
        let acme = TenantId::parse("acme").unwrap();
        assert!(
            Caller::new("s".into(), Some("acme".into()), "")
                .tenant(&acme)
                .is_ok()
        );
        let err = Caller::new("s".into(), Some("globex".into()), "")
            .tenant(&acme)
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));
        assert!(Caller::new("s".into(), None, "").tenant(&acme).is_err());
    }
}
