//! `GET /v1/tenants/{tenant_id}/me/export`
//!
//! The caller's own data export (`shared::domain::export`), without `app_metadata`, offered
//! as a file (`Content-Disposition: attachment`).

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/me/export";

/// Scopes API Gateway requires before the handler runs: none (a public route, or the
/// user's own token, which the handler checks).
pub const SCOPES: &[&str] = &[];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let (tenant, caller, draw) = call.tenant_reading(app).await?;
        let (document, id) = call
            .read_beside(app, draw, async |_| {
                let id = caller.own_user_id()?;
                Ok((app.export_user(&tenant, &id, true).await?, id))
            })
            .await?;
        Ok(Reply::export(document, &id))
    }
    .await;
    Ok(call.finish(outcome))
}
