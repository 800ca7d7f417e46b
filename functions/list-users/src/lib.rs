//! `GET /v1/tenants/{tenant_id}/users` and `GET /api/v2/users`
//!
//! Lists the tenant's users a page at a time (`limit` 1..100, default 50, opaque `cursor`), or
//! with `email=` the users with exactly that address (case-insensitively), any connection.

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::App;
use shared::domain::caller::Scope;
use shared::domain::email::Email;
use shared::domain::listing::PageRequest;
use shared::domain::user::User;
use shared::http::{Call, Dialect, Reply, auth0};

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/users";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["read:users"];

/// The same in Auth0's dialect: pages, totals and search as
/// [`shared::http::auth0::list_users`] takes them.
pub const ROUTE_AUTH0: &str = "GET /api/v2/users";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::serving(req, ROUTE, ROUTE_AUTH0);
    let outcome = async {
        let (tenant, _) = call.tenant_with(app, Scope::ReadUsers).await?;
        if call.dialect() == Dialect::Auth0 {
            return auth0::list_users(app, &call, &tenant).await;
        }
        call.only_query(&["limit", "cursor", "email"])?;
        let page = PageRequest::parse(call.query("limit"), call.query("cursor"))?;
        let (users, next) = match call.query("email") {
            Some(raw) => (
                app.users_by_email(&tenant, &Email::parse(raw)?).await?,
                None,
            ),
            None => {
                let page = app.list_users(&tenant, &page).await?;
                (page.users, page.next)
            }
        };
        let users: Vec<_> = users.iter().map(User::to_admin_json).collect();
        let next_cursor = next.map(|p| p.to_cursor());
        Ok(Reply::json(
            StatusCode::OK,
            json!({ "users": users, "next_cursor": next_cursor }),
        ))
    }
    .await;
    Ok(call.finish(outcome))
}
