//! `DELETE /v1/tenants/{tenant_id}/users/{user_id}` and `DELETE /api/v2/users/{user_id}`
//!
//! Erases a user now, with every item it owns, and writes an erasure receipt naming the
//! caller's `sub` as the actor: 204; 404 `user_not_found`; 412 on `If-Match` mismatch.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "DELETE /v1/tenants/{tenant_id}/users/{user_id}";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["delete:users"];

/// The same in Auth0's dialect ([`shared::http::auth0`]).
pub const ROUTE_AUTH0: &str = "DELETE /api/v2/users/{user_id}";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::serving(req, ROUTE, ROUTE_AUTH0);
    let outcome = async {
        let (tenant, caller) = call.tenant_with(app, Scope::DeleteUsers).await?;
        let id = call.path_user(app, &tenant).await?;
        app.delete_user(&tenant, &id, call.if_match()?, caller.subject())
            .await?;
        Ok(Reply::no_content())
    }
    .await;
    Ok(call.finish(outcome))
}
