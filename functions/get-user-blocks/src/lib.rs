//! `GET /v1/tenants/{tenant_id}/user-blocks/{user_id}` and `GET /v1/tenants/{tenant_id}/user-blocks?identifier=|ip=`
//!
//! The brute-force blocks in force for a user, by id or by `identifier` (email or username of a
//! database user): `{"blocked_for":[{"identifier","ip","connection","blocked_until"}]}`. An
//! entry with `ip` null is the user's lock across all addresses. With `ip`, the address's
//! throttle across the tenant's accounts: its block (if full) and `throttle` (docs/api.md).

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use shared::App;
use shared::domain::caller::Scope;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/user-blocks/{user_id}";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["read:users"];
pub const ROUTE_BY_IDENTIFIER: &str = "GET /v1/tenants/{tenant_id}/user-blocks";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let by_id = req.path_parameters().first("user_id").is_some();
    let mut call = Call::new(req, if by_id { ROUTE } else { ROUTE_BY_IDENTIFIER });
    let outcome = async {
        let (tenant, _) = call.tenant_with(Scope::ReadUsers)?;
        let blocks = app.blocks(&tenant, &call.blocks_of()?).await?;
        Ok(Reply::json(StatusCode::OK, json!(blocks)))
    }
    .await;
    Ok(call.finish(outcome))
}
