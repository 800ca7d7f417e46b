//! HTTP glue: an API Gateway (HTTP API, payload 2.0) request in, a JSON response out.
//!
//! A handler makes a [`Call`] from the request, asks it for what it needs (the tenant it may
//! act on, path ids, the body), runs one domain operation and hands the outcome back to
//! [`Call::finish`], which renders the response, maps every error to its status in one place
//! and writes the request's single log line.

pub mod auth0;

use std::collections::HashMap;
use std::time::Instant;

use http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderName, IF_MATCH};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};

use crate::domain::Error;
use crate::domain::caller::{Caller, Scope};
use crate::domain::idempotency::{self, Answer, Commit, IdempotencyKey, Record};
use crate::domain::ids::{TenantId, UserId};
use crate::domain::locale::Locale;
use crate::domain::login::{BlocksOf, Identifier, parse_ip};
use crate::domain::rate_limit::{Bucket, BucketOf, Quota};
use crate::domain::template::{self, Vars};
use crate::domain::tenant::AUTH0_DATABASE_CONNECTION;
use crate::domain::user::User;
use crate::operations::Saved;
use crate::operations::rate_limit::Admission;
use crate::operations::tenant::SettingsView;

/// Largest request body accepted. Metadata caps bound a useful body well below this.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The parts of a request a handler uses, plus what the log line needs.
pub struct Call {
    started: Instant,
    route: &'static str,
    request_id: String,
    method: Method,
    headers: HeaderMap,
    path: HashMap<String, String>,
    query: HashMap<String, String>,
    claims: Option<HashMap<String, String>>,
    source_ip: Option<String>,
    body: Vec<u8>,
    tenant: Option<String>,
    dialect: Dialect,
    /// On an Auth0 route, what the tenant calls its database connection there.
    database_connection: String,
    /// What the request's rate limit left, for the `X-RateLimit-*` headers.
    quota: Option<Quota>,
    /// The token's subject, once the tenant is known.
    subject: Option<String>,
    /// The idempotency key this request holds, until its answer is kept.
    idempotency: Option<Held>,
    /// Whether the operation reads its tenant's settings ([`Call::reading_settings`]).
    settings_beside: bool,
}

/// A read's draw on its tenant's rate limit, not yet taken: [`Call::read_beside`] takes it.
#[must_use = "hand it to Call::read_beside: a draw never taken leaves the request unlimited"]
pub struct Deferred {
    of: BucketOf,
    limit: Option<Bucket>,
}

/// An idempotency key a request holds.
struct Held {
    tenant: TenantId,
    key: IdempotencyKey,
    fingerprint: String,
}

/// Which API a route speaks: ours (`/v1/tenants/{tenant_id}/...`) or Auth0's Management API
/// v2 (`/api/v2/...`, [`auth0`]). The same handler serves both; the route picks the dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Profiles,
    Auth0,
}

impl Dialect {
    /// The dialect of a route key such as `GET /api/v2/users/{id}`.
    pub fn of(route: &str) -> Self {
        match route.split_once(' ') {
            Some((_, path)) if path.starts_with("/api/v2/") => Dialect::Auth0,
            _ => Dialect::Profiles,
        }
    }
}

/// A successful outcome.
pub struct Reply {
    status: StatusCode,
    body: Option<Value>,
    html: Option<String>,
    headers: Vec<(HeaderName, String)>,
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Self {
        Reply {
            status,
            body: Some(body),
            html: None,
            headers: Vec::new(),
        }
    }

