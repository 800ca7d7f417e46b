//! `POST /v1/tenants/{tenant_id}/password-reset` `{"email","connection"?}` (public)
//!
//! Always 202 with the same body, whether or not a user has the address, so the route tells
//! nobody who has an account. When a database user has it (and is not blocked, and is under
//! the send cap), a reset link to the tenant's reset page is emailed.

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "POST /v1/tenants/{tenant_id}/password-reset";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let tenant = call.public_tenant()?;
        app.request_password_reset(&tenant, call.body()?).await?;
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
