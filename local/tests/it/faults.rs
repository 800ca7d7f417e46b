//! DynamoDB failing under the functions: a proxy between the SDK and moto answers a share of
//! calls with throttling, 500s, answers slower than the SDK waits, and connections dropped
//! before or after moto saw the call. Every answer must be one the route documents or 503
//! `service_unavailable` with `Retry-After`, and afterwards the table must agree with
//! itself ([`shared::adapters::dynamo::audit`]).
//!
//! DynamoDB makes a `TransactWriteItems` repeated with its `ClientRequestToken` (the SDK
//! sets one, and keeps it across its retries) answer as the first did without applying it
//! again, or `TransactionInProgressException` while the first is still running. moto does
//! neither; `scripts/moto_server.py` does the first for it, and the proxy, which holds calls
//! while moto applies them, the second, so a retry after a lost or late answer meets what it
//! would on AWS.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use shared::adapters::dynamo::{DynamoStore, audit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{CallLog, Env, Resp, moto_endpoint};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fault {
    Pass,
    /// DynamoDB's own throttling answer.
    Throttle,
    /// A 500 `InternalServerError`.
    ServerError,
    /// Forwarded, but answered after the SDK's attempt timeout (the call may still land).
    Slow,
    /// The connection closes before moto sees the call.
    DropBefore,
    /// The connection closes after moto applied the call, before its answer: the write
    /// landed, the caller cannot know.
    DropAfter,
}

/// A proxy to moto that answers the `n`th call it sees as `plan(n)` says.
pub(crate) struct Proxy {
    pub(crate) url: String,
    calls: Arc<AtomicUsize>,
}

impl Proxy {
    pub(crate) async fn start(plan: fn(usize) -> Fault) -> Proxy {
        let upstream = moto_endpoint()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let in_flight = InFlight::default();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(
                    conn,
                    upstream.clone(),
                    seen.clone(),
                    in_flight.clone(),
                    plan,
                ));
            }
        });
        Proxy { url, calls }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// The `ClientRequestToken`s of the transactions moto is applying for the proxy.
type InFlight = Arc<Mutex<HashSet<String>>>;

/// The `ClientRequestToken` of a `TransactWriteItems` request.
fn transaction_token(head: &str, body: &[u8]) -> Option<String> {
    if !header(head, "x-amz-target")?.ends_with(".TransactWriteItems") {
        return None;
    }
    let body: Value = serde_json::from_slice(body).ok()?;
    Some(body["ClientRequestToken"].as_str()?.to_owned())
}

