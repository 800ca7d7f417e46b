//! Turns an HTTP request into the API Gateway HTTP API (payload 2.0) event a function gets,
//! parses it with lambda_http exactly as on Lambda, and runs the route's handler.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use shared::App;

use crate::routes::{self, Route};

/// An incoming request, as the gateway sees it.
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub source_ip: &'a str,
}

/// The payload 2.0 event for `route`, with the authorizer's `claims` when given.
pub fn event(
    route: &Route,
    incoming: &Incoming<'_>,
    path_parameters: &HashMap<String, String>,
    claims: Option<&HashMap<String, String>>,
) -> Value {
    let mut headers: HashMap<String, String> = HashMap::new();
    for (name, value) in incoming.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let (body, encoded) = match std::str::from_utf8(incoming.body) {
        _ if incoming.body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::from(text), false),
        Err(_) => (Value::from(STANDARD.encode(incoming.body)), true),
    };
    let epoch_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut context = json!({
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": "localhost",
        "domainPrefix": "localhost",
        "http": {
            "method": incoming.method.to_ascii_uppercase(),
            "path": incoming.path,
            "protocol": "HTTP/1.1",
            "sourceIp": incoming.source_ip,
            "userAgent": headers.get("user-agent").cloned().unwrap_or_default(),
        },
        "requestId": ulid::Ulid::generate().to_string(),
        "routeKey": route.key,
        "stage": "$default",
        "timeEpoch": epoch_ms,
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({ "jwt": { "claims": claims, "scopes": null } });
    }
    json!({
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": incoming.path,
        "rawQueryString": incoming.raw_query,
        "headers": headers,
        "pathParameters": path_parameters,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": encoded,
    })
}

/// What API Gateway answers for a path no route matches.
pub fn not_found() -> Response<Body> {
    let mut r = Response::new(Body::Text(json!({"message": "Not Found"}).to_string()));
    *r.status_mut() = http::StatusCode::NOT_FOUND;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// What API Gateway's JWT authorizer answers for a missing or bad token.
pub fn unauthorized() -> Response<Body> {
    let mut r = Response::new(Body::Text(json!({"message": "Unauthorized"}).to_string()));
    *r.status_mut() = http::StatusCode::UNAUTHORIZED;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    r
}

/// What API Gateway answers when the token lacks every scope the route lists.
pub fn forbidden() -> Response<Body> {
    let mut r = Response::new(Body::Text(json!({"message": "Forbidden"}).to_string()));
    *r.status_mut() = http::StatusCode::FORBIDDEN;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Whether `claims` hold one of `route`'s scopes, as API Gateway's JWT authorizer checks
/// `AuthorizationScopes` (a route that lists none takes any valid token).
pub fn scope_allows(route: &Route, claims: &HashMap<String, String>) -> bool {
    if route.scopes.is_empty() {
        return true;
    }
    let granted = claims.get("scope").map(String::as_str).unwrap_or("");
    let granted: Vec<&str> = granted
        .trim_matches(['[', ']'])
        .split_whitespace()
        .collect();
    route.scopes.iter().any(|s| granted.contains(s))
}

/// Routes `incoming` and runs its handler with already-verified `claims`.
pub async fn dispatch(
    app: &App,
    incoming: &Incoming<'_>,
    claims: Option<&HashMap<String, String>>,
) -> Response<Body> {
    let Some((route, params)) = routes::find(incoming.method, incoming.path) else {
        return not_found();
    };
    let event = event(route, incoming, &params, claims);
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the gateway built an event lambda_http cannot parse");
            let mut r = Response::new(Body::Empty);
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            return r;
        }
    };
    match crate::moto::as_function(route.function, (route.handler)(app, request)).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
