//! `PATCH /v1/tenants/{tenant_id}/users/{user_id}` and `PATCH /api/v2/users/{user_id}`
//!
//! Updates a user. `update:users` may change every field; `update:users_app_metadata` alone
//! may change only the two metadata objects. Honors `If-Match` (412).

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::domain::user_patch::METADATA_FIELDS;
use shared::domain::user_patch::UserPatch;
use shared::http::Call;

pub const ROUTE: &str = "PATCH /v1/tenants/{tenant_id}/users/{user_id}";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["update:users", "update:users_app_metadata"];

/// The same in Auth0's dialect ([`shared::http::auth0`]): the user alone in the answer.
pub const ROUTE_AUTH0: &str = "PATCH /api/v2/users/{user_id}";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::serving(req, ROUTE, ROUTE_AUTH0);
    let outcome = async {
        let (tenant, caller) = call.tenant(app).await?;
        caller.require_any(&[Scope::UpdateUsers, Scope::UpdateUsersAppMetadata])?;
        let full = caller.has(Scope::UpdateUsers);
        let id = call.path_user(app, &tenant).await?;
        let patch = UserPatch::parse(call.body()?)?;
        if !full {
            patch.only(
                &METADATA_FIELDS,
                "with only the update:users_app_metadata scope",
            )?;
        }
        let saved = app
            .patch_user(&tenant, &id, &patch, call.if_match()?)
            .await?;
        Ok(call.saved_reply(StatusCode::OK, &saved))
    }
    .await;
    Ok(call.finish(outcome))
}
