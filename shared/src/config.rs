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
/// aws-lc, proxies from the environment) trusting [`trust_store`], made once. Left to the SDK,
/// each client makes its own, and each of those builds its TLS connector (the roots parsed,
/// rustls configured) on its first request, a cold start's cost paid once per client; shared,
/// one connector serves every client with the same connect timeout, and its connections too
/// (docs/performance.md, "Cold starts").
fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    let trust = trust_store();
    aws_smithy_http_client::Builder::new().build_with_connector_fn(move |settings, components| {
        connector(&trust, settings, components.and_then(|c| c.sleep_impl()))
    })
}

fn connector(
    trust: &aws_smithy_http_client::tls::TrustStore,
    settings: Option<&aws_smithy_runtime_api::client::http::HttpConnectorSettings>,
    sleep: Option<aws_sdk_dynamodb::config::SharedAsyncSleep>,
) -> aws_smithy_http_client::Connector {
    use aws_smithy_http_client::{ConnectorBuilder, proxy::ProxyConfig, tls};
    let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::AwsLc,
    ));
    // The builder has nothing that can fail; were it to, the SDK's own context would trust
    // the platform's store, so there is no fallback to take (`a_connector_builds_...`).
    let context = tls::TlsContext::builder()
        .with_trust_store(trust.clone())
        .build()
        .expect("a TLS context over the built-in roots builds");
    connector.set_tls_context(context);
    connector.set_connector_settings(settings.cloned());
    connector.set_sleep_impl(sleep);
    connector.set_proxy_config(Some(ProxyConfig::from_env()));
    connector.build()
}

/// The certificates of Amazon Trust Services' roots, to which AWS's service endpoints chain
/// (docs/operations.md, "TLS roots").
const AWS_ROOTS: &[u8] = include_bytes!("aws-roots.pem");

/// Whom the AWS clients trust: Amazon Trust Services' roots, and what `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` name where either names something (a TLS-inspecting proxy's CA, a
/// partition whose endpoints chain elsewhere); only what they name is read then. Without
/// them the platform's whole store is not read: that was nearly half of a cold start's init
/// on our test machine, and trusting every CA in it with the calls that carry signed
/// requests trusts more than those calls need.
fn trust_store() -> aws_smithy_http_client::tls::TrustStore {
    let native = names_roots(
        std::env::var_os("SSL_CERT_FILE"),
        std::env::var_os("SSL_CERT_DIR"),
    );
    aws_smithy_http_client::tls::TrustStore::empty()
        .with_native_roots(native)
        .with_pem_certificate(AWS_ROOTS)
}

/// Whether `SSL_CERT_FILE` or `SSL_CERT_DIR` names somewhere to read roots from. As
/// rustls-native-certs splits them: a directory list of empty entries names nothing, and
/// would have it read the platform's whole store instead.
fn names_roots(file: Option<std::ffi::OsString>, dirs: Option<std::ffi::OsString>) -> bool {
    [file, dirs]
        .into_iter()
        .flatten()
        .any(|v| std::env::split_paths(&v).any(|p| !p.as_os_str().is_empty()))
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

#[cfg(test)]
mod tls_tests {
    use base64::Engine as _;
    use sha2::Digest as _;

    /// SHA-256 of each certificate in `aws-roots.pem`, as Amazon Trust Services publishes
    /// them (<https://www.amazontrust.com/repository/>).
    const FINGERPRINTS: [&str; 5] = [
        "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
        "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
        "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
        "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
        "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5",
    ];

    #[test]
    fn the_trusted_roots_are_amazon_trust_services_and_nothing_else() {
        let pem = std::str::from_utf8(super::AWS_ROOTS).unwrap();
        let fingerprints: Vec<String> = pem
            .split("-----BEGIN CERTIFICATE-----")
            .skip(1)
            .map(|block| {
                let body: String = block
                    .split("-----END CERTIFICATE-----")
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .collect();
                let der = base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .unwrap();
                sha2::Sha256::digest(der)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            })
            .collect();
        assert_eq!(fingerprints, FINGERPRINTS);
    }

    #[test]
    fn only_variables_that_name_a_place_add_roots() {
        let os = |v: &str| Some(std::ffi::OsString::from(v));
        assert!(!super::names_roots(None, None));
        assert!(!super::names_roots(os(""), os("")));
        assert!(!super::names_roots(None, os(":")));
        assert!(super::names_roots(os("/etc/proxy-ca.pem"), None));
        assert!(super::names_roots(None, os(":/etc/ssl/certs")));
    }

    #[test]
    fn a_connector_builds_on_the_trusted_roots() {
        // Building parses every root (the SDK panics on one it cannot): the PEM is usable.
        let _connector = super::connector(&super::trust_store(), None, None);
    }
}
