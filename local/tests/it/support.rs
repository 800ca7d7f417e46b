//! What the integration tests share: a fresh table on the moto server `make test` started,
//! the app wired to it, and requests sent through the same gateway code `make dev` serves.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use http::{HeaderMap, HeaderName, HeaderValue};
use lambda_http::Body;
use local_api::gateway::{Incoming, dispatch};
pub use local_api::moto::CallLog;
use serde_json::Value;
use shared::App;

pub const ALL_SCOPES: &str = local_api::auth::ALL_SCOPES;

pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!("MOTO_ENDPOINT is not set. Run the tests with `make test`, which starts moto and sets it.")
    })
}

pub fn client(log: &CallLog) -> Client {
    local_api::moto::client(&moto_endpoint(), log)
}

pub type Claims = HashMap<String, String>;

/// The public URL emailed links point at in the tests; also the tenant's allowed result host.
pub const PUBLIC_BASE: &str = "https://id.example.com";
pub const SENDER: &str = "no-reply@example.com";

/// A mailer that sends through SES at `endpoint` (moto, or a port where nothing listens).
pub async fn mailer(endpoint: &str) -> std::sync::Arc<dyn shared::ports::Mailer> {
    let ses = local_api::moto::ses_client(endpoint);
    if endpoint == moto_endpoint() {
        local_api::moto::create_identity(&ses, "example.com")
            .await
            .unwrap_or_else(|e| panic!("cannot create the sender identity on moto: {e}"));
    }
    std::sync::Arc::new(shared::adapters::ses::SesMailer::new(
        ses,
        SENDER.into(),
        None,
    ))
}

pub fn claims(tenant: &str, sub: &str, scope: &str) -> Claims {
    HashMap::from([
        ("tenant_id".to_owned(), tenant.to_owned()),
        ("sub".to_owned(), sub.to_owned()),
        ("scope".to_owned(), scope.to_owned()),
    ])
}

/// A fresh table with the app wired to it.
pub struct Env {
    pub app: App,
    pub client: Client,
    pub table: String,
    pub calls: CallLog,
    pub sqs: aws_sdk_sqs::Client,
    /// The queue of password reset requests, one per test.
    pub mail_queue: String,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn code(&self) -> &str {
        self.body["errorCode"].as_str().unwrap_or("")
    }
}

/// Sends every log line of the test process to a file of its own under `LOG_CAPTURE_DIR`
/// (`make test` sets it; `target/test-logs` otherwise), as JSON, with this project's code at
/// debug: the log safety test reads them all after the suite (docs/testing.md).
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let dir = std::env::var("LOG_CAPTURE_DIR").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../target/test-logs").to_owned()
        });
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::File::create(format!("{dir}/it-{}.jsonl", std::process::id()))
            .unwrap_or_else(|e| panic!("cannot write logs under {dir}: {e}"));
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
            .json()
            .flatten_event(true)
            .with_writer(std::sync::Mutex::new(file))
            .finish()
            .with(shared::telemetry::filter(Some("debug")))
            .try_init()
            .expect("the test process installs its log subscriber once");
    });
}

impl Env {
    pub async fn new() -> Env {
        capture_logs();
        let calls = CallLog::default();
        let client = client(&calls);
        let table = format!("test-{}", ulid::Ulid::generate().to_string().to_lowercase());
        shared::adapters::dynamo::table::create(&client, &table)
            .await
            .unwrap_or_else(|e| {
                panic!("cannot create a table on moto at {}: {e}", moto_endpoint())
            });
        let sqs = local_api::queue::client(&moto_endpoint(), &calls);
        let mail_queue = local_api::queue::create(&sqs, &table)
            .await
            .unwrap_or_else(|e| panic!("cannot create a queue on moto: {e}"));
        calls.take();
        let mut app = shared::app::wire(
            client.clone(),
            table.clone(),
            mailer(&moto_endpoint()).await,
            shared::domain::tenant::EmailSettings::local(url::Url::parse(PUBLIC_BASE).unwrap()),
        );
        app.mail_queue = Some(std::sync::Arc::new(
            shared::adapters::sqs::SqsMailQueue::new(sqs.clone(), mail_queue.clone()),
        ));
        Env {
            app,
            client,
            table,
            calls,
            sqs,
            mail_queue,
        }
    }

    pub fn admin(&self) -> Claims {
        claims("acme", "backoffice@clients", ALL_SCOPES)
    }