/// One client connection: each request on it read whole, then faulted or forwarded.
async fn serve(
    mut conn: TcpStream,
    upstream: String,
    seen: Arc<AtomicUsize>,
    in_flight: InFlight,
    plan: fn(usize) -> Fault,
) {
    while let Some((head, body)) = read_request(&mut conn).await {
        let fault = plan(seen.fetch_add(1, Ordering::SeqCst));
        let token = transaction_token(&head, &body);
        let forwarded = matches!(fault, Fault::Pass | Fault::Slow | Fault::DropAfter);
        // A call moto is still applying is in progress; one it answered, moto replays.
        let in_progress = token.as_ref().is_some_and(|t| {
            let mut in_flight = in_flight.lock().unwrap();
            let running = in_flight.contains(t);
            if forwarded && !running {
                in_flight.insert(t.clone());
            }
            running
        });
        if in_progress {
            let answer = error_answer(
                "400 Bad Request",
                "TransactionInProgressException",
                "The transaction with the given request token is already in progress.",
            );
            if conn.write_all(&answer).await.is_err() {
                return;
            }
            continue;
        }
        let answer = match fault {
            Fault::DropBefore => return,
            Fault::Throttle => error_answer(
                "400 Bad Request",
                "ThrottlingException",
                "Rate of requests exceeds the allowed throughput.",
            ),
            Fault::ServerError => error_answer(
                "500 Internal Server Error",
                "InternalServerError",
                "Internal server error",
            ),
            Fault::Pass | Fault::Slow | Fault::DropAfter => {
                let answer = forward(&upstream, &head, &body).await;
                if let Some(t) = token {
                    in_flight.lock().unwrap().remove(&t);
                }
                let Some(answer) = answer else {
                    return;
                };
                match fault {
                    Fault::DropAfter => return,
                    Fault::Slow => tokio::time::sleep(Duration::from_millis(2500)).await,
                    _ => {}
                }
                answer
            }
        };
        if conn.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// The head (through its blank line) and the body of the next request, or `None` once the
/// client closed the connection.
async fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..end].to_vec()).ok()?;
    let length = header(&head, "content-length").map_or(0, |v| v.parse().unwrap_or(0));
    assert!(
        header(&head, "transfer-encoding").is_none(),
        "the proxy reads bodies by Content-Length only: {head}"
    );
    let mut body = buf[end..].to_vec();
    while body.len() < length {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// moto's whole answer to the request, on a connection of its own that closes after it.
async fn forward(upstream: &str, head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut lines: Vec<&str> = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    let mut request = format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes();
    request.extend_from_slice(body);
    let mut moto = TcpStream::connect(upstream).await.ok()?;
    moto.write_all(&request).await.ok()?;
    let mut answer = Vec::new();
    moto.read_to_end(&mut answer).await.ok()?;
    Some(answer)
}

fn error_answer(status: &str, kind: &str, message: &str) -> Vec<u8> {
    let body =
        json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": message})
            .to_string();
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: fault\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// `env`'s table and configuration, every DynamoDB call going to `endpoint`.
pub(crate) fn through(env: &Env, endpoint: &str) -> Env {
    let client = local_api::moto::deployed_client(endpoint, &CallLog::default());
    let store = Arc::new(DynamoStore::new(client, env.table.clone()));
    Env {
        app: shared::app::with_store(env.app.clone(), store),
        client: env.client.clone(),
        table: env.table.clone(),
        calls: CallLog::default(),
        sqs: env.sqs.clone(),
        mail_queue: env.mail_queue.clone(),
    }
}

/// A 503 as the docs promise it: the code, and when to come back.
fn is_unavailable(r: &Resp) -> bool {
    r.status == 503 && r.code() == "service_unavailable" && r.header("retry-after").is_some()
}

/// How many answers were 503: the fault mix must exhaust the SDK's retries sometimes.
static UNAVAILABLE: AtomicUsize = AtomicUsize::new(0);

fn expect(what: &str, r: &Resp, documented: &[u16]) {
    if is_unavailable(r) {
        UNAVAILABLE.fetch_add(1, Ordering::SeqCst);
    }
    assert!(
        documented.contains(&r.status) || is_unavailable(r),
        "{what} answered {} under faults: {}",
        r.status,
        r.raw
    );
}

/// One call in five faulted, the kind and the victims drawn from the call's number; and
/// every tenth stretch of twenty calls an outage, each of them faulted, long enough to
/// exhaust the SDK's tries.
fn faulty(n: usize) -> Fault {
    const KINDS: [Fault; 5] = [
        Fault::Throttle,
        Fault::ServerError,
        Fault::Slow,
        Fault::DropBefore,
        Fault::DropAfter,
    ];
    // splitmix64: well spread, and the same every run.
    let mut z = (n as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let outage = n % 200 >= 180;
    if outage || z.is_multiple_of(5) {
        KINDS[(z >> 8) as usize % KINDS.len()]
    } else {
        Fault::Pass
    }
}

async fn assert_consistent(env: &Env) {
    let problems = audit(&env.all_items().await);
    assert!(
        problems.is_empty(),
        "the table disagrees with itself: {problems:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_injected_faults_every_answer_is_documented_and_no_write_is_left_half_done() {
    let (healthy, clock) = Env::with_clock().await;
    let proxy = Proxy::start(faulty).await;
    let env = through(&healthy, &proxy.url);

    let mut users: Vec<Value> = Vec::new();
    for i in 0..12 {
        let body = json!({
            "email": format!("u{i}@example.com"),
            "password": "correct horse battery",
            "username": format!("user{i}"),
            "user_metadata": {"n": i},
        });
        let r = env.post_user(body).await;
        // A create whose write landed before its answer was lost is retried by the SDK and
        // then finds its own guard: 409, and the user exists.
        expect("create", &r, &[201, 409]);
        if r.status == 201 {
            users.push(r.body);
        }
    }
    assert!(
        users.len() >= 4,
        "too few creates got through: {}",
        users.len()
    );

    for (i, u) in users.iter().enumerate() {
        let r = env
            .patch_user(
                u,
                json!({"user_metadata": {"step": i}, "app_metadata": {"plan": "pro"}}),
            )
            .await;
        expect("patch", &r, &[200]);
        let r = env
            .patch_user(u, json!({"email": format!("moved{i}@example.com")}))
            .await;
        expect("email change", &r, &[200, 409]);
        let r = env
            .patch_me(u, json!({"user_metadata": {"theme": "dark"}}))
            .await;
        expect("patch me", &r, &[200]);
    }
    let r = env
        .link(
            &users[0],
            json!({"link_with": users[1]["user_id"], "allow_unverified": true}),
        )
        .await;
    expect("link", &r, &[201, 404, 409]);
    let r = env
        .link(
            &users[2],
            json!({"link_with": users[3]["user_id"], "allow_unverified": true}),
        )
        .await;
    expect("link", &r, &[201, 404, 409]);
    let r = env
        .unlink(&users[2], "auth0", users[3]["user_id"].as_str().unwrap())
        .await;
    expect("unlink", &r, &[200, 404]);
    for u in users.iter().skip(4).step_by(2) {
        expect("delete", &env.delete_user(u).await, &[204, 404]);
    }
    let mut leaving = Vec::new();
    for u in users.iter().skip(5).step_by(2) {
        let r = env.delete_me(u).await;
        expect("delete me", &r, &[202, 401, 404]);
        if r.status == 202 {
            leaving.push(u);
        }
    }
    for u in &users {
        let r = env.get_user(u).await;
        expect("get", &r, &[200, 404]);
    }
    expect("list", &env.list_users(&[]).await, &[200]);
    assert!(
        proxy.calls() > 100,
        "the proxy saw only {} calls",
        proxy.calls()
    );
    assert_consistent(&healthy).await;

    // The scheduled functions resume after a faulted run: what the faults left is done by
    // the next pass with DynamoDB healthy.
    clock.advance(31 * 24 * 3600);
    let _ = env.purge_due(100, 4).await;
    let _ = env.deliver_due(100).await;
    healthy.purge_due(100, 4).await.unwrap();
    healthy.deliver_due(100).await.unwrap();
    let again = healthy.purge_due(100, 4).await.unwrap();
    assert_eq!((again.due, again.failed), (0, 0), "{again:?}");
    let outbox = healthy.deliver_due(100).await.unwrap();
    assert_eq!((outbox.due, outbox.retrying), (0, 0), "{outbox:?}");
    assert_consistent(&healthy).await;
    assert!(!leaving.is_empty());
    for u in leaving {
        assert_eq!(healthy.get_user(u).await.status, 404, "{u}");
    }
    assert!(
        UNAVAILABLE.load(Ordering::SeqCst) > 0,
        "no request ran out of retries: the faults were too mild to test the 503 path"
    );
}

#[tokio::test]
async fn a_refused_connection_is_answered_503_with_retry_after() {
    let healthy = Env::new().await;
    let u = healthy.create_ana().await;
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = through(&healthy, &format!("http://127.0.0.1:{port}"));
    for r in [
        env.get_user(&u).await,
        env.patch_user(&u, json!({"name": "Ana"})).await,
        env.post_user(json!({"email": "bo@example.com", "password": "correct horse battery"}))
            .await,
    ] {
        assert!(is_unavailable(&r), "{} {}", r.status, r.raw);
    }
    assert_eq!(healthy.get_user(&u).await.body["name"], Value::Null);
}

#[tokio::test]
async fn a_store_that_stops_answering_is_given_up_on_after_three_tries_and_answered_503() {
    let healthy = Env::new().await;
    let u = healthy.create_ana().await;
    // Accepts connections and reads requests, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let tries = Arc::new(AtomicUsize::new(0));
    let seen = tries.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                while let Some((head, _)) = read_request(&mut conn).await {
                    if header(&head, "x-amz-target").is_some_and(|t| t.ends_with(".GetItem")) {
                        seen.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    let env = through(&healthy, &url);
    // Without timeouts the call would wait for the function's own end; the guard only keeps
    // a regression from hanging the suite.
    let r = tokio::time::timeout(Duration::from_secs(60), env.get_user(&u))
        .await
        .expect("the call never gave up");
    assert!(is_unavailable(&r), "{} {}", r.status, r.raw);
    // The limiter's draw failed open first; the read itself had its three tries.
    assert_eq!(tries.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_rate_limit_draw_waits_as_long_as_its_clients_tries_do_and_is_taken_once() {
    use shared::domain::ids::TenantId;
    use shared::domain::rate_limit::{BucketOf, Draw};
    use shared::ports::RateLimiter;
    let env = Env::new().await;
    let slow_first = |n| if n == 0 { Fault::Slow } else { Fault::Pass };
    let of = BucketOf::Tenant(TenantId::parse("acme").unwrap());
    let draw = |window| Draw {
        window,
        shard: 0,
        capacity: 10,
        resets_at_ms: 0,
    };
    // The tests' client waits minutes for a busy moto; its draws wait with it.
    let proxy = Proxy::start(slow_first).await;
    let relaxed = local_api::moto::client(&proxy.url, &CallLog::default());
    let store = DynamoStore::new(relaxed, env.table.clone());
    assert_eq!(store.take(&of, &draw(1)).await.unwrap(), Some(1));
    assert_eq!(proxy.calls(), 1, "one try, taken once");
    // A deployed function's draw gives a slow try up at 250 ms and tries again.
    let proxy = Proxy::start(slow_first).await;
    let deployed = local_api::moto::deployed_client(&proxy.url, &CallLog::default());
    let store = DynamoStore::new(deployed, env.table.clone());
    let _ = store.take(&of, &draw(2)).await;
    assert_eq!(proxy.calls(), 2);
}

#[tokio::test]
async fn moto_answers_a_transaction_repeated_with_its_token_as_the_first_without_applying_it_again()
{
    use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
    let client = crate::support::client(&CallLog::default());
    let table = format!(
        "tokens-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    shared::adapters::dynamo::table::create(&client, &table)
        .await
        .unwrap_or_else(|e| panic!("cannot create a table on moto at {}: {e}", moto_endpoint()));
    let key = |name: &str| AttributeValue::S(name.to_owned());
    // Adds one to a counter, and only while it is under `below`: applied twice, the second
    // would either count twice or fail its condition.
    let add = |below: i64, token: &str| {
        let update = Update::builder()
            .table_name(&table)
            .key("pk", key("COUNTER"))
            .key("sk", key("COUNTER"))
            .update_expression("ADD n :one")
            .condition_expression("attribute_not_exists(n) OR n < :below")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":below", AttributeValue::N(below.to_string()))
            .build()
            .unwrap();
        client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .client_request_token(token)
    };
    let count = || async {
        let item = client
            .get_item()
            .table_name(&table)
            .key("pk", key("COUNTER"))
            .key("sk", key("COUNTER"))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_default();
        item.get("n")
            .and_then(|n| n.as_n().ok()?.parse::<i64>().ok())
    };

    add(1, "first").send().await.unwrap();
    assert_eq!(count().await, Some(1));
    // The same transaction again, as the SDK retries one whose answer it never got.
    add(1, "first").send().await.unwrap();
    assert_eq!(count().await, Some(1));
    // The same token with other parameters is refused, and changes nothing.
    let mismatch = add(5, "first").send().await.unwrap_err();
    assert_eq!(
        mismatch.into_service_error().meta().code(),
        Some("IdempotentParameterMismatchException")
    );
    assert_eq!(count().await, Some(1));
    // Another token is another transaction.
    add(5, "second").send().await.unwrap();
    assert_eq!(count().await, Some(2));
}
