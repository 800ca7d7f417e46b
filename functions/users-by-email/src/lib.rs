//! `GET /v1/tenants/{tenant_id}/users-by-email` and `GET /api/v2/users-by-email`
//!
//! The users with this email address (case-insensitively), in any connection, as an array.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::Error;
use shared::domain::caller::Scope;
use shared::domain::email::Email;
use shared::http::Call;

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/users-by-email";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["read:users"];

/// The same in Auth0's dialect ([`shared::http::auth0`]), with `fields` / `include_fields`.
pub const ROUTE_AUTH0: &str = "GET /api/v2/users-by-email";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::serving(req, ROUTE, ROUTE_AUTH0);
    let outcome = async {
        let (tenant, caller, draw) = call.tenant_reading(app).await?;
        let users = call
            .read_beside(app, draw, async |call| {
                caller.require(Scope::ReadUsers)?;
                call.only_query_and_fields(&["email"])?;
                let raw = call.query("email").ok_or_else(|| {
                    Error::invalid("invalid_query", "The email query parameter is required.")
                })?;
                app.users_by_email(&tenant, &Email::parse(raw)?).await
            })
            .await?;
        Ok(call.users_reply(&users))
    }
    .await;
    Ok(call.finish(outcome))
}
