//! `GET /v1/tenants/{tenant_id}/users/{user_id}`
//!
//! Reads a user: 200 with the user and its `ETag`; 404 `user_not_found`.

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/users/{user_id}";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["read:users"];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let (tenant, _) = call.tenant_with(Scope::ReadUsers)?;
        let id = call.path_user_id()?;
        let user = app.get_user(&tenant, &id).await?;
        Ok(Reply::user(StatusCode::OK, &user))
    }
    .await;
    Ok(call.finish(outcome))
}
