//! The link in an unblock email, sent when a brute-force block starts. Public: the ticket is
//! the credential.
//!
//! `GET /v1/tenants/{tenant_id}/unblock?ticket=` shows a page with a button and changes
//! nothing (mail scanners fetch links). `POST` of the same path with the ticket, as the page's
//! form (`application/x-www-form-urlencoded`) or as JSON `{"ticket"}`, uses the ticket up and
//! lifts every brute-force block of the account: the form gets a page saying so, JSON a 204
//! (400 `invalid_ticket` if the link is unknown, used, expired, or its address is no longer
//! the account's verified one).

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::Error;
use shared::domain::ids::TenantId;
use shared::domain::locale::Locale;
use shared::domain::tenant::TenantEmail;
use shared::domain::ticket::ticket_of;
use shared::http::{Call, LinkPage, Reply};
use shared::operations::email::UnblockPage;

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/unblock";

/// Scopes API Gateway requires before the handler runs: none (a public route, or the
/// user's own token, which the handler checks).
pub const SCOPES: &[&str] = &[];
pub const ROUTE_POST: &str = "POST /v1/tenants/{tenant_id}/unblock";

fn page(
    app: &App,
    tenant: &TenantId,
    settings: &TenantEmail,
    locale: Locale,
    state: &'static str,
    ticket: &str,
) -> Result<Reply, Error> {
    let page = LinkPage::new(app, tenant, settings, "unblock", (locale, state), ticket);
    Reply::link_page("unblock", locale, &page)
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let is_post = req.method() == http::Method::POST;
    let mut call = Call::new(req, if is_post { ROUTE_POST } else { ROUTE });
    let outcome = async {
        // A page shows the tenant's name and logo: the link's page reads the settings with its
        // ticket, a form's post beside its draw.
        let form = is_post && call.is_form();
        if form {
            call.reading_settings();
        }
        let tenant = call.public_tenant(app).await?;
        if !is_post {
            let ticket = call.query("ticket").unwrap_or("").to_owned();
            let shown = app.unblock_page(&tenant, &ticket).await?;
            let settings = app.tenant(&tenant).await?;
            return match shown {
                UnblockPage::Confirm { locale } => {
                    page(app, &tenant, &settings, locale, "confirm", &ticket)
                }
                UnblockPage::Invalid => {
                    page(app, &tenant, &settings, settings.locale, "invalid", "")
                }
            };
        }
        if form {
            let settings = app.tenant(&tenant).await?;
            let ticket = call.form_field("ticket")?.unwrap_or_default();
            let state = match app.unblock(&tenant, &ticket).await {
                Ok(()) => "unblocked",
                Err(Error::Invalid { .. }) => "invalid",
                Err(e) => return Err(e),
            };
            return page(app, &tenant, &settings, settings.locale, state, "");
        }
        let ticket = ticket_of(call.body()?)?;
        app.unblock(&tenant, &ticket).await?;
        Ok(Reply::no_content())
    }
    .await;
    Ok(call.finish(outcome))
}
