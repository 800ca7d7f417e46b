//! `GET /v1/tenants/{tenant_id}/jobs/{job_id}` and `GET /api/v2/jobs/{job_id}`
//!
//! Where a job `POST /jobs/verification-email` queued stands: 200
//! `{"id","type","status","created_at"}`, `status` `pending` while the outbox retries it,
//! `completed` once the provider took it, `failed` when it was refused or no longer applies,
//! `suppressed` when its address is marked undeliverable (bounced or complained of). A job is kept a day; 404 `job_not_found` after that, or for an id the tenant never had.

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/jobs/{job_id}";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again. Auth0 lets either read a job.
pub const SCOPES: &[&str] = &["read:users", "create:users"];

/// The same in Auth0's dialect ([`shared::http::auth0`]), whose job has this shape too.
pub const ROUTE_AUTH0: &str = "GET /api/v2/jobs/{job_id}";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::serving(req, ROUTE, ROUTE_AUTH0);
    let outcome = async {
        let (tenant, caller, draw) = call.tenant_reading(app).await?;
        let job = call
            .read_beside(app, draw, async |call| {
                caller.require_any(&[Scope::ReadUsers, Scope::CreateUsers])?;
                call.only_query(&[])?;
                app.job(&tenant, call.path("job_id")).await
            })
            .await?;
        Ok(Reply::json(StatusCode::OK, serde_json::json!(job)))
    }
    .await;
    Ok(call.finish(outcome))
}
