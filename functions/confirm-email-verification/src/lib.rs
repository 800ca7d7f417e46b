//! `GET /v1/tenants/{tenant_id}/email-verification/confirm?ticket=` (public: the ticket is the
//! credential)
//!
//! Verifies the address (or completes an email change), consumes the ticket and redirects
//! (302) to the ticket's `result_url` or the tenant's default with `success=true`; a ticket
//! that is expired, used or unknown redirects with `success=false&error=<code>`, or is 400
//! JSON when there is nowhere to redirect. Other query parameters (trackers add them) are
//! ignored.

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::flows::Confirmation;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/email-verification/confirm";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let tenant = call.public_tenant()?;
        match app.confirm_email(&tenant, call.query("ticket")).await {
            Confirmation::Redirect(url) => Ok(Reply::redirect(&url)),
            Confirmation::Verified => Ok(Reply::json(
                StatusCode::OK,
                serde_json::json!({ "success": true }),
            )),
            Confirmation::Refused(error) => Err(error),
        }
    }
    .await;
    Ok(call.finish(outcome))
}
