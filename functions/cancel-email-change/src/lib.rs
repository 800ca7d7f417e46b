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
        // A page shows the tenant's name and logo.
        if !is_post || call.is_form() {
            call.reading_settings();
        }
        let tenant = call.public_tenant(app).await?;
        if !is_post || call.is_form() {
            let settings = app.tenant(&tenant).await?;
            let fallback = settings.locale;
            let page = |locale, state, ticket: &str, new_email: &str| {
                page(app, &tenant, &settings, locale, state, ticket, new_email)
            };
            if is_post {
                let ticket = call.form_field("ticket")?.unwrap_or_default();
                return match app.cancel_email_change(&tenant, &ticket).await {
                    Ok(()) => page(fallback, "cancelled", "", ""),
                    Err(Error::Invalid { .. }) => page(fallback, "invalid", "", ""),
                    Err(e) => Err(e),
                };
            }
            let ticket = call.query("ticket").unwrap_or("").to_owned();
            return match app.email_change_page(&tenant, &ticket).await? {
                CancelPage::Confirm { new_email, locale } => {
                    page(locale, "confirm", &ticket, &new_email)
                }
                CancelPage::Invalid => page(fallback, "invalid", "", ""),
            };
        }
        let ticket = ticket_of(call.body()?)?;
        app.cancel_email_change(&tenant, &ticket).await?;
        Ok(Reply::no_content())
    }
    .await;
    Ok(call.finish(outcome))
}
