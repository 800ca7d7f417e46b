//! `local-api`: the local stand-in for API Gateway.
//!
//! ```text
//! local-api serve                      serve on 127.0.0.1:$PORT (default 3000)
//! local-api setup                      create $TABLE_NAME, the queue of $MAIL_QUEUE_URL, the SES
//!                                      identity of $EMAIL_FROM and the receipt key secret
//!                                      $ERASURE_RECEIPT_SECRET (idempotent)
//! local-api token --tenant T --sub S [--scope "a b" | --scope all] [--ttl SECONDS]
//! local-api invoke FUNCTION EVENT_FILE  run target/debug/FUNCTION once as a Lambda process with
//!                                      this environment, fed EVENT_FILE; print its answer and logs
//! local-api audit                      scan $TABLE_NAME and print every item that disagrees with
//!                                      the others (exit 1 if any; docs/operations.md)
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

use local_api::{auth, server};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str).unwrap_or("serve") {
        "serve" => {
            shared::telemetry::init_readable();
            let port: u16 = match std::env::var("PORT").ok().map(|p| p.parse()) {
                None => 3000,
                Some(Ok(p)) => p,
                Some(Err(_)) => return fail("PORT must be a port number"),
            };
            // Everything a function may wire, as the server serves every route.
            let wired = async {
                shared::app::load()
                    .await?
                    .sending_mail()?
                    .with_mail_queue()?
                    .erasing()
                    .await
            };
            let app = match wired.await {
                // It serves create-user too, whose container keeps tenants' sizes.
                Ok(wired) => wired.keeping_sizes().app(),
                Err(e) => return fail(&e.to_string()),
            };
            // What the SQS event source mapping does in AWS: mail requests reach
            // account-mail-sender as soon as they are queued. Short polls a few times a
            // second, not long polls: moto answers one request at a time
            // (scripts/moto_server.py), so a long poll would hold up every other call.
            let resolver = app.clone();
            let queue = std::env::var(shared::config::env::MAIL_QUEUE_URL).unwrap_or_default();
            let sqs = aws_sdk_sqs::Client::new(&shared::config::aws_config().await);
            tokio::spawn(async move {
                loop {
                    match local_api::queue::deliver_once(&resolver, &sqs, &queue, 0).await {
                        Ok(0) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
                        Ok(_) => {}
                        Err(e) => {
                            tracing::error!(error = %e, "mail requests not delivered");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                    }
                }
            });
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            tracing::info!(%addr, "local API listening");
            // What the scheduled email-outbox function does in AWS, once a minute.
            let sender = app.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    if let Err(e) = sender.deliver_due(200).await {
                        tracing::error!(error = %e, "outbox delivery failed");
                    }
                }
            });
            let moto = std::env::var("AWS_ENDPOINT_URL").ok();
            match server::run(app, auth::secret_from_env(), addr, moto).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("server: {e}")),
            }
        }
        "invoke" => {
            let (Some(function), Some(event_file)) = (args.get(1), args.get(2)) else {
                return fail("usage: local-api invoke FUNCTION EVENT_FILE");
            };
            let event = match std::fs::read_to_string(event_file) {
                Ok(text) => text,
                Err(e) => return fail(&format!("{event_file}: {e}")),
            };
            // The functions sit beside this binary (target/debug).
            let binary = match std::env::current_exe() {
                Ok(exe) => exe.with_file_name(function),
                Err(e) => return fail(&e.to_string()),
            };
            let env: Vec<(String, String)> = std::env::vars().collect();
            let run = local_api::lambda::invoke(&binary, event, &env).await;
            print!("{}", run.logs);
            match run.outcome {
                Some((kind, body)) if kind == "response" => {
                    println!("{body}");
                    ExitCode::SUCCESS
                }
                Some((kind, body)) => fail(&format!("{function} answered {kind}: {body}")),
                None => fail(&format!("{function} exited without answering")),
            }
        }
        "audit" => {
            let table = match shared::config::table_name_from_env() {
                Ok(t) => t,
                Err(e) => return fail(&e.to_string()),
            };
            let client = aws_sdk_dynamodb::Client::new(&shared::config::aws_config().await);
            let items = match shared::adapters::dynamo::scan_all(&client, &table).await {
                Ok(items) => items,
                Err(e) => return fail(&e),
            };
            let problems = shared::adapters::dynamo::audit(&items);
            for problem in &problems {
                println!("{problem}");
            }
            println!("{} items, {} problems", items.len(), problems.len());
            if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        "setup" => {
            let table = match shared::config::table_name_from_env() {
                Ok(t) => t,
                Err(e) => return fail(&e.to_string()),
            };
            let config = shared::config::aws_config().await;
            let client = aws_sdk_dynamodb::Client::new(&config);
            if let Err(e) = shared::adapters::dynamo::table::create(&client, &table).await {
                return fail(&e);
            }
            let queue = std::env::var(shared::config::env::MAIL_QUEUE_URL).unwrap_or_default();
            let Some(name) = queue.rsplit('/').next().filter(|n| !n.is_empty()) else {
                return fail("MAIL_QUEUE_URL must name a queue");
            };
            if let Err(e) = local_api::queue::create(&aws_sdk_sqs::Client::new(&config), name).await
            {
                return fail(&e);
            }
            let from = std::env::var(shared::config::env::EMAIL_FROM).unwrap_or_default();
            let Some(domain) = local_api::moto::sender_domain(&from) else {
                return fail("EMAIL_FROM must name a sender address");
            };
            if let Err(e) =
                local_api::moto::create_identity(&aws_sdk_sesv2::Client::new(&config), domain).await
            {
                return fail(&e);
            }
            let secret =
                std::env::var(shared::config::env::ERASURE_RECEIPT_SECRET).unwrap_or_default();
            if secret.is_empty() {
                return fail("ERASURE_RECEIPT_SECRET must name the receipt key secret");
            }
            let secrets = aws_sdk_secretsmanager::Client::new(&config);
            match local_api::moto::create_receipt_secret(&secrets, &secret).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
        "token" => {
            let (Some(tenant), Some(sub)) = (flag(&args, "--tenant"), flag(&args, "--sub")) else {
                return fail(
                    "usage: local-api token --tenant T --sub S [--scope \"a b\"] [--ttl SECONDS]",
                );
            };
            // `all`: every management scope, as the dev admin token of `make dev` has.
            let scope = match flag(&args, "--scope").unwrap_or_default() {
                all if all == "all" => auth::ALL_SCOPES.to_owned(),
                scope => scope,
            };
            let ttl = match flag(&args, "--ttl").map(|t| t.parse::<u64>()) {
                None => 3600,
                Some(Ok(t)) => t,
                Some(Err(_)) => return fail("--ttl must be a number of seconds"),
            };
            println!(
                "{}",
                auth::mint(&auth::secret_from_env(), &tenant, &sub, &scope, ttl)
            );
            ExitCode::SUCCESS
        }
        other => fail(&format!(
            "unknown command {other:?}; use serve, setup or token"
        )),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("local-api: {message}");
    ExitCode::FAILURE
}
