//! `GET /v1/tenants/{tenant_id}/settings`
//!
//! The tenant's effective settings (its stored layer over the deployment's `TENANT_SETTINGS`),
//! their version as the `ETag`, and the newest changes: 200
//! `{"settings", "version", "history"}`. See docs/configuration.md.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/settings";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["read:tenant_settings"];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let (tenant, caller, draw) = call.tenant_reading(app).await?;
        let view = call
            .read_beside(app, draw, async |call| {
                caller.require(Scope::ReadTenantSettings)?;
                call.only_query(&[])?;
                app.tenant_settings(&tenant).await
            })
            .await?;
        Ok(Reply::settings(&view))
    }
    .await;
    Ok(call.finish(outcome))
}
