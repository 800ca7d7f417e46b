//! `POST /v1/tenants/{tenant_id}/password-reset/confirm` `{"ticket","new_password"}` (public:
//! the ticket is the credential)
//!
//! 204: the password is set, `last_password_reset` recorded, brute-force blocks cleared and the
//! ticket consumed (once: a second redemption, even a concurrent one, is 400
//! `invalid_ticket`). A password the policy refuses is 400 `password_too_weak` and leaves the
//! ticket usable.
//!
//! The same path is the hosted reset page, which reset links open when the tenant names no
//! page of its own (`password_reset_url`): `GET ?ticket=` shows the form in the user's language
//! and changes nothing; the form's `POST` (`ticket`, `new_password`, `confirm_password`) sets
//! the password and shows that it did, or redirects to the ticket's `result_url` with
//! `success=true`. Two passwords that differ, or one the policy refuses, show the form again
//! with the reason, the ticket untouched; a link of no use shows a page that says so (400).

use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::Error;
use shared::domain::ids::TenantId;
use shared::domain::locale::Locale;
use shared::domain::password::{MAX_CHARS, MIN_CHARS};
use shared::domain::template::{Value, Vars};
use shared::domain::ticket::ResetConfirmation;
use shared::http::{Call, LinkPage, Reply};
use shared::operations::email::ResetPage;
use zeroize::Zeroizing;

pub const ROUTE: &str = "POST /v1/tenants/{tenant_id}/password-reset/confirm";

/// The hosted reset page.
pub const ROUTE_PAGE: &str = "GET /v1/tenants/{tenant_id}/password-reset/confirm";

/// Scopes API Gateway requires before the handler runs: none (a public route, or the
/// user's own token, which the handler checks).
pub const SCOPES: &[&str] = &[];

/// What the reset page shows besides a link page's common fields.
struct View<'a> {
    page: LinkPage<'a>,
    /// Why the form is shown again: `mismatch` or `weak`.
    error: &'static str,
    min_chars: usize,
    max_chars: usize,
}

impl Vars for View<'_> {
    fn var(&self, name: &str) -> Value<'_> {
        match name {
            "error" => Value::Str(self.error),
            "min_chars" => Value::Int(self.min_chars as u64),
            "max_chars" => Value::Int(self.max_chars as u64),
            _ => self.page.var(name),
        }
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    let is_get = req.method() == http::Method::GET;
    let mut call = Call::new(req, if is_get { ROUTE_PAGE } else { ROUTE });
    let outcome = async {
        // A page shows the tenant's name and logo: it reads the settings with its ticket.
        let tenant = call.public_tenant(app).await?;
        if is_get || call.is_form() {
            return hosted_page(app, &call, &tenant, is_get).await;
        }
        let confirmation = ResetConfirmation::parse(call.body()?)?;
        app.confirm_password_reset(&tenant, confirmation).await?;
        Ok(Reply::no_content())
    }
    .await;
    Ok(call.finish(outcome))
}

async fn hosted_page(
    app: &App,
    call: &Call,
    tenant: &TenantId,
    is_get: bool,
) -> Result<Reply, Error> {
    let ticket = match is_get {
        true => call.query("ticket").unwrap_or("").to_owned(),
        false => call.form_field("ticket")?.unwrap_or_default(),
    };
    let shown = app.reset_page(tenant, &ticket).await?;
    let settings = app.tenant(tenant).await?;
    let fallback = settings.locale;
    let render = |locale: Locale, state, ticket: &str, error, redirects: bool| {
        let view = View {
            page: LinkPage::new(
                app,
                tenant,
                &settings,
                "password-reset/confirm",
                (locale, state),
                ticket,
            ),
            error,
            min_chars: MIN_CHARS,
            max_chars: MAX_CHARS,
        };
        let html = shared::domain::render::page("password_reset", locale, &view)?;
        let status = if state == "invalid" {
            http::StatusCode::BAD_REQUEST
        } else {
            http::StatusCode::OK
        };
        // A form whose success redirects to the tenant's page may not name a form-action.
        let reply = if redirects {
            Reply::html_redirecting(status, html)
        } else {
            Reply::html(status, html)
        };
        Ok(reply.showing_logo(settings.logo_url.as_ref()))
    };
    let (locale, redirects) = match shown {
        ResetPage::Form { locale, redirects } => (locale, redirects),
        ResetPage::Invalid => return render(fallback, "invalid", "", "", false),
    };
    if is_get {
        return render(locale, "confirm", &ticket, "", redirects);
    }
    let new_password = Zeroizing::new(call.form_field("new_password")?.unwrap_or_default());
    let again = Zeroizing::new(call.form_field("confirm_password")?.unwrap_or_default());
    if *new_password != *again {
        return render(locale, "confirm", &ticket, "mismatch", redirects);
    }
    let confirmation = ResetConfirmation {
        ticket: ticket.clone(),
        new_password,
    };
    match app.confirm_password_reset(tenant, confirmation).await {
        Ok(Some(mut result)) => {
            result.query_pairs_mut().append_pair("success", "true");
            Ok(Reply::redirect(&result))
        }
        Ok(None) => render(locale, "done", "", "", false),
        Err(Error::Invalid {
            code: "password_too_weak",
            ..
        }) => render(locale, "confirm", &ticket, "weak", redirects),
        Err(Error::Invalid { .. } | Error::NotFound { .. }) => {
            render(fallback, "invalid", "", "", false)
        }
        Err(e) => Err(e),
    }
}
