//! Wiring, once per cold start: configuration, AWS clients, adapters.

use std::sync::Arc;

use crate::App;
use crate::adapters::argon::Argon2Hasher;
use crate::adapters::dynamo::DynamoStore;
use crate::adapters::ses::SesMailer;
use crate::adapters::sqs::SqsMailQueue;
use crate::adapters::{LeaveToOutbox, SystemClock};
use crate::config::{
    ConfigError, aws_config, brute_force_from_env, email_from_env, env, erasure_from_env, required,
    table_name_from_env, var,
};
use crate::domain::erasure::{ErasureSettings, ReceiptKey};
use crate::domain::login::BruteForce;
use crate::domain::tenant::EmailSettings;
use crate::ports::{Mailer, ReceiptKeys};

/// The wiring of a deployed function, built once per cold start: the table, the hasher and
/// the clock, and then only the clients its operation uses, each added by a call of its own
/// so a function that never makes the call links none of that client's code
/// (docs/performance.md, "What each function links").
pub struct Wired {
    app: App,
    config: aws_config::SdkConfig,
}

/// Starts making argon2id's memory ready on a thread of its own (every page of it backed),
/// for [`Wired::warmed`] to hand to the hasher, so a hashing function's first hash does not
/// pay for it. Called first thing in `main`, so the thread works while init and then the first
/// request go on; a hash that gets there first starts on the memory while the thread goes on
/// backing it (docs/performance.md, "Cold starts").
pub fn warm_up() -> WarmUp {
    let (memory, prepared) = crate::adapters::argon::Prepared::channel();
    let thread = std::thread::Builder::new()
        .name("warm-up".into())
        .spawn(move || {
            idle_priority();
            memory();
        });
    if let Err(e) = thread {
        tracing::warn!(error = %e, "no warm-up thread: the first hash sets up instead");
    }
    // The thread hashes run on, started now so the first hash does not wait for it: the
    // runtime keeps an idle one for ten seconds, and a cold start's first request comes
    // sooner.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        drop(runtime.spawn_blocking(|| ()));
    }
    WarmUp(prepared)
}

/// Lowers the calling thread to `SCHED_IDLE`: it then runs only when no other thread of the
/// machine wants the CPU, so while the first request waits on the network, never in its way.
fn idle_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `sched_setscheduler` reads `param` only during the call; pid 0 is this thread.
    let result = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if result != 0 {
        tracing::debug!("the warm-up thread keeps its priority");
    }
}

/// A warm-up under way ([`warm_up`]).
pub struct WarmUp(crate::adapters::argon::Prepared);

/// The wiring every function starts from; mail it would send is left to the outbox.
pub async fn load() -> Result<Wired, ConfigError> {
    let table = table_name_from_env()?;
    let brute_force = brute_force_from_env()?;
    let email = email_from_env()?;
    let erasure = erasure_from_env()?;
    let config = aws_config().await;
    let mut app = wire(
        crate::adapters::dynamo::client(&config),
        table,
        Arc::new(LeaveToOutbox),
        email,
    );
    app.brute_force = brute_force;
    app.erasure = Arc::new(erasure);
    Ok(Wired { app, config })
}

impl Wired {
    /// Sends mail through SES during the request, as `EMAIL_FROM`.
    pub fn sending_mail(mut self) -> Result<Self, ConfigError> {
        let from = required(env::EMAIL_FROM)?;
        let ses = SesMailer::client(&self.config, var(env::SES_ENDPOINT_URL).as_deref());
        self.app.mailer = Arc::new(SesMailer::new(ses, from, var(env::SES_CONFIGURATION_SET)));
        Ok(self)
    }

    /// Queues mail requests (password resets, block notices) on `MAIL_QUEUE_URL`; refuses
    /// to start without it.
    pub fn with_mail_queue(mut self) -> Result<Self, ConfigError> {
        let url = required(env::MAIL_QUEUE_URL)?;
        self.app.mail_queue = Some(Arc::new(SqsMailQueue::new(
            SqsMailQueue::client(&self.config),
            url,
        )));
        Ok(self)
    }

