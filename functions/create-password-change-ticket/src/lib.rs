//! `POST /v1/tenants/{tenant_id}/tickets/password-change` `{"user_id" | ("email",
//! "connection"?), "result_url"?, "ttl_sec"?, "mark_email_as_verified"?}` (create:user_tickets)
//!
//! A link to the tenant's password-reset page carrying a ticket: 201 `{"ticket":"<url>"}`. It
//! lives an hour unless `ttl_sec` says otherwise (at most 7 days).

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::domain::ticket::PasswordTicketRequest;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "POST /v1/tenants/{tenant_id}/tickets/password-change";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["create:user_tickets"];

/// The same in Auth0's dialect ([`shared::http::auth0`]): `user_id` an Auth0 id.
pub const ROUTE_AUTH0: &str = "POST /api/v2/tickets/password-change";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::serving(req, ROUTE, ROUTE_AUTH0);
    let outcome = async {
        let (tenant, _) = call.tenant_with(app, Scope::CreateUserTickets).await?;
        if let Some(replay) = call.idempotent(app, &tenant).await? {
            return Ok(replay);
        }
        call.resolve_body_user(app, &tenant).await?;
        let req = PasswordTicketRequest::parse(call.body()?)?;
        let url = app.password_change_ticket(&tenant, &req).await?;
        Ok(Reply::json(
            StatusCode::CREATED,
            serde_json::json!({ "ticket": url.as_str() }),
        ))
    }
    .await;
    Ok(call.finish_idempotent(app, outcome).await)
}
