//! `/v1/tenants/{tenant_id}/email-verification/confirm` (public: the ticket is the credential)
//!
//! `GET ?ticket=`, the emailed link, changes nothing: for a live ticket it shows a small
//! localized page whose button POSTs the ticket. Mail scanners fetch every link, and a GET
//! that verified would verify an attacker's sign-up for whoever's mailbox the scanner guards.
//! A ticket that is expired, used or unknown (or whose address is no longer the account's)
//! redirects to the ticket's `result_url` or the tenant's default with
//! `success=false&error=<code>`, or is 400 JSON when there is nowhere to redirect. Other query
//! parameters (trackers add them) are ignored.
//!
//! `POST` with the ticket: as the page's form, it verifies the address (or completes the email
//! change), consumes the ticket and redirects (302) with `success=true` (or the error, as
//! above); as JSON `{"ticket"}` from an app, 204 or the error as JSON.

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::Error;
use shared::domain::ids::TenantId;
use shared::domain::locale::Locale;
use shared::domain::render;
use shared::domain::template::{Value, Vars};
use shared::domain::ticket::ticket_of;
use shared::http::{Call, LinkPage, Reply};
use shared::operations::email::{Confirmation, Via};

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/email-verification/confirm";

/// Scopes API Gateway requires before the handler runs: none (a public route, or the
/// user's own token, which the handler checks).
pub const SCOPES: &[&str] = &[];
pub const ROUTE_POST: &str = "POST /v1/tenants/{tenant_id}/email-verification/confirm";

struct Page<'a> {
    app_name: &'a str,
    lang: &'static str,
    email: &'a str,
    ticket: &'a str,
    action: &'a str,
    logo_url: Option<&'a str>,
    primary_color: Option<&'a str>,
}

impl Vars for Page<'_> {
    fn var(&self, name: &str) -> Value<'_> {
        match name {
            "app_name" => Value::Str(self.app_name),
            "lang" => Value::Str(self.lang),
            "email" => Value::Str(self.email),
            "ticket" => Value::Str(self.ticket),
            "action" => Value::Str(self.action),
            "logo_url" => self.logo_url.into(),
            "primary_color" => self.primary_color.into(),
            _ => Value::None,
        }
    }
}

/// The page a verification ends on when the tenant names none: in the language of the page
/// whose form was posted (its `lang` field), else the tenant's.
async fn end_page(
    app: &App,
    call: &Call,
    tenant: &TenantId,
    status: StatusCode,
    state: &'static str,
) -> Result<Reply, Error> {
    let settings = app.tenant(tenant).await?;
    let locale = call
        .form_field("lang")
        .ok()
        .flatten()
        .and_then(|tag| Locale::from_tag(&tag))
        .unwrap_or(settings.locale);
    let page = LinkPage::new(app, tenant, &settings, "", (locale, state), "");
    let html = render::page("email_verified", locale, &page)?;
    Ok(Reply::html(status, html).showing_logo(settings.logo_url.as_ref()))
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let is_post = req.method() == http::Method::POST;
    let mut call = Call::new(req, if is_post { ROUTE_POST } else { ROUTE });
    let outcome = async {
        // The operation reads the tenant's settings, which a page shows, with its ticket.
        let tenant = call.public_tenant(app).await?;
        let (ticket, via) = if !is_post {
            (call.query("ticket").map(str::to_owned), Via::Link)
        } else if call.is_form() {
            (call.form_field("ticket")?, Via::Form)
        } else {
            (Some(ticket_of(call.body()?)?), Via::Api)
        };
        match app.confirm_email(&tenant, ticket.as_deref(), via).await {
            Confirmation::Redirect(url) => Ok(Reply::redirect(&url)),
            Confirmation::Verified if via == Via::Api => Ok(Reply::no_content()),
            // A person in a browser, and no page of the tenant's to go to: ours.
            Confirmation::Verified => {
                end_page(app, &call, &tenant, StatusCode::OK, "verified").await
            }
            Confirmation::Refused(error) if via != Via::Api => {
                let (status, state) = match &error {
                    Error::Invalid {
                        code: "expired_ticket",
                        ..
                    } => (StatusCode::BAD_REQUEST, "expired"),
                    Error::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid"),
                    Error::Conflict { .. } => (StatusCode::CONFLICT, "taken"),
                    _ => return Err(error),
                };
                end_page(app, &call, &tenant, status, state).await
            }
            Confirmation::Page {
                email,
                locale,
                change,
            } => {
                let path = format!("/v1/tenants/{tenant}/email-verification/confirm");
                let action = app.email.api_url(&path).to_string();
                let template = if change {
                    "email_change_confirm"
                } else {
                    "email_verify_confirm"
                };
                let settings = app.tenant(&tenant).await?;
                let html = render::page(
                    template,
                    locale,
                    &Page {
                        app_name: settings.name(&tenant),
                        lang: locale.tag(),
                        email: &email,
                        ticket: ticket.as_deref().unwrap_or(""),
                        action: &action,
                        logo_url: settings.logo_url.as_ref().map(url::Url::as_str),
                        primary_color: settings.primary_color.as_deref(),
                    },
                )?;
                let reply = Reply::html_redirecting(StatusCode::OK, html);
                Ok(reply.showing_logo(settings.logo_url.as_ref()))
            }
            Confirmation::Refused(error) => Err(error),
        }
    }
    .await;
    Ok(call.finish(outcome))
}