    /// Sends a request through the local gateway, as the JWT authorizer would pass `claims`.
    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        claims: Option<&Claims>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let raw_body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.send_raw(method, path_and_query, claims, &raw_body, headers)
            .await
    }

    pub async fn send_raw(
        &self,
        method: &str,
        path_and_query: &str,
        claims: Option<&Claims>,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Resp {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut map = HeaderMap::new();
        if !body.is_empty() {
            map.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        for (k, v) in headers {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let incoming = Incoming {
            method,
            path,
            raw_query: query,
            headers: &map,
            body,
            source_ip: "198.51.100.1",
        };
        let response = dispatch(&self.app, &incoming, claims).await;
        let (parts, body) = response.into_parts();
        let raw = match body {
            Body::Empty => String::new(),
            Body::Text(t) => t,
            Body::Binary(b) => String::from_utf8(b).unwrap(),
            _ => String::new(),
        };
        let html = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/html"));
        let body = if raw.is_empty() || html {
            Value::Null
        } else {
            serde_json::from_str(&raw).unwrap()
        };
        assert!(
            !raw.contains("$argon2"),
            "a response carried a password hash: {raw}"
        );
        Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            raw,
        }
    }

    pub async fn admin_send(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let admin = self.admin();
        self.send(method, path, Some(&admin), body, &[]).await
    }

    /// Creates a database user in tenant acme and returns the response body.
    pub async fn create(&self, body: Value) -> Value {
        let r = self.post_user(body).await;
        assert_eq!(r.status, 201, "create failed: {}", r.raw);
        r.body
    }

    pub async fn create_ana(&self) -> Value {
        self.create(
            serde_json::json!({"email": "ana@example.com", "password": "correct horse battery"}),
        )
        .await
    }

    /// Every item in the table, for assertions about what is stored, but the tenant's user
    /// counts and rate-limit windows: bookkeeping of the tenant's, naming no user, that every
    /// sign-up and erasure, or every request, changes (they have tests of their own).
    pub async fn items(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.all_items()
            .await
            .into_iter()
            .filter(|i| {
                let pk = s(i, "pk");
                !pk.ends_with("#COUNT") && !pk.contains("#RATE#")
            })
            .collect()
    }

    /// The DynamoDB calls since the last take, past the rate limiter's draw that opens every
    /// request to a rate-limited route (one `UpdateItem`; docs/api.md, "Rate limits").
    pub fn calls_past_the_limiter(&self) -> Vec<String> {
        let mut calls = self.calls.take();
        assert_eq!(
            calls.first().map(String::as_str),
            Some("UpdateItem"),
            "the request draws on its bucket first: {calls:?}"
        );
        calls.remove(0);
        calls
    }

    /// Every item in the table.
    pub async fn all_items(&self) -> Vec<HashMap<String, AttributeValue>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            out.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                self.calls.take();
                return out;
            }
        }
    }

    /// The `users` of acme's recorded size (docs/data-model.md, "Listing shards"), if one
    /// is recorded.
    pub async fn recorded_size(&self) -> Option<String> {
        self.all_items()
            .await
            .into_iter()
            .find(|i| s(i, "pk") == "TENANT#acme#COUNT" && s(i, "sk") == "SIZE")
            .map(|i| match &i["users"] {
                AttributeValue::N(n) => n.clone(),
                other => panic!("a recorded size of {other:?}"),
            })
    }

    /// The `pk`s of every stored item, sorted.
    pub async fn keys(&self) -> Vec<(String, String)> {
        let mut keys: Vec<(String, String)> = self
            .items()
            .await
            .iter()
            .map(|i| (s(i, "pk"), s(i, "sk")))
            .collect();
        keys.sort();
        keys
    }
}

/// Names a user to a helper: its id, or a user resource as the API returned it.
pub trait UserRef {
    fn user_id(&self) -> &str;
}

impl UserRef for str {
    fn user_id(&self) -> &str {
        self
    }
}

impl UserRef for Value {
    fn user_id(&self) -> &str {
        match self {
            Value::String(id) => id,
            user => user["user_id"]
                .as_str()
                .unwrap_or_else(|| panic!("neither a user nor a user id: {user}")),
        }
    }
}

/// The end-user token of `user`. It carries no scope: the /me routes go by `sub` alone.
pub fn own(user: &(impl UserRef + ?Sized)) -> Claims {
    claims("acme", user.user_id(), "")
}

