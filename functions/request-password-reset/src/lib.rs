//! `POST /v1/tenants/{tenant_id}/password-reset` `{"email","connection"?}` (public)
//!
//! Always 202 with the same body, whether or not a user has the address, so the route tells
//! nobody who has an account. The handler parses the request and queues it, reading nothing:
//! known and unknown addresses cost the same single queue write, so the latency tells nothing
//! either, with no floor to wait out and no instance held. `account-mail-sender` takes the
//! request off the queue within a second or so and mails the link if a database user has the
//! address (docs/email.md, "Password reset requests").

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::ticket::ResetRequest;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "POST /v1/tenants/{tenant_id}/password-reset";

/// Scopes API Gateway requires before the handler runs: none (a public route, or the
/// user's own token, which the handler checks).
pub const SCOPES: &[&str] = &[];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let tenant = call.public_tenant(app).await?;
        let request = ResetRequest::parse(call.body()?)?;
        app.request_password_reset(tenant, request).await?;
        Ok(Reply::json(
            StatusCode::ACCEPTED,
            serde_json::json!({
                "message": "If an account with this email exists, we have sent it a link to reset the password."
            }),
        ))
    }
    .await;
    Ok(call.finish(outcome))
}
