//! `GET /v1/tenants/{tenant_id}/users-by-email`
//!
//! The users with this email address (case-insensitively), in any connection, as an array.

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use shared::App;
use shared::domain::Error;
use shared::domain::caller::Scope;
use shared::domain::email::Email;
use shared::domain::user::User;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/users-by-email";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["read:users"];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let (tenant, _) = call.tenant_with(Scope::ReadUsers)?;
        call.only_query(&["email"])?;
        let raw = call.query("email").ok_or_else(|| {
            Error::invalid("invalid_query", "The email query parameter is required.")
        })?;
        let users = app.users_by_email(&tenant, &Email::parse(raw)?).await?;
        Ok(Reply::json(
            StatusCode::OK,
            Value::Array(users.iter().map(User::to_admin_json).collect()),
        ))
    }
    .await;
    Ok(call.finish(outcome))
}