/// The token of the service behind the tenant's sign-in page, the one caller of /authenticate.
fn login_service() -> Claims {
    claims("acme", "login@clients", "authenticate:users")
}

const ACME: &str = "/v1/tenants/acme";

pub fn user_path(user: &(impl UserRef + ?Sized)) -> String {
    format!("{ACME}/users/{}", user.user_id())
}

/// `pairs` as a query string, `?` included; encoded as a client would (`@` as `%40`), so tests
/// name addresses as they are.
fn query(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.extend_pairs(pairs);
    format!("?{}", q.finish())
}

// Each route of tenant acme, sent by the caller a well-behaved client would be: the admin for
// the management routes, the user for /me, the login service for /authenticate, nobody for the
// public routes. Tests of other callers, tenants, headers or bodies use `send` and `send_raw`.
impl Env {
    pub async fn public(&self, method: &str, path: &str, body: Value) -> Resp {
        self.send(method, &format!("{ACME}{path}"), None, Some(&body), &[])
            .await
    }

    async fn as_admin(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.admin_send(method, &format!("{ACME}{path}"), body.as_ref())
            .await
    }

    async fn as_user(
        &self,
        user: &(impl UserRef + ?Sized),
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let path = format!("{ACME}/me{path}");
        self.send(method, &path, Some(&own(user)), body.as_ref(), &[])
            .await
    }

    pub async fn post_user(&self, body: Value) -> Resp {
        self.as_admin("POST", "/users", Some(body)).await
    }

    pub async fn get_user(&self, user: &(impl UserRef + ?Sized)) -> Resp {
        self.admin_send("GET", &user_path(user), None).await
    }

    pub async fn patch_user(&self, user: &(impl UserRef + ?Sized), body: Value) -> Resp {
        self.admin_send("PATCH", &user_path(user), Some(&body))
            .await
    }

    /// `tag` goes out verbatim, so malformed tags can be sent too.
    pub async fn patch_user_if_match(
        &self,
        user: &(impl UserRef + ?Sized),
        tag: &str,
        body: Value,
    ) -> Resp {
        let admin = self.admin();
        self.send(
            "PATCH",
            &user_path(user),
            Some(&admin),
            Some(&body),
            &[("if-match", tag)],
        )
        .await
    }

    pub async fn delete_user(&self, user: &(impl UserRef + ?Sized)) -> Resp {
        self.admin_send("DELETE", &user_path(user), None).await
    }

    pub async fn export_user(&self, user: &(impl UserRef + ?Sized)) -> Resp {
        let path = format!("{}/export", user_path(user));
        self.admin_send("GET", &path, None).await
    }

    pub async fn list_users(&self, pairs: &[(&str, &str)]) -> Resp {
        self.as_admin("GET", &format!("/users{}", query(pairs)), None)
            .await
    }

    pub async fn users_by_email(&self, email: &str) -> Resp {
        let path = format!("/users-by-email{}", query(&[("email", email)]));
        self.as_admin("GET", &path, None).await
    }

    pub async fn link(&self, primary: &(impl UserRef + ?Sized), body: Value) -> Resp {
        let path = format!("{}/identities", user_path(primary));
        self.admin_send("POST", &path, Some(&body)).await
    }

    pub async fn unlink(
        &self,
        primary: &(impl UserRef + ?Sized),
        provider: &str,
        identity_id: &str,
    ) -> Resp {
        let path = format!("{}/identities/{provider}/{identity_id}", user_path(primary));
        self.admin_send("DELETE", &path, None).await
    }

    /// The brute-force blocks in force against `user`.
    pub async fn blocks(&self, user: &(impl UserRef + ?Sized)) -> Resp {
        self.as_admin("GET", &format!("/user-blocks/{}", user.user_id()), None)
            .await
    }

    pub async fn clear_blocks(&self, user: &(impl UserRef + ?Sized)) -> Resp {
        self.as_admin("DELETE", &format!("/user-blocks/{}", user.user_id()), None)
            .await
    }

    /// The brute-force blocks in force against an email address or username.
    pub async fn blocks_of(&self, identifier: &str) -> Resp {
        let path = format!("/user-blocks{}", query(&[("identifier", identifier)]));
        self.as_admin("GET", &path, None).await
    }

    /// An address's throttle across the tenant's accounts, and its block if full.
    pub async fn address_blocks(&self, ip: &str) -> Resp {
        let path = format!("/user-blocks{}", query(&[("ip", ip)]));
        self.as_admin("GET", &path, None).await
    }

