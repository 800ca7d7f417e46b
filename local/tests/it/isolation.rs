//! Who may reach a user's data: every route of the template against five callers that may
//! not, over real HTTP through the local server's JWT check, as API Gateway stands in front
//! of the functions in AWS.
//!
//! Each route has one request aimed at Ana (her id in the path, her address in the query or
//! the body, her job, her linked identity), sent with no token, an expired token, a token of
//! the tenant without the route's scope, the admin token of another tenant, and the own token
//! of another user of the tenant (Jose). Each is answered as docs/api.md and
//! docs/auth0-compat.md say (API Gateway's own 401 and 403, the handlers' 403 and 404, or
//! the caller's own tenant or profile), and no answer carries a byte of Ana's data, nor of
//! anyone else's the caller may not see. The public routes take no token: without a ticket
//! that is good they reveal nothing either, whoever calls. The matrix is keyed by
//! `local_api::routes::ROUTES`, so a route added without its row fails here.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::{Value, json};

use crate::malformed::{
    ANA_EMAIL, ANA_GITHUB_ID, ANA_PASSWORD, JOSE_EMAIL, JOSE_PASSWORD, JOSE_USERNAME, Seeded,
    admin_of, differences, seed, table,
};
use crate::server::{Answer, exchange, start_with};
use crate::support::{ALL_SCOPES, EVENT_GOOGLE_ID, Env, PUBLIC_BASE};

const SECRET: &str = "isolation-secret";

/// A ticket of the right shape that was never issued.
const UNKNOWN_TICKET: &str = "bm90IGEgdGlja2V0IGFueWJvZHkgd2FzIGV2ZXIgZ2l2ZW4";

/// The tenant's own setting, data of the tenant's no other tenant may read.
const ACME_DISPLAY_NAME: &str = "Acme Vault of Profiles";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Caller {
    NoToken,
    Expired,
    WrongScope,
    OtherTenant,
    OtherUser,
}

