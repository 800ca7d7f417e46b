//! The HTTP layer: an API Gateway (payload 2.0) event becomes a `lambda_http` request, then a
//! [`Call`], which yields the path ids, query, headers and body every route parses into its
//! typed input; the body goes through every body parser of the API (and the Auth0 dialect's
//! rewrites), and each refusal renders as the documented JSON error. Nothing may panic, and
//! bad input is never answered 5xx (docs/api.md, "Errors").
//!
//! Input: an event's JSON as API Gateway sends it (the files in `events/` are seeds), or,
//! when the input does not start with `{`, arbitrary parts from which an event is built.

#![no_main]

use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::Request;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use shared::domain::Error;
use shared::domain::caller::{Caller, Scope};
use shared::domain::email::Email;
use shared::domain::idempotency::IdempotencyKey;
use shared::domain::ids::{ProviderUserId, TenantId};
use shared::domain::linking::{LinkRequest, parse_provider};
use shared::domain::listing::PageRequest;
use shared::domain::login::{Identifier, LoginRequest, PasswordChange, parse_ip};
use shared::domain::mail_request::MailRequest;
use shared::domain::message::{VerificationJob, parse_job_id};
use shared::domain::new_user::NewUser;
use shared::domain::tenant::SettingsPatch;
use shared::domain::ticket::{
    PasswordTicketRequest, ResetConfirmation, ResetRequest, VerificationTicketRequest, ticket_of,
};
use shared::domain::time::Timestamp;
use shared::domain::user_patch::UserPatch;
use shared::http::auth0::{self, Query, UserRef};
use shared::http::{Call, Dialect, Reply, error_response_in};

/// Route keys of both dialects, as the template and the handlers name them.
const ROUTES: &[(&str, &str)] = &[
    ("POST /v1/tenants/{tenant_id}/users", "POST /api/v2/users"),
    ("GET /v1/tenants/{tenant_id}/users", "GET /api/v2/users"),
    (
        "GET /v1/tenants/{tenant_id}/users/{user_id}",
        "GET /api/v2/users/{user_id}",
    ),
    (
        "PATCH /v1/tenants/{tenant_id}/users/{user_id}",
        "PATCH /api/v2/users/{user_id}",
    ),
    (
        "DELETE /v1/tenants/{tenant_id}/users/{user_id}",
        "DELETE /api/v2/users/{user_id}",
    ),
    (
        "POST /v1/tenants/{tenant_id}/users/{user_id}/identities",
        "POST /api/v2/users/{user_id}/identities",
    ),
    (
        "DELETE /v1/tenants/{tenant_id}/users/{user_id}/identities/{provider}/{identity_id}",
        "DELETE /api/v2/users/{user_id}/identities/{provider}/{identity_id}",
    ),
    (
        "GET /v1/tenants/{tenant_id}/user-blocks",
        "GET /api/v2/user-blocks",
    ),
    (
        "GET /v1/tenants/{tenant_id}/jobs/{job_id}",
        "GET /api/v2/jobs/{job_id}",
    ),
    (
        "POST /v1/tenants/{tenant_id}/authenticate",
        "POST /v1/tenants/{tenant_id}/authenticate",
    ),
    (
        "PATCH /v1/tenants/{tenant_id}/me",
        "PATCH /v1/tenants/{tenant_id}/me",
    ),
    (
        "POST /v1/tenants/{tenant_id}/password-reset/confirm",
        "POST /v1/tenants/{tenant_id}/password-reset/confirm",
    ),
];

const METHODS: &[&str] = &[
    "GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS", "get", "",
];

const PARAMS: &[&str] = &["tenant_id", "user_id", "provider", "identity_id", "job_id"];

/// What an event is built from when the input is not one.
#[derive(Arbitrary, Debug)]
struct Parts<'a> {
    route: u8,
    method: u8,
    path: Vec<(u8, &'a str)>,
    query: Vec<(&'a str, &'a str)>,
    headers: Vec<(&'a str, &'a str)>,
    content_type: Option<&'a str>,
    if_match: Option<&'a str>,
    idempotency_key: Option<&'a str>,
    claims: Option<(&'a str, &'a str, Option<&'a str>)>,
    source_ip: Option<&'a str>,
    body: &'a [u8],
    base64: bool,
}

static TEMPLATE: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(include_str!("../../events/patch-user.json")).unwrap());

