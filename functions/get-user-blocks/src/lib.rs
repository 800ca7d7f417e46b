//! `GET /v1/tenants/{tenant_id}/user-blocks/{user_id}` and `GET /v1/tenants/{tenant_id}/user-blocks?identifier=`
//!
//! The brute-force blocks in force for a user, by id or by `identifier` (email or username of a
//! database user): `{"blocked_for":[{"identifier","ip","connection","blocked_until"}]}`. An
//! entry with `ip` null is the user's lock across all addresses.

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
        let id = app.blocks_subject(&tenant, &call.blocks_of()?).await?;
        let blocks = match id {
            Some(id) => app.user_blocks(&tenant, &id).await?,
            None => Vec::new(),
        };
        Ok(Reply::json(
            StatusCode::OK,
            json!({ "blocked_for": blocks }),
        ))
    }
    .await;
    Ok(call.finish(outcome))
}
