//! Configuration from the environment, parsed once per cold start; a bad value stops the
//! function at startup rather than at its first request. Every variable is described in
//! docs/configuration.md.

use url::Url;

use crate::domain::erasure::ErasureSettings;
use crate::domain::login::BruteForce;
use crate::domain::message::SendCap;
use crate::domain::tenant::{EmailSettings, TenantSettings};

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
    /// The API's public URL (custom domain or stage URL): emailed links point at it (required).
    pub const PUBLIC_BASE_URL: &str = "PUBLIC_BASE_URL";
    /// The sender, `no-reply@example.com` or `Example <no-reply@example.com>` (required); its
    /// domain must be a verified SES identity.
    pub const EMAIL_FROM: &str = "EMAIL_FROM";
    /// An SES configuration set for every message (optional).
    pub const SES_CONFIGURATION_SET: &str = "SES_CONFIGURATION_SET";
    /// Messages of one kind a user may be sent per hour (default 5).
    pub const EMAIL_SEND_CAP: &str = "EMAIL_SEND_CAP";
    /// JSON: email settings per tenant, defaults under `"*"` (required; see docs/configuration.md).
    pub const TENANT_SETTINGS: &str = "TENANT_SETTINGS";
    /// Local runs only: an SES endpoint other than `LOCAL_ENDPOINT_URL`.
    pub const SES_ENDPOINT_URL: &str = "SES_ENDPOINT_URL";
    /// The Secrets Manager secret (ARN or name) holding the key erasure receipts hash user ids
    /// under: at least 32 characters of random text, kept as secret as the data it protects.
    /// Only the functions that erase get it; they read its current version once at start and
    /// refuse to start without it ([`crate::app::Wired::erasing`]).
    pub const ERASURE_RECEIPT_SECRET: &str = "ERASURE_RECEIPT_SECRET";
    /// Days between `DELETE /me` and the erasure (default 30; 0: due at once).
    pub const DELETION_GRACE_DAYS: &str = "DELETION_GRACE_DAYS";
    /// Days an erasure receipt is kept (default 1095).
    pub const ERASURE_RECEIPT_DAYS: &str = "ERASURE_RECEIPT_DAYS";
    /// The SQS queue mail requests (password resets, unblock notices) wait in for
    /// `account-mail-sender`; only the functions that make them get it, and they refuse to
    /// start without it.
    pub const MAIL_QUEUE_URL: &str = "MAIL_QUEUE_URL";
}

/// Erasure settings from the environment, without the receipt key: the functions that erase
/// read it from Secrets Manager ([`crate::app::Wired::erasing`]).
pub fn erasure_from_env() -> Result<ErasureSettings, ConfigError> {
    let days = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
        match var(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|d| *d <= 36_500)
                .ok_or_else(|| ConfigError::Invalid(name, "a number of days".into())),
        }
    };
    Ok(ErasureSettings::new(
        days(
            env::DELETION_GRACE_DAYS,
            ErasureSettings::DEFAULT_GRACE_DAYS,
        )?,
        days(
            env::ERASURE_RECEIPT_DAYS,
            ErasureSettings::DEFAULT_RECEIPT_DAYS,
        )?,
    ))
}

pub(crate) fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub(crate) fn required(name: &'static str) -> Result<String, ConfigError> {
    var(name).ok_or(ConfigError::Missing(name))
}

/// Email settings from the environment.
pub fn email_from_env() -> Result<EmailSettings, ConfigError> {
    let base = required(env::PUBLIC_BASE_URL)?;
    let public_base_url = Url::parse(&base)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
        .ok_or_else(|| ConfigError::Invalid(env::PUBLIC_BASE_URL, "an absolute URL".into()))?;
    // A deployment whose public URL is loopback is a local run: its pages may be http there.
    let local = matches!(
        public_base_url.host_str(),
        Some("localhost" | "127.0.0.1" | "[::1]")
    );
    let tenants = TenantSettings::parse(&required(env::TENANT_SETTINGS)?, local)
        .map_err(|e| ConfigError::Invalid(env::TENANT_SETTINGS, e))?;
    let mut send_cap = SendCap::default();
    if let Some(raw) = var(env::EMAIL_SEND_CAP) {
        send_cap.per_hour = raw
            .parse()
            .ok()
            .filter(|n: &u32| (1..=1000).contains(n))
            .ok_or_else(|| {
                ConfigError::Invalid(env::EMAIL_SEND_CAP, "a whole number from 1 to 1000".into())
            })?;
    }
    Ok(EmailSettings {
        public_base_url,
        send_cap,
        tenants,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {0} is not valid: {1}")]
    Invalid(&'static str, String),
    /// The secret a variable names could not be read (or holds no usable value).
    #[error("the secret environment variable {0} names cannot be used: {1}")]
    Secret(&'static str, String),
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

/// The HTTPS client every AWS client of the function shares: the SDK's default (rustls over
/// aws-lc, proxies from the environment), made once. Left to the SDK, each client makes its
/// own, and each of those builds its TLS connector (the root certificates parsed, rustls
/// configured) on its first request, a cold start's cost paid once per client; shared, one
/// connector serves every client with the same connect timeout, and its connections too
/// (docs/performance.md, "Cold starts").
fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::{ConnectorBuilder, proxy::ProxyConfig, tls};
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        connector.set_connector_settings(settings.cloned());
        connector.set_sleep_impl(components.and_then(|c| c.sleep_impl()));
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The AWS SDK configuration from the standard chain. `AWS_ENDPOINT_URL` (or
/// `LOCAL_ENDPOINT_URL`) points it at a local DynamoDB (moto) without code changes.
pub async fn aws_config() -> aws_config::SdkConfig {
    let mut loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client());
    if let Some(url) = std::env::var(env::LOCAL_ENDPOINT_URL)
        .ok()
        .filter(|v| !v.is_empty())
    {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}