    pub async fn clear_address_blocks(&self, ip: &str) -> Resp {
        let path = format!("/user-blocks{}", query(&[("ip", ip)]));
        self.as_admin("DELETE", &path, None).await
    }

    pub async fn clear_blocks_of(&self, identifier: &str) -> Resp {
        let path = format!("/user-blocks{}", query(&[("identifier", identifier)]));
        self.as_admin("DELETE", &path, None).await
    }

    pub async fn send_verification_email(&self, user: &(impl UserRef + ?Sized)) -> Resp {
        let body = serde_json::json!({"user_id": user.user_id()});
        self.as_admin("POST", "/jobs/verification-email", Some(body))
            .await
    }

    /// A job of tenant acme's, as its admin reads it.
    pub async fn job(&self, id: &str) -> Resp {
        self.as_admin("GET", &format!("/jobs/{id}"), None).await
    }

    /// Tenant acme's settings, as its admin reads them.
    pub async fn settings(&self) -> Resp {
        self.admin_send("GET", "/v1/tenants/acme/settings", None)
            .await
    }

    pub async fn patch_settings(&self, body: Value) -> Resp {
        self.admin_send("PATCH", "/v1/tenants/acme/settings", Some(&body))
            .await
    }

    pub async fn verification_ticket(&self, body: Value) -> Resp {
        self.as_admin("POST", "/tickets/email-verification", Some(body))
            .await
    }

    pub async fn password_change_ticket(&self, body: Value) -> Resp {
        self.as_admin("POST", "/tickets/password-change", Some(body))
            .await
    }

    /// A sign-in by email address; `ip` is the end user's, which blocks are counted against.
    pub async fn login(&self, email: &str, password: &str, ip: &str) -> Resp {
        let body = serde_json::json!({"email": email, "password": password, "ip": ip});
        self.authenticate(body).await
    }

    /// For sign-ins `login` cannot express: by username, without `ip`, or malformed.
    pub async fn authenticate(&self, body: Value) -> Resp {
        let service = login_service();
        let path = format!("{ACME}/authenticate");
        self.send("POST", &path, Some(&service), Some(&body), &[])
            .await
    }

    pub async fn get_me(&self, user: &(impl UserRef + ?Sized)) -> Resp {
        self.as_user(user, "GET", "", None).await
    }

    pub async fn patch_me(&self, user: &(impl UserRef + ?Sized), body: Value) -> Resp {
        self.as_user(user, "PATCH", "", Some(body)).await
    }

    pub async fn delete_me(&self, user: &(impl UserRef + ?Sized)) -> Resp {
        self.as_user(user, "DELETE", "", None).await
    }

    pub async fn export_me(&self, user: &(impl UserRef + ?Sized)) -> Resp {
        self.as_user(user, "GET", "/export", None).await
    }

    pub async fn change_password(
        &self,
        user: &(impl UserRef + ?Sized),
        current: &str,
        new: &str,
    ) -> Resp {
        let body = serde_json::json!({"current_password": current, "new_password": new});
        self.as_user(user, "POST", "/password", Some(body)).await
    }

    /// `POST /password-reset`, then what SQS does with the request it queued: hands it to
    /// `account-mail-sender`.
    pub async fn request_reset(&self, email: &str) -> Resp {
        let r = self.request_mail_queued(email).await;
        self.deliver_mail_requests().await;
        r
    }

    /// `POST /password-reset` alone: the request waits in the queue.
    pub async fn request_mail_queued(&self, email: &str) -> Resp {
        let body = serde_json::json!({"email": email});
        self.public("POST", "/password-reset", body).await
    }

    /// Puts a mail request on the queue as the functions that make them do.
    pub async fn queue_mail(&self, request: &shared::domain::mail_request::MailRequest) {
        self.sqs
            .send_message()
            .queue_url(&self.mail_queue)
            .message_body(request.to_body())
            .send()
            .await
            .unwrap_or_else(|e| panic!("SendMessage: {e}"));
    }

    /// Hands every queued mail request to `account-mail-sender`, as SQS's event source
    /// mapping does; answers how many there were.
    pub async fn deliver_mail_requests(&self) -> usize {
        let mut total = 0;
        loop {
            let n = local_api::queue::deliver_once(&self.app, &self.sqs, &self.mail_queue, 0)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            if n == 0 {
                return total;
            }
            total += n;
        }
    }

