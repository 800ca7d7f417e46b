//! Malformed requests over every route, in both dialects, public routes too, from a table.
//!
//! Each route has one valid request ([`bases`]); the rows spoil it one way at a time (its
//! claims, the tenant or the ids in its path, its body, its content type, a header, one rule
//! of a field), so a row fails for the one reason it names. Every row is answered with its
//! documented status and error code in the four-field JSON error body (a page an emailed link
//! opens answers a link of no use with its page, or its redirect, instead), with nothing of
//! the stored data in it. The table is seeded first (users with metadata, a linked identity,
//! pending tickets, a job, another tenant's user), and after every row it holds exactly the
//! items it held before, attribute for attribute.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue};
use lambda_http::Body;
use local_api::gateway::{Incoming, dispatch};
use local_api::routes::{self, ROUTES};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use crate::support::{
    ALL_SCOPES, Claims, EVENT_CANCEL_TICKET, EVENT_FACEBOOK_ID, EVENT_GOOGLE_ID, EVENT_JOB,
    EVENT_PASSWORD, EVENT_PRIMARY, EVENT_RESET_TICKET, EVENT_UNBLOCK_TICKET, EVENT_USER,
    EVENT_VERIFY_TICKET, Env, PUBLIC_BASE, claims, own,
};

pub const ANA_EMAIL: &str = "ana.lovelace@example.com";
pub const ANA_PASSWORD: &str = "Analytical-Engine-1843!";
pub const ANA_USERNAME: &str = "ana_lovelace";
/// Ana's linked identity, a GitHub account.
pub const ANA_GITHUB_ID: &str = "ana-gh-5150";
/// An address with an internationalized domain, stored as given (composed).
pub const JOSE_EMAIL: &str = "Jos\u{e9}@B\u{fc}cher.example";
pub const JOSE_PASSWORD: &str = "Bookbinder-Quill-2087";
pub const JOSE_USERNAME: &str = "jose_bookbinder";
pub const GLOBEX_EMAIL: &str = "gina@globex.example";
const GLOBEX_PASSWORD: &str = "Globex-Hammock-Lantern-61";

const V1: &str = "/v1/tenants/acme";
const V2: &str = "/api/v2";

/// What [`seed`] stored, and every string of it no answer may carry unless its request did.
pub struct Seeded {
    /// A database user with both metadata objects, names, a username, a linked GitHub
    /// identity, a pending verification ticket and a verification job.
    pub ana: String,
    /// Ana's verification job.
    pub ana_job: String,
    /// A database user whose address has an internationalized domain.
    pub jose: String,
    /// The one user of tenant globex.
    pub globex: String,
    pub secrets: Vec<String>,
}

/// The admin of tenant `tenant`: every management scope.
pub fn admin_of(tenant: &str) -> Claims {
    claims(tenant, "backoffice@clients", ALL_SCOPES)
}

async fn created(env: &Env, tenant: &str, body: Value) -> String {
    let path = format!("/v1/tenants/{tenant}/users");
    let r = env
        .send("POST", &path, Some(&admin_of(tenant)), Some(&body), &[])
        .await;
    assert_eq!(r.status, 201, "seeding {body}: {}", r.raw);
    r.body["user_id"].as_str().unwrap().to_owned()
}

