//! `POST /v1/tenants/{tenant_id}/users/{user_id}/identities`
//!
//! Links a secondary user into this one (`{"link_with": "<user_id>"}` or
//! `{"provider", "user_id"}` naming its identity; `"allow_unverified": true` to link an
//! unverified email): 201 with the primary's identities and its new `ETag`. The refusals are
//! listed in `shared::domain::linking`. Honors `If-Match` on the primary (412).

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::caller::Scope;
use shared::domain::linking::LinkRequest;
use shared::http::Call;

pub const ROUTE: &str = "POST /v1/tenants/{tenant_id}/users/{user_id}/identities";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["update:users"];

/// The same in Auth0's dialect ([`shared::http::auth0`]): Auth0's body, its identities in the answer.
pub const ROUTE_AUTH0: &str = "POST /api/v2/users/{user_id}/identities";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::serving(req, ROUTE, ROUTE_AUTH0);
    let outcome = async {
        let (tenant, _) = call.tenant_with(app, Scope::UpdateUsers).await?;
        if let Some(replay) = call.idempotent(app, &tenant).await? {
            return Ok(replay);
        }
        let id = call.path_user(app, &tenant).await?;
        let link = LinkRequest::parse(&call.link_body()?)?;
        let user = app.link_user(&tenant, &id, &link, call.if_match()?).await?;
        Ok(call.identities_reply(StatusCode::CREATED, &user))
    }
    .await;
    Ok(call.finish_idempotent(app, outcome).await)
}