fuzz_target!(|data: &[u8]| {
    if data.first() == Some(&b'{') {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let route = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("routeKey").and_then(Value::as_str).map(str::to_owned));
        let (ours, auth0) = ROUTES
            .iter()
            .find(|(ours, auth0)| route.as_deref().is_some_and(|r| r == *ours || r == *auth0))
            .copied()
            .unwrap_or(ROUTES[3]);
        if let Ok(event) = serde_json::from_str::<Value>(text)
            && gateway_could_send(&event)
            && let Ok(request) = lambda_http::request::from_str(text)
        {
            exercise(request, ours, auth0, None);
        }
        return;
    }
    let Ok(parts) = Parts::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let (ours, auth0) = ROUTES[usize::from(parts.route) % ROUTES.len()];
    let event = event(&parts, if parts.route & 0x80 == 0 { ours } else { auth0 });
    if gateway_could_send(&event)
        && let Ok(request) = lambda_http::request::from_str(&event.to_string())
    {
        exercise(request, ours, auth0, parts.idempotency_key);
    }
});

/// Whether API Gateway could send this event: its host, scheme, stage, path and query make
/// a URI, and a base64 body decodes. The gateway builds those parts from a request it
/// parsed; `lambda_http` 1.3 unwraps each (`build_request_uri`, `from_maybe_encoded`), so an
/// event that breaks them is none a handler is ever given.
fn gateway_could_send(event: &Value) -> bool {
    let header = |name: &str| {
        event["headers"]
            .as_object()
            .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .and_then(|(_, v)| v.as_str())
    };
    let context = &event["requestContext"];
    let raw_path = event["rawPath"].as_str().unwrap_or("");
    let path = match context["stage"].as_str() {
        None | Some("$default") => raw_path.to_owned(),
        Some(stage) if raw_path.starts_with(&format!("/{stage}/")) => raw_path.to_owned(),
        Some(stage) => format!("/{stage}{raw_path}"),
    };
    let host = header("host").or(context["domainName"].as_str());
    let url = match host {
        None => url::Url::parse(&format!("http://localhost{path}")).map(|u| u.path().to_owned()),
        Some(host) => {
            let scheme = header("x-forwarded-proto").unwrap_or("https");
            url::Url::parse(&format!("{scheme}://{host}{path}")).map(|u| u.to_string())
        }
    };
    let Ok(mut uri) = url else {
        return false;
    };
    if let Some(query) = event["rawQueryString"].as_str().filter(|q| !q.is_empty()) {
        uri.push('?');
        uri.push_str(query);
    }
    let body_decodes = event["isBase64Encoded"] != Value::Bool(true)
        || event["body"]
            .as_str()
            .is_none_or(|b| STANDARD.decode(b).is_ok());
    http::Uri::try_from(uri).is_ok() && body_decodes
}