/// Users of two tenants with everything a user can have stored.
pub async fn seed(env: &Env) -> Seeded {
    local_api::fixtures::seed(&env.app).await;
    let ana = created(
        env,
        "acme",
        json!({
            "email": ANA_EMAIL, "password": ANA_PASSWORD, "username": ANA_USERNAME,
            "name": "Ana Seeded-Lovelace", "given_name": "Augusta", "family_name": "Byron-King",
            "phone_number": "+442071838750",
            "user_metadata": {"theme": "midnight-teal-7", "address": {"city": "Ravenscar-Upon-Sea"}},
            "app_metadata": {"plan": "platinum-annual-9"},
        }),
    )
    .await;
    let github = created(
        env,
        "acme",
        json!({
            "connection": "github", "user_id": ANA_GITHUB_ID, "email": "ana.gh@example.net",
            "email_verified": true, "nickname": "countess-of-loops",
        }),
    )
    .await;
    let admin = admin_of("acme");
    let link = json!({"provider": "github", "user_id": ANA_GITHUB_ID, "allow_unverified": true});
    let path = format!("{V1}/users/{ana}/identities");
    let r = env
        .send("POST", &path, Some(&admin), Some(&link), &[])
        .await;
    assert_eq!(r.status, 201, "linking: {}", r.raw);
    let job = json!({"user_id": ana});
    let path = format!("{V1}/jobs/verification-email");
    let r = env.send("POST", &path, Some(&admin), Some(&job), &[]).await;
    assert_eq!(r.status, 201, "the job: {}", r.raw);
    let ana_job = r.body["id"].as_str().unwrap().to_owned();
    let jose = created(
        env,
        "acme",
        json!({"email": JOSE_EMAIL, "password": JOSE_PASSWORD, "username": JOSE_USERNAME, "verify_email": false}),
    )
    .await;
    let globex = created(
        env,
        "globex",
        json!({
            "email": GLOBEX_EMAIL, "password": GLOBEX_PASSWORD, "name": "Gina Globex-Only",
            "user_metadata": {"vault": "globex-vault-42"},
        }),
    )
    .await;
    let secrets = [
        ana.as_str(),
        &github,
        &jose,
        &globex,
        &ana_job,
        EVENT_USER,
        EVENT_PRIMARY,
        EVENT_JOB,
        EVENT_GOOGLE_ID,
        EVENT_FACEBOOK_ID,
        ANA_GITHUB_ID,
        ANA_EMAIL,
        ANA_USERNAME,
        ANA_PASSWORD,
        "ana.gh@example.net",
        "Ana Seeded-Lovelace",
        "Augusta",
        "Byron-King",
        "442071838750",
        "countess-of-loops",
        "midnight-teal-7",
        "Ravenscar-Upon-Sea",
        "platinum-annual-9",
        JOSE_EMAIL,
        "xn--bcher-kva",
        JOSE_PASSWORD,
        JOSE_USERNAME,
        GLOBEX_EMAIL,
        GLOBEX_PASSWORD,
        "Gina Globex-Only",
        "globex-vault-42",
        "seed@example.com",
        "seed.new@example.com",
        "Seed User",
        EVENT_PASSWORD,
        "primary@example.com",
        "primary@gmail.example",
        "primary@facebook.example",
        EVENT_VERIFY_TICKET,
        EVENT_RESET_TICKET,
        EVENT_CANCEL_TICKET,
        EVENT_UNBLOCK_TICKET,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    Seeded {
        ana,
        ana_job,
        jose,
        globex,
        secrets,
    }
}

/// Every item of the table, in key order: nothing filtered out, as nothing may change.
pub async fn table(env: &Env) -> BTreeMap<(String, String), HashMap<String, AttributeValue>> {
    env.all_items()
        .await
        .into_iter()
        .map(|item| {
            let key = (
                crate::support::s(&item, "pk"),
                crate::support::s(&item, "sk"),
            );
            (key, item)
        })
        .collect()
}

/// What differs between two snapshots of [`table`], one line per item.
pub fn differences(
    before: &BTreeMap<(String, String), HashMap<String, AttributeValue>>,
    after: &BTreeMap<(String, String), HashMap<String, AttributeValue>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (key, item) in before {
        match after.get(key) {
            None => out.push(format!("removed {key:?}")),
            Some(now) if now != item => out.push(format!("changed {key:?}: {item:?} -> {now:?}")),
            Some(_) => {}
        }
    }
    for key in after.keys().filter(|k| !before.contains_key(*k)) {
        out.push(format!("added {key:?}: {:?}", after[key]));
    }
    out
}

/// What a row is expected to be answered with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// The four-field JSON error. Written with the `/v1` code; on an `/api/v2` route the
    /// three codes Auth0 words otherwise are expected in its words (docs/auth0-compat.md).
    Error(u16, &'static str),
    /// The page of an emailed link that is of no use (HTML).
    Page(u16),
    /// The verification link's redirect to the tenant's result page, with this error.
    Redirect(&'static str),
}

/// Which part of the request a row spoils, so the coverage of every route can be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Claims,
    Tenant,
    Id,
    Body,
    Field,
    Header,
    Query,
    Rule,
}

#[derive(Debug, Clone)]
struct Row {
    what: String,
    kind: Kind,
    method: &'static str,
    /// Path and query, as a client sends them (percent-encoded).
    target: String,
    claims: Option<Claims>,
    body: Vec<u8>,
    content_type: Option<String>,
    headers: Vec<(&'static str, Vec<u8>)>,
    expect: Expect,
}

impl Row {
    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    fn json(self, body: &Value) -> Self {
        self.body(body.to_string())
            .content_type(Some("application/json"))
    }

    fn content_type(mut self, kind: Option<&str>) -> Self {
        self.content_type = kind.map(str::to_owned);
        self
    }

    fn form(self, body: impl Into<Vec<u8>>) -> Self {
        self.body(body)
            .content_type(Some("application/x-www-form-urlencoded"))
    }

    fn header(mut self, name: &'static str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    fn claims(mut self, claims: Option<Claims>) -> Self {
        self.claims = claims;
        self
    }

    fn expect(&self) -> Expect {
        match self.expect {
            Expect::Error(status, code) if self.target.starts_with(V2) => {
                let code = match code {
                    "user_not_found" => "inexistent_user",
                    "user_exists" => "auth0_idp_error",
                    "invalid_query" => "invalid_query_string",
                    other => other,
                };
                Expect::Error(status, code)
            }
            other => other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Admin,
    Own,
    Public,
}

/// How a route's one string field is refused when spoiled: `null`, 200 KB of it, and a NUL
/// character inside it (`None`: that spoiling is no mistake on this route). A value of
/// another type is always `invalid_body`.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    null: Option<Expect>,
    long: Option<Expect>,
    nul: Option<Expect>,
    /// The field is read as any JSON value first (a password, whose type is checked by
    /// hand so it is never quoted back; a setting), so a value nested past the parser's
    /// limit of 128 levels is refused as JSON the parser cannot take (`invalid_json`; RFC
    /// 8259 lets a parser limit nesting) rather than as a value of the wrong type.
    any_json: bool,
}

/// A route's valid request, which the rows spoil.
struct Base {
    key: &'static str,
    method: &'static str,
    path: String,
    query: String,
    who: Who,
    body: Option<Value>,
    field: Option<Field>,
    /// The user id as the path spells it, for the id rows.
    user: Option<String>,
    /// Takes a page's form as well as JSON: a form body is no 415 here.
    form: bool,
    /// What a request otherwise valid gets with tenant globex in the path; `None` when there
    /// is nothing to fence (a reset request is answered alike for every address).
    foreign: Option<Expect>,
}

impl Base {
    fn new(key: &'static str, path: impl Into<String>, who: Who) -> Self {
        let method = key.split_once(' ').unwrap().0;
        Base {
            key,
            method,
            path: path.into(),
            query: String::new(),
            who,
            body: None,
            field: None,
            user: None,
            form: false,
            foreign: (who != Who::Public).then_some(Expect::Error(404, "not_found")),
        }
    }

    fn query(mut self, query: &str) -> Self {
        self.query = query.to_owned();
        self
    }

    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    fn field(
        mut self,
        name: &'static str,
        null: Option<Expect>,
        long: Option<Expect>,
        nul: Option<Expect>,
    ) -> Self {
        self.field = Some(Field {
            name,
            null,
            long,
            nul,
            any_json: false,
        });
        self
    }

    fn any_json(mut self) -> Self {
        if let Some(field) = self.field.as_mut() {
            field.any_json = true;
        }
        self
    }

    fn user(mut self, segment: impl Into<String>) -> Self {
        self.user = Some(segment.into());
        self
    }

    fn form(mut self) -> Self {
        self.form = true;
        self
    }

    fn foreign(mut self, expect: Option<Expect>) -> Self {
        self.foreign = expect;
        self
    }

    fn auth0(&self) -> bool {
        self.path.starts_with(V2)
    }

    fn claims(&self, s: &Seeded) -> Option<Claims> {
        match self.who {
            Who::Admin => Some(admin_of("acme")),
            Who::Own => Some(own(s.ana.as_str())),
            Who::Public => None,
        }
    }

    /// The base request, to be spoiled into a row.
    fn row(&self, s: &Seeded, kind: Kind, what: impl Into<String>, expect: Expect) -> Row {
        let row = Row {
            what: what.into(),
            kind,
            method: self.method,
            target: format!("{}{}", self.path, self.query),
            claims: self.claims(s),
            body: Vec::new(),
            content_type: None,
            headers: Vec::new(),
            expect,
        };
        match &self.body {
            Some(body) => row.json(body),
            None => row,
        }
    }

    /// The base body with `field` set to `value`.
    fn with(&self, field: &str, value: Value) -> Value {
        let mut body = self.body.clone().unwrap_or_else(|| json!({}));
        body[field] = value;
        body
    }
}

fn enc(raw: &str) -> String {
    utf8_percent_encode(raw, NON_ALPHANUMERIC).to_string()
}

/// An Auth0 user id as a path carries it.
fn auth0_path_id(id: &str) -> String {
    format!("auth0%7C{id}")
}

/// A ticket of the right shape (256 bits, base64url) that was never issued.
const UNKNOWN_TICKET: &str = "bm90IGEgdGlja2V0IGFueWJvZHkgd2FzIGV2ZXIgZ2l2ZW4";

const STRONG_PASSWORD: &str = "Quartz-Marmalade-Voyage-88";

/// One valid request per route of the template: tenant acme, the seeded users.
fn bases(s: &Seeded) -> Vec<Base> {
    use Who::{Admin, Own, Public};
    let ana = s.ana.as_str();
    let a0 = auth0_path_id(ana);
    let primary = auth0_path_id(EVENT_PRIMARY);
    let email_q = format!("?email={}", enc(ANA_EMAIL));
    let identifier_q = format!("?identifier={}", enc(ANA_EMAIL));
    let create = json!({"email": "new.person@example.com", "password": STRONG_PASSWORD});
    let mut create_v2 = create.clone();
    create_v2["connection"] = json!("Username-Password-Authentication");
    let email = Some(Expect::Error(400, "invalid_body"));
    let bad_email = Some(Expect::Error(400, "invalid_email"));
    let provider = Some(Expect::Error(400, "invalid_provider"));
    let user_id = Some(Expect::Error(400, "invalid_user_id"));
    let ticket = Some(Expect::Error(400, "invalid_ticket"));
    let link = json!({"provider": "google-oauth2", "user_id": EVENT_GOOGLE_ID});
    let ticket_v2 = json!({"user_id": format!("auth0|{ana}")});
    let inexistent = Some(Expect::Error(404, "user_not_found"));
    let invalid_ticket = Some(Expect::Error(400, "invalid_ticket"));
    let page = Some(Expect::Page(400));
    vec![
        Base::new(
            "POST /v1/tenants/{tenant_id}/users",
            format!("{V1}/users"),
            Admin,
        )
        .body(create.clone())
        .field("email", email, bad_email, bad_email),
        Base::new("POST /api/v2/users", format!("{V2}/users"), Admin)
            .body(create_v2)
            .field("email", email, bad_email, bad_email),
        Base::new(
            "GET /v1/tenants/{tenant_id}/users/{user_id}",
            format!("{V1}/users/{ana}"),
            Admin,
        )
        .user(ana),
        Base::new(
            "GET /api/v2/users/{user_id}",
            format!("{V2}/users/{a0}"),
            Admin,
        )
        .user(&a0),
        Base::new(
            "PATCH /v1/tenants/{tenant_id}/users/{user_id}",
            format!("{V1}/users/{ana}"),
            Admin,
        )
        .user(ana)
        .body(json!({"nickname": "ada"}))
        .field("email", email, bad_email, bad_email),
        Base::new(
            "PATCH /api/v2/users/{user_id}",
            format!("{V2}/users/{a0}"),
            Admin,
        )
        .user(&a0)
        .body(json!({"nickname": "ada"}))
        .field("email", email, bad_email, bad_email),
        Base::new(
            "DELETE /v1/tenants/{tenant_id}/users/{user_id}",
            format!("{V1}/users/{ana}"),
            Admin,
        )
        .user(ana),
        Base::new(
            "DELETE /api/v2/users/{user_id}",
            format!("{V2}/users/{a0}"),
            Admin,
        )
        .user(&a0),
        Base::new(
            "GET /v1/tenants/{tenant_id}/users",
            format!("{V1}/users"),
            Admin,
        )
        .query("?limit=10"),
        Base::new("GET /api/v2/users", format!("{V2}/users"), Admin)
            .query("?page=0&per_page=10&include_totals=true"),
        Base::new(
            "GET /v1/tenants/{tenant_id}/users-by-email",
            format!("{V1}/users-by-email"),
            Admin,
        )
        .query(&email_q),
        Base::new(
            "GET /api/v2/users-by-email",
            format!("{V2}/users-by-email"),
            Admin,
        )
        .query(&email_q),
        Base::new(
            "POST /v1/tenants/{tenant_id}/users/{user_id}/identities",
            format!("{V1}/users/{EVENT_PRIMARY}/identities"),
            Admin,
        )
        .user(EVENT_PRIMARY)
        .body(link.clone())
        .field("provider", email, provider, provider),
        Base::new(
            "POST /api/v2/users/{user_id}/identities",
            format!("{V2}/users/{primary}/identities"),
            Admin,
        )
        .user(&primary)
        .body(link)
        .field("provider", email, provider, provider),
        Base::new(
            "DELETE /v1/tenants/{tenant_id}/users/{user_id}/identities/{provider}/{identity_id}",
            format!("{V1}/users/{EVENT_PRIMARY}/identities/facebook/{EVENT_FACEBOOK_ID}"),
            Admin,
        )
        .user(EVENT_PRIMARY),
        Base::new(
            "DELETE /api/v2/users/{user_id}/identities/{provider}/{identity_id}",
            format!("{V2}/users/{primary}/identities/facebook/{EVENT_FACEBOOK_ID}"),
            Admin,
        )
        .user(&primary),
        Base::new("GET /v1/tenants/{tenant_id}/me", format!("{V1}/me"), Own),
        Base::new("PATCH /v1/tenants/{tenant_id}/me", format!("{V1}/me"), Own)
            .body(json!({"nickname": "ada"}))
            .field("email", email, bad_email, bad_email),
        Base::new("DELETE /v1/tenants/{tenant_id}/me", format!("{V1}/me"), Own),
        Base::new(
            "GET /v1/tenants/{tenant_id}/users/{user_id}/export",
            format!("{V1}/users/{ana}/export"),
            Admin,
        )
        .user(ana),
        Base::new(
            "GET /v1/tenants/{tenant_id}/me/export",
            format!("{V1}/me/export"),
            Own,
        ),
        Base::new(
            "POST /v1/tenants/{tenant_id}/authenticate",
            format!("{V1}/authenticate"),
            Admin,
        )
        .body(json!({"email": ANA_EMAIL, "password": ANA_PASSWORD, "ip": "203.0.113.7"}))
        .field("ip", email, email, email),
        Base::new(
            "POST /v1/tenants/{tenant_id}/me/password",
            format!("{V1}/me/password"),
            Own,
        )
        .body(json!({"current_password": ANA_PASSWORD, "new_password": STRONG_PASSWORD}))
        .field("new_password", email, None, None)
        .any_json(),
        Base::new(
            "GET /v1/tenants/{tenant_id}/settings",
            format!("{V1}/settings"),
            Admin,
        ),
        Base::new(
            "PATCH /v1/tenants/{tenant_id}/settings",
            format!("{V1}/settings"),
            Admin,
        )
        .body(json!({"display_name": "Acme Renamed"}))
        .field("display_name", None, email, email)
        .any_json(),
        Base::new(
            "GET /v1/tenants/{tenant_id}/user-blocks/{user_id}",
            format!("{V1}/user-blocks/{ana}"),
            Admin,
        )
        .user(ana),
        Base::new(
            "GET /v1/tenants/{tenant_id}/user-blocks",
            format!("{V1}/user-blocks"),
            Admin,
        )
        .query(&identifier_q),
        Base::new(
            "GET /api/v2/user-blocks/{user_id}",
            format!("{V2}/user-blocks/{a0}"),
            Admin,
        )
        .user(&a0),
        Base::new(
            "GET /api/v2/user-blocks",
            format!("{V2}/user-blocks"),
            Admin,
        )
        .query(&identifier_q),
        Base::new(
            "DELETE /v1/tenants/{tenant_id}/user-blocks/{user_id}",
            format!("{V1}/user-blocks/{ana}"),
            Admin,
        )
        .user(ana),
        Base::new(
            "DELETE /api/v2/user-blocks/{user_id}",
            format!("{V2}/user-blocks/{a0}"),
            Admin,
        )
        .user(&a0),
        Base::new(
            "DELETE /api/v2/user-blocks",
            format!("{V2}/user-blocks"),
            Admin,
        )
        .query(&identifier_q),
        Base::new(
            "DELETE /v1/tenants/{tenant_id}/user-blocks",
            format!("{V1}/user-blocks"),
            Admin,
        )
        .query(&identifier_q),
        Base::new(
            "POST /v1/tenants/{tenant_id}/jobs/verification-email",
            format!("{V1}/jobs/verification-email"),
            Admin,
        )
        .body(json!({"user_id": ana}))
        .field("user_id", email, user_id, user_id),
        Base::new(
            "POST /api/v2/jobs/verification-email",
            format!("{V2}/jobs/verification-email"),
            Admin,
        )
        .body(ticket_v2.clone())
        .field("user_id", email, inexistent, inexistent),
        Base::new(
            "GET /v1/tenants/{tenant_id}/jobs/{job_id}",
            format!("{V1}/jobs/{}", s.ana_job),
            Admin,
        ),
        Base::new(
            "GET /api/v2/jobs/{job_id}",
            format!("{V2}/jobs/{}", s.ana_job),
            Admin,
        ),
        Base::new(
            "POST /v1/tenants/{tenant_id}/tickets/email-verification",
            format!("{V1}/tickets/email-verification"),
            Admin,
        )
        .body(json!({"user_id": ana}))
        .field("user_id", email, user_id, user_id),
        Base::new(
            "POST /api/v2/tickets/email-verification",
            format!("{V2}/tickets/email-verification"),
            Admin,
        )
        .body(ticket_v2.clone())
        .field("user_id", email, inexistent, inexistent),
        Base::new(
            "POST /v1/tenants/{tenant_id}/tickets/password-change",
            format!("{V1}/tickets/password-change"),
            Admin,
        )
        .body(json!({"user_id": ana}))
        .field("user_id", email, user_id, user_id),
        Base::new(
            "POST /api/v2/tickets/password-change",
            format!("{V2}/tickets/password-change"),
            Admin,
        )
        .body(ticket_v2)
        .field("user_id", email, inexistent, inexistent),
        Base::new(
            "GET /v1/tenants/{tenant_id}/email-verification/confirm",
            format!("{V1}/email-verification/confirm"),
            Public,
        )
        .query(&format!("?ticket={EVENT_VERIFY_TICKET}"))
        .foreign(Some(Expect::Redirect("invalid_ticket"))),
        Base::new(
            "POST /v1/tenants/{tenant_id}/email-verification/confirm",
            format!("{V1}/email-verification/confirm"),
            Public,
        )
        .body(json!({"ticket": EVENT_VERIFY_TICKET}))
        .field("ticket", email, ticket, ticket)
        .form()
        .foreign(invalid_ticket),
        Base::new(
            "POST /v1/tenants/{tenant_id}/password-reset",
            format!("{V1}/password-reset"),
            Public,
        )
        .body(json!({"email": ANA_EMAIL}))
        .field("email", email, bad_email, bad_email),
        Base::new(
            "POST /v1/tenants/{tenant_id}/password-reset/confirm",
            format!("{V1}/password-reset/confirm"),
            Public,
        )
        .body(json!({"ticket": EVENT_RESET_TICKET, "new_password": STRONG_PASSWORD}))
        .field("ticket", email, ticket, ticket)
        .form()
        .foreign(invalid_ticket),
        Base::new(
            "GET /v1/tenants/{tenant_id}/password-reset/confirm",
            format!("{V1}/password-reset/confirm"),
            Public,
        )
        .query(&format!("?ticket={EVENT_RESET_TICKET}"))
        .foreign(page),
        Base::new(
            "GET /v1/tenants/{tenant_id}/email-change/cancel",
            format!("{V1}/email-change/cancel"),
            Public,
        )
        .query(&format!("?ticket={EVENT_CANCEL_TICKET}"))
        .foreign(page),
        Base::new(
            "POST /v1/tenants/{tenant_id}/email-change/cancel",
            format!("{V1}/email-change/cancel"),
            Public,
        )
        .body(json!({"ticket": EVENT_CANCEL_TICKET}))
        .field("ticket", email, ticket, ticket)
        .form()
        .foreign(invalid_ticket),
        Base::new(
            "GET /v1/tenants/{tenant_id}/unblock",
            format!("{V1}/unblock"),
            Public,
        )
        .query(&format!("?ticket={EVENT_UNBLOCK_TICKET}"))
        .foreign(page),
        Base::new(
            "POST /v1/tenants/{tenant_id}/unblock",
            format!("{V1}/unblock"),
            Public,
        )
        .body(json!({"ticket": EVENT_UNBLOCK_TICKET}))
        .field("ticket", email, ticket, ticket)
        .form()
        .foreign(invalid_ticket),
    ]
}

/// Claims API Gateway could pass on that no handler may act on.
fn claim_rows(b: &Base, s: &Seeded) -> Vec<Row> {
    if b.who == Who::Public {
        return Vec::new();
    }
    let base = b.claims(s).unwrap();
    let with = |name: &str, value: Option<&str>| {
        let mut c = base.clone();
        match value {
            Some(v) => c.insert(name.to_owned(), v.to_owned()),
            None => c.remove(name),
        };
        Some(c)
    };
    let not_found = Expect::Error(404, "not_found");
    let mut rows = vec![
        b.row(
            s,
            Kind::Claims,
            "no verified claims",
            Expect::Error(401, "unauthorized"),
        )
        .claims(None),
        b.row(s, Kind::Claims, "claims without tenant_id", not_found)
            .claims(with("tenant_id", None)),
        b.row(s, Kind::Claims, "tenant_id claim in upper case", not_found)
            .claims(with("tenant_id", Some("ACME"))),
        b.row(s, Kind::Claims, "empty tenant_id claim", not_found)
            .claims(with("tenant_id", Some(""))),
    ];
    if !b.auth0() {
        rows.push(
            b.row(
                s,
                Kind::Claims,
                "tenant_id claim of another tenant",
                not_found,
            )
            .claims(with("tenant_id", Some("globex"))),
        );
    }
    let insufficient = Expect::Error(403, "insufficient_scope");
    match b.who {
        Who::Admin => {
            let commas = ALL_SCOPES.replace(' ', ",");
            let upper = ALL_SCOPES.to_uppercase();
            rows.extend([
                b.row(s, Kind::Claims, "scopes separated by commas", insufficient)
                    .claims(with("scope", Some(&commas))),
                b.row(s, Kind::Claims, "scopes in upper case", insufficient)
                    .claims(with("scope", Some(&upper))),
                b.row(s, Kind::Claims, "no scope claim", insufficient)
                    .claims(with("scope", None)),
            ]);
        }
        Who::Own => {
            let lower = s.ana.to_lowercase();
            let auth0 = format!("auth0|{}", s.ana);
            let padded = format!(" {}", s.ana);
            rows.extend([
                b.row(s, Kind::Claims, "empty sub claim", insufficient)
                    .claims(with("sub", Some(""))),
                b.row(s, Kind::Claims, "no sub claim", insufficient)
                    .claims(with("sub", None)),
                b.row(s, Kind::Claims, "sub in lower case", insufficient)
                    .claims(with("sub", Some(&lower))),
                b.row(s, Kind::Claims, "sub as an Auth0 id", insufficient)
                    .claims(with("sub", Some(&auth0))),
                b.row(s, Kind::Claims, "sub with a leading space", insufficient)
                    .claims(with("sub", Some(&padded))),
            ]);
            if b.method != "POST" {
                rows.push(
                    b.row(
                        s,
                        Kind::Claims,
                        "sub a user id nobody has",
                        Expect::Error(404, "user_not_found"),
                    )
                    .claims(with("sub", Some("usr_01ARZ3NDEKTSV4RRFFQ69G5FAV"))),
                );
            }
        }
        Who::Public => {}
    }
    rows
}

/// Tenant ids in a `/v1` path that are not acme's: another tenant's, and malformed ones.
fn tenant_rows(b: &Base, s: &Seeded) -> Vec<Row> {
    let Some(rest) = b.path.strip_prefix(V1) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    if let Some(expect) = b.foreign {
        let target = format!("/v1/tenants/globex{rest}{}", b.query);
        rows.push(
            b.row(s, Kind::Tenant, "another tenant in the path", expect)
                .target(target),
        );
    }
    let long = "a".repeat(64);
    for (what, tenant) in [
        ("tenant in upper case", "ACME"),
        ("tenant of one character", "a"),
        ("tenant of 64 characters", long.as_str()),
        ("tenant with an encoded #", "acme%23USER"),
        ("tenant with an encoded /", "acme%2F..%2Fglobex"),
        ("tenant ..", ".."),
        ("tenant with a NUL", "acme%00"),
        ("tenant as a key prefix", "TENANT%23acme"),
        ("tenant with a trailing space", "acme%20"),
        ("tenant with a Cyrillic look-alike a", "%D0%B0cme"),
        ("tenant starting with -", "-acme"),
        ("tenant with bytes that are no UTF-8", "acme%FF%FE"),
        ("tenant with a broken percent-escape", "ac%ZZme"),
    ] {
        let target = format!("/v1/tenants/{tenant}{rest}{}", b.query);
        rows.push(
            b.row(
                s,
                Kind::Tenant,
                what,
                Expect::Error(400, "invalid_tenant_id"),
            )
            .target(target),
        );
    }
    rows
}

/// User ids in the path that name no user of the tenant.
fn id_rows(b: &Base, s: &Seeded) -> Vec<Row> {
    let Some(user) = &b.user else {
        return Vec::new();
    };
    let swap = |segment: &str| {
        let path = b.path.replacen(user.as_str(), segment, 1);
        format!("{path}{}", b.query)
    };
    let ana = s.ana.as_str();
    let cyrillic = format!("usr_{}", &ana[4..].replacen('0', "\u{41e}", 1));
    let mut rows = Vec::new();
    let mut push = |what: &str, segment: String, expect: Expect| {
        rows.push(b.row(s, Kind::Id, what, expect).target(swap(&segment)));
    };
    if b.auth0() {
        let not_found = Expect::Error(404, "user_not_found");
        for (what, segment) in [
            ("our id without the auth0| prefix", ana.to_owned()),
            (
                "an Auth0 id in lower case",
                auth0_path_id(&ana.to_lowercase()),
            ),
            ("auth0| and no id", "auth0%7C".to_owned()),
            ("an id without a provider", format!("%7C{ana}")),
            (
                "an Auth0 id with an encoded /..",
                format!("{}%2F..", auth0_path_id(ana)),
            ),
            (
                "an Auth0 id with an encoded #",
                format!("{}%23PROFILE", auth0_path_id(ana)),
            ),
            (
                "an Auth0 id with a Cyrillic look-alike",
                auth0_path_id(&enc(&cyrillic)),
            ),
            (
                "a social id nobody has",
                "google-oauth2%7C999999999999".to_owned(),
            ),
            (
                "the id of an identity linked into another user",
                format!("facebook%7C{EVENT_FACEBOOK_ID}"),
            ),
            (
                "an Auth0 id of 300 characters",
                auth0_path_id(&"A".repeat(300)),
            ),
        ] {
            push(what, segment, not_found);
        }
        push(
            "the Auth0 id of another tenant's user",
            auth0_path_id(&s.globex),
            not_found,
        );
    } else {
        let invalid = Expect::Error(400, "invalid_user_id");
        for (what, segment) in [
            ("a user id in lower case", ana.to_lowercase()),
            ("usr_ and nothing", "usr_".to_owned()),
            ("a user id with an encoded #", format!("{ana}%23PROFILE")),
            (
                "a key in the path",
                format!("TENANT%23globex%23USER%23{}", s.globex),
            ),
            ("an encoded ../..", "..%2F..%2Fglobex".to_owned()),
            ("..", "..".to_owned()),
            ("a user id with a NUL", format!("{ana}%00")),
            (
                "a user id of 300 characters",
                format!("usr_{}", "A".repeat(296)),
            ),
            ("a user id with a Cyrillic look-alike", enc(&cyrillic)),
            ("an Auth0 id on /v1", auth0_path_id(ana)),
            ("a user id with a leading space", format!("%20{ana}")),
            (
                "a user id with bytes that are no UTF-8",
                format!("{ana}%FF"),
            ),
            (
                "a user id with a broken percent-escape",
                format!("usr_%ZZ{}", &ana[7..]),
            ),
        ] {
            push(what, segment, invalid);
        }
        push(
            "another tenant's user",
            s.globex.clone(),
            Expect::Error(404, "user_not_found"),
        );
    }
    rows
}

/// Bodies that are no JSON object of the route, whatever the route.
fn body_rows(b: &Base, s: &Seeded) -> Vec<Row> {
    let Some(body) = &b.body else {
        return Vec::new();
    };
    let field = b.field.expect("a route with a body names its field");
    let valid = body.to_string();
    let json_error = Expect::Error(400, "invalid_json");
    let body_error = Expect::Error(400, "invalid_body");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    // The route's own field holds the bad bytes: an unknown field would be refused first.
    let inside = |value: &[u8]| {
        let mut out = format!("{{\"{}\":", field.name).into_bytes();
        out.extend_from_slice(value);
        out.push(b'}');
        out
    };
    let deep_inside = inside(deep.as_bytes());
    let deep_error = if field.any_json {
        json_error
    } else {
        body_error
    };
    let mut unknown = body.clone();
    unknown["zz_unknown"] = json!(1);
    let trailing = format!("{valid} trailing");
    let truncated = valid[..valid.len() / 2].to_owned();
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(valid.as_bytes());
    let utf16: Vec<u8> = valid.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let huge = json!({"padding": "x".repeat(shared::http::MAX_BODY_BYTES + 1)});
    let mut rows = vec![
        b.row(s, Kind::Body, "an empty body", json_error).body(""),
        b.row(s, Kind::Body, "a body of whitespace", json_error)
            .body(" \n\t "),
        b.row(s, Kind::Body, "a truncated body", json_error)
            .body(truncated),
        b.row(s, Kind::Body, "a lone {", json_error).body("{"),
        b.row(s, Kind::Body, "plain text", json_error).body("hello"),
        b.row(s, Kind::Body, "an array", body_error).body("[]"),
        b.row(s, Kind::Body, "a string", body_error)
            .body("\"text\""),
        b.row(s, Kind::Body, "a number", body_error).body("42"),
        b.row(s, Kind::Body, "null", body_error).body("null"),
        b.row(s, Kind::Body, "true", body_error).body("true"),
        b.row(s, Kind::Body, "text after the object", json_error)
            .body(trailing),
        b.row(s, Kind::Body, "two objects", json_error)
            .body(format!("{valid}{valid}")),
        // Valid JSON, however deep, that is no object.
        b.row(s, Kind::Body, "10,000 nested arrays", body_error)
            .body(deep),
        b.row(
            s,
            Kind::Body,
            "10,000 nested arrays in its field",
            deep_error,
        )
        .body(deep_inside),
        b.row(s, Kind::Body, "invalid UTF-8 in its field", json_error)
            .body(inside(b"\"\xff\xfe\xc3\"")),
        b.row(
            s,
            Kind::Body,
            "a raw control character in its field",
            json_error,
        )
        .body(inside(b"\"a\x01b\"")),
        b.row(
            s,
            Kind::Body,
            "a lone surrogate escape in its field",
            json_error,
        )
        .body(inside(br#""\ud800""#)),
        b.row(
            s,
            Kind::Body,
            "an unterminated string in its field",
            json_error,
        )
        .body(inside(b"\"abc")),
        b.row(s, Kind::Body, "a byte order mark", json_error)
            .body(bom),
        b.row(s, Kind::Body, "UTF-16, as its charset says", json_error)
            .body(utf16)
            .content_type(Some("application/json; charset=utf-16")),
        b.row(s, Kind::Body, "an unknown field", body_error)
            .json(&unknown),
        b.row(
            s,
            Kind::Body,
            "text/plain",
            Expect::Error(415, "unsupported_media_type"),
        )
        .content_type(Some("text/plain")),
        b.row(
            s,
            Kind::Body,
            "application/xml",
            Expect::Error(415, "unsupported_media_type"),
        )
        .body("<user/>")
        .content_type(Some("application/xml")),
        b.row(
            s,
            Kind::Body,
            "multipart/form-data",
            Expect::Error(415, "unsupported_media_type"),
        )
        .body("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n")
        .content_type(Some("multipart/form-data; boundary=x")),
        b.row(
            s,
            Kind::Body,
            "a body over 256 KiB",
            Expect::Error(413, "payload_too_large"),
        )
        .json(&huge),
    ];
    // The route's own field twice: a parser that kept either one would act on half of what
    // was sent.
    let first = json!({field.name: body[field.name].clone()}).to_string();
    let doubled = format!("{}, {}", &first[..first.len() - 1], &valid[1..]);
    let twice = b
        .row(s, Kind::Body, format!("{} twice", field.name), body_error)
        .body(doubled);
    rows.push(twice);
    if !b.form {
        rows.push(
            b.row(
                s,
                Kind::Body,
                "a form",
                Expect::Error(415, "unsupported_media_type"),
            )
            .form("a=1&b=2"),
        );
    }
    rows
}

/// The route's field spoiled: a number, null, 200 KB, a NUL character.
fn field_rows(b: &Base, s: &Seeded) -> Vec<Row> {
    let Some(field) = b.field else {
        return Vec::new();
    };
    let name = field.name;
    let body_error = Expect::Error(400, "invalid_body");
    let huge_array: Vec<u8> = vec![0; 40_000];
    let mut rows = vec![
        b.row(s, Kind::Field, format!("{name} a number"), body_error)
            .json(&b.with(name, json!(12_345_678))),
        b.row(s, Kind::Field, format!("{name} an object"), body_error)
            .json(&b.with(name, json!({"$ne": null}))),
        b.row(
            s,
            Kind::Field,
            format!("{name} an array of 40,000"),
            body_error,
        )
        .json(&b.with(name, json!(huge_array))),
        b.row(s, Kind::Field, format!("{name} true"), body_error)
            .json(&b.with(name, json!(true))),
    ];
    let mut spoil = |what: &str, expect: Option<Expect>, value: Value| {
        if let Some(expect) = expect {
            rows.push(
                b.row(s, Kind::Field, format!("{name} {what}"), expect)
                    .json(&b.with(name, value)),
            );
        }
    };
    spoil("null", field.null, Value::Null);
    spoil("of 200 KB", field.long, json!("a".repeat(200 * 1024)));
    spoil("with a NUL", field.nul, json!("ana\u{0}@example.com"));
    rows
}

/// `Idempotency-Key` and `If-Match` headers no request may carry.
fn header_rows(b: &Base, s: &Seeded) -> Vec<Row> {
    let mut rows = Vec::new();
    let creates = [
        "POST /v1/tenants/{tenant_id}/users",
        "POST /api/v2/users",
        "POST /v1/tenants/{tenant_id}/users/{user_id}/identities",
        "POST /api/v2/users/{user_id}/identities",
        "POST /v1/tenants/{tenant_id}/tickets/email-verification",
        "POST /api/v2/tickets/email-verification",
        "POST /v1/tenants/{tenant_id}/tickets/password-change",
        "POST /api/v2/tickets/password-change",
        "POST /v1/tenants/{tenant_id}/jobs/verification-email",
        "POST /api/v2/jobs/verification-email",
    ];
    if creates.contains(&b.key) {
        let invalid = Expect::Error(400, "invalid_header");
        for (what, key) in [
            ("an empty Idempotency-Key", b"".to_vec()),
            ("an Idempotency-Key with a space", b"key one".to_vec()),
            ("an Idempotency-Key of 256 characters", vec![b'k'; 256]),
            (
                "an Idempotency-Key that is not ASCII",
                "cl\u{e9}-\u{43a}\u{43b}\u{44e}\u{447}".as_bytes().to_vec(),
            ),
        ] {
            rows.push(
                b.row(s, Kind::Header, what, invalid)
                    .header("idempotency-key", key),
            );
        }
    }
    let conditional = [
        "PATCH /v1/tenants/{tenant_id}/users/{user_id}",
        "PATCH /api/v2/users/{user_id}",
        "DELETE /v1/tenants/{tenant_id}/users/{user_id}",
        "DELETE /api/v2/users/{user_id}",
        "POST /v1/tenants/{tenant_id}/users/{user_id}/identities",
        "POST /api/v2/users/{user_id}/identities",
        "DELETE /v1/tenants/{tenant_id}/users/{user_id}/identities/{provider}/{identity_id}",
        "DELETE /api/v2/users/{user_id}/identities/{provider}/{identity_id}",
        "PATCH /v1/tenants/{tenant_id}/me",
        "PATCH /v1/tenants/{tenant_id}/settings",
    ];
    if conditional.contains(&b.key) {
        let stale = Expect::Error(412, "precondition_failed");
        for (what, tag, expect) in [
            (
                "If-Match naming two versions",
                "\"1\", \"2\"",
                Expect::Error(400, "invalid_header"),
            ),
            ("If-Match of a version never written", "\"999\"", stale),
            ("a weak If-Match", "W/\"1\"", stale),
            ("If-Match without quotes", "1", stale),
            ("If-Match that is no tag", "garbage", stale),
            ("If-Match of a negative version", "\"-1\"", stale),
        ] {
            rows.push(b.row(s, Kind::Header, what, expect).header("if-match", tag));
        }
    }
    rows
}

fn by_key<'a>(bases: &'a [Base], key: &str) -> &'a Base {
    bases
        .iter()
        .find(|b| b.key == key)
        .unwrap_or_else(|| panic!("no base request for {key}"))
}

/// Query strings each route refuses.
fn query_rows(bases: &[Base], s: &Seeded) -> Vec<Row> {
    let invalid_query = Expect::Error(400, "invalid_query");
    let invalid_email = Expect::Error(400, "invalid_email");
    let mut rows = Vec::new();
    let mut more = Vec::new();
    let mut add = |key: &str, cases: &[(&str, &str, Expect)]| {
        let b = by_key(bases, key);
        for (what, query, expect) in cases {
            rows.push(
                b.row(s, Kind::Query, *what, *expect)
                    .target(format!("{}{query}", b.path)),
            );
        }
    };
    let forged_shard = base64_url("v1:99:");
    let forged_id = base64_url(&format!("v1:0:{}", s.ana.to_lowercase()));
    let long_cursor = "A".repeat(10_000);
    add(
        "GET /v1/tenants/{tenant_id}/users",
        &[
            ("limit 0", "?limit=0", invalid_query),
            ("limit 101", "?limit=101", invalid_query),
            ("limit -1", "?limit=-1", invalid_query),
            ("limit 1.5", "?limit=1.5", invalid_query),
            ("limit a word", "?limit=ten", invalid_query),
            ("limit empty", "?limit=", invalid_query),
            ("limit bytes that are no UTF-8", "?limit=%FF", invalid_query),
            (
                "limit of 40 digits",
                "?limit=1000000000000000000000000000000000000000",
                invalid_query,
            ),
            (
                "a cursor not ours",
                "?cursor=forged",
                Expect::Error(400, "invalid_cursor"),
            ),
            (
                "a cursor of a shard that does not exist",
                &format!("?cursor={forged_shard}"),
                Expect::Error(400, "invalid_cursor"),
            ),
            (
                "a cursor with a user id in lower case",
                &format!("?cursor={forged_id}"),
                Expect::Error(400, "invalid_cursor"),
            ),
            (
                "a cursor of 10,000 characters",
                &format!("?cursor={long_cursor}"),
                Expect::Error(400, "invalid_cursor"),
            ),
            (
                "an email that is none",
                "?email=not-an-email",
                invalid_email,
            ),
            (
                "an email with a fullwidth @",
                "?email=ana.lovelace%EF%BC%A0example.com",
                invalid_email,
            ),
            ("sort", "?sort=email", invalid_query),
            ("an unknown parameter", "?page=2", invalid_query),
        ],
    );
    let v2_query = Expect::Error(400, "invalid_query_string");
    add(
        "GET /api/v2/users",
        &[
            ("per_page 0", "?per_page=0", v2_query),
            ("per_page 101", "?per_page=101", v2_query),
            ("page -1", "?page=-1", v2_query),
            ("page a word", "?page=two", v2_query),
            (
                "a page past the first 1,000 users",
                "?page=20&per_page=50",
                v2_query,
            ),
            (
                "a page number that overflows",
                "?page=18446744073709551615&per_page=100",
                v2_query,
            ),
            ("sort", "?sort=email:1", v2_query),
            ("search_engine v2", "?search_engine=v2", v2_query),
            ("a wildcard query", "?q=email%3A*%40example.com", v2_query),
            ("a field not indexed", "?q=name%3A%22Ana%22", v2_query),
            (
                "two terms",
                "?q=email_verified%3Atrue%20AND%20blocked%3Afalse",
                v2_query,
            ),
            ("a range", "?q=logins_count%3A%5B1%20TO%205%5D", v2_query),
            (
                "email_verified maybe",
                "?q=email_verified%3Amaybe",
                v2_query,
            ),
            (
                "a connection that is no name",
                "?q=identities.connection%3A%22Bad%20Name%22",
                v2_query,
            ),
            ("an unquoted empty term", "?q=email%3A", v2_query),
            (
                "an email that is none",
                "?q=email%3A%22nope%22",
                invalid_email,
            ),
            ("an unknown parameter", "?cursor=abc", invalid_query),
        ],
    );
    for key in [
        "GET /v1/tenants/{tenant_id}/users-by-email",
        "GET /api/v2/users-by-email",
    ] {
        add(
            key,
            &[
                ("no email", "", invalid_query),
                ("an empty email", "?email=", invalid_email),
                ("an email that is none", "?email=ana", invalid_email),
                (
                    "an email with a fullwidth @",
                    "?email=ana.lovelace%EF%BC%A0example.com",
                    invalid_email,
                ),
                (
                    "an email with an ideographic full stop",
                    "?email=ana.lovelace%40example%E3%80%82com",
                    invalid_email,
                ),
                (
                    "an email with a NUL",
                    "?email=ana.lovelace%00%40example.com",
                    invalid_email,
                ),
                (
                    "an email with a quoted local part",
                    "?email=%22ana%22%40example.com",
                    invalid_email,
                ),
                (
                    "an email of 300 characters",
                    &format!("?email={}%40example.com", "a".repeat(290)),
                    invalid_email,
                ),
                (
                    "an unknown parameter",
                    "?email=ana.lovelace%40example.com&connection=database",
                    invalid_query,
                ),
            ],
        );
    }
    for key in [
        "GET /v1/tenants/{tenant_id}/user-blocks",
        "DELETE /v1/tenants/{tenant_id}/user-blocks",
        "GET /api/v2/user-blocks",
        "DELETE /api/v2/user-blocks",
    ] {
        add(
            key,
            &[
                ("neither identifier nor ip", "", invalid_query),
                (
                    "both identifier and ip",
                    "?identifier=ana_lovelace&ip=203.0.113.7",
                    invalid_query,
                ),
                (
                    "an identifier that is no email",
                    "?identifier=ana%40",
                    invalid_email,
                ),
                (
                    "a username with a Cyrillic look-alike",
                    "?identifier=%D0%B0na_lovelace",
                    Expect::Error(400, "invalid_username"),
                ),
                (
                    "a username with a space",
                    "?identifier=ana%20lovelace",
                    Expect::Error(400, "invalid_username"),
                ),
                ("an unknown parameter", "?user=ana_lovelace", invalid_query),
            ],
        );
        let b = by_key(bases, key);
        for (what, query) in [
            ("an ip that is none", "?ip=999.1.1.1"),
            ("an ip with a prefix length", "?ip=203.0.113.0%2F24"),
        ] {
            more.push(
                b.row(s, Kind::Query, what, invalid_query)
                    .target(format!("{}{query}", b.path)),
            );
        }
    }
    for key in [
        "GET /v1/tenants/{tenant_id}/user-blocks/{user_id}",
        "DELETE /v1/tenants/{tenant_id}/user-blocks/{user_id}",
        "GET /api/v2/user-blocks/{user_id}",
        "DELETE /api/v2/user-blocks/{user_id}",
    ] {
        add(
            key,
            &[(
                "an unknown parameter",
                "?identifier=ana_lovelace",
                invalid_query,
            )],
        );
    }
    add(
        "GET /v1/tenants/{tenant_id}/settings",
        &[("an unknown parameter", "?fields=locale", invalid_query)],
    );
    for key in [
        "GET /v1/tenants/{tenant_id}/jobs/{job_id}",
        "GET /api/v2/jobs/{job_id}",
    ] {
        add(
            key,
            &[("an unknown parameter", "?include=user", invalid_query)],
        );
    }
    for key in [
        "GET /v1/tenants/{tenant_id}/users-by-email",
        "GET /api/v2/users-by-email",
        "GET /v1/tenants/{tenant_id}/user-blocks",
    ] {
        let b = by_key(bases, key);
        let name = if key.contains("user-blocks") {
            "identifier"
        } else {
            "email"
        };
        for (what, hidden) in [
            ("an email with a zero-width space", "%E2%80%8B"),
            ("an email with a right-to-left override", "%E2%80%AE"),
            ("an email with a byte order mark", "%EF%BB%BF"),
            ("an email with a byte that is no UTF-8", "%FF"),
        ] {
            more.push(b.row(s, Kind::Query, what, invalid_email).target(format!(
                "{}?{name}=ana{hidden}.lovelace%40example.com",
                b.path
            )));
        }
    }
    rows.extend(more);
    rows
}

fn base64_url(raw: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// The rules of each route's fields, as docs/api.md, docs/email.md, docs/linking.md and
/// docs/configuration.md state them.
fn rule_rows(bases: &[Base], s: &Seeded) -> Vec<Row> {
    let mut rows = Vec::new();
    let body = |code: &'static str| Expect::Error(400, code);
    let mut add = |key: &str, cases: Vec<(&str, Value, Expect)>| {
        let b = by_key(bases, key);
        for (what, value, expect) in cases {
            rows.push(b.row(s, Kind::Rule, what, expect).json(&value));
        }
    };
    for key in ["POST /v1/tenants/{tenant_id}/users", "POST /api/v2/users"] {
        let b = by_key(bases, key);
        let mut cases = create_rules(b);
        cases.extend(metadata_rules(b, true, true));
        add(key, cases);
    }
    for key in [
        "PATCH /v1/tenants/{tenant_id}/users/{user_id}",
        "PATCH /api/v2/users/{user_id}",
    ] {
        let b = by_key(bases, key);
        let mut cases = patch_rules();
        cases.extend(metadata_rules(b, false, true));
        add(key, cases);
    }
    let me = by_key(bases, "PATCH /v1/tenants/{tenant_id}/me");
    let mut cases = metadata_rules(me, false, false);
    let insufficient = Expect::Error(403, "insufficient_scope");
    for (field, value) in [
        ("app_metadata", json!({"plan": "free"})),
        ("email_verified", json!(true)),
        ("blocked", json!(false)),
        ("password", json!(STRONG_PASSWORD)),
        ("phone_number", json!("+14155550199")),
        ("phone_verified", json!(true)),
        ("deletion_scheduled_at", Value::Null),
    ] {
        cases.push((field, json!({field: value}), insufficient));
    }
    cases.extend([
        (
            "a field users do not have",
            json!({"role": "admin"}),
            body("invalid_body"),
        ),
        ("user_id", json!({"user_id": s.jose}), body("invalid_body")),
        (
            "email that is none",
            json!({"email": "nope"}),
            body("invalid_email"),
        ),
        (
            "username with a Cyrillic look-alike",
            json!({"username": "\u{430}na"}),
            body("invalid_username"),
        ),
        (
            "nickname with a right-to-left override",
            json!({"nickname": "ada\u{202e}evil"}),
            body("invalid_body"),
        ),
        (
            "picture that is no URL",
            json!({"picture": "javascript:alert(1)"}),
            body("invalid_body"),
        ),
    ]);
    add("PATCH /v1/tenants/{tenant_id}/me", cases);
    add(
        "POST /v1/tenants/{tenant_id}/authenticate",
        authenticate_rules(),
    );
    add(
        "POST /v1/tenants/{tenant_id}/me/password",
        vec![
            (
                "no current_password",
                json!({"new_password": STRONG_PASSWORD}),
                body("invalid_body"),
            ),
            (
                "current_password a number",
                json!({"current_password": 12_345_678, "new_password": STRONG_PASSWORD}),
                body("invalid_body"),
            ),
            (
                "current_password null",
                json!({"current_password": null, "new_password": STRONG_PASSWORD}),
                body("invalid_body"),
            ),
            (
                "no new_password",
                json!({"current_password": ANA_PASSWORD}),
                body("invalid_body"),
            ),
            (
                "password instead of new_password",
                json!({"current_password": ANA_PASSWORD, "password": STRONG_PASSWORD}),
                body("invalid_body"),
            ),
        ],
    );
    add("PATCH /v1/tenants/{tenant_id}/settings", settings_rules());
    for key in [
        "POST /v1/tenants/{tenant_id}/users/{user_id}/identities",
        "POST /api/v2/users/{user_id}/identities",
    ] {
        add(key, link_rules(key.starts_with("POST /api"), s));
    }
    for key in [
        "POST /v1/tenants/{tenant_id}/tickets/email-verification",
        "POST /api/v2/tickets/email-verification",
        "POST /v1/tenants/{tenant_id}/tickets/password-change",
        "POST /api/v2/tickets/password-change",
    ] {
        add(key, ticket_rules(key, s));
    }
    for key in [
        "POST /v1/tenants/{tenant_id}/jobs/verification-email",
        "POST /api/v2/jobs/verification-email",
    ] {
        let auth0 = key.starts_with("POST /api");
        let id = |raw: &str| match auth0 {
            true => format!("auth0|{raw}"),
            false => raw.to_owned(),
        };
        add(
            key,
            vec![
                (
                    "a user nobody is",
                    json!({"user_id": id("usr_01ARZ3NDEKTSV4RRFFQ69G5FAV")}),
                    Expect::Error(404, "user_not_found"),
                ),
                (
                    "a user whose address is verified",
                    json!({"user_id": id(EVENT_PRIMARY)}),
                    body("email_already_verified"),
                ),
                (
                    "another tenant's user",
                    json!({"user_id": id(&s.globex)}),
                    Expect::Error(404, "user_not_found"),
                ),
                (
                    "an unknown field",
                    json!({"user_id": id(&s.ana), "client_secret": "x"}),
                    body("invalid_body"),
                ),
                ("no user_id", json!({}), body("invalid_body")),
            ],
        );
    }
    add("POST /v1/tenants/{tenant_id}/password-reset", reset_rules());
    add(
        "POST /v1/tenants/{tenant_id}/password-reset/confirm",
        vec![
            (
                "a ticket nobody was given",
                json!({"ticket": UNKNOWN_TICKET, "new_password": STRONG_PASSWORD}),
                body("invalid_ticket"),
            ),
            (
                "a ticket of another kind",
                json!({"ticket": EVENT_CANCEL_TICKET, "new_password": STRONG_PASSWORD}),
                body("invalid_ticket"),
            ),
            (
                "a ticket in standard base64",
                json!({"ticket": "a+b/c==", "new_password": STRONG_PASSWORD}),
                body("invalid_ticket"),
            ),
            (
                "a common password",
                json!({"ticket": EVENT_RESET_TICKET, "new_password": "password"}),
                body("password_too_weak"),
            ),
            (
                "a password of 129 characters",
                json!({"ticket": EVENT_RESET_TICKET, "new_password": "Zq9!".repeat(32) + "x"}),
                body("password_too_weak"),
            ),
            (
                "a password that is the address",
                json!({"ticket": EVENT_RESET_TICKET, "new_password": "seed@example.com"}),
                body("password_too_weak"),
            ),
            (
                "no new_password",
                json!({"ticket": EVENT_RESET_TICKET}),
                body("invalid_body"),
            ),
            (
                "new_password a number",
                json!({"ticket": EVENT_RESET_TICKET, "new_password": 12_345_678}),
                body("invalid_body"),
            ),
            (
                "no ticket",
                json!({"new_password": STRONG_PASSWORD}),
                body("invalid_body"),
            ),
            (
                "the ticket in an array",
                json!({"ticket": [EVENT_RESET_TICKET], "new_password": STRONG_PASSWORD}),
                body("invalid_body"),
            ),
        ],
    );
    for (key, own, other) in [
        (
            "POST /v1/tenants/{tenant_id}/email-verification/confirm",
            EVENT_VERIFY_TICKET,
            EVENT_UNBLOCK_TICKET,
        ),
        (
            "POST /v1/tenants/{tenant_id}/email-change/cancel",
            EVENT_CANCEL_TICKET,
            EVENT_VERIFY_TICKET,
        ),
        (
            "POST /v1/tenants/{tenant_id}/unblock",
            EVENT_UNBLOCK_TICKET,
            EVENT_RESET_TICKET,
        ),
    ] {
        add(
            key,
            vec![
                (
                    "a ticket nobody was given",
                    json!({"ticket": UNKNOWN_TICKET}),
                    body("invalid_ticket"),
                ),
                (
                    "a ticket of another kind",
                    json!({"ticket": other}),
                    body("invalid_ticket"),
                ),
                (
                    "an empty ticket",
                    json!({"ticket": ""}),
                    body("invalid_ticket"),
                ),
                (
                    "the ticket and a field more",
                    json!({"ticket": own, "result_url": "https://evil.example/"}),
                    body("invalid_body"),
                ),
                (
                    "the ticket in an array",
                    json!({"ticket": [own]}),
                    body("invalid_body"),
                ),
            ],
        );
    }
    rows.extend(page_rows(bases, s));
    rows
}

fn create_rules(b: &Base) -> Vec<(&'static str, Value, Expect)> {
    let body = |code: &'static str| Expect::Error(400, code);
    let with = |field: &str, value: Value| b.with(field, value);
    let weak = body("password_too_weak");
    let email = body("invalid_email");
    let mut cases = vec![
        ("email without @", with("email", json!("plain")), email),
        ("email without domain", with("email", json!("a@")), email),
        (
            "email without local part",
            with("email", json!("@example.com")),
            email,
        ),
        (
            "email at a dotless domain",
            with("email", json!("a@localhost")),
            email,
        ),
        (
            "email with a display name",
            with("email", json!("Ana <ana@example.com>")),
            email,
        ),
        (
            "email with a quoted local part",
            with("email", json!("\"ana smith\"@example.com")),
            email,
        ),
        (
            "email with a comment",
            with("email", json!("ana(work)@example.com")),
            email,
        ),
        (
            "email at an address literal",
            with("email", json!("ana@[192.0.2.1]")),
            email,
        ),
        (
            "email with a fullwidth @",
            with("email", json!("new.person\u{ff20}example.com")),
            email,
        ),
        (
            "email with an ideographic full stop",
            with("email", json!("new.person@example\u{3002}com")),
            email,
        ),
        (
            "email with a line break",
            with("email", json!("new.person@example.com\nBcc: x@example.com")),
            email,
        ),
        (
            "email of 255 characters",
            with("email", json!(format!("{}@example.com", "a".repeat(243)))),
            email,
        ),
        ("email empty", with("email", json!("")), email),
        (
            "username with a Cyrillic look-alike",
            with("username", json!("\u{430}na")),
            body("invalid_username"),
        ),
        (
            "username with @",
            with("username", json!("ana@example")),
            body("invalid_username"),
        ),
        (
            "username of 129 characters",
            with("username", json!("a".repeat(129))),
            body("invalid_username"),
        ),
        (
            "username empty",
            with("username", json!("")),
            body("invalid_username"),
        ),
        (
            "phone number without +",
            with("phone_number", json!("14155550123")),
            body("invalid_phone_number"),
        ),
        (
            "phone number with spaces",
            with("phone_number", json!("+1 415 555 0123")),
            body("invalid_phone_number"),
        ),
        (
            "phone number starting with 0",
            with("phone_number", json!("+01234567")),
            body("invalid_phone_number"),
        ),
        (
            "connection in upper case",
            with("connection", json!("Google")),
            body("invalid_connection"),
        ),
        (
            "connection with a space",
            with("connection", json!("my idp")),
            body("invalid_connection"),
        ),
        (
            "connection of 65 characters",
            with("connection", json!("c".repeat(65))),
            body("invalid_connection"),
        ),
        (
            "a common password",
            with("password", json!("password")),
            weak,
        ),
        (
            "a password of 7 characters",
            with("password", json!("Zq9!xP2")),
            weak,
        ),
        (
            "a password of 129 characters",
            with("password", json!("Zq9!".repeat(32) + "x")),
            weak,
        ),
        (
            "the address as password",
            with("password", json!("new.person@example.com")),
            weak,
        ),
        (
            "a keyboard walk as password",
            with("password", json!("qwertyuiop")),
            weak,
        ),
        (
            "password a number",
            with("password", json!(12_345_678)),
            body("invalid_body"),
        ),
        (
            "password null",
            with("password", Value::Null),
            body("invalid_body"),
        ),
        (
            "a user_id for a database user",
            with("user_id", json!("usr_01ARZ3NDEKTSV4RRFFQ69G5FAV")),
            body("invalid_body"),
        ),
        (
            "a social user without its provider's id",
            json!({"connection": "google-oauth2", "email": "new.person@example.com"}),
            body("invalid_body"),
        ),
        (
            "a social user with a password",
            json!({"connection": "google-oauth2", "user_id": "1", "password": STRONG_PASSWORD}),
            body("invalid_body"),
        ),
        (
            "a provider's id with a space",
            json!({"connection": "google-oauth2", "user_id": "10 876"}),
            body("invalid_user_id"),
        ),
        (
            "a provider's id of 256 characters",
            json!({"connection": "google-oauth2", "user_id": "9".repeat(256)}),
            body("invalid_user_id"),
        ),
        (
            "name of 301 characters",
            with("name", json!("n".repeat(301))),
            body("invalid_body"),
        ),
        ("name empty", with("name", json!("")), body("invalid_body")),
        (
            "name with a right-to-left override",
            with("name", json!("Ana\u{202e}nimda")),
            body("invalid_body"),
        ),
        (
            "name with an escaped NUL",
            with("name", json!("Ana\u{0}")),
            body("invalid_body"),
        ),
        (
            "given_name with a zero-width space",
            with("given_name", json!("A\u{200b}na")),
            body("invalid_body"),
        ),
        (
            "family_name with a byte order mark",
            with("family_name", json!("\u{feff}Lovelace")),
            body("invalid_body"),
        ),
        (
            "picture with javascript:",
            with("picture", json!("javascript:alert(1)")),
            body("invalid_body"),
        ),
        (
            "picture over ftp",
            with("picture", json!("ftp://example.com/a.png")),
            body("invalid_body"),
        ),
        (
            "picture that is no URL",
            with("picture", json!("not a url")),
            body("invalid_body"),
        ),
        (
            "picture of 3,000 bytes",
            with(
                "picture",
                json!(format!("https://example.com/{}", "p".repeat(3000))),
            ),
            body("invalid_body"),
        ),
        (
            "email_verified a string",
            with("email_verified", json!("yes")),
            body("invalid_body"),
        ),
        (
            "blocked a string",
            with("blocked", json!("no")),
            body("invalid_body"),
        ),
        (
            "verify_email a number",
            with("verify_email", json!(1)),
            body("invalid_body"),
        ),
        (
            "a field users do not have",
            with("role", json!("admin")),
            body("invalid_body"),
        ),
    ];
    let conflict = Expect::Error(409, "user_exists");
    cases.extend([
        (
            "an address taken, in another case",
            with("email", json!("ANA.LOVELACE@EXAMPLE.COM")),
            conflict,
        ),
        (
            "an address taken, its accent decomposed",
            with("email", json!("Jose\u{301}@B\u{fc}cher.example")),
            conflict,
        ),
        (
            "an address taken, its domain in punycode",
            with("email", json!("jos\u{e9}@xn--bcher-kva.example")),
            conflict,
        ),
        (
            "a username taken, in another case",
            with("username", json!("ANA_LOVELACE")),
            conflict,
        ),
        (
            "an identity taken",
            json!({"connection": "google-oauth2", "user_id": EVENT_GOOGLE_ID}),
            conflict,
        ),
    ]);
    cases
}

fn patch_rules() -> Vec<(&'static str, Value, Expect)> {
    let body = |code: &'static str| Expect::Error(400, code);
    let mut cases: Vec<(&'static str, Value, Expect)> = [
        "email",
        "email_verified",
        "phone_verified",
        "blocked",
        "password",
    ]
    .into_iter()
    .map(|field| (field, json!({field: null}), body("invalid_body")))
    .collect();
    cases.extend([
        (
            "verify_email without email",
            json!({"verify_email": true}),
            body("invalid_body"),
        ),
        (
            "deletion_scheduled_at a date",
            json!({"deletion_scheduled_at": "2030-01-01T00:00:00Z"}),
            body("invalid_body"),
        ),
        (
            "another connection",
            json!({"connection": "google-oauth2"}),
            body("invalid_body"),
        ),
        (
            "user_id",
            json!({"user_id": "usr_01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
            body("invalid_body"),
        ),
        (
            "a common password",
            json!({"password": "password"}),
            body("password_too_weak"),
        ),
        (
            "email that is none",
            json!({"email": "a@localhost"}),
            body("invalid_email"),
        ),
        (
            "username with a Cyrillic look-alike",
            json!({"username": "\u{430}na"}),
            body("invalid_username"),
        ),
        (
            "phone number that is none",
            json!({"phone_number": "555"}),
            body("invalid_phone_number"),
        ),
        (
            "name of 301 characters",
            json!({"name": "n".repeat(301)}),
            body("invalid_body"),
        ),
        (
            "name with a right-to-left override",
            json!({"name": "Ana\u{202e}"}),
            body("invalid_body"),
        ),
        (
            "picture with javascript:",
            json!({"picture": "javascript:alert(1)"}),
            body("invalid_body"),
        ),
        (
            "email_verified a string",
            json!({"email_verified": "true"}),
            body("invalid_body"),
        ),
        (
            "email taken by another user, in another case",
            json!({"email": "SEED@EXAMPLE.COM"}),
            Expect::Error(409, "user_exists"),
        ),
        (
            "username taken by another user, in another case",
            json!({"username": "JOSE_BOOKBINDER"}),
            Expect::Error(409, "user_exists"),
        ),
    ]);
    cases
}

/// The metadata rules (docs/api.md, "Updating users"); `create`: the rules of a whole object
/// given at creation; `app`: the caller may name `app_metadata`.
fn metadata_rules(b: &Base, create: bool, app: bool) -> Vec<(&'static str, Value, Expect)> {
    let body = |code: &'static str| Expect::Error(400, code);
    let meta = |value: Value| b.with("user_metadata", value);
    let many: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
    let mut deep = json!("bottom");
    for _ in 0..17 {
        deep = json!([deep]);
    }
    let numbers: Vec<u8> = vec![7; 2000];
    let mut cases = vec![
        (
            "user_metadata a string",
            meta(json!("x")),
            body("invalid_metadata"),
        ),
        (
            "user_metadata an array",
            meta(json!([])),
            body("invalid_metadata"),
        ),
        (
            "user_metadata a number",
            meta(json!(5)),
            body("invalid_metadata"),
        ),
        (
            "a metadata key with .",
            meta(json!({"a.b": 1})),
            body("invalid_metadata_key"),
        ),
        (
            "a metadata key starting with $",
            meta(json!({"$where": 1})),
            body("invalid_metadata_key"),
        ),
        (
            "an empty metadata key",
            meta(json!({"": 1})),
            body("invalid_metadata_key"),
        ),
        (
            "a nested metadata key with .",
            meta(json!({"prefs": {"x.y": 1}})),
            body("invalid_metadata_key"),
        ),
        (
            "a nested metadata key starting with $",
            meta(json!({"prefs": [{"$set": 1}]})),
            body("invalid_metadata_key"),
        ),
        (
            "a metadata key of 65 bytes",
            meta(json!({"k".repeat(65): 1})),
            body("invalid_metadata_key"),
        ),
        (
            "51 metadata keys",
            meta(Value::Object(many)),
            body("metadata_too_large"),
        ),
        (
            "a metadata value of 3,000 bytes",
            meta(json!({"bio": "b".repeat(3000)})),
            body("metadata_too_large"),
        ),
        (
            "a metadata array of 2,000 numbers",
            meta(json!({"scores": numbers})),
            body("metadata_too_large"),
        ),
        (
            "metadata nested 17 deep",
            meta(json!({"deep": deep})),
            body("invalid_metadata"),
        ),
        (
            "a metadata number above DynamoDB's range",
            meta(json!({"n": 1e127})),
            body("invalid_metadata"),
        ),
        (
            "a metadata number below DynamoDB's range",
            meta(json!({"n": 1e-140})),
            body("invalid_metadata"),
        ),
    ];
    if create {
        cases.push((
            "a metadata key set to null at creation",
            meta(json!({"theme": null})),
            body("invalid_metadata"),
        ));
    }
    if app {
        let app_meta = |value: Value| b.with("app_metadata", value);
        cases.extend([
            (
                "a reserved app_metadata key",
                app_meta(json!({"blocked": true})),
                body("reserved_metadata_key"),
            ),
            (
                "Auth0's reserved clientID",
                app_meta(json!({"clientID": "x"})),
                body("reserved_metadata_key"),
            ),
            (
                "an app_metadata key with .",
                app_meta(json!({"roles.admin": true})),
                body("invalid_metadata_key"),
            ),
            (
                "app_metadata a string",
                app_meta(json!("pro")),
                body("invalid_metadata"),
            ),
        ]);
    }
    cases
}

fn authenticate_rules() -> Vec<(&'static str, Value, Expect)> {
    let body = |code: &'static str| Expect::Error(400, code);
    let login = |extra: Value| {
        let mut b = json!({"email": ANA_EMAIL, "password": ANA_PASSWORD, "ip": "203.0.113.7"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                b.as_object_mut().unwrap().remove(k);
            } else {
                b[k] = v.clone();
            }
        }
        b
    };
    vec![
        ("no ip", login(json!({"ip": null})), body("invalid_body")),
        (
            "an ip that is none",
            login(json!({"ip": "999.1.1.1"})),
            body("invalid_body"),
        ),
        (
            "an ip with a prefix length",
            login(json!({"ip": "203.0.113.0/24"})),
            body("invalid_body"),
        ),
        (
            "an ip with a port",
            login(json!({"ip": "203.0.113.7:443"})),
            body("invalid_body"),
        ),
        (
            "both email and username",
            login(json!({"username": ANA_USERNAME})),
            body("invalid_body"),
        ),
        (
            "neither email nor username",
            login(json!({"email": null})),
            body("invalid_body"),
        ),
        (
            "a social connection",
            login(json!({"connection": "google-oauth2"})),
            body("invalid_body"),
        ),
        (
            "a connection that is no name",
            login(json!({"connection": "Data Base"})),
            body("invalid_connection"),
        ),
        (
            "no password",
            login(json!({"password": null})),
            body("invalid_body"),
        ),
        (
            "password an array",
            login(json!({"password": [ANA_PASSWORD]})),
            body("invalid_body"),
        ),
        (
            "an email that is none",
            login(json!({"email": "ana"})),
            body("invalid_email"),
        ),
        (
            "an email with a fullwidth @",
            login(json!({"email": "ana.lovelace\u{ff20}example.com"})),
            body("invalid_email"),
        ),
        (
            "a username with a Cyrillic look-alike",
            json!({"username": "\u{430}na_lovelace", "password": ANA_PASSWORD, "ip": "203.0.113.7"}),
            body("invalid_username"),
        ),
    ]
}

fn settings_rules() -> Vec<(&'static str, Value, Expect)> {
    let body = |code: &'static str| Expect::Error(400, code);
    let deployment = Expect::Error(403, "deployment_setting");
    vec![
        (
            "its own rate limit",
            json!({"rate_limit": {"requests_per_second": 1000, "burst": 2000}}),
            deployment,
        ),
        (
            "its own public rate limit, reset",
            json!({"public_rate_limit": null}),
            deployment,
        ),
        (
            "a locale not shipped",
            json!({"locale": "xx-YY"}),
            body("invalid_body"),
        ),
        (
            "a locale a number",
            json!({"locale": 5}),
            body("invalid_body"),
        ),
        (
            "result_url_hosts a string",
            json!({"result_url_hosts": "id.example.com"}),
            body("invalid_body"),
        ),
        (
            "a result host that is none",
            json!({"result_url_hosts": ["bad host!"]}),
            body("invalid_body"),
        ),
        (
            "a default result URL over http",
            json!({"default_result_url": "http://evil.example/done"}),
            body("invalid_body"),
        ),
        (
            "a reset page with javascript:",
            json!({"password_reset_url": "javascript:alert(1)"}),
            body("invalid_body"),
        ),
        (
            "an empty display name",
            json!({"display_name": ""}),
            body("invalid_body"),
        ),
        (
            "a display name with a right-to-left override",
            json!({"display_name": "Acme\u{202e}"}),
            body("invalid_body"),
        ),
        (
            "a color by name",
            json!({"primary_color": "red"}),
            body("invalid_body"),
        ),
        (
            "a color white text cannot be read on",
            json!({"primary_color": "#ffff00"}),
            body("invalid_body"),
        ),
        (
            "a logo over http",
            json!({"logo_url": "http://cdn.example.com/logo.png"}),
            body("invalid_body"),
        ),
        (
            "a negative policy period",
            json!({"purge_unverified_after_days": -1}),
            body("invalid_body"),
        ),
        (
            "a policy period past a century",
            json!({"inactive_after_days": 36_501}),
            body("invalid_body"),
        ),
        (
            "a network that is none",
            json!({"ip_throttle_allow": ["not a cidr"]}),
            body("invalid_body"),
        ),
        (
            "a throttle a string",
            json!({"ip_throttle_failures_per_day": "100"}),
            body("invalid_body"),
        ),
        (
            "a setting there is not",
            json!({"theme": "dark"}),
            body("invalid_body"),
        ),
    ]
}

fn link_rules(auth0: bool, s: &Seeded) -> Vec<(&'static str, Value, Expect)> {
    let body = |code: &'static str| Expect::Error(400, code);
    let mut cases = vec![
        (
            "both link_with and an identity",
            json!({"link_with": s.jose, "provider": "google-oauth2", "user_id": EVENT_GOOGLE_ID}),
            body("invalid_body"),
        ),
        ("nobody named", json!({}), body("invalid_body")),
        (
            "a provider without its user_id",
            json!({"provider": "google-oauth2"}),
            body("invalid_body"),
        ),
        (
            "a provider in upper case",
            json!({"provider": "Google", "user_id": EVENT_GOOGLE_ID}),
            body("invalid_provider"),
        ),
        (
            "a provider's id with a space",
            json!({"provider": "google-oauth2", "user_id": "10 876"}),
            body("invalid_user_id"),
        ),
        (
            "allow_unverified a string",
            json!({"provider": "google-oauth2", "user_id": EVENT_GOOGLE_ID, "allow_unverified": "yes"}),
            body("invalid_body"),
        ),
        (
            "an identity nobody has",
            json!({"provider": "google-oauth2", "user_id": "999999999999"}),
            Expect::Error(404, "identity_not_found"),
        ),
        (
            "an identity linked already",
            json!({"provider": "facebook", "user_id": EVENT_FACEBOOK_ID}),
            Expect::Error(409, "identity_already_linked"),
        ),
        (
            "another tenant's user",
            json!({"provider": "database", "user_id": s.globex}),
            Expect::Error(404, "identity_not_found"),
        ),
    ];
    if auth0 {
        cases.extend([
            (
                "Auth0's link_with, an ID token",
                json!({"link_with": "eyJhbGciOiJSUzI1NiJ9.e30.x"}),
                body("invalid_body"),
            ),
            (
                "an Auth0 id in lower case",
                json!({"provider": "auth0", "user_id": format!("auth0|{}", s.jose.to_lowercase())}),
                body("invalid_user_id"),
            ),
            (
                "itself",
                json!({"provider": "auth0", "user_id": format!("auth0|{EVENT_PRIMARY}")}),
                body("cannot_link_self"),
            ),
            (
                "a user with identities of its own",
                json!({"provider": "auth0", "user_id": format!("auth0|{}", s.ana)}),
                Expect::Error(409, "secondary_has_identities"),
            ),
        ]);
    } else {
        cases.extend([
            (
                "link_with in lower case",
                json!({"link_with": s.jose.to_lowercase()}),
                body("invalid_user_id"),
            ),
            (
                "itself",
                json!({"link_with": EVENT_PRIMARY}),
                body("cannot_link_self"),
            ),
            (
                "a user nobody is",
                json!({"link_with": "usr_01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
                Expect::Error(404, "user_not_found"),
            ),
            (
                "a user with identities of its own",
                json!({"link_with": s.ana}),
                Expect::Error(409, "secondary_has_identities"),
            ),
            (
                "a user whose address nobody verified",
                json!({"link_with": s.jose}),
                Expect::Error(409, "unverified_email"),
            ),
        ]);
    }
    cases
}

fn ticket_rules(key: &str, s: &Seeded) -> Vec<(&'static str, Value, Expect)> {
    let body = |code: &'static str| Expect::Error(400, code);
    let auth0 = key.starts_with("POST /api");
    let password = key.ends_with("password-change");
    let user = match auth0 {
        true => format!("auth0|{}", s.ana),
        false => s.ana.clone(),
    };
    let with = |extra: Value| {
        let mut b = json!({"user_id": user});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let result = body("invalid_result_url");
    let most = if password { 604_801 } else { 2_592_001 };
    let mut cases = vec![
        (
            "ttl_sec 59",
            with(json!({"ttl_sec": 59})),
            body("invalid_body"),
        ),
        (
            "ttl_sec past the longest",
            with(json!({"ttl_sec": most})),
            body("invalid_body"),
        ),
        (
            "ttl_sec -1",
            with(json!({"ttl_sec": -1})),
            body("invalid_body"),
        ),
        (
            "ttl_sec a string",
            with(json!({"ttl_sec": "600"})),
            body("invalid_body"),
        ),
        (
            "ttl_sec a fraction",
            with(json!({"ttl_sec": 600.5})),
            body("invalid_body"),
        ),
        (
            "a result URL on a host not allowed",
            with(json!({"result_url": "https://evil.example/x"})),
            result,
        ),
        (
            "a result URL with javascript:",
            with(json!({"result_url": "javascript:alert(1)"})),
            result,
        ),
        (
            "a result URL with user info",
            with(json!({"result_url": "https://user:pw@id.example.com/x"})),
            result,
        ),
        (
            "a result URL over http",
            with(json!({"result_url": "http://id.example.com/x"})),
            result,
        ),
        (
            "a result URL on a look-alike host",
            with(json!({"result_url": "https://id.examp\u{13de}e.com/x"})),
            result,
        ),
        (
            "a result URL that is relative",
            with(json!({"result_url": "/verified"})),
            result,
        ),
        (
            "a user nobody is",
            json!({"user_id": if auth0 { "auth0|usr_01ARZ3NDEKTSV4RRFFQ69G5FAV" } else { "usr_01ARZ3NDEKTSV4RRFFQ69G5FAV" }}),
            Expect::Error(404, "user_not_found"),
        ),
    ];
    if auth0 {
        cases.extend([
            (
                "organization_id",
                with(json!({"organization_id": "org_1"})),
                body("invalid_body"),
            ),
            (
                "include_email_in_redirect",
                with(json!({"include_email_in_redirect": true})),
                body("invalid_body"),
            ),
            (
                "an identity to act on",
                with(json!({"identity": {"user_id": "1", "provider": "google-oauth2"}})),
                body("invalid_body"),
            ),
            (
                "our id without auth0|",
                json!({"user_id": s.ana}),
                Expect::Error(404, "user_not_found"),
            ),
        ]);
    } else {
        cases.push((
            "the user id in lower case",
            json!({"user_id": s.ana.to_lowercase()}),
            body("invalid_user_id"),
        ));
    }
    if password {
        cases.extend([
            (
                "both user_id and email",
                with(json!({"email": ANA_EMAIL})),
                body("invalid_body"),
            ),
            ("neither user_id nor email", json!({}), body("invalid_body")),
            (
                "a connection with user_id",
                with(json!({"connection": "database"})),
                body("invalid_body"),
            ),
            (
                "an email that is none",
                json!({"email": "ana"}),
                body("invalid_email"),
            ),
            (
                "a connection that is no name",
                json!({"email": ANA_EMAIL, "connection": "Data Base"}),
                body("invalid_connection"),
            ),
            (
                "mark_email_as_verified a string",
                with(json!({"mark_email_as_verified": "yes"})),
                body("invalid_body"),
            ),
        ]);
    } else {
        cases.push((
            "an email instead of user_id",
            json!({"email": ANA_EMAIL}),
            body("invalid_body"),
        ));
    }
    cases
}

fn reset_rules() -> Vec<(&'static str, Value, Expect)> {
    let body = |code: &'static str| Expect::Error(400, code);
    vec![
        (
            "an email that is none",
            json!({"email": "ana"}),
            body("invalid_email"),
        ),
        (
            "an email with a fullwidth @",
            json!({"email": "ana.lovelace\u{ff20}example.com"}),
            body("invalid_email"),
        ),
        (
            "an email with a line break",
            json!({"email": "ana.lovelace@example.com\r\nBcc: x@example.com"}),
            body("invalid_email"),
        ),
        (
            "a social connection",
            json!({"email": ANA_EMAIL, "connection": "google-oauth2"}),
            body("invalid_body"),
        ),
        (
            "a connection that is no name",
            json!({"email": ANA_EMAIL, "connection": "Data Base"}),
            body("invalid_connection"),
        ),
        (
            "no email",
            json!({"connection": "database"}),
            body("invalid_body"),
        ),
        (
            "a result URL",
            json!({"email": ANA_EMAIL, "result_url": "https://evil.example/"}),
            body("invalid_body"),
        ),
    ]
}

/// The pages an emailed link opens, and their forms, with a ticket of no use.
fn page_rows(bases: &[Base], s: &Seeded) -> Vec<Row> {
    let mut rows = Vec::new();
    let tickets = [
        ("a ticket nobody was given", UNKNOWN_TICKET.to_owned()),
        ("no ticket at all", String::new()),
        ("a ticket of 10,000 characters", "t".repeat(10_000)),
        ("a ticket with a NUL", format!("{UNKNOWN_TICKET}%00")),
        (
            "a ticket with an encoded /..",
            format!("{UNKNOWN_TICKET}%2F.."),
        ),
    ];
    let pages = [
        (
            "GET /v1/tenants/{tenant_id}/email-verification/confirm",
            EVENT_RESET_TICKET,
            Expect::Redirect("invalid_ticket"),
        ),
        (
            "GET /v1/tenants/{tenant_id}/password-reset/confirm",
            EVENT_UNBLOCK_TICKET,
            Expect::Page(400),
        ),
        (
            "GET /v1/tenants/{tenant_id}/email-change/cancel",
            EVENT_VERIFY_TICKET,
            Expect::Page(400),
        ),
        (
            "GET /v1/tenants/{tenant_id}/unblock",
            EVENT_CANCEL_TICKET,
            Expect::Page(400),
        ),
    ];
    for (key, other, expect) in pages {
        let b = by_key(bases, key);
        for (what, ticket) in tickets
            .iter()
            .chain([&("a ticket of another kind", other.to_owned())])
        {
            let query = match ticket.is_empty() {
                true => String::new(),
                false => format!("?ticket={ticket}"),
            };
            rows.push(
                b.row(s, Kind::Rule, *what, expect)
                    .target(format!("{}{query}", b.path)),
            );
        }
        rows.push(
            b.row(s, Kind::Rule, "the ticket twice, the first unknown", expect)
                .target(format!(
                    "{}?ticket={UNKNOWN_TICKET}&ticket={UNKNOWN_TICKET}",
                    b.path
                )),
        );
    }
    let forms = [
        (
            "POST /v1/tenants/{tenant_id}/email-verification/confirm",
            EVENT_RESET_TICKET,
            Expect::Redirect("invalid_ticket"),
        ),
        (
            "POST /v1/tenants/{tenant_id}/password-reset/confirm",
            EVENT_UNBLOCK_TICKET,
            Expect::Page(400),
        ),
        (
            "POST /v1/tenants/{tenant_id}/email-change/cancel",
            EVENT_VERIFY_TICKET,
            Expect::Page(400),
        ),
        (
            "POST /v1/tenants/{tenant_id}/unblock",
            EVENT_CANCEL_TICKET,
            Expect::Page(400),
        ),
    ];
    for (key, other, expect) in forms {
        let b = by_key(bases, key);
        let pw = format!("&new_password={STRONG_PASSWORD}&confirm_password={STRONG_PASSWORD}");
        for (what, form) in [
            (
                "a form with an unknown ticket",
                format!("ticket={UNKNOWN_TICKET}{pw}"),
            ),
            ("a form without a ticket", format!("lang=en{pw}")),
            (
                "a form with a ticket of another kind",
                format!("ticket={other}{pw}"),
            ),
            (
                "a form with bad percent-encoding",
                format!("ticket=%ZZ%{pw}"),
            ),
        ] {
            rows.push(b.row(s, Kind::Rule, what, expect).form(form));
        }
        rows.push(
            b.row(s, Kind::Rule, "a form that is not UTF-8", expect)
                .form(b"ticket=\xff\xfe\xfd".to_vec()),
        );
    }
    rows
}

/// What came back for a row.
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    raw: String,
}

async fn send(env: &Env, row: &Row) -> Answer {
    let (path, query) = row.target.split_once('?').unwrap_or((&row.target, ""));
    let mut headers = HeaderMap::new();
    if let Some(kind) = &row.content_type {
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(kind).unwrap());
    }
    for (name, value) in &row.headers {
        headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let incoming = Incoming {
        method: row.method,
        path,
        raw_query: query,
        headers: &headers,
        body: &row.body,
        source_ip: "198.51.100.1",
    };
    let response = dispatch(&env.app, &incoming, row.claims.as_ref()).await;
    let (parts, body) = response.into_parts();
    let raw = match body {
        Body::Empty => String::new(),
        Body::Text(t) => t,
        Body::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
        _ => String::new(),
    };
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        raw,
    }
}

/// Marks of an answer that says more than it should: a stack trace, a key of the table, a
/// hash, the store's own words.
const INTERNALS: [&str; 8] = [
    "panicked",
    "TENANT#",
    "$argon2",
    "ConditionalCheckFailed",
    "TransactionCanceled",
    "DynamoDB",
    "backtrace",
    ".rs:",
];

/// Why `answer` is not what `row` expects, if it is not.
fn mismatch(row: &Row, answer: &Answer, secrets: &[String]) -> Option<String> {
    let header = |name| {
        answer
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let sent = String::from_utf8_lossy(&row.body);
    let everything = format!("{:?} {}", answer.headers, answer.raw);
    for secret in secrets {
        if everything.contains(secret.as_str())
            && !sent.contains(secret.as_str())
            && !row.target.contains(secret.as_str())
        {
            return Some(format!("the answer carries {secret:?}"));
        }
    }
    if let Some(mark) = INTERNALS.iter().find(|m| answer.raw.contains(*m)) {
        return Some(format!("the answer carries {mark:?}"));
    }
    match row.expect() {
        Expect::Error(status, code) => {
            if answer.status != status {
                return Some(format!("status {}", answer.status));
            }
            if header(CONTENT_TYPE) != "application/json" {
                return Some(format!("content type {:?}", header(CONTENT_TYPE)));
            }
            let Ok(Value::Object(body)) = serde_json::from_str::<Value>(&answer.raw) else {
                return Some("a body that is no JSON object".into());
            };
            let reason = http::StatusCode::from_u16(status)
                .unwrap()
                .canonical_reason()
                .unwrap();
            let message = body.get("message").and_then(Value::as_str).unwrap_or("");
            let fields: Vec<&str> = body.keys().map(String::as_str).collect();
            if fields.len() != 4
                || body.get("statusCode") != Some(&json!(status))
                || body.get("error") != Some(&json!(reason))
                || body.get("errorCode") != Some(&json!(code))
                || message.is_empty()
            {
                return Some("another error".into());
            }
            // A message names what was wrong, never much of the input.
            if message.len() > 1000 {
                return Some(format!("a message of {} bytes", message.len()));
            }
            None
        }
        Expect::Page(status) => {
            let html = header(CONTENT_TYPE).starts_with("text/html");
            (answer.status != status || !html).then(|| format!("status {}", answer.status))
        }
        Expect::Redirect(code) => {
            let wanted = format!("{PUBLIC_BASE}/verified?success=false&error={code}");
            (answer.status != 302 || header(http::header::LOCATION) != wanted).then(|| {
                format!(
                    "status {} to {:?}",
                    answer.status,
                    header(http::header::LOCATION)
                )
            })
        }
    }
}

/// Rules whose bodies no `Value` can spell: a repeated key, nesting past the parser's limit.
fn raw_rows(bases: &[Base], s: &Seeded) -> Vec<Row> {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let mut rows = Vec::new();
    for key in [
        "POST /v1/tenants/{tenant_id}/users",
        "POST /api/v2/users",
        "PATCH /v1/tenants/{tenant_id}/users/{user_id}",
        "PATCH /api/v2/users/{user_id}",
        "PATCH /v1/tenants/{tenant_id}/me",
    ] {
        let b = by_key(bases, key);
        // A create of its own address each, so one that is taken cannot answer for another.
        let address = format!("repeated.{}@example.com", rows.len());
        let valid = b.body.as_ref().unwrap().to_string();
        let valid = valid.replace("new.person@example.com", &address);
        let with = |metadata: &str| {
            format!(
                "{}, \"user_metadata\": {metadata}}}",
                &valid[..valid.len() - 1]
            )
        };
        rows.push(
            b.row(
                s,
                Kind::Rule,
                "user_metadata nested 10,000 deep",
                Expect::Error(400, "invalid_json"),
            )
            .body(with(&format!("{{\"deep\": {deep}}}"))),
        );
        rows.push(
            b.row(
                s,
                Kind::Rule,
                "a metadata key twice",
                Expect::Error(400, "invalid_body"),
            )
            .body(with(r#"{"theme": "light", "theme": "dark"}"#)),
        );
    }
    rows
}

fn every_row(s: &Seeded) -> Vec<Row> {
    let bases = bases(s);
    let mut rows = Vec::new();
    for b in &bases {
        rows.extend(claim_rows(b, s));
        rows.extend(tenant_rows(b, s));
        rows.extend(id_rows(b, s));
        rows.extend(body_rows(b, s));
        rows.extend(field_rows(b, s));
        rows.extend(header_rows(b, s));
    }
    rows.extend(query_rows(&bases, s));
    rows.extend(rule_rows(&bases, s));
    rows.extend(raw_rows(&bases, s));
    rows
}

fn describe(row: &Row, answer: &Answer, why: &str) -> String {
    let target: String = row.target.chars().take(160).collect();
    let raw: String = answer.raw.chars().take(400).collect();
    format!(
        "{} {target} ({}; {:?}): expected {:?}, got {why}: {raw}",
        row.method,
        row.what,
        row.kind,
        row.expect()
    )
}

#[tokio::test]
async fn every_route_answers_malformed_requests_with_their_documented_error_and_changes_nothing() {
    let env = Env::unmetered().await;
    let s = seed(&env).await;
    let before = table(&env).await;

    // Each route's valid request is the one its template names, and every route has one.
    let bases = bases(&s);
    for route in &ROUTES {
        let b = by_key(&bases, route.key);
        let (found, _) = routes::find(b.method, &b.path).unwrap();
        assert_eq!(found.key, route.key, "the base request of {}", route.key);
    }
    assert_eq!(
        bases.len(),
        ROUTES.len(),
        "a base request for a route that is not"
    );

    let rows = every_row(&s);
    let mut failures = Vec::new();
    let mut coverage: HashMap<&str, Vec<Kind>> = HashMap::new();
    for row in &rows {
        let path = row.target.split('?').next().unwrap();
        match routes::find(row.method, path) {
            Some((route, _)) => coverage.entry(route.key).or_default().push(row.kind),
            None => failures.push(format!("{} {}: matches no route", row.method, row.target)),
        }
    }
    for row in &rows {
        let answer = send(&env, row).await;
        if let Some(why) = mismatch(row, &answer, &s.secrets) {
            failures.push(describe(row, &answer, &why));
        }
    }
    let changed = differences(&before, &table(&env).await);

    // Every route is covered by the kinds of rows its shape calls for.
    for route in &ROUTES {
        let kinds = coverage.get(route.key).cloned().unwrap_or_default();
        let b = by_key(&bases, route.key);
        let mut wanted = Vec::new();
        if !route.public {
            wanted.push(Kind::Claims);
        }
        if route.key.contains(" /v1/") {
            wanted.push(Kind::Tenant);
        }
        if route.key.contains("{user_id}") {
            wanted.push(Kind::Id);
        }
        if b.body.is_some() {
            wanted.extend([Kind::Body, Kind::Field]);
        }
        for kind in wanted {
            if !kinds.contains(&kind) {
                failures.push(format!("{}: no {kind:?} rows", route.key));
            }
        }
    }

    let errors = rows
        .iter()
        .filter(|r| matches!(r.expect, Expect::Error(..)))
        .count();
    assert!(
        failures.is_empty() && changed.is_empty(),
        "{} of {} rows were answered otherwise:\n{}\n\nand the table changed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n"),
        changed.join("\n")
    );
    assert!(errors >= 300, "only {errors} rows expect an error body");
}

#[tokio::test]
async fn a_look_alike_address_is_another_address_and_finds_nobody() {
    // docs/api.md compares addresses under NFC, a punycode domain and lower case, and no
    // more: a Cyrillic or fullwidth letter makes another address. Such a lookup must find
    // nobody, rather than the user it looks like.
    let env = Env::unmetered().await;
    let s = seed(&env).await;
    let before = table(&env).await;
    let admin = admin_of("acme");
    let mut failures = Vec::new();
    for look_alike in [
        "\u{430}na.lovelace@example.com",
        "ana.lovelace@ex\u{430}mple.com",
        "\u{ff41}na.lovelace@example.com",
        "ana.love1ace@example.com",
        "jos\u{435}\u{301}@b\u{fc}cher.example",
    ] {
        let q = enc(look_alike);
        for target in [
            format!("{V1}/users-by-email?email={q}"),
            format!("{V2}/users-by-email?email={q}"),
            format!("{V1}/users?email={q}"),
            format!("{V2}/users?q=email%3A%22{q}%22&search_engine=v3"),
            format!("{V1}/user-blocks?identifier={q}"),
        ] {
            let r = env.send("GET", &target, Some(&admin), None, &[]).await;
            let nobody = match &r.body {
                Value::Array(users) => users.is_empty(),
                body => {
                    body.get("users").is_some_and(|u| u == &json!([]))
                        || body.get("blocked_for").is_some_and(|b| b == &json!([]))
                }
            };
            let leaked = s.secrets.iter().find(|x| r.raw.contains(x.as_str()));
            if r.status != 200 || !nobody || leaked.is_some() {
                failures.push(format!("{target}: {} {}", r.status, r.raw));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(differences(&before, &table(&env).await).is_empty());
}
