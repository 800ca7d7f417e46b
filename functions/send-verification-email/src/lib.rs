//! `POST /v1/tenants/{tenant_id}/jobs/verification-email` `{"user_id"}` (update:users)
//!
//! Sends (or sends again) the verification email: 201 `{"id","type":"verification_email",
//! "status"}`, where `status` is `completed` when SES took the message and `pending` when the
//! outbox will retry it. 400 `email_already_verified`; 429 `too_many_requests` past the send cap.

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

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let (tenant, _) = call.tenant_with(Scope::UpdateUsers)?;
        let job = VerificationJob::parse(call.body()?)?;
        let job = app.send_verification_email(&tenant, &job).await?;
        Ok(Reply::json(StatusCode::CREATED, serde_json::json!(job)))
    }
    .await;
    Ok(call.finish(outcome))
}
