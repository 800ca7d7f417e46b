//! `POST /v1/tenants/{tenant_id}/jobs/verification-email` `{"user_id"}` (update:users)
//!
//! Sends (or sends again) the verification email: 201 `{"id","type":"verification_email",
//! "status","created_at"}`, where `status` is `completed` when SES took the message,
//! `pending` when the outbox will retry it and `suppressed` when the address is marked
//! undeliverable; `GET /jobs/{id}` follows it for a day. 400
//! `email_already_verified`; 429 `too_many_requests` past the send cap.

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::domain::message::VerificationJob;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "POST /v1/tenants/{tenant_id}/jobs/verification-email";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["update:users"];

/// The same in Auth0's dialect ([`shared::http::auth0`]): `user_id` an Auth0 id.
pub const ROUTE_AUTH0: &str = "POST /api/v2/jobs/verification-email";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::serving(req, ROUTE, ROUTE_AUTH0);
    let outcome = async {
        let (tenant, _) = call.tenant_with(app, Scope::UpdateUsers).await?;
        if let Some(replay) = call.idempotent(app, &tenant).await? {
            return Ok(replay);
        }
        call.resolve_body_user(app, &tenant).await?;
        let job = VerificationJob::parse(call.body()?)?;
        let job = app.send_verification_email(&tenant, &job).await?;
        Ok(Reply::json(StatusCode::CREATED, serde_json::json!(job)))
    }
    .await;
    Ok(call.finish_idempotent(app, outcome).await)
}
