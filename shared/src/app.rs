//! Wiring, once per cold start: configuration from the environment, AWS clients, adapters.

use std::sync::Arc;

use crate::adapters::argon::Argon2Hasher;
use crate::adapters::dynamo::DynamoStore;
use crate::domain::login::BruteForce;
use crate::domain::ops::Services;
use crate::domain::ports::SystemClock;

/// Everything a handler needs. Cheap to clone (shared pointers).
pub type App = Services;

/// Environment variables every function reads.
pub mod env {
    /// The DynamoDB table (required).
    pub const TABLE_NAME: &str = "TABLE_NAME";
    /// Empty in AWS. `sam local invoke --env-vars env.local.json` sets it to a local AWS
    /// endpoint: SAM only passes variables the template declares, and the SDK's own
    /// `AWS_ENDPOINT_URL` would warn on every cold start if declared empty.
    pub const LOCAL_ENDPOINT_URL: &str = "LOCAL_ENDPOINT_URL";
    /// Failed logins from one address before it is blocked for the user (default 10).
    pub const BRUTE_FORCE_THRESHOLD: &str = "BRUTE_FORCE_THRESHOLD";
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {0} is not valid: {1}")]
    Invalid(&'static str, String),
}

/// The brute-force rules, with the threshold from the environment.
pub fn brute_force_from_env() -> Result<BruteForce, ConfigError> {
    let mut rules = BruteForce::default();
    if let Some(raw) = std::env::var(env::BRUTE_FORCE_THRESHOLD)
        .ok()
        .filter(|v| !v.is_empty())
    {
        rules.pair_threshold = raw
            .parse()
            .ok()
            .filter(|n: &u32| (1..=1000).contains(n))
            .ok_or_else(|| {
                ConfigError::Invalid(
                    env::BRUTE_FORCE_THRESHOLD,
                    "a whole number from 1 to 1000".into(),
                )
            })?;
    }
    Ok(rules)
}

pub fn table_name_from_env() -> Result<String, ConfigError> {
    std::env::var(env::TABLE_NAME)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(env::TABLE_NAME))
}

/// The AWS SDK configuration from the standard chain. `AWS_ENDPOINT_URL` (or
/// `LOCAL_ENDPOINT_URL`) points it at a local DynamoDB (moto) without code changes.
pub async fn aws_config() -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = std::env::var(env::LOCAL_ENDPOINT_URL)
        .ok()
        .filter(|v| !v.is_empty())
    {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// Builds the production wiring: DynamoDB store, argon2id hasher, system clock.
pub async fn from_env() -> Result<App, ConfigError> {
    let table = table_name_from_env()?;
    let brute_force = brute_force_from_env()?;
    let config = aws_config().await;
    let mut app = with_dynamo(aws_sdk_dynamodb::Client::new(&config), table);
    app.brute_force = brute_force;
    Ok(app)
}

pub fn with_dynamo(client: aws_sdk_dynamodb::Client, table: String) -> App {
    Services {
        users: Arc::new(DynamoStore::new(client, table)),
        hasher: Arc::new(Argon2Hasher::new()),
        clock: Arc::new(SystemClock),
        brute_force: BruteForce::default(),
    }
}
