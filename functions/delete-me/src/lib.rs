//! `DELETE /v1/tenants/{tenant_id}/me`
//!
//! Schedules the caller's erasure after the grace period (`DELETION_GRACE_DAYS`): 202
//! `{"deletion_scheduled_at": "<when>"}` (and `emails`, with the confirmation). From then on
//! the account cannot sign in; the scheduled purge erases it when due; an admin
//! `PATCH {"deletion_scheduled_at": null}` cancels. Asking again answers the same date.

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::App;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "DELETE /v1/tenants/{tenant_id}/me";

/// Scopes API Gateway requires before the handler runs: none (a public route, or the
/// user's own token, which the handler checks).
pub const SCOPES: &[&str] = &[];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let (tenant, caller) = call.tenant(app).await?;
        let saved = app
            .schedule_own_deletion(&tenant, &caller.own_user_id()?)
            .await?;
        let mut body = json!({"deletion_scheduled_at": saved.user.deletion_scheduled_at});
        if !saved.emails.is_empty() {
            body["emails"] = json!(saved.emails);
        }
        Ok(Reply::json(StatusCode::ACCEPTED, body))
    }
    .await;
    Ok(call.finish(outcome))
}
