//! `POST /v1/tenants/{tenant_id}/me/password`
//!
//! The caller changes their own password with the current one: 204; a wrong current password
//! is 401 `invalid_credentials` and counts as a failed login; the new one must meet the policy
//! (400 `password_too_weak`).

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::login::PasswordChange;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "POST /v1/tenants/{tenant_id}/me/password";

/// Scopes API Gateway requires before the handler runs: none (a public route, or the
/// user's own token, which the handler checks).
pub const SCOPES: &[&str] = &[];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let (tenant, caller) = call.tenant(app).await?;
        let id = caller.own_user_id()?;
        let change = PasswordChange::parse(call.body()?)?;
        app.change_own_password(&tenant, &id, &change, call.source_ip())
            .await?;
        Ok(Reply::no_content())
    }
    .await;
    Ok(call.finish(outcome))
}
