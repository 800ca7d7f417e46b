//! `/v1/tenants/{tenant_id}/email-verification/confirm` (public: the ticket is the credential)
//!
//! `GET ?ticket=`, the emailed link: verifies the address, consumes the ticket and redirects
//! (302) to the ticket's `result_url` or the tenant's default with `success=true`; a ticket
//! that is expired, used or unknown redirects with `success=false&error=<code>`, or is 400
//! JSON when there is nowhere to redirect. Other query parameters (trackers add them) are
//! ignored. The link of an email change is the exception: it shows a page whose button
//! confirms the change, as a mail scanner's GET must not move an account to an address.
//!
//! `POST` with the ticket, as that page's form (answered like the GET, with a redirect), or
//! as JSON `{"ticket"}` (204, or the error as JSON).

use std::convert::Infallible;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::App;
use shared::domain::render;
use shared::domain::ticket::ticket_of;
use shared::http::{Call, Reply};
use shared::operations::email::{Confirmation, Via};

pub const ROUTE: &str = "GET /v1/tenants/{tenant_id}/email-verification/confirm";

/// Scopes API Gateway requires before the handler runs: none (a public route, or the
/// user's own token, which the handler checks).
pub const SCOPES: &[&str] = &[];
pub const ROUTE_POST: &str = "POST /v1/tenants/{tenant_id}/email-verification/confirm";

#[derive(Serialize)]
struct Page<'a> {
    app_name: &'a str,
    lang: &'static str,
    email: &'a str,
    ticket: &'a str,
    action: &'a str,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let is_post = req.method() == http::Method::POST;
    let mut call = Call::new(req, if is_post { ROUTE_POST } else { ROUTE });
    let outcome = async {
        let tenant = call.public_tenant()?;
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
            Confirmation::Verified => Ok(Reply::json(
                StatusCode::OK,
                serde_json::json!({ "success": true }),
            )),
            Confirmation::Page { email, locale } => {
                let path = format!("/v1/tenants/{tenant}/email-verification/confirm");
                let action = app.email.api_url(&path).to_string();
                let html = render::page(
                    "email_change_confirm",
                    locale,
                    &Page {
                        app_name: app.tenant(&tenant).await?.name(&tenant),
                        lang: locale.tag(),
                        email: &email,
                        ticket: ticket.as_deref().unwrap_or(""),
                        action: &action,
                    },
                )?;
                Ok(Reply::html_redirecting(StatusCode::OK, html))
            }
            Confirmation::Refused(error) => Err(error),
        }
    }
    .await;
    Ok(call.finish(outcome))
}