    pub async fn confirm_reset(&self, ticket: &str, new_password: &str) -> Resp {
        let body = serde_json::json!({"ticket": ticket, "new_password": new_password});
        self.public("POST", "/password-reset/confirm", body).await
    }

    /// Confirms a verification ticket with a JSON `POST`, as an app does.
    pub async fn confirm_verification(&self, ticket: &str) -> Resp {
        let body = serde_json::json!({"ticket": ticket});
        self.public("POST", "/email-verification/confirm", body)
            .await
    }

    /// Cancels an email change with a JSON `POST`, as an app does.
    pub async fn cancel_email_change(&self, ticket: &str) -> Resp {
        let body = serde_json::json!({"ticket": ticket});
        self.public("POST", "/email-change/cancel", body).await
    }
}

/// The ticket of the newest reset link mailed to `to`.
pub async fn mailed_reset_ticket(to: &str) -> String {
    let mail = inbox(to).await;
    let newest = mail.last().expect("a reset email");
    let url = link(
        &newest.html,
        &format!("{PUBLIC_BASE}/reset-password?ticket="),
    );
    param(&url, "ticket").unwrap()
}

pub fn s(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        Some(AttributeValue::N(v)) => v.clone(),
        _ => String::new(),
    }
}

pub use local_api::fixtures::{
    EVENT_CANCEL_TICKET, EVENT_FACEBOOK_ID, EVENT_GOOGLE_ID, EVENT_JOB, EVENT_PASSWORD,
    EVENT_PRIMARY, EVENT_RESET_TICKET, EVENT_UNBLOCK_TICKET, EVENT_USER, EVENT_VERIFY_TICKET,
    TENANT_SETTINGS, expected_status,
};

/// Functions run by a schedule rather than a route.
pub const SCHEDULED: [&str; 2] = ["email-outbox", "purge"];

/// Functions run by a queue (an SQS event source) rather than a route.
pub const QUEUED: [&str; 1] = ["account-mail-sender"];

/// Functions run by an SNS topic rather than a route.
pub const NOTIFIED: [&str; 1] = ["ses-feedback"];

/// Every `events/` file: (function name, file contents).
pub fn event_files() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A clock the test moves by hand.
pub struct TestClock(std::sync::Mutex<shared::domain::time::Timestamp>);

impl TestClock {
    pub fn advance(&self, secs: i64) {
        let mut now = self.0.lock().unwrap();
        *now = now.plus_secs(secs);
    }
}

impl shared::ports::Clock for TestClock {
    fn now(&self) -> shared::domain::time::Timestamp {
        *self.0.lock().unwrap()
    }
}

impl Env {
    /// One run of the scheduled sender, as the `email-outbox` function makes it.
    pub async fn deliver_due(
        &self,
        limit: usize,
    ) -> Result<shared::operations::email::DeliveryReport, shared::domain::Error> {
        local_api::moto::as_function("email-outbox", self.app.deliver_due(limit)).await
    }

    /// One pass of the scheduled purge, as the `purge` function makes it.
    pub async fn purge_due(
        &self,
        batch: usize,
        concurrency: usize,
    ) -> Result<shared::domain::erasure::PurgeReport, shared::domain::Error> {
        local_api::moto::as_function("purge", self.app.purge_due(batch, concurrency)).await
    }

    /// A fresh table, with the app's clock in the test's hands.
    pub async fn with_clock() -> (Env, std::sync::Arc<TestClock>) {
        let mut env = Env::new().await;
        let clock = std::sync::Arc::new(TestClock(std::sync::Mutex::new(env.app.clock.now())));
        env.app.clock = clock.clone();
        (env, clock)
    }

    /// A fresh table, in a deployment that sets no rate limit (`requests_per_second: 0`) but
    /// is otherwise the local one: a suite of hundreds of requests in a row would spend the
    /// tenant's bucket, and every address's for the public routes, and be answered 429 before
    /// reaching the code it tests. Nor does a request then write a rate-limit window, so the
    /// table holds only what the requests themselves stored. Rate limits have tests of their
    /// own (`rate_limits`).
    pub async fn unmetered() -> Env {
        let mut env = Env::new().await;
        let unlimited = serde_json::json!({"requests_per_second": 0});
        let deployment = serde_json::json!({"*": {
            "password_reset_url": format!("{PUBLIC_BASE}/reset-password"),
            "default_result_url": format!("{PUBLIC_BASE}/verified"),
            "result_url_hosts": ["id.example.com"],
            "rate_limit": unlimited,
            "public_rate_limit": unlimited,
        }});
        let mut email = (*env.app.email).clone();
        email.tenants =
            shared::domain::tenant::TenantSettings::parse(&deployment.to_string(), false).unwrap();
        env.app.email = std::sync::Arc::new(email);
        env
    }
}

