//! `POST /v1/tenants/{tenant_id}/authenticate`
//!
//! Checks a database user's password for a trusted login service (scope `authenticate:users`):
//! 200 with the user; 401 `invalid_credentials` alike for an unknown user and a wrong password;
//! 401 `user_blocked` only after the right password; 429 `too_many_attempts` with
//! `Retry-After` while a brute-force block holds. `ip` in the body, the end user's address, is
//! required (400 without it): the login service's own address must never be what is counted.

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::domain::login::LoginRequest;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "POST /v1/tenants/{tenant_id}/authenticate";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["authenticate:users"];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let (tenant, _) = call.tenant_with(app, Scope::AuthenticateUsers).await?;
        let login = LoginRequest::parse(call.body()?)?;
        let user = app.authenticate(&tenant, &login).await?;
        Ok(Reply::user(StatusCode::OK, &user))
    }
    .await;
    Ok(call.finish(outcome))
}
