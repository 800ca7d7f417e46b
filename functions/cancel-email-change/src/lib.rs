//! The link in an email-change notice (sent to the old address). Public: the ticket is the
//! credential.
//!
//! `GET /v1/tenants/{tenant_id}/email-change/cancel?ticket=` shows a page with a button and
//! changes nothing (mail scanners fetch links). `POST` of the same path with the ticket, as the
//! page's form (`application/x-www-form-urlencoded`) or as JSON `{"ticket"}`, drops the pending
//! address: the form gets a page back, JSON a 204 (400 `invalid_ticket` if it no longer applies).

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::Error;
use shared::domain::ids::TenantId;
use shared::domain::locale::Locale;
use shared::domain::tenant::TenantEmail;
use shared::domain::ticket::ticket_of;
use shared::http::{Call, LinkPage, Reply};
use shared::operations::email::CancelPage;

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/email-change/cancel";

/// Scopes API Gateway requires before the handler runs: none (a public route, or the
/// user's own token, which the handler checks).
pub const SCOPES: &[&str] = &[];
pub const ROUTE_POST: &str = "POST /v1/tenants/{tenant_id}/email-change/cancel";

fn page(
    app: &App,
    tenant: &TenantId,
    settings: &TenantEmail,
    locale: Locale,
    state: &'static str,
    ticket: &str,
    new_email: &str,
) -> Result<Reply, Error> {
    let page = LinkPage {
        new_email,
        ..LinkPage::new(
            app,
            tenant,
            settings,
            "email-change/cancel",
            (locale, state),
            ticket,
        )
    };
    Reply::link_page("email_change_cancel", locale, &page)
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
            let shown = app.email_change_page(&tenant, &ticket).await?;
            let settings = app.tenant(&tenant).await?;
            return match shown {
                CancelPage::Confirm { new_email, locale } => page(
                    app, &tenant, &settings, locale, "confirm", &ticket, &new_email,
                ),
                CancelPage::Invalid => {
                    page(app, &tenant, &settings, settings.locale, "invalid", "", "")
                }
            };
        }
        if form {
            let settings = app.tenant(&tenant).await?;
            let ticket = call.form_field("ticket")?.unwrap_or_default();
            let state = match app.cancel_email_change(&tenant, &ticket).await {
                Ok(()) => "cancelled",
                Err(Error::Invalid { .. }) => "invalid",
                Err(e) => return Err(e),
            };
            return page(app, &tenant, &settings, settings.locale, state, "", "");
        }
        let ticket = ticket_of(call.body()?)?;
        app.cancel_email_change(&tenant, &ticket).await?;
        Ok(Reply::no_content())
    }
    .await;
    Ok(call.finish(outcome))
}