/// An address no other test uses, so a test reads only its own mail from moto.
pub fn address(name: &str) -> String {
    format!(
        "{name}.{}@example.org",
        ulid::Ulid::generate().to_string().to_lowercase()
    )
}

/// A message moto's SES recorded.
#[derive(Debug, Clone)]
pub struct Sent {
    pub subject: String,
    pub html: String,
}

/// Everything sent to `to`, oldest first, as moto's SES recorded it (moto keeps the HTML
/// part; the text part is covered by the template unit tests).
pub async fn inbox(to: &str) -> Vec<Sent> {
    local_api::mailbox::messages(&moto_endpoint())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|m| m.to.iter().any(|a| a == to))
        .map(|m| Sent {
            subject: m.subject,
            html: m.html,
        })
        .collect()
}

/// The first link in `html` that starts with `prefix`, unescaped.
pub fn link(html: &str, prefix: &str) -> String {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&"))
        .find(|href| href.starts_with(prefix))
        .unwrap_or_else(|| panic!("no link to {prefix} in {html}"))
}

/// A query parameter of `url`.
pub fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// An address where nothing listens: SES "down".
pub fn closed_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

impl Env {
    /// Opens an emailed link to this API, as a browser would (no token).
    pub async fn follow(&self, link: &str) -> Resp {
        let path = link
            .strip_prefix(PUBLIC_BASE)
            .unwrap_or_else(|| panic!("{link} is not a link to the API"));
        self.send("GET", path, None, None, &[]).await
    }

    /// Opens an emailed link that acts only through its page, as a person does: the GET shows
    /// the page (checked to be one with a form), then its form is submitted. The form's answer.
    pub async fn open_and_confirm(&self, link: &str) -> Resp {
        let page = self.follow(link).await;
        assert_eq!(page.status, 200, "{link} opened no page: {}", page.raw);
        assert!(page.raw.contains("<form method=\"post\""), "{}", page.raw);
        self.submit_form(link).await
    }

    /// Submits the form on the page `link` opened, as a browser does: its ticket,
    /// form-encoded, to the link's path.
    pub async fn submit_form(&self, link: &str) -> Resp {
        let path = link
            .strip_prefix(PUBLIC_BASE)
            .and_then(|rest| rest.split('?').next())
            .unwrap_or_else(|| panic!("{link} is not a link to the API"));
        let form = format!("ticket={}", param(link, "ticket").unwrap());
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        self.send_raw("POST", path, None, form.as_bytes(), &headers)
            .await
    }

    /// The outbox items stored, as JSON-ish maps of their string and number attributes.
    pub async fn outbox(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.items()
            .await
            .into_iter()
            .filter(|i| s(i, "sk").starts_with("OUTBOX#"))
            .collect()
    }
}

/// A concrete path for a route key: every `{param}` filled with something of its shape.
pub fn concrete(key: &str) -> (String, String) {
    let (method, pattern) = key.split_once(' ').unwrap();
    let path = pattern
        .replace("{tenant_id}", "acme")
        .replace("{user_id}", "usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1")
        .replace("{provider}", "google-oauth2")
        .replace("{identity_id}", "10876");
    (method.to_owned(), path)
}

/// A binary of the workspace (a function, or an operator command) from the target directory
/// this test runs from.
pub fn binary(name: &str) -> std::path::PathBuf {
    let dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`make test` runs `cargo build --workspace --bins`)",
        path.display()
    );
    path
}

/// What a point-in-time restore to now makes: a new table, `{env.table}-restored`, holding
/// every item of `env`'s table as it is.
pub async fn restored_copy(env: &Env) -> String {
    let restored = format!("{}-restored", env.table);
    shared::adapters::dynamo::table::create(&env.client, &restored)
        .await
        .unwrap();
    for item in env.all_items().await {
        env.client
            .put_item()
            .table_name(&restored)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    restored
}

/// Every item of `table` (on `env`'s moto), in key order.
pub async fn items_of(env: &Env, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = shared::adapters::dynamo::scan_all(&env.client, table)
        .await
        .unwrap();
    items.sort_by_key(|i| (s(i, "pk"), s(i, "sk")));
    items
}