    pub fn no_content() -> Self {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
            html: None,
            headers: Vec::new(),
        }
    }

    /// 302 to `location`.
    pub fn redirect(location: &url::Url) -> Self {
        Reply {
            status: StatusCode::FOUND,
            body: None,
            html: None,
            headers: vec![(http::header::LOCATION, location.to_string())],
        }
    }

    /// A page for a browser. It may not be framed, loads nothing from anywhere, and its forms
    /// post only to this API.
    pub fn html(status: StatusCode, page: String) -> Self {
        Self::page(status, page, "form-action 'self'; ")
    }

    /// A page that shows the tenant's logo: its origin, and no other, may serve an image.
    pub fn showing_logo(mut self, logo: Option<&url::Url>) -> Self {
        let Some(logo) = logo else {
            return self;
        };
        let origin = logo.origin().ascii_serialization();
        for (name, value) in &mut self.headers {
            if *name == http::header::CONTENT_SECURITY_POLICY {
                *value = value.replacen("; ", &format!("; img-src {origin}; "), 1);
            }
        }
        self
    }

    /// The page an emailed link opens, or its form's answer, rendered from
    /// `pages/{locale}/{template}.html`: 400 in its `invalid` state (the link is of no use),
    /// else 200.
    pub fn link_page(template: &str, locale: Locale, page: &LinkPage) -> Result<Self, Error> {
        let html = crate::domain::render::page(template, locale, page)?;
        let status = if page.state == "invalid" {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        let logo = page.logo_url.and_then(|raw| url::Url::parse(raw).ok());
        Ok(Self::html(status, html).showing_logo(logo.as_ref()))
    }

    /// A page whose form is answered with a redirect elsewhere (a tenant's result page):
    /// browsers hold that redirect to `form-action` too, so the page names none.
    pub fn html_redirecting(status: StatusCode, page: String) -> Self {
        Self::page(status, page, "")
    }

    fn page(status: StatusCode, page: String, form_action: &str) -> Self {
        Reply {
            status,
            body: None,
            html: Some(page),
            headers: vec![
                (
                    http::header::CONTENT_SECURITY_POLICY,
                    format!(
                        "default-src 'none'; style-src 'unsafe-inline'; {form_action}frame-ancestors 'none'"
                    ),
                ),
                (http::header::REFERRER_POLICY, "no-referrer".into()),
            ],
        }
    }

    /// An answer an idempotency key kept, given again, marked `Idempotent-Replayed`.
    pub fn replayed(answer: Answer) -> Self {
        let body = answer
            .body
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok());
        let mut reply = Reply {
            status: StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK),
            body,
            html: None,
            headers: Vec::new(),
        };
        for (name, value) in answer.headers {
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                reply = reply.with_header(name, value);
            }
        }
        reply.with_header(
            HeaderName::from_static("idempotent-replayed"),
            "true".into(),
        )
    }

    /// A user as a management caller sees it, with its version as the `ETag`.
    pub fn user(status: StatusCode, user: &User) -> Self {
        Self::json(status, user.to_admin_json()).with_header(ETAG, etag(user.version))
    }

    /// A user as the user sees it (`/me`).
    pub fn own_user(user: &User) -> Self {
        Self::json(StatusCode::OK, user.to_self_json()).with_header(ETAG, etag(user.version))
    }

    /// A user a write left, and (as `emails`, only when there are any) the messages it
    /// queued: `completed` when the provider took one, `pending` when the outbox retries it.
    pub fn saved(status: StatusCode, saved: &Saved, own: bool) -> Self {
        let mut body = if own {
            saved.user.to_self_json()
        } else {
            saved.user.to_admin_json()
        };
        if !saved.emails.is_empty()
            && let Value::Object(map) = &mut body
        {
            map.insert("emails".into(), json!(saved.emails));
        }
        Self::json(status, body).with_header(ETAG, etag(saved.user.version))
    }

    /// A user's identities (after a link or an unlink), with the user's version as the `ETag`.
    pub fn identities(status: StatusCode, user: &User) -> Self {
        Self::json(status, crate::domain::linking::identities_json(user))
            .with_header(ETAG, etag(user.version))
    }

    /// A data export, offered as a file to save.
    pub fn export(document: Value, id: &crate::domain::ids::UserId) -> Self {
        Self::json(StatusCode::OK, document).with_header(
            http::header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}\"",
                crate::domain::export::file_name(id)
            ),
        )
    }

    /// A tenant's settings, with their version as the `ETag`.
    pub fn settings(view: &SettingsView) -> Self {
        Self::json(
            StatusCode::OK,
            json!({
                "settings": view.settings.to_json(),
                "version": view.version,
                "history": view.history,
            }),
        )
        .with_header(ETAG, etag(view.version))
    }

    pub fn with_header(mut self, name: HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// What the page of an emailed link that acts through a form shows.
#[derive(Debug)]
pub struct LinkPage<'a> {
    pub app_name: &'a str,
    pub lang: &'static str,
    /// `confirm` (the form), the state after the form's POST, or `invalid`.
    pub state: &'static str,
    pub ticket: &'a str,
    /// Where the form posts: the link's own path on the API.
    pub action: String,
    /// The masked address a pending email change would switch to (its cancel page only).
    pub new_email: &'a str,
    /// The tenant's branding (`logo_url`, `primary_color` of its settings).
    pub logo_url: Option<&'a str>,
    pub primary_color: Option<&'a str>,
}

impl Vars for LinkPage<'_> {
    fn var(&self, name: &str) -> template::Value<'_> {
        match name {
            "app_name" => template::Value::Str(self.app_name),
            "lang" => template::Value::Str(self.lang),
            "state" => template::Value::Str(self.state),
            "ticket" => template::Value::Str(self.ticket),
            "action" => template::Value::Str(&self.action),
            "new_email" => template::Value::Str(self.new_email),
            "logo_url" => self.logo_url.into(),
            "primary_color" => self.primary_color.into(),
            _ => template::Value::None,
        }
    }
}

