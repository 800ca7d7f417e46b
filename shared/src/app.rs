//! Wiring, once per cold start: configuration, AWS clients, adapters.

use std::sync::Arc;

use crate::adapters::SystemClock;
use crate::adapters::argon::Argon2Hasher;
use crate::adapters::dynamo::DynamoStore;
use crate::adapters::ses::SesMailer;
use crate::adapters::sqs::SqsMailQueue;
use crate::config::{
    ConfigError, aws_config, brute_force_from_env, email_from_env, env, erasure_from_env, required,
    table_name_from_env, var,
};
use crate::domain::erasure::ErasureSettings;
use crate::domain::login::BruteForce;
use crate::domain::tenant::EmailSettings;
use crate::operations::App;
use crate::ports::Mailer;

/// Builds the production wiring: DynamoDB store, SES mailer, argon2id hasher, system clock.
pub async fn from_env() -> Result<App, ConfigError> {
    Ok(build().await?.0)
}

/// [`from_env`] for the function that takes password reset requests: it refuses to start
/// without the queue the requests go to.
pub async fn from_env_with_mail_queue() -> Result<App, ConfigError> {
    let (mut app, config) = build().await?;
    let url = required(env::MAIL_QUEUE_URL)?;
    app.mail_queue = Some(Arc::new(SqsMailQueue::new(
        SqsMailQueue::client(&config),
        url,
    )));
    Ok(app)
}

async fn build() -> Result<(App, aws_config::SdkConfig), ConfigError> {
    let table = table_name_from_env()?;
    let brute_force = brute_force_from_env()?;
    let email = email_from_env()?;
    let erasure = erasure_from_env()?;
    let from = required(env::EMAIL_FROM)?;
    let config = aws_config().await;
    let ses = SesMailer::client(&config, var(env::SES_ENDPOINT_URL).as_deref());
    let mailer = SesMailer::new(ses, from, var(env::SES_CONFIGURATION_SET));
    let mut app = wire(
        crate::adapters::dynamo::client(&config),
        table,
        Arc::new(mailer),
        email,
    );
    app.brute_force = brute_force;
    app.erasure = Arc::new(erasure);
    Ok((app, config))
}

/// [`from_env`] for a function that erases users: it refuses to start without the receipt
/// key, rather than fail at its first erasure.
pub async fn from_env_erasing() -> Result<App, ConfigError> {
    let app = from_env().await?;
    if !app.erasure.has_key() {
        return Err(ConfigError::Missing(env::ERASURE_RECEIPT_KEY));
    }
    Ok(app)
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
