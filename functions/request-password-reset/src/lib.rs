//! `POST /v1/tenants/{tenant_id}/password-reset` `{"email","connection"?}` (public)
//!
//! Always 202 with the same body, whether or not a user has the address, so the route tells
//! nobody who has an account. When a database user has it (and is not blocked, and is under
//! the send cap), a reset link to the tenant's reset page is emailed.
//!
//! Sending takes longer than finding nothing, so no 202 leaves before [`RESPONSE_FLOOR`] has
//! passed since the request arrived: an account's existence does not show in the latency
//! either, short of an SES call slower than the floor. The template reserves (and so caps)
//! this function's concurrency, as each answer holds an instance for the floor.

use std::convert::Infallible;
use std::time::Duration;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::ticket::ResetRequest;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "POST /v1/tenants/{tenant_id}/password-reset";

/// Scopes API Gateway requires before the handler runs: none (a public route, or the
/// user's own token, which the handler checks).
pub const SCOPES: &[&str] = &[];

/// Above the time a known address takes (lookup, queueing transaction, ticket, SES, dequeue:
/// a few hundred milliseconds at the 99th percentile on AWS).
pub const RESPONSE_FLOOR: Duration = Duration::from_secs(1);

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let floor = tokio::time::Instant::now() + RESPONSE_FLOOR;
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let tenant = call.public_tenant()?;
        let req = ResetRequest::parse(call.body()?)?;
        app.request_password_reset(&tenant, &req).await?;
        Ok(Reply::json(
            StatusCode::ACCEPTED,
            serde_json::json!({
                "message": "If an account with this email exists, we have sent it a link to reset the password."
            }),
        ))
    }
    .await;
    // Errors come from the request alone (its body, or a store outage before any account was
    // found), so only the one answer that could hide an account waits.
    if outcome.is_ok() {
        tokio::time::sleep_until(floor).await;
    }
    Ok(call.finish(outcome))
}