impl<'a> LinkPage<'a> {
    /// A page of `tenant`'s in `locale`, whose form posts back to `/v1/tenants/{tenant}/{path}`.
    pub fn new<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
        app: &crate::operations::App<S, H>,
        tenant: &'a TenantId,
        settings: &'a crate::domain::tenant::TenantEmail,
        path: &str,
        (locale, state): (Locale, &'static str),
        ticket: &'a str,
    ) -> Self {
        LinkPage {
            app_name: settings.name(tenant),
            lang: locale.tag(),
            state,
            ticket,
            action: app
                .email
                .api_url(&format!("/v1/tenants/{tenant}/{path}"))
                .to_string(),
            new_email: "",
            logo_url: settings.logo_url.as_ref().map(url::Url::as_str),
            primary_color: settings.primary_color.as_deref(),
        }
    }
}

pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

impl Call {
    pub fn new(req: Request, route: &'static str) -> Self {
        let started = Instant::now();
        let path = req
            .path_parameters()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let query = req
            .query_string_parameters()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let context = req.request_context_ref();
        let claims = match context {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                .authorizer
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .map(|jwt| jwt.claims.clone()),
            _ => None,
        };
        let source_ip = match context {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
            _ => None,
        };
        let request_id = req
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .filter(|id| !id.is_empty())
            .or_else(|| match context {
                Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
                _ => None,
            })
            .unwrap_or_else(|| ulid::Ulid::generate().to_string());
        let (parts, body) = req.into_parts();
        Call {
            started,
            route,
            request_id,
            method: parts.method,
            headers: parts.headers,
            path,
            query,
            claims,
            source_ip,
            body: body.to_vec(),
            tenant: None,
            dialect: Dialect::of(route),
            database_connection: AUTH0_DATABASE_CONNECTION.to_owned(),
            quota: None,
            subject: None,
            idempotency: None,
            settings_beside: false,
        }
    }

    /// What the tenant calls its database connection on Auth0 routes.
    pub fn database_connection(&self) -> &str {
        &self.database_connection
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// A call of a handler that serves both dialects: `route` for `/v1`, `auth0` for
    /// `/api/v2`, by the route API Gateway matched (its path would carry a stage name on a
    /// stage other than `$default`), else by the path.
    pub fn serving(req: Request, route: &'static str, auth0: &'static str) -> Self {
        let matched = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.as_deref().map(Dialect::of),
            _ => None,
        };
        let dialect = matched.unwrap_or_else(|| {
            if req.uri().path().starts_with("/api/v2/") {
                Dialect::Auth0
            } else {
                Dialect::Profiles
            }
        });
        let route = match dialect {
            Dialect::Auth0 => auth0,
            Dialect::Profiles => route,
        };
        Self::new(req, route)
    }

    fn caller(&self) -> Result<Caller, Error> {
        let claims = self.claims.as_ref().ok_or_else(|| Error::Unauthenticated {
            code: "unauthorized",
            message: "The request carries no verified token.".into(),
        })?;
        let subject = claims.get("sub").cloned().unwrap_or_default();
        let scope = claims.get("scope").map(String::as_str).unwrap_or("");
        Ok(Caller::new(
            subject,
            claims.get("tenant_id").cloned(),
            scope,
        ))
    }

