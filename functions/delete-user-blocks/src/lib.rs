//! `DELETE /v1/tenants/{tenant_id}/user-blocks/{user_id}` and `DELETE /v1/tenants/{tenant_id}/user-blocks?identifier=|ip=`, and both under `/api/v2` in Auth0's dialect
//!
//! Clears a user's brute-force blocks, by id or by `identifier`, or empties an address's
//! throttle across the tenant's accounts, with `ip`: 204. The admin `blocked` flag is not
//! touched.

use std::convert::Infallible;

use lambda_http::{Body, Request, RequestExt, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "DELETE /v1/tenants/{tenant_id}/user-blocks/{user_id}";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["update:users"];
pub const ROUTE_BY_IDENTIFIER: &str = "DELETE /v1/tenants/{tenant_id}/user-blocks";
/// The same two in Auth0's dialect ([`shared::http::auth0`]).
pub const ROUTE_AUTH0: &str = "DELETE /api/v2/user-blocks/{user_id}";
pub const ROUTE_BY_IDENTIFIER_AUTH0: &str = "DELETE /api/v2/user-blocks";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = match req.path_parameters().first("user_id").is_some() {
        true => Call::serving(req, ROUTE, ROUTE_AUTH0),
        false => Call::serving(req, ROUTE_BY_IDENTIFIER, ROUTE_BY_IDENTIFIER_AUTH0),
    };
    let outcome = async {
        let (tenant, _) = call.tenant_with(app, Scope::UpdateUsers).await?;
        app.clear_blocks(&tenant, &call.blocks_of(app, &tenant).await?)
            .await?;
        Ok(Reply::no_content())
    }
    .await;
    Ok(call.finish(outcome))
}
