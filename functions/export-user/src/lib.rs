//! `GET /v1/tenants/{tenant_id}/users/{user_id}/export`
//!
//! Everything stored about a user as one JSON document (`shared::domain::export`), offered
//! as a file (`Content-Disposition: attachment`): 200; 404 `user_not_found`.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/users/{user_id}/export";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["read:users"];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let (tenant, caller, draw) = call.tenant_reading(app).await?;
        let (document, id) = call
            .read_beside(app, draw, async |call| {
                caller.require(Scope::ReadUsers)?;
                let id = call.path_user_id()?;
                Ok((app.export_user(&tenant, &id, false).await?, id))
            })
            .await?;
        Ok(Reply::export(document, &id))
    }
    .await;
    Ok(call.finish(outcome))
}