    /// The path's tenant, once the token is shown to belong to it; on an Auth0 route, whose
    /// paths name none, the token's, and the body then in our terms by the tenant's name for
    /// its database connection (from its settings, which the container caches).
    pub async fn tenant<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
        &mut self,
        app: &crate::operations::App<S, H>,
    ) -> Result<(TenantId, Caller), Error> {
        let (tenant, caller, deferred) = self.tenant_drawing(app, false).await?;
        debug_assert!(deferred.is_none(), "an undeferred draw is taken");
        Ok((tenant, caller))
    }

    /// As [`Call::tenant`]; with `defer`, the draw is handed back instead of taken.
    async fn tenant_drawing<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
        &mut self,
        app: &crate::operations::App<S, H>,
        defer: bool,
    ) -> Result<(TenantId, Caller, Option<Deferred>), Error> {
        let raw = match self.dialect {
            Dialect::Profiles => self.path.get("tenant_id").cloned().unwrap_or_default(),
            Dialect::Auth0 => self
                .claims
                .as_ref()
                .and_then(|c| c.get("tenant_id").cloned())
                .unwrap_or_default(),
        };
        self.tenant = Some(raw.chars().take(64).collect());
        let tenant = match self.dialect {
            Dialect::Profiles => TenantId::parse(&raw)?,
            // The tenant is the token's: without a verified token there is none to name
            // (401, as on /v1), and a token naming no possible tenant finds nothing there
            // (404, as a token of another tenant does on /v1), rather than a 400 about a
            // tenant id the request never sent.
            Dialect::Auth0 => {
                self.caller()?;
                TenantId::parse(&raw).map_err(|_| Error::not_found())?
            }
        };
        let caller = self.caller()?;
        caller.tenant(&tenant)?;
        self.subject = Some(caller.subject().to_owned());
        let limit = app.email.tenants.tenant(&tenant).rate_limit;
        let of = BucketOf::Tenant(tenant.clone());
        // This dialect always reads the settings (below).
        let settings = (self.settings_beside || self.dialect == Dialect::Auth0).then_some(&tenant);
        let deferred = if defer {
            Some(Deferred { of, limit })
        } else {
            self.admit(app, of, limit, settings).await?;
            None
        };
        if self.dialect == Dialect::Auth0 {
            // This dialect's rewrites of a body (here, and of link and user id bodies later)
            // go through a JSON value, which would round numbers and drop a repeated key
            // before the handler's parse could refuse them.
            crate::domain::json::strict(&self.body)?;
            let settings = app.tenant(&tenant).await?;
            self.database_connection = settings.auth0_database_connection.clone();
            let body = std::mem::take(&mut self.body);
            self.body = auth0::request_body(&self.method, body, &self.database_connection);
        }
        Ok((tenant, caller, deferred))
    }

    /// The path's tenant on a public route (no token: a ticket or nothing proves the caller),
    /// once the request's address has drawn on its bucket for the tenant.
    pub async fn public_tenant<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
        &mut self,
        app: &crate::operations::App<S, H>,
    ) -> Result<TenantId, Error> {
        let raw = self.path.get("tenant_id").cloned().unwrap_or_default();
        self.tenant = Some(raw.chars().take(64).collect());
        let tenant = TenantId::parse(&raw)?;
        if let Some(ip) = self.source_ip.as_deref().and_then(|ip| parse_ip(ip).ok()) {
            let limit = app.email.tenants.tenant(&tenant).public_rate_limit;
            let settings = self.settings_beside.then_some(&tenant);
            self.admit(app, BucketOf::Address(tenant.clone(), ip), limit, settings)
                .await?;
        }
        Ok(tenant)
    }

    /// Says that the operation reads its tenant's settings: [`Call::tenant`],
    /// [`Call::tenant_with`] and [`Call::public_tenant`] then read them (when the cache holds
    /// none fresh) beside the request's draw, in one round trip instead of two. For handlers
    /// whose operation reads them on its way to success and whose first read cannot carry
    /// them (as a user's, a login's or a ticket's does); on a path that ends before, the
    /// read served nothing, at most once per tenant per container in
    /// [`crate::operations::tenant::SETTINGS_CACHE_SECS`] (docs/performance.md, "Cold
    /// starts").
    pub fn reading_settings(&mut self) -> &mut Self {
        self.settings_beside = true;
        self
    }

    /// Under an `Idempotency-Key` header (docs/api.md, "Idempotency keys"), takes the key for
    /// this request, or answers from it: `Ok(Some(reply))` is the first request's answer
    /// again (or, for a create whose answer was never kept, the user it created); `Ok(None)`
    /// goes on, holding the key until [`Call::finish_idempotent`] keeps the answer. The same
    /// key with another route or body is 409 `idempotency_key_reused`, and while its first
    /// request runs, 409 `idempotency_key_in_flight`.
    pub async fn idempotent<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
        &mut self,
        app: &crate::operations::App<S, H>,
        tenant: &TenantId,
    ) -> Result<Option<Reply>, Error> {
        let Some(raw) = self.headers.get("idempotency-key") else {
            return Ok(None);
        };
        let raw = raw.to_str().unwrap_or("\u{0}");
        let subject = self.subject.clone().unwrap_or_default();
        let key = IdempotencyKey::parse(raw, tenant, &subject)?;
        let fingerprint = idempotency::fingerprint(self.route, &self.body);
        let now = app.clock.now();
        let created = match app
            .idempotency
            .begin(tenant, key.id(), &fingerprint, now)
            .await?
        {
            None => None,
            Some(record) if record.fingerprint() != fingerprint => {
                return Err(idempotency::reused());
            }
            Some(Record::InFlight { .. }) => return Err(idempotency::in_flight()),
            Some(Record::Done { sealed, .. }) => {
                return Ok(Some(Reply::replayed(key.open(&sealed)?)));
            }
            Some(Record::Committed { user_id, .. }) => Some(user_id),
        };
        self.idempotency = Some(Held {
            tenant: tenant.clone(),
            key,
            fingerprint,
        });
        match created {
            None => Ok(None),
            Some(id) => {
                let user = app.get_user(tenant, &id).await?;
                Ok(Some(self.created_reply(tenant, &Saved::quiet(user))))
            }
        }
    }

    /// The record a create's transaction marks committed, when the request holds a key.
    pub fn commit(&self) -> Option<Commit> {
        self.idempotency.as_ref().map(|held| Commit {
            tenant: held.tenant.clone(),
            id: held.key.id().to_owned(),
            fingerprint: held.fingerprint.clone(),
        })
    }

    /// A created user as the route's dialect answers it: 201, and on `/v1` its `Location`.
    pub fn created_reply(&self, tenant: &TenantId, saved: &Saved) -> Reply {
        match self.dialect {
            Dialect::Auth0 => self.saved_reply(StatusCode::CREATED, saved),
            Dialect::Profiles => {
                let location = format!("/v1/tenants/{tenant}/users/{}", saved.user.user_id);
                Reply::saved(StatusCode::CREATED, saved, false)
                    .with_header(http::header::LOCATION, location)
            }
        }
    }

    /// As [`Call::finish`], and then, for a request holding an idempotency key, keeps its
    /// answer (sealed) for the key's day; a 5xx frees the key instead, so a retry runs again.
    pub async fn finish_idempotent<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
        mut self,
        app: &crate::operations::App<S, H>,
        outcome: Result<Reply, Error>,
    ) -> Response<Body> {
        let held = self.idempotency.take();
        let response = self.finish(outcome);
        let Some(held) = held else {
            return response;
        };
        let (tenant, id, fingerprint) = (&held.tenant, held.key.id(), &held.fingerprint);
        let kept = if response.status().is_server_error() {
            app.idempotency.release(tenant, id, fingerprint).await
        } else {
            let body = match response.body() {
                Body::Text(text) => Some(text.clone()),
                _ => None,
            };
            let headers = [http::header::LOCATION, ETAG]
                .into_iter()
                .filter_map(|name| {
                    let value = response.headers().get(&name)?.to_str().ok()?;
                    Some((name.as_str().to_owned(), value.to_owned()))
                })
                .collect();
            let answer = Answer {
                status: response.status().as_u16(),
                body,
                headers,
            };
            match held.key.seal(&answer) {
                Ok(sealed) => {
                    app.idempotency
                        .complete(tenant, id, fingerprint, &sealed)
                        .await
                }
                Err(e) => Err(crate::ports::StoreError::Backend(e.to_string())),
            }
        };
        if let Err(e) = kept {
            // The key stays in flight until its lease ends; a retry after that runs again.
            tracing::error!(error = ?e, "an idempotency key's answer could not be kept");
        }
        response
    }

    /// Draws the request's token; 429 `too_many_requests` when the bucket is empty. Either
    /// way the answer carries what is left ([`Call::finish`]). With `settings`, that tenant's
    /// settings are read into the cache at the same time; a refused request answers 429
    /// whatever the read came to.
    async fn admit<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
        &mut self,
        app: &crate::operations::App<S, H>,
        of: BucketOf,
        limit: Option<Bucket>,
        settings: Option<&TenantId>,
    ) -> Result<(), Error> {
        let draw = app.admit(&of, limit, self.pick());
        let Some(tenant) = settings else {
            let admission = draw.await;
            return self.settle(app, admission);
        };
        let (admission, read) = tokio::join!(draw, app.tenant(tenant));
        self.settle(app, admission)?;
        read.map(drop)
    }

    /// As [`Call::tenant`], for a read: the request's draw on the tenant's rate limit is
    /// handed back, to be taken beside the read ([`Call::read_beside`]).
    pub async fn tenant_reading<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
        &mut self,
        app: &crate::operations::App<S, H>,
    ) -> Result<(TenantId, Caller, Deferred), Error> {
        let (tenant, caller, deferred) = self.tenant_drawing(app, true).await?;
        let deferred = deferred.unwrap_or(Deferred {
            of: BucketOf::Tenant(tenant.clone()),
            limit: None,
        });
        Ok((tenant, caller, deferred))
    }

    /// Takes the request's draw and runs `read` (everything the request does after its
    /// tenant is known) at the same time: one round trip instead of two. A read changes
    /// nothing, so a refused request has cost only the read, whose answer is dropped for the
    /// 429; every request still draws, whatever `read` answers (docs/api.md, "Rate limits").
    pub async fn read_beside<S: crate::ports::Store, H: crate::ports::PasswordHasher, T>(
        &mut self,
        app: &crate::operations::App<S, H>,
        deferred: Deferred,
        read: impl AsyncFnOnce(&Call) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let draw = app.admit(&deferred.of, deferred.limit, self.pick());
        let (admission, value) = tokio::join!(draw, read(&*self));
        self.settle(app, admission)?;
        value
    }

    /// Which shard of a sharded bucket the request draws on: a hash of its id.
    fn pick(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.request_id.hash(&mut hasher);
        hasher.finish()
    }

    /// What a draw came to, for the request: its quota kept for the headers, or 429.
    fn settle<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
        &mut self,
        app: &crate::operations::App<S, H>,
        admission: Admission,
    ) -> Result<(), Error> {
        match admission {
            Admission::Unlimited => Ok(()),
            Admission::FailedOpen => {
                crate::telemetry::count("RateLimiterFailedOpen");
                Ok(())
            }
            Admission::Admitted(quota) => {
                self.quota = Some(quota);
                Ok(())
            }
            Admission::Refused(quota) => {
                self.quota = Some(quota);
                Err(Error::TooManyRequests {
                    retry_after_secs: quota.retry_after(app.clock.now()),
                    message: "Too many requests: the rate limit is spent until X-RateLimit-Reset."
                        .into(),
                })
            }
        }
    }

    /// Whether the body is an HTML form post rather than JSON.
    pub fn is_form(&self) -> bool {
        self.media_type().as_deref() == Some("application/x-www-form-urlencoded")
    }

    fn media_type(&self) -> Option<String> {
        self.headers.get(CONTENT_TYPE).map(|kind| {
            kind.to_str()
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// One field of a form-encoded body.
    pub fn form_field(&self, name: &str) -> Result<Option<String>, Error> {
        if self.body.len() > MAX_BODY_BYTES {
            return Err(Error::PayloadTooLarge {
                message: format!("The body may be at most {MAX_BODY_BYTES} bytes."),
            });
        }
        Ok(url::form_urlencoded::parse(&self.body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned()))
    }

    /// The path's tenant, for a caller that holds `scope` in it.
    pub async fn tenant_with<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
        &mut self,
        app: &crate::operations::App<S, H>,
        scope: Scope,
    ) -> Result<(TenantId, Caller), Error> {
        let (tenant, caller) = self.tenant(app).await?;
        caller.require(scope)?;
        Ok((tenant, caller))
    }

    /// The address the request came from, as API Gateway saw it.
    pub fn source_ip(&self) -> Option<&str> {
        self.source_ip.as_deref()
    }

    /// Whom a `/user-blocks` route names: `{user_id}` in the path (an Auth0 id on an Auth0
    /// route), `?identifier=` (an email or username of a database user), or `?ip=`.
    pub async fn blocks_of<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
        &self,
        app: &crate::operations::App<S, H>,
        tenant: &TenantId,
    ) -> Result<BlocksOf, Error> {
        if self.path.contains_key("user_id") {
            // Auth0's SDKs may ask whether its brute-force setting is on; it always is here.
            self.only_query(&["consider_brute_force_enablement"])?;
            return self.path_user(app, tenant).await.map(BlocksOf::User);
        }
        self.only_query(&["identifier", "ip"])?;
        match (self.query("identifier"), self.query("ip")) {
            (Some(raw), None) => Identifier::parse(raw).map(BlocksOf::Identifier),
            (None, Some(raw)) => parse_ip(raw).map(BlocksOf::Address).map_err(|_| {
                Error::invalid("invalid_query", "ip must be an IPv4 or IPv6 address.")
            }),
            _ => Err(Error::invalid(
                "invalid_query",
                "Name exactly one of the identifier and ip query parameters.",
            )),
        }
    }

    /// The user the path names: our id, or on an Auth0 route an Auth0 id: `auth0|{id}`, or
    /// a social user's `{provider}|{id}`, found through its identity guard and read to check
    /// that the identity is the user's own (one linked into another user names no user, as
    /// in Auth0).
    pub async fn path_user<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
        &self,
        app: &crate::operations::App<S, H>,
        tenant: &TenantId,
    ) -> Result<UserId, Error> {
        if self.dialect == Dialect::Profiles {
            return self.path_user_id();
        }
        let raw = self.path.get("user_id").map(String::as_str).unwrap_or("");
        auth0::resolve(app, tenant, raw).await
    }

    /// On an Auth0 route, a JSON body's `user_id` in our terms (an Auth0 id resolved as in
    /// [`Call::path_user`]) and without `client_id`, which names an application this service
    /// has none of. The body then parses as on `/v1`.
    pub async fn resolve_body_user<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
        &mut self,
        app: &crate::operations::App<S, H>,
        tenant: &TenantId,
    ) -> Result<(), Error> {
        if self.dialect == Dialect::Profiles {
            return Ok(());
        }
        let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&self.body) else {
            return Ok(());
        };
        map.remove("client_id");
        if let Some(raw) = map.get("user_id").and_then(Value::as_str) {
            let id = auth0::resolve(app, tenant, raw).await?;
            map.insert("user_id".into(), Value::from(id.to_string()));
        }
        self.body = serde_json::to_vec(&Value::Object(map)).unwrap_or_default();
        Ok(())
    }

    /// The query parameters a route knows, and on an Auth0 route `fields` and
    /// `include_fields` too.
    pub fn only_query_and_fields(&self, known: &[&str]) -> Result<(), Error> {
        let mut known = known.to_vec();
        if self.dialect == Dialect::Auth0 {
            known.extend(["fields", "include_fields"]);
        }
        self.only_query(&known)
    }

    fn auth0_projection(&self, user: &User) -> Value {
        let include = self.query("include_fields") != Some("false");
        let json = auth0::user_json(user, &self.database_connection);
        auth0::project(json, self.query("fields"), include)
    }

    /// Users as the route's dialect lists them.
    pub fn users_reply(&self, users: &[User]) -> Reply {
        let list = match self.dialect {
            Dialect::Profiles => users.iter().map(User::to_admin_json).collect(),
            Dialect::Auth0 => users.iter().map(|u| self.auth0_projection(u)).collect(),
        };
        Reply::json(StatusCode::OK, Value::Array(list))
    }

    /// The blocks `GET /user-blocks` found, as the route's dialect shows them.
    pub fn blocks_reply(&self, blocks: &crate::operations::login::Blocks) -> Reply {
        let mut body = json!(blocks);
        if self.dialect == Dialect::Auth0 {
            auth0::name_connections(&mut body["blocked_for"], &self.database_connection);
        }
        Reply::json(StatusCode::OK, body)
    }

    /// A user's identities after a link or an unlink, as the route's dialect shows them.
    pub fn identities_reply(&self, status: StatusCode, user: &User) -> Reply {
        match self.dialect {
            Dialect::Profiles => Reply::identities(status, user),
            Dialect::Auth0 => {
                let identities = auth0::identities_json(user, &self.database_connection);
                Reply::json(status, identities).with_header(ETAG, etag(user.version))
            }
        }
    }

    /// The body of a link request, in our terms on an Auth0 route ([`auth0::link_body`]).
    pub fn link_body(&self) -> Result<Vec<u8>, Error> {
        let body = self.body()?;
        match self.dialect {
            Dialect::Profiles => Ok(body.to_vec()),
            Dialect::Auth0 => auth0::link_body(body),
        }
    }

    /// A provider the path names, in our terms (Auth0's `auth0` is our `database`).
    pub fn path_provider(&self) -> &str {
        let raw = self.path("provider");
        match self.dialect {
            Dialect::Profiles => raw,
            Dialect::Auth0 => auth0::provider(raw),
        }
    }

    /// A user a write left, as the route's dialect shows it (Auth0's: the user alone).
    pub fn saved_reply(&self, status: StatusCode, saved: &Saved) -> Reply {
        match self.dialect {
            Dialect::Profiles => Reply::saved(status, saved, false),
            Dialect::Auth0 => self.user_reply(status, &saved.user),
        }
    }

    /// A user as the route's dialect shows it, with its `ETag`; on an Auth0 route, only the
    /// `fields` asked for (`include_fields=false`: all but those).
    pub fn user_reply(&self, status: StatusCode, user: &User) -> Reply {
        match self.dialect {
            Dialect::Profiles => Reply::user(status, user),
            Dialect::Auth0 => Reply::json(status, self.auth0_projection(user))
                .with_header(ETAG, etag(user.version)),
        }
    }

    pub fn path_user_id(&self) -> Result<UserId, Error> {
        UserId::parse(self.path.get("user_id").map(String::as_str).unwrap_or(""))
    }

    /// A path parameter, or `""` when the route has none of that name.
    pub fn path(&self, name: &str) -> &str {
        self.path.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// Refuses query parameters the route does not know, so a typo is not silently ignored.
    pub fn only_query(&self, known: &[&str]) -> Result<(), Error> {
        match self.query.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(Error::invalid(
                "invalid_query",
                format!("Unknown query parameter {k:?}."),
            )),
            None => Ok(()),
        }
    }

    /// The JSON body, within the size cap.
    pub fn body(&self) -> Result<&[u8], Error> {
        if self.body.len() > MAX_BODY_BYTES {
            return Err(Error::PayloadTooLarge {
                message: format!("The body may be at most {MAX_BODY_BYTES} bytes."),
            });
        }
        if let Some(kind) = self.media_type()
            && kind != "application/json"
            && !kind.ends_with("+json")
        {
            return Err(Error::UnsupportedMediaType {
                message: "The body must be application/json.".into(),
            });
        }
        Ok(&self.body)
    }

    /// The version `If-Match` demands, if any. `*` demands only that the user exists. One
    /// strong tag is accepted; a weak tag never matches (RFC 9110 compares strongly), nor
    /// does a tag that is not one of ours.
    pub fn if_match(&self) -> Result<Option<u64>, Error> {
        let Some(raw) = self.headers.get(IF_MATCH) else {
            return Ok(None);
        };
        let raw = raw.to_str().unwrap_or("").trim();
        if raw == "*" {
            return Ok(None);
        }
        if raw.contains(',') {
            return Err(Error::invalid(
                "invalid_header",
                "If-Match takes one entity tag (the ETag of the user).",
            ));
        }
        let no_match = || Error::PreconditionFailed {
            message: "If-Match names no version of this resource.".into(),
        };
        let tag = raw
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .ok_or_else(no_match)?;
        tag.parse::<u64>().map(Some).map_err(|_| no_match())
    }

    /// Renders the outcome and logs the request's one line.
    pub fn finish(self, outcome: Result<Reply, Error>) -> Response<Body> {
        let mut response = match outcome {
            Ok(reply) => render(reply),
            Err(error) => {
                if let Error::Internal { cause } | Error::Unavailable { cause } = &error {
                    tracing::error!(
                        request_id = %self.request_id,
                        tenant = self.tenant.as_deref().unwrap_or(""),
                        route = self.route,
                        cause = %cause,
                        "request failed"
                    );
                }
                error_response_in(self.dialect, &error)
            }
        };
        if let Some(quota) = self.quota {
            let headers = response.headers_mut();
            for (name, value) in [
                ("x-ratelimit-limit", i64::from(quota.limit)),
                ("x-ratelimit-remaining", i64::from(quota.remaining)),
                ("x-ratelimit-reset", quota.reset),
            ] {
                headers.insert(name, HeaderValue::from(value));
            }
        }
        tracing::info!(
            request_id = %self.request_id,
            tenant = self.tenant.as_deref().unwrap_or(""),
            route = self.route,
            method = %self.method,
            status = response.status().as_u16(),
            latency_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        response
    }
}

