//! What waits in the account mail queue for `account-mail-sender`: requests whose answer must
//! not show whether an account exists. The code that makes one does the same work for every
//! address (one queue message); the worker looks the account up and mails it, or not
//! (docs/email.md, "The account mail queue").

use serde::Deserialize;
use serde_json::json;

use super::Error;
use super::ids::{TenantId, UserId};
use super::json;
use super::ticket::ResetRequest;

#[derive(Debug)]
pub enum MailRequest {
    /// `POST /password-reset`: a reset link, if a database user has the address.
    Reset {
        tenant: TenantId,
        request: ResetRequest,
    },
    /// A brute-force block started: the account's verified address gets an unblock link.
    /// `None` for an identifier no account has, queued all the same and dropped by the
    /// worker, so a block reveals nothing by its cost.
    Unblock {
        tenant: TenantId,
        user: Option<UserId>,
    },
}

#[derive(Deserialize)]
struct Body {
    /// Absent in requests queued before unblock notices existed: those are resets.
    kind: Option<String>,
    tenant_id: String,
    email: Option<String>,
    connection: Option<String>,
    user_id: Option<String>,
}

impl MailRequest {
    /// The queue message: no more than the request carried.
    pub fn to_body(&self) -> String {
        match self {
            MailRequest::Reset { tenant, request } => json!({
                "kind": "password_reset",
                "tenant_id": tenant.as_str(),
                "email": request.email,
                "connection": request.connection.as_str(),
            }),
            MailRequest::Unblock { tenant, user } => json!({
                "kind": "unblock",
                "tenant_id": tenant.as_str(),
                "user_id": user.map(|u| u.to_string()),
            }),
        }
        .to_string()
    }

    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let b: Body = json::parse_body(body)?;
        let tenant = TenantId::parse(&b.tenant_id)?;
        match b.kind.as_deref().unwrap_or("password_reset") {
            "password_reset" => Ok(MailRequest::Reset {
                tenant,
                request: ResetRequest::parse(
                    json!({"email": b.email, "connection": b.connection})
                        .to_string()
                        .as_bytes(),
                )?,
            }),
            "unblock" => Ok(MailRequest::Unblock {
                tenant,
                user: b.user_id.as_deref().map(UserId::parse).transpose()?,
            }),
            other => Err(Error::body(format!("{other:?} is no mail request"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_survive_the_queue() {
        let tenant = TenantId::parse("acme").unwrap();
        let reset = MailRequest::Reset {
            tenant: tenant.clone(),
            request: ResetRequest::parse(br#"{"email":"Ana@Example.com"}"#).unwrap(),
        };
        let back = MailRequest::parse(reset.to_body().as_bytes()).unwrap();
        assert!(
            matches!(back, MailRequest::Reset { request, .. } if request.email.to_string() == "Ana@Example.com")
        );
        let unknown = MailRequest::Unblock { tenant, user: None };
        let back = MailRequest::parse(unknown.to_body().as_bytes()).unwrap();
        assert!(matches!(back, MailRequest::Unblock { user: None, .. }));
        // Queued by the version before unblock notices: a reset.
        let old = br#"{"tenant_id":"acme","email":"ana@example.com","connection":"database"}"#;
        assert!(matches!(
            MailRequest::parse(old).unwrap(),
            MailRequest::Reset { .. }
        ));
        assert!(MailRequest::parse(br#"{"kind":"other","tenant_id":"acme"}"#).is_err());
    }
}
