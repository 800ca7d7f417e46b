//! `POST /v1/tenants/{tenant_id}/users`
//!
//! Creates a user: 201 with the user, its `Location` and `ETag`; 409 `user_exists`.

use std::convert::Infallible;

use http::StatusCode;
use http::header::LOCATION;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::auth::Scope;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "POST /v1/tenants/{tenant_id}/users";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let (tenant, _) = call.tenant_with(Scope::CreateUsers)?;
        let user = app.create_user(&tenant, call.body()?).await?;
        let location = format!("/v1/tenants/{tenant}/users/{}", user.user_id);
        Ok(Reply::user(StatusCode::CREATED, &user).with_header(LOCATION, location))
    }
    .await;
    Ok(call.finish(outcome))
}