    /// Erases users: reads the current version of the receipt key once, from the Secrets
    /// Manager secret `ERASURE_RECEIPT_SECRET` names, and refuses to start without it rather
    /// than fail at its first erasure.
    #[cfg(feature = "receipt-secret")]
    pub async fn erasing(self) -> Result<Self, ConfigError> {
        use crate::adapters::secrets::SecretsManagerKeys;
        let secret = required(env::ERASURE_RECEIPT_SECRET)?;
        let keys = SecretsManagerKeys::new(SecretsManagerKeys::client(&self.config), secret);
        self.with_receipt_key(&keys).await
    }

    /// Erases users, writing receipts under the current key of `keys`.
    pub async fn with_receipt_key(mut self, keys: &impl ReceiptKeys) -> Result<Self, ConfigError> {
        let key = receipt_key(keys).await?;
        self.app.erasure = Arc::new(self.app.erasure.keyed(key));
        Ok(self)
    }

    /// Hashes on the memory `warm_up` makes ready.
    pub fn warmed(mut self, warm_up: WarmUp) -> Self {
        self.app.hasher = Arc::new(Argon2Hasher::new().with_prepared(warm_up.0));
        self
    }

    /// Keeps each tenant's size with its settings (one read for both): create-user places
    /// every new user by it (docs/api.md, "Listing").
    pub fn keeping_sizes(mut self) -> Self {
        self.app.settings_cache =
            Arc::new(crate::operations::tenant::SettingsCache::keeping_sizes());
        self
    }

    pub fn app(self) -> App {
        self.app
    }
}

/// The current receipt key of `keys`, as a function that erases reads it at start; what
/// stops it from starting otherwise, with the cause (never the key).
pub async fn receipt_key(keys: &impl ReceiptKeys) -> Result<ReceiptKey, ConfigError> {
    keys.current().await.map_err(|e| {
        let cause = match e {
            crate::ports::StoreError::Backend(cause)
            | crate::ports::StoreError::Unavailable(cause)
            | crate::ports::StoreError::Throttled(cause) => cause,
            other => format!("{other:?}"),
        };
        ConfigError::Secret(env::ERASURE_RECEIPT_SECRET, cause)
    })
}

/// The app over a DynamoDB table and a mailer.
pub fn wire(
    client: aws_sdk_dynamodb::Client,
    table: String,
    mailer: Arc<dyn Mailer>,
    email: EmailSettings,
) -> App {
    let store = Arc::new(DynamoStore::new(client, table));
    App {
        users: store.clone(),
        logins: store.clone(),
        links: store.clone(),
        erasures: store.clone(),
        tickets: store.clone(),
        outbox: store.clone(),
        rate_limiter: store.clone(),
        idempotency: store.clone(),
        tenants: store,
        mail_queue: None,
        mailer,
        hasher: Arc::new(Argon2Hasher::new()),
        clock: Arc::new(SystemClock),
        brute_force: BruteForce::default(),
        email: Arc::new(email),
        erasure: Arc::new(ErasureSettings::local()),
        settings_cache: Arc::default(),
        users_per_shard: crate::domain::listing::USERS_PER_SHARD,
    }
}

/// `app` with every store in `store`: the same configuration over another connection to a
/// table (the tests route one through a proxy that injects faults).
pub fn with_store(mut app: App, store: Arc<DynamoStore>) -> App {
    app.users = store.clone();
    app.logins = store.clone();
    app.links = store.clone();
    app.erasures = store.clone();
    app.tickets = store.clone();
    app.outbox = store.clone();
    app.rate_limiter = store.clone();
    app.idempotency = store.clone();
    app.tenants = store;
    app
}

#[cfg(test)]
mod tests {
    /// The calling thread's scheduling policy, field 41 of its `/proc` stat line (after the
    /// parenthesised name, which may hold spaces).
    fn policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 1..];
        after_name
            .split_whitespace()
            .nth(38)
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    fn the_warm_up_thread_runs_only_when_nothing_else_wants_the_cpu() {
        let policies = std::thread::spawn(|| {
            let before = policy();
            super::idle_priority();
            (before, policy())
        })
        .join()
        .unwrap();
        assert_eq!(
            policies,
            (libc::SCHED_OTHER as u32, libc::SCHED_IDLE as u32)
        );
        assert_eq!(
            policy(),
            libc::SCHED_OTHER as u32,
            "the caller's own is untouched"
        );
    }
}
