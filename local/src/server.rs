//! The HTTP server of `make dev`: checks the bearer token as API Gateway's JWT authorizer
//! would, then dispatches to the route's handler.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body as AxumBody, to_bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::Request;
use axum::response::Response;
use lambda_http::Body;
use shared::App;

use crate::auth;
use crate::gateway::{self, Incoming};

/// API Gateway's payload limit.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

#[derive(Clone)]
struct Shared {
    app: App,
    secret: Arc<String>,
    /// Where `/_dev/mail` reads the mail from: moto's endpoint, under `make dev`.
    mailbox: Option<Arc<String>>,
}

/// The path of the local mailbox ([`crate::mailbox`]).
pub const MAILBOX: &str = "/_dev/mail";

/// Where the local server serves the API's contract, so tools (schemathesis, client
/// generators) can read it from the server they test; the deployed API has no such path.
pub const OPENAPI: &str = "/openapi.yaml";

/// docs/openapi.yaml, built in so the server serves the document of the code it runs.
pub const OPENAPI_DOCUMENT: &str = include_str!("../../docs/openapi.yaml");

pub fn router(app: App, secret: String) -> Router {
    router_with_mailbox(app, secret, None)
}

/// [`router`], and the local mailbox at [`MAILBOX`] over the mail moto at `moto` holds.
pub fn router_with_mailbox(app: App, secret: String, moto: Option<String>) -> Router {
    Router::new().fallback(serve).with_state(Shared {
        app,
        secret: Arc::new(secret),
        mailbox: moto.map(Arc::new),
    })
}

async fn serve(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<AxumBody>,
) -> Response {
    if req.uri().path() == OPENAPI && req.method() == axum::http::Method::GET {
        return openapi();
    }
    if let Some(moto) = state.mailbox.as_deref()
        && req.uri().path() == MAILBOX
        && req.method() == axum::http::Method::GET
    {
        return mailbox(moto).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, MAX_PAYLOAD).await else {
        let mut r = Response::new(AxumBody::from(r#"{"message":"Request Entity Too Large"}"#));
        *r.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
        return r;
    };
    let token = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::bearer);
    let claims = token.and_then(|t| auth::verify(&state.secret, t));
    let incoming = Incoming {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
        source_ip: &peer.ip().to_string(),
    };
    // As API Gateway: a protected route needs a valid token holding one of its scopes; a
    // public one gets no claims, whatever the request carries.
    let response = match crate::routes::find(incoming.method, incoming.path) {
        Some((route, _)) if route.public => gateway::dispatch(&state.app, &incoming, None).await,
        Some(_) if claims.is_none() => gateway::unauthorized(),
        Some((route, _))
            if !claims
                .as_ref()
                .is_some_and(|c| gateway::scope_allows(route, c)) =>
        {
            gateway::forbidden()
        }
        _ => gateway::dispatch(&state.app, &incoming, claims.as_ref()).await,
    };
    into_axum(response)
}

async fn mailbox(moto: &str) -> Response {
    let (status, html) = match crate::mailbox::messages(moto).await {
        Ok(mail) => (axum::http::StatusCode::OK, crate::mailbox::page(&mail)),
        Err(e) => (
            axum::http::StatusCode::BAD_GATEWAY,
            format!(
                "<!DOCTYPE html><title>Local mailbox</title><p>{}</p>",
                e.replace('<', "&lt;")
            ),
        ),
    };
    let mut response = Response::new(AxumBody::from(html));
    *response.status_mut() = status;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn openapi() -> Response {
    let mut response = Response::new(AxumBody::from(OPENAPI_DOCUMENT));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/yaml"),
    );
    response
}

fn into_axum(response: lambda_http::Response<Body>) -> Response {
    let (parts, body) = response.into_parts();
    let body = match body {
        Body::Empty => AxumBody::empty(),
        Body::Text(t) => AxumBody::from(t),
        Body::Binary(b) => AxumBody::from(b),
        _ => AxumBody::empty(),
    };
    Response::from_parts(parts, body)
}

/// Serves until Ctrl-C or SIGTERM.
pub async fn run(
    app: App,
    secret: String,
    addr: SocketAddr,
    moto: Option<String>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let service =
        router_with_mailbox(app, secret, moto).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown())
        .await
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
