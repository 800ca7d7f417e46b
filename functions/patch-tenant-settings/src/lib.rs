//! `PATCH /v1/tenants/{tenant_id}/settings`
//!
//! Merges fields into the tenant's stored settings: a value sets a field, `null` resets it to
//! the deployment's. Every field given is checked, and so is the result over the deployment's
//! layers; anything wrong is 400 and nothing is stored. A change of a de-provisioning policy
//! needs `delete:users` too (403), since a policy erases users. Honors `If-Match` (412).
//! Answers like `GET`, with the new version and the change first in `history`.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::Error;
use shared::domain::caller::Scope;
use shared::domain::tenant::SettingsPatch;
use shared::http::{Call, Reply};

pub const ROUTE: &str = "PATCH /v1/tenants/{tenant_id}/settings";

/// Scopes API Gateway requires before the handler runs (any one of them); the handler checks
/// again.
pub const SCOPES: &[&str] = &["update:tenant_settings"];

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let mut call = Call::new(req, ROUTE);
    let outcome = async {
        let (tenant, caller) = call.tenant_with(app, Scope::UpdateTenantSettings).await?;
        let patch = SettingsPatch::parse(call.body()?, app.email.tenants.is_local())?;
        // A policy erases users: changing one takes the scope that erases them too.
        if patch.names_policy() && !caller.has(Scope::DeleteUsers) {
            return Err(Error::forbidden(
                "Changing a de-provisioning policy needs the delete:users scope too.",
            ));
        }
        let view = app
            .patch_tenant_settings(&tenant, &patch, call.if_match()?, caller.subject())
            .await?;
        Ok(Reply::settings(&view))
    }
    .await;
    Ok(call.finish(outcome))
}
