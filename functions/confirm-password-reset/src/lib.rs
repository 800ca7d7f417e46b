//! `POST /v1/tenants/{tenant_id}/password-reset/confirm` `{"ticket","new_password"}` (public:
//! the ticket is the credential)
//!
//! 204: the password is set, `last_password_reset` recorded, brute-force blocks cleared and the
//! ticket consumed (once: a second redemption, even a concurrent one, is 400
//! `invalid_ticket`). A password the policy refuses is 400 `password_too_weak` and leaves the
//! ticket usable.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::ticket::ResetConfirmation;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "POST /v1/tenants/{tenant_id}/password-reset/confirm";

/// Scopes API Gateway requires before the handler runs: none (a public route, or the
/// user's own token, which the handler checks).
pub const SCOPES: &[&str] = &[];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let tenant = call.public_tenant(app).await?;
        let confirmation = ResetConfirmation::parse(call.body()?)?;
        app.confirm_password_reset(&tenant, confirmation).await?;
        Ok(Reply::no_content())
    }
    .await;
    Ok(call.finish(outcome))
}
