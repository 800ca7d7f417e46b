//! `GET /v1/tenants/{tenant_id}/users/{user_id}` and `GET /api/v2/users/{user_id}`
//!
//! Reads a user: 200 with the user and its `ETag`; 404 `user_not_found`.

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::http::Call;

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/users/{user_id}";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["read:users"];

/// The same read in Auth0's dialect ([`shared::http::auth0`]): the tenant from the token,
/// `{id}` an Auth0 user id, and `fields` / `include_fields` honoured.
pub const ROUTE_AUTH0: &str = "GET /api/v2/users/{user_id}";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::serving(req, ROUTE, ROUTE_AUTH0);
    let outcome = async {
        let (tenant, caller, draw) = call.tenant_reading(app).await?;
        let user = call
            .read_beside(app, draw, async |call| {
                caller.require(Scope::ReadUsers)?;
                let id = call.path_user(app, &tenant).await?;
                app.get_user(&tenant, &id).await
            })
            .await?;
        Ok(call.user_reply(StatusCode::OK, &user))
    }
    .await;
    Ok(call.finish(outcome))
}
