//! `POST /v1/tenants/{tenant_id}/users` and `POST /api/v2/users`
//!
//! Creates a user: 201 with the user, its `Location` and `ETag`; 409 `user_exists`. A
//! database user with an unverified email is sent a verification email (unless
//! `"verify_email": false`); the response's `emails` says whether it went out or is pending.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::domain::new_user::NewUser;
use shared::http::Call;

pub const ROUTE: &str = "POST /v1/tenants/{tenant_id}/users";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["create:users"];

/// The same in Auth0's dialect ([`shared::http::auth0`]): 201 with the user alone.
pub const ROUTE_AUTH0: &str = "POST /api/v2/users";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::serving(req, ROUTE, ROUTE_AUTH0);
    let outcome = async {
        let (tenant, _) = call.tenant_with(app, Scope::CreateUsers).await?;
        if let Some(replay) = call.idempotent(app, &tenant).await? {
            return Ok(replay);
        }
        let new = NewUser::parse(&tenant, call.body()?, app.clock.now())?;
        let saved = app.create_user(new, call.commit().as_ref()).await?;
        Ok(call.created_reply(&tenant, &saved))
    }
    .await;
    Ok(call.finish_idempotent(app, outcome).await)
}
