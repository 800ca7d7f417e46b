//! `make bench-purge`: the scheduled purge at scale, against moto. Seeds a tenant of
//! `PURGE_USERS` users (default 100,000; each a profile, a password and its email and identity
//! guards), `PURGE_DUE` of them (default 1,000) with a self-service deletion that is due, then
//! runs the purge as the scheduled function does (batches of `purge::BATCH`, `purge::CONCURRENCY`
//! erasures at a time) until nothing is due. Reports the items DynamoDB read per account
//! purged, the accounts purged per minute, and every DynamoDB call made; then checks that the
//! due accounts are gone, nothing failed, and a page of the others is intact.

#[path = "calls.rs"]
mod calls;

use std::time::Instant;

use local_api::moto::CallLog;
use shared::adapters::dynamo::DynamoStore;
use shared::domain::erasure::PurgeReport;
use shared::domain::ids::{TenantId, UserId};
use shared::domain::time::Timestamp;
use shared::domain::user::{Identity, User};
use shared::ports::UserStore;
use shared::schedule::Pass;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let endpoint =
        std::env::var("MOTO_ENDPOINT").expect("MOTO_ENDPOINT is not set: run `make bench-purge`");
    let total = env_number("PURGE_USERS", 100_000);
    let due_count = env_number("PURGE_DUE", 1_000).min(total);
    let calls = CallLog::default();
    let client = local_api::moto::client(&endpoint, &calls);
    let table = format!(
        "purge-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    shared::adapters::dynamo::table::create(&client, &table)
        .await
        .expect("create the table on moto");
    let store = DynamoStore::new(client.clone(), table.clone());
    let app = shared::app::wire(
        client,
        table,
        std::sync::Arc::new(NoMail),
        shared::domain::tenant::EmailSettings::local(
            url::Url::parse("https://id.example.com").expect("a URL"),
        ),
    );
    let tenant = TenantId::parse("acme").expect("a tenant");
    let now = app.clock.now();
    let hash = shared::ports::PasswordHasher::hash(
        app.hasher.as_ref(),
        &shared::domain::password::Password::parse(
            zeroize::Zeroizing::new("correct horse battery".into()),
            None,
            None,
        )
        .expect("a password"),
    )
    .await
    .expect("a hash");

    // Every `total / due_count`-th user is due, so the due ones spread over the whole tenant.
    let stride = total / due_count.max(1);
    let started = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    let mut due_ids = Vec::new();
    for i in 0..total {
        let id = UserId::generate();
        let mut user = User::new(id, tenant.clone(), Identity::database(&id), now);
        user.email = Some(format!("user{i}@example.com"));
        user.email_verified = true;
        if due_count > 0 && i % stride == 0 && due_ids.len() < due_count {
            user.deletion_scheduled_at = Some(Timestamp::from_datetime(
                time::OffsetDateTime::now_utc() - time::Duration::hours(1),
            ));
            due_ids.push(id);
        }
        batch.push((user, Some(hash.clone())));
        if batch.len() == 1000 {
            store.seed(&batch).await.expect("seed");
            batch.clear();
        }
    }
    store.seed(&batch).await.expect("seed");
    let seeding = started.elapsed();
    calls.take();

    let started = Instant::now();
    let mut report = PurgeReport::default();
    let mut passes = 0;
    loop {
        let pass = app
            .purge_due(purge::BATCH, purge::CONCURRENCY)
            .await
            .expect("a purge pass");
        report.add(&pass);
        passes += 1;
        if !pass.more && pass.due == 0 || !pass.progressed() {
            break;
        }
    }
    let purging = started.elapsed();
    let made = calls.take();

    // Checks: the due accounts are gone, a sample of the others is intact, one receipt each.
    for id in &due_ids {
        assert!(
            app.users.get(&tenant, id).await.expect("a read").is_none(),
            "a due account survived"
        );
    }
    let page = app
        .list_users(
            &tenant,
            &shared::domain::listing::PageRequest::parse(Some("100"), None).expect("a page"),
        )
        .await
        .expect("a page");
    assert!(
        page.users.iter().all(|u| u.deletion_scheduled_at.is_none()),
        "a listed user is one that should be gone"
    );
    assert_eq!(report.purged, due_ids.len(), "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");

    let per_account = report.items_read as f64 / report.purged.max(1) as f64;
    let per_minute = report.purged as f64 / purging.as_secs_f64() * 60.0;
    println!("| measure | value |");
    println!("|---|---|");
    println!("| users in the tenant | {total} |");
    println!("| due accounts | {} |", due_ids.len());
    println!(
        "| seeding (BatchWriteItem, 4 items a user) | {:.0} s |",
        seeding.as_secs_f64()
    );
    println!("| purge passes (batches of {}) | {passes} |", purge::BATCH);
    println!("| accounts purged | {} |", report.purged);
    println!("| items read | {} |", report.items_read);
    println!("| items read per account purged | {per_account:.3} |");
    println!("| purge time (moto) | {:.1} s |", purging.as_secs_f64());
    println!("| accounts purged per minute (moto) | {per_minute:.0} |");
    println!("| DynamoDB calls | {} |", calls::summarize(&made));
}

/// The purge sends no mail; seeded users never get any.
struct NoMail;

#[async_trait::async_trait]
impl shared::ports::Mailer for NoMail {
    async fn send(
        &self,
        _email: &shared::domain::message::OutgoingEmail,
    ) -> Result<(), shared::ports::SendError> {
        Ok(())
    }
}
