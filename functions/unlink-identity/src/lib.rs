//! `DELETE /v1/tenants/{tenant_id}/users/{user_id}/identities/{provider}/{identity_id}`
//!
//! Unlinks an identity: it becomes the standalone user it was when linked (same id, profile,
//! metadata and password). 200 with the primary's remaining identities and its new `ETag`;
//! 400 `primary_identity` for the user's own identity; 404 `identity_not_found`. Honors
//! `If-Match` on the primary (412).

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::domain::ids::ProviderUserId;
use shared::domain::linking::parse_provider;
use shared::http::Call;

pub const ROUTE: &str =
    "DELETE /v1/tenants/{tenant_id}/users/{user_id}/identities/{provider}/{identity_id}";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["update:users"];

/// The same in Auth0's dialect ([`shared::http::auth0`]): `auth0` the database provider, its identities in the answer.
pub const ROUTE_AUTH0: &str = "DELETE /api/v2/users/{user_id}/identities/{provider}/{identity_id}";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::serving(req, ROUTE, ROUTE_AUTH0);
    let outcome = async {
        let (tenant, _) = call.tenant_with(app, Scope::UpdateUsers).await?;
        let id = call.path_user(app, &tenant).await?;
        let provider = parse_provider(call.path_provider())?;
        let identity_id = ProviderUserId::parse(call.path("identity_id"))?;
        let user = app
            .unlink_identity(&tenant, &id, &provider, &identity_id, call.if_match()?)
            .await?;
        Ok(call.identities_reply(StatusCode::OK, &user))
    }
    .await;
    Ok(call.finish(outcome))
}
