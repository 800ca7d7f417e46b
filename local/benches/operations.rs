//! `make bench`: each operation through the local gateway against moto, reporting the
//! DynamoDB calls it makes (exact, the number that matters on DynamoDB) and its latency
//! against moto (indicative only: moto is far slower than DynamoDB), plus the cost of one
//! argon2id hash. Prints a Markdown table.

#[path = "calls.rs"]
mod calls;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};
use lambda_http::Body;
use local_api::gateway::{Incoming, dispatch};
use local_api::moto::CallLog;
use serde_json::{Value, json};
use shared::App;
use shared::domain::password::Password;

struct Bench {
    app: App,
    calls: CallLog,
    /// The rate limiter's own calls: its store has a client of its own, so each row can
    /// list them apart from the operation's.
    limiter_calls: CallLog,
    claims: HashMap<String, String>,
    sqs: aws_sdk_sqs::Client,
    mail_queue: String,
}

impl Bench {
    /// One poll of the reset queue handed to account-mail-sender; how many it took.
    async fn deliver_resets(&self) -> usize {
        local_api::queue::deliver_once(&self.app, &self.sqs, &self.mail_queue, 0)
            .await
            .expect("deliver reset requests")
    }

    async fn send(&self, method: &str, path_and_query: &str, body: Option<&Value>) -> (u16, Value) {
        self.send_as(&self.claims, method, path_and_query, body)
            .await
    }

    /// As [`Bench::send`], under an `Idempotency-Key`.
    async fn send_keyed(&self, path: &str, body: &Value, key: &str) -> u16 {
        let key = [("idempotency-key", key)];
        self.send_with(&self.claims, "POST", path, Some(body), &key)
            .await
            .0
    }

    async fn send_as(
        &self,
        claims: &HashMap<String, String>,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        self.send_with(claims, method, path_and_query, body, &[])
            .await
    }

