//! `POST /v1/tenants/{tenant_id}/tickets/email-verification`
//! `{"user_id","result_url"?,"ttl_sec"?}` (create:user_tickets)
//!
//! A verification link for the caller to deliver itself: 201 `{"ticket":"<url>"}`. It lives
//! 5 days unless `ttl_sec` says otherwise (at most 30 days); `result_url` must be on the
//! tenant's allow-list.

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::domain::ticket::VerificationTicketRequest;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "POST /v1/tenants/{tenant_id}/tickets/email-verification";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["create:user_tickets"];

/// The same in Auth0's dialect ([`shared::http::auth0`]): `user_id` an Auth0 id.
pub const ROUTE_AUTH0: &str = "POST /api/v2/tickets/email-verification";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::serving(req, ROUTE, ROUTE_AUTH0);
    let outcome = async {
        let (tenant, _) = call.tenant_with(app, Scope::CreateUserTickets).await?;
        if let Some(replay) = call.idempotent(app, &tenant).await? {
            return Ok(replay);
        }
        call.resolve_body_user(app, &tenant).await?;
        let req = VerificationTicketRequest::parse(call.body()?)?;
        let url = app.email_verification_ticket(&tenant, &req).await?;
        Ok(Reply::json(
            StatusCode::CREATED,
            serde_json::json!({ "ticket": url.as_str() }),
        ))
    }
    .await;
    Ok(call.finish_idempotent(app, outcome).await)
}
