//! `GET /v1/tenants/{tenant_id}/me`
//!
//! The caller's own profile (`sub` is the user id), without `app_metadata`.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/me";

/// Scopes API Gateway requires before the handler runs: none (a public route, or the
/// user's own token, which the handler checks).
pub const SCOPES: &[&str] = &[];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let (tenant, caller, draw) = call.tenant_reading(app).await?;
        let user = call
            .read_beside(app, draw, async |_| {
                app.get_user(&tenant, &caller.own_user_id()?).await
            })
            .await?;
        Ok(Reply::own_user(&user))
    }
    .await;
    Ok(call.finish(outcome))
}
