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
use shared::http::{Call, Reply};

pub const ROUTE: &str = "POST /v1/tenants/{tenant_id}/users/{user_id}/identities";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["update:users"];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let (tenant, _) = call.tenant_with(Scope::UpdateUsers)?;
        let id = call.path_user_id()?;
        let link = LinkRequest::parse(call.body()?)?;
        let user = app.link_user(&tenant, &id, &link, call.if_match()?).await?;
        Ok(Reply::identities(StatusCode::CREATED, &user))
    }
    .await;
    Ok(call.finish(outcome))
}