    async fn send_with(
        &self,
        claims: &HashMap<String, String>,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> (u16, Value) {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in extra {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        let incoming = Incoming {
            method,
            path,
            raw_query: query,
            headers: &headers,
            body: &body,
            source_ip: "127.0.0.1",
        };
        let response = dispatch(&self.app, &incoming, Some(claims)).await;
        let status = response.status().as_u16();
        let value = match response.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        (status, value)
    }

    /// Runs `op` `n` times; returns the calls of one run (the operation's, the limiter's)
    /// and the latencies.
    async fn measure<F, Fut>(&self, n: usize, mut op: F) -> Measured
    where
        F: FnMut(usize) -> Fut,
        Fut: std::future::Future<Output = u16>,
    {
        let mut times = Vec::with_capacity(n);
        let mut calls = Vec::new();
        let mut limiter = Vec::new();
        for i in 0..n {
            self.calls.take();
            self.limiter_calls.take();
            let start = Instant::now();
            let status = op(i).await;
            times.push(start.elapsed());
            assert!(status < 300, "operation failed with {status}");
            calls = self.calls.take();
            limiter = self.limiter_calls.take();
        }
        (calls, limiter, times)
    }
}

/// Seeds `tenant` with 60 users in each listing shard (ids drawn until they fall there); how
/// many.
async fn seed_large(store: &shared::adapters::dynamo::DynamoStore, tenant: &str) -> usize {
    use shared::domain::ids::{TenantId, UserId};
    use shared::domain::listing::{SHARDS, shard_of};
    use shared::domain::user::{Identity, User};
    let tenant = TenantId::parse(tenant).expect("a tenant id");
    let now = shared::domain::time::Timestamp::from_datetime(time::OffsetDateTime::now_utc());
    let mut users = Vec::new();
    for shard in 0..SHARDS {
        for i in 0..60 {
            let id = std::iter::repeat_with(UserId::generate)
                .find(|id| shard_of(id) == shard)
                .expect("ids fall in every shard");
            let mut user = User::new(id, tenant.clone(), Identity::database(&id), now);
            user.email = Some(format!("large{shard}-{i}@example.com"));
            users.push((user, None));
        }
    }
    store.seed(&users).await.expect("seed");
    users.len()
}

/// Local settings, with buckets the bench never empties: every request still draws on one
/// (one shard, so one call), and what that costs shows in its own column.
fn bench_settings() -> shared::domain::tenant::EmailSettings {
    let base = url::Url::parse("https://id.example.com").expect("a URL");
    let mut settings = shared::domain::tenant::EmailSettings::local(base);
    let roomy = json!({"requests_per_second": 500, "burst": 1_000_000});
    let entries = json!({"*": {
        "password_reset_url": "https://id.example.com/reset-password",
        "default_result_url": "https://id.example.com/verified",
        "result_url_hosts": ["id.example.com"],
        "rate_limit": roomy,
        "public_rate_limit": roomy,
    }});
    settings.tenants = shared::domain::tenant::TenantSettings::parse(&entries.to_string(), false)
        .expect("the bench's tenant settings");
    settings
}

/// One row's measure: the operation's calls, the rate limiter's, and the latencies.
type Measured = (Vec<String>, Vec<String>, Vec<Duration>);

/// A sign-in that should fail: its 401 counts as the operation working.
fn refused_as_expected(status: u16) -> u16 {
    if status == 401 { 200 } else { status }
}

fn percentile(times: &mut [Duration], p: f64) -> f64 {
    times.sort();
    let i = ((times.len() as f64 - 1.0) * p).round() as usize;
    times[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let endpoint =
        std::env::var("MOTO_ENDPOINT").expect("MOTO_ENDPOINT is not set: run `make bench`");
    let calls = CallLog::default();
    let client = local_api::moto::client(&endpoint, &calls);
    let table = format!(
        "bench-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    shared::adapters::dynamo::table::create(&client, &table)
        .await
        .expect("create the table on moto");
    let ses = local_api::moto::ses_client(&endpoint);
    local_api::moto::create_identity(&ses, "example.com")
        .await
        .expect("create the sender identity on moto");
    let sqs = local_api::queue::client(&endpoint, &calls);
    let mail_queue = local_api::queue::create(&sqs, &table)
        .await
        .expect("create the reset queue on moto");
    let limiter_calls = CallLog::default();
    let limiter = shared::adapters::dynamo::DynamoStore::new(
        local_api::moto::client(&endpoint, &limiter_calls),
        table.clone(),
    );
    let direct = client.clone();
    let table_name = table.clone();
    // A second connection to the table, counted apart, to seed a large tenant.
    let seeder = shared::adapters::dynamo::DynamoStore::new(
        local_api::moto::client(&endpoint, &CallLog::default()),
        table.clone(),
    );
    let mut app = shared::app::wire(
        client,
        table,
        std::sync::Arc::new(shared::adapters::ses::SesMailer::new(
            ses,
            "no-reply@example.com".into(),
            None,
        )),
        bench_settings(),
    );
    app.rate_limiter = std::sync::Arc::new(limiter);
    // As create-user's container (and the local server): a miss reads the size too.
    app.settings_cache =
        std::sync::Arc::new(shared::operations::tenant::SettingsCache::keeping_sizes());
    let claims = HashMap::from([
        ("tenant_id".to_owned(), "acme".to_owned()),
        ("sub".to_owned(), "bench@clients".to_owned()),
        ("scope".to_owned(), local_api::auth::ALL_SCOPES.to_owned()),
    ]);
    app.mail_queue = Some(std::sync::Arc::new(
        shared::adapters::sqs::SqsMailQueue::new(sqs.clone(), mail_queue.clone()),
    ));
    let bench = Bench {
        app,
        calls,
        limiter_calls,
        claims,
        sqs,
        mail_queue,
    };
    let b = &bench;
    let n = 40;
    let mut rows: Vec<(String, String, String, f64, f64)> = Vec::new();
    let mut record = |name: &str, (calls, limiter, mut times): Measured| {
        rows.push((
            name.to_owned(),
            calls::summarize(&calls),
            calls::summarize(&limiter),
            percentile(&mut times, 0.5),
            percentile(&mut times, 0.95),
        ));
    };

    let mut ids = Vec::new();
    let created = b
        .measure(n, |i| {
            let body = json!({"email": format!("user{i}@example.com"), "password": "correct horse battery", "user_metadata": {"locale": "en"}});
            async move { b.send("POST", "/v1/tenants/acme/users", Some(&body)).await.0 }
        })
        .await;
    record(
        "create (database user, argon2id, verification email)",
        created,
    );
    let (_, page) = b
        .send("GET", "/v1/tenants/acme/users?limit=100", None)
        .await;
    for u in page["users"].as_array().unwrap() {
        ids.push(u["user_id"].as_str().unwrap().to_owned());
    }
    let social = b
        .measure(n, |i| {
            let body = json!({"connection": "google-oauth2", "user_id": format!("g-{i}"), "email": format!("user{i}@example.com")});
            async move { b.send("POST", "/v1/tenants/acme/users", Some(&body)).await.0 }
        })
        .await;
    record("create (social user)", social);
    // Under an Idempotency-Key: the key taken first, the answer kept after; a retry reads
    // the key and answers from it.
    let social_body = |i: usize| json!({"connection": "google-oauth2", "user_id": format!("k-{i}"), "email": format!("key{i}@example.com")});
    record(
        "create (social user) with an Idempotency-Key",
        b.measure(n, |i| async move {
            b.send_keyed(
                "/v1/tenants/acme/users",
                &social_body(i),
                &format!("bench-{i}"),
            )
            .await
        })
        .await,
    );
    record(
        "the same create retried (its kept answer given again)",
        b.measure(n, |i| async move {
            b.send_keyed(
                "/v1/tenants/acme/users",
                &social_body(i),
                &format!("bench-{i}"),
            )
            .await
        })
        .await,
    );
    let ids = &ids;
    record(
        "get",
        b.measure(n, |i| async move {
            b.send("GET", &format!("/v1/tenants/acme/users/{}", ids[i]), None)
                .await
                .0
        })
        .await,
    );
    // Auth0's dialect by Auth0's id: the same read. By a social user's provider id: its
    // identity guard, then the user read to check the identity is its own, then the read.
    record(
        "get, Auth0 dialect, by an auth0 id",
        b.measure(n, |i| async move {
            b.send("GET", &format!("/api/v2/users/auth0%7C{}", ids[i]), None)
                .await
                .0
        })
        .await,
    );
    record(
        "get, Auth0 dialect, by a social user's provider id",
        b.measure(n, |i| async move {
            b.send("GET", &format!("/api/v2/users/google-oauth2%7Cg-{i}"), None)
                .await
                .0
        })
        .await,
    );
    record(
        "patch metadata only",
        b.measure(n, |i| async move {
            let body = json!({"user_metadata": {"theme": "dark", "locale": null}, "app_metadata": {"plan": "pro"}});
            b.send("PATCH", &format!("/v1/tenants/acme/users/{}", ids[i]), Some(&body)).await.0
        })
        .await,
    );
    record(
        "list, 50 per page",
        b.measure(n, |_| async move {
            b.send("GET", "/v1/tenants/acme/users?limit=50", None)
                .await
                .0
        })
        .await,
    );
    // The last page of acme's 120 users: its shard read to the end, then the counts, which
    // say no other shard holds anyone.
    let (_, page1) = b.send("GET", "/v1/tenants/acme/users?limit=50", None).await;
    let (_, page2) = b
        .send(
            "GET",
            &format!(
                "/v1/tenants/acme/users?limit=50&cursor={}",
                page1["next_cursor"].as_str().unwrap_or_default()
            ),
            None,
        )
        .await;
    let last = format!(
        "/v1/tenants/acme/users?limit=50&cursor={}",
        page2["next_cursor"].as_str().unwrap_or_default()
    );
    let last = &last;
    record(
        "list, 50 per page, the last page (its shard ends)",
        b.measure(n, |_| async move { b.send("GET", last, None).await.0 })
            .await,
    );
    // A large tenant: 960 users, 60 in each of the 16 shards, as a tenant past every
    // threshold holds them. A page within a shard, and one that crosses into the next.
    let large = seed_large(&seeder, "bigco").await;
    let mut bigco = b.claims.clone();
    bigco.insert("tenant_id".into(), "bigco".into());
    let bigco = &bigco;
    record(
        "list, large tenant (16 shards), 50 per page",
        b.measure(n, |_| async move {
            b.send_as(bigco, "GET", "/v1/tenants/bigco/users?limit=50", None)
                .await
                .0
        })
        .await,
    );
    let (_, first) = b
        .send_as(bigco, "GET", "/v1/tenants/bigco/users?limit=50", None)
        .await;
    let crossing = format!(
        "/v1/tenants/bigco/users?limit=50&cursor={}",
        first["next_cursor"].as_str().unwrap_or_default()
    );
    let crossing = &crossing;
    record(
        "list, large tenant, a page crossing into the next shard",
        b.measure(n, |_| async move {
            b.send_as(bigco, "GET", crossing, None).await.0
        })
        .await,
    );
    assert_eq!(large, 960);
    // Auth0's listing: the same index read, and the tenant's count for `total`. Its searches
    // by verification and by connection read the search index the same way, and count
    // matches for `total` (one Query per shard, stopping at 1,000).
    for (name, query) in [
        ("list, Auth0 dialect, 50 per page with totals", ""),
        (
            "search, Auth0 dialect, email_verified:false, 50 per page with totals",
            "&q=email_verified%3Afalse",
        ),
        (
            "search, Auth0 dialect, identities.connection:google-oauth2, with totals",
            "&q=identities.connection%3A%22google-oauth2%22",
        ),
    ] {
        let path = format!("/api/v2/users?per_page=50&include_totals=true{query}");
        let path = &path;
        record(
            name,
            b.measure(n, |_| async move { b.send("GET", path, None).await.0 })
                .await,
        );
    }
    record(
        "users-by-email (2 connections)",
        b.measure(n, |i| async move {
            b.send(
                "GET",
                &format!("/v1/tenants/acme/users-by-email?email=user{i}%40example.com"),
                None,
            )
            .await
            .0
        })
        .await,
    );
    record(
        "authenticate, right password (argon2id verify)",
        b.measure(n, |i| async move {
            let body = json!({"email": format!("user{i}@example.com"), "password": "correct horse battery", "ip": "198.51.100.1"});
            b.send("POST", "/v1/tenants/acme/authenticate", Some(&body)).await.0
        })
        .await,
    );
    let failed = b
        .measure(n, |i| async move {
            let body = json!({"email": format!("user{i}@example.com"), "password": "wrong guess", "ip": "198.51.100.2"});
            refused_as_expected(b.send("POST", "/v1/tenants/acme/authenticate", Some(&body)).await.0)
        })
        .await;
    record("authenticate, wrong password (counted)", failed);
    let unknown = b
        .measure(n, |i| async move {
            let body = json!({"email": format!("nobody{i}@example.com"), "password": "wrong guess", "ip": "198.51.100.3"});
            refused_as_expected(b.send("POST", "/v1/tenants/acme/authenticate", Some(&body)).await.0)
        })
        .await;
    record("authenticate, unknown user (dummy verify)", unknown);
    let ids = &ids;
    record(
        "verification email job (+ SES SendEmail)",
        b.measure(n, |i| async move {
            let body = json!({"user_id": ids[i]});
            b.send(
                "POST",
                "/v1/tenants/acme/jobs/verification-email",
                Some(&body),
            )
            .await
            .0
        })
        .await,
    );
    let (_, job) = b
        .send(
            "POST",
            "/v1/tenants/acme/jobs/verification-email",
            Some(&json!({"user_id": ids[0]})),
        )
        .await;
    let job = format!("/api/v2/jobs/{}", job["id"].as_str().unwrap_or(""));
    let job = &job;
    record(
        "verification job, read back (GET /api/v2/jobs/{id})",
        b.measure(n, |_| async move { b.send("GET", job, None).await.0 })
            .await,
    );
    // The route's answer for a known and an unknown address, then what the mail takes: the
    // request and its resolution by account-mail-sender, as SQS hands it over.
    for (name, who) in [
        ("password reset request, known address", "user"),
        ("password reset request, unknown address", "nobody"),
    ] {
        record(
            name,
            b.measure(n, |i| async move {
                let body = json!({"email": format!("{who}{i}@example.com")});
                b.send("POST", "/v1/tenants/acme/password-reset", Some(&body))
                    .await
                    .0
            })
            .await,
        );
        while b.deliver_resets().await > 0 {}
    }
    for (name, who) in [
        (
            "password reset, request to mail sent, known address (+ SES SendEmail)",
            "user",
        ),
        (
            "password reset, request to lookup done, unknown address",
            "nobody",
        ),
    ] {
        record(
            name,
            b.measure(n, |i| async move {
                let body = json!({"email": format!("{who}{i}@example.com")});
                let (status, _) = b
                    .send("POST", "/v1/tenants/acme/password-reset", Some(&body))
                    .await;
                assert_eq!(b.deliver_resets().await, 1);
                status
            })
            .await,
        );
    }
    let mut reset_tickets = Vec::new();
    let mut verify_links = Vec::new();
    for i in 0..n {
        let body = json!({"email": format!("user{i}@example.com")});
        let (_, t) = b
            .send(
                "POST",
                "/v1/tenants/acme/tickets/password-change",
                Some(&body),
            )
            .await;
        let url = url::Url::parse(t["ticket"].as_str().expect("a ticket")).expect("a URL");
        let ticket = url
            .query_pairs()
            .find(|(k, _)| k == "ticket")
            .map(|(_, v)| v.into_owned())
            .expect("a ticket parameter");
        reset_tickets.push(ticket);
        let body = json!({"user_id": ids[i]});
        let (_, t) = b
            .send(
                "POST",
                "/v1/tenants/acme/tickets/email-verification",
                Some(&body),
            )
            .await;
        let link = t["ticket"].as_str().expect("a ticket").to_owned();
        verify_links.push(link.replacen("https://id.example.com", "", 1));
    }
    let (reset_tickets, verify_links) = (&reset_tickets, &verify_links);
    record(
        "password reset confirm (argon2id, blocks cleared)",
        b.measure(n, |i| async move {
            let body = json!({"ticket": reset_tickets[i], "new_password": format!("bench-Passphrase-Lantern-{i}")});
            b.send("POST", "/v1/tenants/acme/password-reset/confirm", Some(&body))
                .await
                .0
        })
        .await,
    );
    // Opening the link only shows the page; its form (here the same redemption as an app's
    // JSON POST) verifies. The GET consumes nothing, so the same tickets serve both rows.
    record(
        "email verification link opened (page, changes nothing)",
        b.measure(n, |i| async move {
            b.send("GET", &verify_links[i], None).await.0
        })
        .await,
    );
    record(
        "email verification confirmed (the page's POST)",
        b.measure(n, |i| async move {
            let (path, query) = verify_links[i].split_once('?').expect("a ticket");
            let ticket = query.strip_prefix("ticket=").expect("a ticket");
            let body = json!({ "ticket": ticket });
            b.send("POST", path, Some(&body)).await.0
        })
        .await,
    );
    record(
        "patch email (guard moves, verification email)",
        b.measure(n, |i| async move {
            let body = json!({"email": format!("moved{i}@example.com")});
            b.send(
                "PATCH",
                &format!("/v1/tenants/acme/users/{}", ids[i]),
                Some(&body),
            )
            .await
            .0
        })
        .await,
    );
    record(
        "link a social user into a database user",
        b.measure(n, |i| async move {
            let body = json!({"provider": "google-oauth2", "user_id": format!("g-{i}"), "allow_unverified": true});
            b.send(
                "POST",
                &format!("/v1/tenants/acme/users/{}/identities", ids[i]),
                Some(&body),
            )
            .await
            .0
        })
        .await,
    );
    record(
        "unlink it (the social user restored)",
        b.measure(n, |i| async move {
            b.send(
                "DELETE",
                &format!(
                    "/v1/tenants/acme/users/{}/identities/google-oauth2/g-{i}",
                    ids[i]
                ),
                None,
            )
            .await
            .0
        })
        .await,
    );
    let mut social_ids = Vec::new();
    for i in 0..n {
        // A password known by position: the listing order of `ids` is not creation order.
        let body = json!({"password": format!("bench-Linked-Passphrase-{i}")});
        let (status, _) = b
            .send(
                "PATCH",
                &format!("/v1/tenants/acme/users/{}", ids[i]),
                Some(&body),
            )
            .await;
        assert_eq!(status, 200, "set a known password");
        let (_, found) = b
            .send(
                "GET",
                &format!("/v1/tenants/acme/users-by-email?email=user{i}%40example.com"),
                None,
            )
            .await;
        let social = found
            .as_array()
            .and_then(|users| {
                users
                    .iter()
                    .find(|u| u["identities"][0]["is_social"] == true)
            })
            .expect("the social user, restored");
        social_ids.push(social["user_id"].as_str().expect("an id").to_owned());
    }
    let social_ids = &social_ids;
    record(
        "link a database user into a social user (password moves)",
        b.measure(n, |i| async move {
            let body = json!({"link_with": ids[i], "allow_unverified": true});
            b.send(
                "POST",
                &format!("/v1/tenants/acme/users/{}/identities", social_ids[i]),
                Some(&body),
            )
            .await
            .0
        })
        .await,
    );
    record(
        "authenticate through the linked database identity",
        b.measure(n, |i| async move {
            let body = json!({"email": format!("moved{i}@example.com"), "password": format!("bench-Linked-Passphrase-{i}"), "ip": "198.51.100.1"});
            b.send("POST", "/v1/tenants/acme/authenticate", Some(&body)).await.0
        })
        .await,
    );
    record(
        "unlink it (the database user and its password restored)",
        b.measure(n, |i| async move {
            b.send(
                "DELETE",
                &format!(
                    "/v1/tenants/acme/users/{}/identities/database/{}",
                    social_ids[i], ids[i]
                ),
                None,
            )
            .await
            .0
        })
        .await,
    );
    record(
        "delete",
        b.measure(n, |i| async move {
            b.send(
                "DELETE",
                &format!("/v1/tenants/acme/users/{}", ids[i]),
                None,
            )
            .await
            .0
        })
        .await,
    );

    record(
        "tenant settings, read (GET /settings)",
        b.measure(n, |_| async move {
            b.send("GET", "/v1/tenants/acme/settings", None).await.0
        })
        .await,
    );
    record(
        "tenant settings, change (PATCH /settings)",
        b.measure(n, |i| async move {
            let body = json!({"display_name": format!("Acme {i}")});
            b.send("PATCH", "/v1/tenants/acme/settings", Some(&body))
                .await
                .0
        })
        .await,
    );
    // The rows above ran with the tenant's settings cached; here each run is a tenant this
    // container has not read yet and no create has recorded the size of (a new tenant): its
    // size is counted, and the create records it.
    record(
        "create (social user), tenant settings not cached",
        b.measure(n, |i| async move {
            let tenant = format!("cold-{i:03}");
            let mut claims = b.claims.clone();
            claims.insert("tenant_id".into(), tenant.clone());
            let body = json!({"connection": "google-oauth2", "user_id": format!("c-{i}")});
            b.send_as(
                &claims,
                "POST",
                &format!("/v1/tenants/{tenant}/users"),
                Some(&body),
            )
            .await
            .0
        })
        .await,
    );

    let password = Password::parse(
        zeroize::Zeroizing::new("correct horse battery".into()),
        None,
        None,
    )
    .unwrap();
    let hasher = shared::adapters::argon::Argon2Hasher::new();
    let mut hashes = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        shared::ports::PasswordHasher::hash(&hasher, &password)
            .await
            .unwrap();
        hashes.push(start.elapsed());
    }

    let overheads = overhead(b, &direct, &table_name).await;

    println!("| operation | DynamoDB calls | rate limiter | p50 ms (moto) | p95 ms (moto) |");
    println!("|---|---|---|---|---|");
    for (name, calls, limiter, p50, p95) in rows {
        println!("| {name} | {calls} | {limiter} | {p50:.1} | {p95:.1} |");
    }
    println!();
    println!(
        "argon2id (m=19456 KiB, t=2, p=1), one hash on this machine: p50 {:.1} ms, p95 {:.1} ms ({n} operations each, 20 hashes)",
        percentile(&mut hashes, 0.5),
        percentile(&mut hashes, 0.95)
    );
    println!();
    println!(
        "| the local API against the same DynamoDB calls made directly | API p50 ms | direct p50 ms | ratio (≤ {OVERHEAD_BUDGET}) |"
    );
    println!("|---|---|---|---|");
    let mut missed = false;
    for (name, api, direct) in &overheads {
        let ratio = api / direct;
        missed |= ratio > OVERHEAD_BUDGET;
        println!("| {name} | {api:.2} | {direct:.2} | {ratio:.2} |");
    }
    if missed {
        eprintln!("the local API's overhead is over its budget");
        std::process::exit(1);
    }
}

/// How much slower an operation through the local API may be than its DynamoDB calls alone.
const OVERHEAD_BUDGET: f64 = 1.3;

/// GET user and a metadata PATCH through the local API, each interleaved with the same
/// DynamoDB calls made directly on the same moto (the limiter's `UpdateItem`, then the
/// read or the conditional update), so the ratio is the cost of this code, routing, JSON,
/// checks and all, over what DynamoDB must do anyway. p50 of each, in ms.
async fn overhead(
    b: &Bench,
    direct: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<(&'static str, f64, f64)> {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let (status, user) = b
        .send(
            "POST",
            "/v1/tenants/acme/users",
            Some(&json!({"connection": "google-oauth2", "user_id": "overhead"})),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let id = user["user_id"].as_str().expect("a user id").to_owned();
    let path = format!("/v1/tenants/acme/users/{id}");
    let pk = format!("TENANT#acme#USER#{id}");
    let draw = || {
        direct
            .update_item()
            .table_name(table)
            .key("pk", S("TENANT#acme#RATE#overhead".into()))
            .key("sk", S("RATE".into()))
            .update_expression("ADD #n :one SET #e = :e")
            .condition_expression("attribute_not_exists(#n) OR #n < :cap")
            .expression_attribute_names("#n", "taken")
            .expression_attribute_names("#e", "expires_at")
            .expression_attribute_values(":one", N("1".into()))
            .expression_attribute_values(":cap", N("1000000".into()))
            .expression_attribute_values(":e", N("4102444800".into()))
            .send()
    };
    let (mut api_get, mut direct_get, mut api_patch, mut direct_patch) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..200 {
        let start = Instant::now();
        assert_eq!(b.send("GET", &path, None).await.0, 200);
        api_get.push(start.elapsed());

        let start = Instant::now();
        draw().await.expect("UpdateItem");
        direct
            .get_item()
            .table_name(table)
            .key("pk", S(pk.clone()))
            .key("sk", S("PROFILE".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem");
        direct_get.push(start.elapsed());

        let body = json!({"user_metadata": {"step": i}});
        let start = Instant::now();
        assert_eq!(b.send("PATCH", &path, Some(&body)).await.0, 200);
        api_patch.push(start.elapsed());

        let start = Instant::now();
        draw().await.expect("UpdateItem");
        direct
            .update_item()
            .table_name(table)
            .key("pk", S(pk.clone()))
            .key("sk", S("PROFILE".into()))
            .update_expression("SET #m.#k = :v, #u = :u ADD #version :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#m", "user_metadata")
            .expression_attribute_names("#k", "step")
            .expression_attribute_names("#u", "updated_at")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":v", N(i.to_string()))
            .expression_attribute_values(":u", S("2026-11-30T00:00:00Z".into()))
            .expression_attribute_values(":one", N("1".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .expect("UpdateItem");
        direct_patch.push(start.elapsed());
    }
    vec![
        (
            "GET user",
            percentile(&mut api_get, 0.5),
            percentile(&mut direct_get, 0.5),
        ),
        (
            "PATCH user_metadata",
            percentile(&mut api_patch, 0.5),
            percentile(&mut direct_patch, 0.5),
        ),
    ]
}