const CALLERS: [Caller; 5] = [
    Caller::NoToken,
    Caller::Expired,
    Caller::WrongScope,
    Caller::OtherTenant,
    Caller::OtherUser,
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// API Gateway's JWT authorizer: `401 {"message":"Unauthorized"}`, before any function.
    Unauthorized,
    /// API Gateway, for a token without any of the route's `AuthorizationScopes`:
    /// `403 {"message":"Forbidden"}`.
    Forbidden,
    /// The handler's four-field error, in the route's dialect.
    Error(u16, &'static str),
    /// Served to the caller's own tenant: nothing of Ana in it.
    Served(u16),
    /// Served from the caller's own profile: it names the caller.
    Own(u16),
    /// The page of an emailed link that is of no use.
    Page(u16),
    /// The verification link's redirect to the tenant's result page, with this error.
    Redirect(&'static str),
}

/// A route's request aimed at Ana, and what the callers that vary by route get.
struct Case {
    method: &'static str,
    target: String,
    body: Option<Value>,
    /// Another tenant's admin on an `/api/v2` route, where the tenant is the token's.
    foreign: Option<Outcome>,
    /// Jose's own token on a `/me` route: Jose's own profile.
    own: Option<Outcome>,
    /// A public route: what every caller gets, a token or none.
    public: Option<Outcome>,
}

impl Case {
    fn new(method: &'static str, target: impl Into<String>) -> Self {
        Case {
            method,
            target: target.into(),
            body: None,
            foreign: None,
            own: None,
            public: None,
        }
    }

    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    fn foreign(mut self, outcome: Outcome) -> Self {
        self.foreign = Some(outcome);
        self
    }

    fn own(mut self, outcome: Outcome) -> Self {
        self.own = Some(outcome);
        self
    }

    fn public(mut self, outcome: Outcome) -> Self {
        self.public = Some(outcome);
        self
    }
}

fn enc(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

/// Every route's request, by its route key.
fn cases(s: &Seeded) -> HashMap<&'static str, Case> {
    use Outcome::{Error, Own, Page, Redirect, Served};
    let v1 = "/v1/tenants/acme";
    let ana = s.ana.as_str();
    let a0 = format!("auth0%7C{ana}");
    let ana_a0 = format!("auth0|{ana}");
    let email = enc(ANA_EMAIL);
    let inexistent = Error(404, "inexistent_user");
    let strong = "Quartz-Marmalade-Voyage-88";
    let create = json!({"email": ANA_EMAIL, "password": strong});
    let hijack = json!({"user_metadata": {"theme": "hijacked"}, "blocked": true});
    let link = json!({"provider": "google-oauth2", "user_id": EVENT_GOOGLE_ID});
    let unknown = json!({"ticket": UNKNOWN_TICKET});
    let invalid_ticket = Error(400, "invalid_ticket");
    HashMap::from([
        (
            "POST /v1/tenants/{tenant_id}/users",
            Case::new("POST", format!("{v1}/users")).body(create.clone()),
        ),
        (
            "POST /api/v2/users",
            // The tenant is the token's: the user is created there, as that tenant's own.
            Case::new("POST", "/api/v2/users")
                .body(json!({"email": "new.person@example.com", "password": strong, "connection": "Username-Password-Authentication"}))
                .foreign(Served(201)),
        ),
        (
            "GET /v1/tenants/{tenant_id}/users/{user_id}",
            Case::new("GET", format!("{v1}/users/{ana}")),
        ),
        (
            "GET /api/v2/users/{user_id}",
            Case::new("GET", format!("/api/v2/users/{a0}")).foreign(inexistent),
        ),
        (
            "PATCH /v1/tenants/{tenant_id}/users/{user_id}",
            Case::new("PATCH", format!("{v1}/users/{ana}")).body(hijack.clone()),
        ),
        (
            "PATCH /api/v2/users/{user_id}",
            Case::new("PATCH", format!("/api/v2/users/{a0}"))
                .body(hijack)
                .foreign(inexistent),
        ),
        (
            "DELETE /v1/tenants/{tenant_id}/users/{user_id}",
            Case::new("DELETE", format!("{v1}/users/{ana}")),
        ),
        (
            "DELETE /api/v2/users/{user_id}",
            Case::new("DELETE", format!("/api/v2/users/{a0}")).foreign(inexistent),
        ),
        (
            "GET /v1/tenants/{tenant_id}/users",
            Case::new("GET", format!("{v1}/users?limit=100")),
        ),
        (
            "GET /api/v2/users",
            Case::new("GET", "/api/v2/users?per_page=100&include_totals=true")
                .foreign(Served(200)),
        ),
        (
            "GET /v1/tenants/{tenant_id}/users-by-email",
            Case::new("GET", format!("{v1}/users-by-email?email={email}")),
        ),
        (
            "GET /api/v2/users-by-email",
            Case::new("GET", format!("/api/v2/users-by-email?email={email}"))
                .foreign(Served(200)),
        ),
        (
            "POST /v1/tenants/{tenant_id}/users/{user_id}/identities",
            Case::new("POST", format!("{v1}/users/{ana}/identities")).body(link.clone()),
        ),
        (
            "POST /api/v2/users/{user_id}/identities",
            Case::new("POST", format!("/api/v2/users/{a0}/identities"))
                .body(link)
                .foreign(inexistent),
        ),
        (
            "DELETE /v1/tenants/{tenant_id}/users/{user_id}/identities/{provider}/{identity_id}",
            Case::new(
                "DELETE",
                format!("{v1}/users/{ana}/identities/github/{ANA_GITHUB_ID}"),
            ),
        ),
        (
            "DELETE /api/v2/users/{user_id}/identities/{provider}/{identity_id}",
            Case::new(
                "DELETE",
                format!("/api/v2/users/{a0}/identities/github/{ANA_GITHUB_ID}"),
            )
            .foreign(inexistent),
        ),
        (
            "GET /v1/tenants/{tenant_id}/me",
            Case::new("GET", format!("{v1}/me")).own(Own(200)),
        ),
        (
            "PATCH /v1/tenants/{tenant_id}/me",
            Case::new("PATCH", format!("{v1}/me"))
                .body(json!({"nickname": "not-ana"}))
                .own(Own(200)),
        ),
        (
            "DELETE /v1/tenants/{tenant_id}/me",
            Case::new("DELETE", format!("{v1}/me")).own(Served(202)),
        ),
        (
            "GET /v1/tenants/{tenant_id}/users/{user_id}/export",
            Case::new("GET", format!("{v1}/users/{ana}/export")),
        ),
        (
            "GET /v1/tenants/{tenant_id}/me/export",
            Case::new("GET", format!("{v1}/me/export")).own(Own(200)),
        ),
        (
            "POST /v1/tenants/{tenant_id}/authenticate",
            // Ana's right password: a caller let through would be answered with Ana.
            Case::new("POST", format!("{v1}/authenticate"))
                .body(json!({"email": ANA_EMAIL, "password": ANA_PASSWORD, "ip": "203.0.113.7"})),
        ),
        (
            "POST /v1/tenants/{tenant_id}/me/password",
            // A /me route names nobody but its caller: Jose changes Jose's own password.
            Case::new("POST", format!("{v1}/me/password"))
                .body(json!({"current_password": JOSE_PASSWORD, "new_password": strong}))
                .own(Served(204)),
        ),
        (
            "GET /v1/tenants/{tenant_id}/settings",
            Case::new("GET", format!("{v1}/settings")),
        ),
        (
            "PATCH /v1/tenants/{tenant_id}/settings",
            Case::new("PATCH", format!("{v1}/settings"))
                .body(json!({"display_name": "Hijacked"})),
        ),
        (
            "GET /v1/tenants/{tenant_id}/user-blocks/{user_id}",
            Case::new("GET", format!("{v1}/user-blocks/{ana}")),
        ),
        (
            "GET /v1/tenants/{tenant_id}/user-blocks",
            Case::new("GET", format!("{v1}/user-blocks?identifier={email}")),
        ),
        (
            "GET /api/v2/user-blocks/{user_id}",
            Case::new("GET", format!("/api/v2/user-blocks/{a0}")).foreign(inexistent),
        ),
        (
            "GET /api/v2/user-blocks",
            Case::new("GET", format!("/api/v2/user-blocks?identifier={email}"))
                .foreign(Served(200)),
        ),
        (
            "DELETE /v1/tenants/{tenant_id}/user-blocks/{user_id}",
            Case::new("DELETE", format!("{v1}/user-blocks/{ana}")),
        ),
        (
            "DELETE /api/v2/user-blocks/{user_id}",
            Case::new("DELETE", format!("/api/v2/user-blocks/{a0}")).foreign(inexistent),
        ),
        (
            "DELETE /api/v2/user-blocks",
            Case::new("DELETE", format!("/api/v2/user-blocks?identifier={email}"))
                .foreign(Served(204)),
        ),
        (
            "DELETE /v1/tenants/{tenant_id}/user-blocks",
            Case::new("DELETE", format!("{v1}/user-blocks?identifier={email}")),
        ),
        (
            "POST /v1/tenants/{tenant_id}/jobs/verification-email",
            Case::new("POST", format!("{v1}/jobs/verification-email"))
                .body(json!({"user_id": ana})),
        ),
        (
            "POST /api/v2/jobs/verification-email",
            Case::new("POST", "/api/v2/jobs/verification-email")
                .body(json!({"user_id": ana_a0}))
                .foreign(inexistent),
        ),
        (
            "GET /v1/tenants/{tenant_id}/jobs/{job_id}",
            Case::new("GET", format!("{v1}/jobs/{}", s.ana_job)),
        ),
        (
            "GET /api/v2/jobs/{job_id}",
            Case::new("GET", format!("/api/v2/jobs/{}", s.ana_job))
                .foreign(Error(404, "job_not_found")),
        ),
        (
            "POST /v1/tenants/{tenant_id}/tickets/email-verification",
            Case::new("POST", format!("{v1}/tickets/email-verification"))
                .body(json!({"user_id": ana})),
        ),
        (
            "POST /api/v2/tickets/email-verification",
            Case::new("POST", "/api/v2/tickets/email-verification")
                .body(json!({"user_id": ana_a0}))
                .foreign(inexistent),
        ),
        (
            "POST /v1/tenants/{tenant_id}/tickets/password-change",
            Case::new("POST", format!("{v1}/tickets/password-change"))
                .body(json!({"user_id": ana})),
        ),
        (
            "POST /api/v2/tickets/password-change",
            Case::new("POST", "/api/v2/tickets/password-change")
                .body(json!({"user_id": ana_a0}))
                .foreign(inexistent),
        ),
        (
            "GET /v1/tenants/{tenant_id}/email-verification/confirm",
            Case::new(
                "GET",
                format!("{v1}/email-verification/confirm?ticket={UNKNOWN_TICKET}"),
            )
            .public(Redirect("invalid_ticket")),
        ),
        (
            "POST /v1/tenants/{tenant_id}/email-verification/confirm",
            Case::new("POST", format!("{v1}/email-verification/confirm"))
                .body(unknown.clone())
                .public(invalid_ticket),
        ),
        (
            "POST /v1/tenants/{tenant_id}/password-reset",
            // The same 202 for every address: whether Ana has an account is not said.
            Case::new("POST", format!("{v1}/password-reset"))
                .body(json!({"email": ANA_EMAIL}))
                .public(Served(202)),
        ),
        (
            "POST /v1/tenants/{tenant_id}/password-reset/confirm",
            Case::new("POST", format!("{v1}/password-reset/confirm"))
                .body(json!({"ticket": UNKNOWN_TICKET, "new_password": strong}))
                .public(invalid_ticket),
        ),
        (
            "GET /v1/tenants/{tenant_id}/password-reset/confirm",
            Case::new(
                "GET",
                format!("{v1}/password-reset/confirm?ticket={UNKNOWN_TICKET}"),
            )
            .public(Page(400)),
        ),
        (
            "GET /v1/tenants/{tenant_id}/email-change/cancel",
            Case::new(
                "GET",
                format!("{v1}/email-change/cancel?ticket={UNKNOWN_TICKET}"),
            )
            .public(Page(400)),
        ),
        (
            "POST /v1/tenants/{tenant_id}/email-change/cancel",
            Case::new("POST", format!("{v1}/email-change/cancel"))
                .body(unknown.clone())
                .public(invalid_ticket),
        ),
        (
            "GET /v1/tenants/{tenant_id}/unblock",
            Case::new("GET", format!("{v1}/unblock?ticket={UNKNOWN_TICKET}"))
                .public(Page(400)),
        ),
        (
            "POST /v1/tenants/{tenant_id}/unblock",
            Case::new("POST", format!("{v1}/unblock"))
                .body(unknown)
                .public(invalid_ticket),
        ),
    ])
}

/// What `caller` gets on `route`, by the rules of docs/api.md and docs/auth0-compat.md.
fn expected(route: &local_api::routes::Route, case: &Case, caller: Caller) -> Outcome {
    if let Some(public) = case.public {
        return public;
    }
    let auth0 = route.key.contains(" /api/v2/");
    // A /me route: any valid token of the tenant, the handler requiring a user id as `sub`.
    let me = !auth0 && route.handler_scopes.is_empty();
    let insufficient = Outcome::Error(403, "insufficient_scope");
    match caller {
        Caller::NoToken | Caller::Expired => Outcome::Unauthorized,
        Caller::WrongScope if me || auth0 => insufficient,
        Caller::WrongScope => Outcome::Forbidden,
        Caller::OtherTenant if auth0 => case
            .foreign
            .unwrap_or_else(|| panic!("{}: no outcome for another tenant", route.key)),
        Caller::OtherTenant => Outcome::Error(404, "not_found"),
        Caller::OtherUser if me => case
            .own
            .unwrap_or_else(|| panic!("{}: no outcome for the user's own", route.key)),
        Caller::OtherUser if auth0 => insufficient,
        Caller::OtherUser => Outcome::Forbidden,
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token signed as the server expects, whose `exp` passed an hour ago: past any leeway.
fn expired() -> String {
    let claims = json!({
        "sub": "backoffice@clients", "tenant_id": "acme", "scope": ALL_SCOPES,
        "iat": now() - 7200, "exp": now() - 3600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn token(caller: Caller, route: &local_api::routes::Route, s: &Seeded) -> Option<String> {
    let mint = |tenant: &str, sub: &str, scope: &str| {
        Some(local_api::auth::mint(SECRET, tenant, sub, scope, 600))
    };
    match caller {
        Caller::NoToken => None,
        Caller::Expired => Some(expired()),
        Caller::WrongScope => {
            // Every scope but the route's own; on a /me route, a client's token, which
            // holds every scope and is nobody's own.
            let others: Vec<&str> = ALL_SCOPES
                .split(' ')
                .filter(|scope| !route.handler_scopes.contains(scope))
                .collect();
            mint("acme", "backoffice@clients", &others.join(" "))
        }
        Caller::OtherTenant => mint("globex", "backoffice@clients", ALL_SCOPES),
        Caller::OtherUser => mint("acme", &s.jose, ""),
    }
}

/// Why `answer` is not `outcome`, if it is not.
fn mismatch(outcome: Outcome, answer: &Answer, caller_id: Option<&str>) -> Option<String> {
    let json_type = answer
        .header("content-type")
        .is_some_and(|t| t == "application/json");
    let ok = match outcome {
        Outcome::Unauthorized => {
            answer.status == 401 && answer.body == json!({"message": "Unauthorized"})
        }
        Outcome::Forbidden => {
            answer.status == 403 && answer.body == json!({"message": "Forbidden"})
        }
        Outcome::Error(status, code) => {
            let fields = answer.body.as_object().map(|o| o.len());
            answer.status == status
                && json_type
                && fields == Some(4)
                && answer.body["statusCode"] == status
                && answer.body["errorCode"] == code
                && answer.body["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
        }
        Outcome::Served(status) => answer.status == status,
        Outcome::Own(status) => {
            answer.status == status && caller_id.is_some_and(|id| answer.raw.contains(id))
        }
        Outcome::Page(status) => {
            answer.status == status
                && answer
                    .header("content-type")
                    .is_some_and(|t| t.starts_with("text/html"))
        }
        Outcome::Redirect(code) => {
            let wanted = format!("{PUBLIC_BASE}/verified?success=false&error={code}");
            answer.status == 302 && answer.header("location") == Some(wanted.as_str())
        }
    };
    (!ok).then(|| format!("{} {}", answer.status, answer.raw))
}

#[tokio::test]
async fn no_caller_without_the_right_to_reaches_a_users_data_on_any_route() {
    let env = Env::unmetered().await;
    let s = seed(&env).await;
    let admin = admin_of("acme");
    let r = env
        .send(
            "PATCH",
            "/v1/tenants/acme/settings",
            Some(&admin),
            Some(&json!({"display_name": ACME_DISPLAY_NAME})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let addr = start_with(&env, SECRET).await;
    let before = table(&env).await;

    // What each caller may not see: everything seeded, but its own.
    let jose_own = [
        s.jose.as_str(),
        JOSE_EMAIL,
        "xn--bcher-kva",
        JOSE_USERNAME,
        JOSE_PASSWORD,
    ];
    let globex_own = [
        s.globex.as_str(),
        crate::malformed::GLOBEX_EMAIL,
        "Gina Globex-Only",
        "globex-vault-42",
    ];
    let mut cases = cases(&s);
    let mut failures = Vec::new();
    let mut cells = 0;
    for route in &local_api::routes::ROUTES {
        let case = cases
            .remove(route.key)
            .unwrap_or_else(|| panic!("{}: no row in the isolation matrix", route.key));
        let (found, _) =
            local_api::routes::find(case.method, case.target.split('?').next().unwrap())
                .unwrap_or_else(|| panic!("{}: its request matches no route", route.key));
        assert_eq!(found.key, route.key, "the request of {}", route.key);
        for caller in CALLERS {
            cells += 1;
            let outcome = expected(route, &case, caller);
            let token = token(caller, route, &s);
            let from = IpAddr::V4(Ipv4Addr::LOCALHOST);
            let answer = exchange(
                addr,
                from,
                case.method,
                &case.target,
                token.as_deref(),
                case.body.as_ref(),
                &[],
            )
            .await;
            let own_id = (caller == Caller::OtherUser).then_some(s.jose.as_str());
            if let Some(why) = mismatch(outcome, &answer, own_id) {
                failures.push(format!(
                    "{} as {caller:?}: expected {outcome:?}, got {why}",
                    route.key
                ));
            }
            let own: &[&str] = match caller {
                Caller::OtherUser => &jose_own,
                Caller::OtherTenant => &globex_own,
                _ => &[],
            };
            let sent = format!(
                "{} {}",
                case.target,
                case.body.as_ref().map(Value::to_string).unwrap_or_default()
            );
            let everything = format!("{:?} {}", answer.headers, answer.raw);
            // The tenant's name is on its own pages, for anyone to read.
            let tenant_data = case.public.is_none().then_some(ACME_DISPLAY_NAME);
            for secret in s.secrets.iter().map(String::as_str).chain(tenant_data) {
                let theirs = own.contains(&secret);
                let sent_it = sent.contains(secret) || sent.contains(&enc(secret));
                if !theirs && !sent_it && everything.contains(secret) {
                    failures.push(format!(
                        "{} as {caller:?}: the answer carries {secret:?}: {}",
                        route.key, answer.raw
                    ));
                }
            }
        }
    }
    let stale: Vec<&str> = cases.keys().copied().collect();
    assert!(stale.is_empty(), "rows for routes there are not: {stale:?}");
    assert_eq!(cells, local_api::routes::ROUTES.len() * CALLERS.len());

    // Nothing of the tenant changed but the other user's own partition, which the other
    // user's own token may change, and the other tenant's items.
    let jose_partition = format!("TENANT#acme#USER#{}", s.jose);
    let mut after = table(&env).await;
    let mut before = before;
    for items in [&mut before, &mut after] {
        items.retain(|(pk, _), _| !pk.starts_with("TENANT#globex#") && *pk != jose_partition);
    }
    let changed = differences(&before, &after);
    assert!(
        failures.is_empty() && changed.is_empty(),
        "{} of {cells} cells:\n{}\n\nand the table changed:\n{}",
        failures.len(),
        failures.join("\n"),
        changed.join("\n")
    );
}
