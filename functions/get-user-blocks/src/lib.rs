//! `GET /v1/tenants/{tenant_id}/user-blocks/{user_id}` and `GET /v1/tenants/{tenant_id}/user-blocks?identifier=|ip=`, and both under `/api/v2` in Auth0's dialect
//!
//! The brute-force blocks in force for a user, by id or by `identifier` (email or username of a
//! database user): `{"blocked_for":[{"identifier","ip","connection","blocked_until"}]}`. An
//! entry with `ip` null is the user's lock across all addresses. With `ip`, the address's
//! throttle across the tenant's accounts: its block (if full) and `throttle` (docs/api.md).

use std::convert::Infallible;

use lambda_http::{Body, Request, RequestExt, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::http::Call;

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/user-blocks/{user_id}";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["read:users"];
pub const ROUTE_BY_IDENTIFIER: &str = "GET /v1/tenants/{tenant_id}/user-blocks";
/// The same two in Auth0's dialect ([`shared::http::auth0`]).
pub const ROUTE_AUTH0: &str = "GET /api/v2/user-blocks/{user_id}";
pub const ROUTE_BY_IDENTIFIER_AUTH0: &str = "GET /api/v2/user-blocks";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = match req.path_parameters().first("user_id").is_some() {
        true => Call::serving(req, ROUTE, ROUTE_AUTH0),
        false => Call::serving(req, ROUTE_BY_IDENTIFIER, ROUTE_BY_IDENTIFIER_AUTH0),
    };
    let outcome = async {
        let (tenant, _) = call.tenant_with(app, Scope::ReadUsers).await?;
        let blocks = app
            .blocks(&tenant, &call.blocks_of(app, &tenant).await?)
            .await?;
        Ok(call.blocks_reply(&blocks))
    }
    .await;
    Ok(call.finish(outcome))
}
