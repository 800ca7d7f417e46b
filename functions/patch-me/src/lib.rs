//! `PATCH /v1/tenants/{tenant_id}/me`
//!
//! The caller changes their own profile. Only `email`, `user_metadata`, `name`, `given_name`,
//! `family_name`, `nickname`, `picture` and `username`; naming another field of the resource is
//! 403 `insufficient_scope` (it exists, but is the tenant's to change), an unknown field 400.
//! A new `email` becomes `pending_email` until the new address is verified (see
//! `App::patch_own`).

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::user_patch::SELF_SERVICE_FIELDS;
use shared::domain::user_patch::UserPatch;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "PATCH /v1/tenants/{tenant_id}/me";

/// Scopes API Gateway requires before the handler runs: none (a public route, or the
/// user's own token, which the handler checks).
pub const SCOPES: &[&str] = &[];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let (tenant, caller) = call.tenant(app).await?;
        let id = caller.own_user_id()?;
        let patch = UserPatch::parse(call.body()?)?;
        patch.only(&SELF_SERVICE_FIELDS, "on your own profile")?;
        let saved = app.patch_own(&tenant, &id, patch, call.if_match()?).await?;
        Ok(Reply::saved(StatusCode::OK, &saved, true))
    }
    .await;
    Ok(call.finish(outcome))
}