fn render(reply: Reply) -> Response<Body> {
    let (body, kind) = match (&reply.body, reply.html) {
        (Some(v), _) => (Body::Text(v.to_string()), Some("application/json")),
        (None, Some(page)) => (Body::Text(page), Some("text/html; charset=utf-8")),
        (None, None) => (Body::Empty, None),
    };
    let mut response = Response::new(body);
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    if let Some(kind) = kind {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// The one place errors become statuses, in `dialect`'s words (the status is the same in
/// both). 5xx bodies say nothing about the cause.
pub fn error_response_in(dialect: Dialect, error: &Error) -> Response<Body> {
    let (status, code, message): (StatusCode, &str, String) = match error {
        Error::Invalid { code, message } => (StatusCode::BAD_REQUEST, code, message.clone()),
        Error::Unauthenticated { code, message } => {
            (StatusCode::UNAUTHORIZED, code, message.clone())
        }
        Error::Forbidden { code, message } => (StatusCode::FORBIDDEN, code, message.clone()),
        Error::NotFound { code, message } => (StatusCode::NOT_FOUND, code, message.clone()),
        Error::Conflict { code, message } => (StatusCode::CONFLICT, code, message.clone()),
        Error::PreconditionFailed { message } => (
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            message.clone(),
        ),
        Error::PayloadTooLarge { message } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            message.clone(),
        ),
        Error::UnsupportedMediaType { message } => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message.clone(),
        ),
        Error::TooManyAttempts { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            error.to_string(),
        ),
        Error::TooManyRequests { message, .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            message.clone(),
        ),
        Error::Unavailable { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "The service is busy; retry shortly.".into(),
        ),
        Error::Internal { .. } => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side.".into(),
        ),
    };
    let (code, message) = match dialect {
        Dialect::Profiles => (code.to_owned(), message),
        Dialect::Auth0 => auth0::error_code_and_message(code, &message),
    };
    let body = json!({
        "statusCode": status.as_u16(),
        "error": status.canonical_reason().unwrap_or(""),
        "message": message,
        "errorCode": code,
    });
    let mut reply = Reply::json(status, body);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        reply = reply.with_header(http::header::RETRY_AFTER, "1".into());
    }
    if let Error::TooManyAttempts { retry_after_secs }
    | Error::TooManyRequests {
        retry_after_secs, ..
    } = error
    {
        reply = reply.with_header(
            http::header::RETRY_AFTER,
            retry_after_secs.max(&1).to_string(),
        );
    }
    render(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A misspelt name would render as nothing: each name a page uses must be one a link
    /// page answers, or one of the few the reset and verification pages add (their `Vars` in
    /// those functions' crates).
    #[test]
    fn every_name_a_page_uses_is_one_its_context_has() {
        use crate::domain::render::{names_in, template_names};
        let page = LinkPage {
            app_name: "Acme",
            lang: "en",
            state: "confirm",
            ticket: "t",
            action: String::new(),
            new_email: "",
            logo_url: Some("https://x"),
            primary_color: Some("#000"),
        };
        let extras = ["email", "error", "min_chars", "max_chars"];
        for name in template_names().filter(|n| n.starts_with("pages/")) {
            for used in names_in(name).unwrap() {
                assert!(
                    page.var(used) != template::Value::None || extras.contains(&used),
                    "{name} uses `{used}`, which its context does not have"
                );
            }
        }
    }

    #[test]
    fn errors_render_as_the_documented_json_shape() {
        let r = error_response_in(Dialect::Profiles, &Error::user_not_found());
        assert_eq!(r.status(), 404);
        let Body::Text(text) = r.body() else {
            panic!("expected a text body")
        };
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            v,
            json!({"statusCode": 404, "error": "Not Found", "message": "The user does not exist.", "errorCode": "user_not_found"})
        );
    }

    #[test]
    fn server_errors_do_not_reveal_their_cause() {
        let r = error_response_in(
            Dialect::Profiles,
            &Error::internal("GetItem: secret table detail"),
        );
        assert_eq!(r.status(), 500);
        let Body::Text(text) = r.body() else {
            panic!("expected a text body")
        };
        assert!(!text.contains("secret"));
        assert!(text.contains("internal_error"));
    }
}