/// As a client sends a path segment or query part: every byte but the unreserved ones
/// percent-encoded.
fn encoded(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn event(parts: &Parts, route: &str) -> Value {
    let mut event = TEMPLATE.clone();
    let method = METHODS[usize::from(parts.method) % METHODS.len()];
    let mut path_parameters = Map::new();
    for (which, value) in &parts.path {
        path_parameters.insert(
            PARAMS[usize::from(*which) % PARAMS.len()].to_owned(),
            Value::from(*value),
        );
    }
    let raw_path = format!(
        "/{}",
        path_parameters
            .values()
            .filter_map(Value::as_str)
            .map(encoded)
            .collect::<Vec<_>>()
            .join("/")
    );
    let query: Map<String, Value> = parts
        .query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    let raw_query = parts
        .query
        .iter()
        .map(|(k, v)| format!("{}={}", encoded(k), encoded(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers: Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::from(*v)))
        .collect();
    for (name, value) in [
        ("content-type", parts.content_type),
        ("if-match", parts.if_match),
        ("idempotency-key", parts.idempotency_key),
    ] {
        if let Some(value) = value {
            headers.insert(name.into(), Value::from(value));
        }
    }
    let body = if parts.base64 {
        Value::from(STANDARD.encode(parts.body))
    } else {
        Value::from(String::from_utf8_lossy(parts.body))
    };
    event["routeKey"] = Value::from(route);
    event["rawPath"] = Value::from(raw_path.clone());
    event["rawQueryString"] = Value::from(raw_query);
    event["headers"] = Value::Object(headers);
    event["queryStringParameters"] = Value::Object(query);
    event["pathParameters"] = Value::Object(path_parameters);
    event["isBase64Encoded"] = Value::from(parts.base64);
    event["body"] = body;
    let context = &mut event["requestContext"];
    context["routeKey"] = Value::from(route);
    context["http"]["method"] = Value::from(method);
    context["http"]["path"] = Value::from(raw_path);
    context["http"]["sourceIp"] = parts.source_ip.map_or(Value::Null, Value::from);
    context["authorizer"] = match parts.claims {
        Some((sub, scope, tenant)) => {
            json!({"jwt": {"claims": {"sub": sub, "scope": scope, "tenant_id": tenant}, "scopes": null}})
        }
        None => Value::Null,
    };
    event
}

fn exercise(request: Request, route: &'static str, auth0: &'static str, key: Option<&str>) {
    let tenant = TenantId::parse("acme").unwrap();
    let now = Timestamp::from_epoch_millis(1_800_000_000_000).unwrap();
    let method = request.method().clone();
    let call = Call::serving(request, route, auth0);
    let mut refused: Vec<Error> = Vec::new();
    let mut note = |outcome: Result<(), Error>| {
        if let Err(e) = outcome {
            refused.push(e);
        }
    };
    note(call.path_user_id().map(drop));
    note(call.if_match().map(drop));
    note(call.only_query(&["limit", "cursor", "email"]));
    note(call.only_query_and_fields(&["q", "page", "per_page", "include_totals"]));
    note(PageRequest::parse(call.query("limit"), call.query("cursor")).map(drop));
    note(parse_provider(call.path_provider()).map(drop));
    note(ProviderUserId::parse(call.path("identity_id")).map(drop));
    note(parse_job_id(call.path("job_id")).map(drop));
    note(TenantId::parse(call.path("tenant_id")).map(drop));
    note(UserRef::parse(call.path("user_id")).map(drop));
    if let Some(q) = call.query("q") {
        note(Query::parse(q, "Username-Password-Authentication").map(drop));
    }
    if let Some(raw) = call.query("identifier") {
        note(Identifier::parse(raw).map(drop));
    }
    if let Some(raw) = call.query("ip") {
        note(parse_ip(raw).map(drop));
    }
    if let Some(raw) = call.query("email") {
        note(Email::parse(raw).map(drop));
    }
    if let Some(raw) = call.source_ip() {
        note(parse_ip(raw).map(drop));
    }
    if let Some(raw) = key {
        note(IdempotencyKey::parse(raw, &tenant, "m2m@clients").map(drop));
    }
    let caller = Caller::new(
        call.path("user_id").to_owned(),
        Some(call.path("tenant_id").to_owned()),
        call.query("scope").unwrap_or(""),
    );
    note(caller.require(Scope::UpdateUsers));
    note(caller.tenant(&tenant));
    note(caller.own_user_id().map(drop));
    let _ = call.is_form();
    note(call.form_field("ticket").map(drop));
    note(call.link_body().map(drop));
    match call.body().map(<[u8]>::to_vec) {
        Ok(body) => {
            note(NewUser::parse(&tenant, &body, now).map(drop));
            note(UserPatch::parse(&body).map(drop));
            note(LinkRequest::parse(&body).map(drop));
            note(LoginRequest::parse(&body).map(drop));
            note(PasswordChange::parse(&body).map(drop));
            note(VerificationTicketRequest::parse(&body).map(drop));
            note(PasswordTicketRequest::parse(&body).map(drop));
            note(ResetRequest::parse(&body).map(drop));
            note(ResetConfirmation::parse(&body).map(drop));
            note(ticket_of(&body).map(drop));
            note(VerificationJob::parse(&body).map(drop));
            note(MailRequest::parse(&body).map(drop));
            note(SettingsPatch::parse(&body, false).map(drop));
            let database = "Username-Password-Authentication";
            let ours = auth0::request_body(&method, body.clone(), database);
            note(UserPatch::parse(&ours).map(drop));
            note(NewUser::parse(&tenant, &ours, now).map(drop));
            note(auth0::link_body(&body).map(drop));
            if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                let include = call.query("include_fields") != Some("false");
                let _ = auth0::project(value, call.query("fields"), include);
            }
        }
        Err(e) => refused.push(e),
    }
    for error in &refused {
        for dialect in [Dialect::Profiles, Dialect::Auth0] {
            let response = error_response_in(dialect, error);
            assert!(
                response.status().is_client_error(),
                "{error:?} answered {} in {dialect:?}",
                response.status()
            );
        }
    }
    let _ = call.finish(refused.pop().map_or_else(|| Ok(Reply::no_content()), Err));
}
