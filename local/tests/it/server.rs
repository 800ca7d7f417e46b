//! The local server over real HTTP: its JWT check stands in for API Gateway's authorizer.

use std::net::SocketAddr;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{ALL_SCOPES, Env};

const SECRET: &str = "test-secret";

async fn start(env: &Env) -> SocketAddr {
    start_with(env, SECRET).await
}

/// The local server over `env`'s app on a free port, checking tokens signed with `secret`.
pub async fn start_with(env: &Env, secret: &str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = local_api::server::router(env.app.clone(), secret.into())
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    addr
}

/// A minimal HTTP/1.1 exchange: returns the status and the JSON body (Null when empty).
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let from = std::net::Ipv4Addr::LOCALHOST.into();
    let answer = exchange(addr, from, method, path, token, body, &[]).await;
    (answer.status, answer.body)
}

/// What the server answered.
pub struct Answer {
    pub status: u16,
    /// Header names in lower case.
    pub headers: std::collections::HashMap<String, String>,
    pub body: Value,
    /// The body as it came, for what no JSON parse shows (a page, a byte of data in it).
    pub raw: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// One HTTP/1.1 request from the loopback address `from` (any of 127.0.0.0/8), so a test can
/// speak from several addresses, with `headers` besides the token and the body's.
pub async fn exchange(
    addr: SocketAddr,
    from: std::net::IpAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, payload) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: serde_json::from_str(payload).unwrap_or(Value::Null),
        raw: payload.to_owned(),
    }
}

#[tokio::test]
async fn a_signed_dev_token_reaches_the_handlers() {
    let env = Env::new().await;
    let addr = start(&env).await;
    let token = local_api::auth::mint(SECRET, "acme", "backoffice@clients", ALL_SCOPES, 300);
    let (status, user) = request(
        addr,
        "POST",
        "/v1/tenants/acme/users",
        Some(&token),
        Some(&json!({"email": "ana@example.com", "password": "correct horse battery"})),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let path = format!(
        "/v1/tenants/acme/users/{}",
        user["user_id"].as_str().unwrap()
    );
    let (status, got) = request(addr, "GET", &path, Some(&token), None).await;
    assert_eq!(
        (status, got["email"].clone()),
        (200, json!("ana@example.com"))
    );

    let own = local_api::auth::mint(SECRET, "acme", user["user_id"].as_str().unwrap(), "", 300);
    let (status, me) = request(addr, "GET", "/v1/tenants/acme/me", Some(&own), None).await;
    assert_eq!(
        (status, me["user_id"].clone()),
        (200, user["user_id"].clone())
    );
}

#[tokio::test]
async fn missing_forged_and_expired_tokens_are_401() {
    let env = Env::new().await;
    let addr = start(&env).await;
    let forged = local_api::auth::mint("another-secret", "acme", "x", ALL_SCOPES, 300);
    let claims =
        json!({"sub": "x", "tenant_id": "acme", "scope": ALL_SCOPES, "exp": 1_000_000_000});
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    for token in [
        None,
        Some(forged.as_str()),
        Some(expired.as_str()),
        Some("not-a-jwt"),
    ] {
        let (status, body) = request(addr, "GET", "/v1/tenants/acme/users", token, None).await;
        assert_eq!(
            (status, body),
            (401, json!({"message": "Unauthorized"})),
            "{token:?}"
        );
    }
    assert!(env.items().await.is_empty());
}

#[tokio::test]
async fn paths_outside_the_template_are_404() {
    let env = Env::new().await;
    let addr = start(&env).await;
    let token = local_api::auth::mint(SECRET, "acme", "x", ALL_SCOPES, 300);
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/v1/tenants/acme"),
        ("PUT", "/v1/tenants/acme/users"),
        ("GET", "/v1/tenants/acme/users/a/b"),
    ] {
        let (status, _) = request(addr, method, path, Some(&token), None).await;
        assert_eq!(status, 404, "{method} {path}");
    }
}

#[tokio::test]
async fn a_token_without_any_scope_a_route_lists_is_refused_before_its_handler_runs() {
    let env = Env::new().await;
    let addr = start(&env).await;
    for route in local_api::routes::ROUTES
        .iter()
        .filter(|r| !r.scopes.is_empty())
    {
        let (method, path) = crate::support::concrete(route.key);
        let others: Vec<&str> = ALL_SCOPES
            .split(' ')
            .filter(|s| !route.scopes.contains(s))
            .collect();
        let token = local_api::auth::mint(SECRET, "acme", "x", &others.join(" "), 300);
        let body = json!({});
        let (status, answer) = request(addr, &method, &path, Some(&token), Some(&body)).await;
        assert_eq!(
            (status, answer),
            (403, json!({"message": "Forbidden"})),
            "{}",
            route.key
        );
    }
    assert!(env.items().await.is_empty(), "no handler ran");
}

#[tokio::test]
async fn make_devs_mailbox_shows_the_mail_with_its_links() {
    let env = Env::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let moto = Some(crate::support::moto_endpoint());
    let service = local_api::server::router_with_mailbox(env.app.clone(), SECRET.into(), moto)
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    let email = crate::support::address("ana");
    env.create(json!({"email": email, "password": "correct horse battery"}))
        .await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("GET /_dev/mail HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.contains("text/html"));
    assert!(raw.contains(&email), "the message to ana is listed");
    assert!(
        raw.contains("/v1/tenants/acme/email-verification/confirm?ticket="),
        "with its link"
    );
    // Only the local server has it: the API's routes know no such path.
    let r = request(start(&env).await, "GET", "/_dev/mail", None, None).await;
    assert_eq!(r.0, 404);
}
