//! The erasure receipt key in AWS Secrets Manager: one secret, whose versions are the key's
//! versions (docs/erasure.md, "The receipt key"). Only the crates that erase build this
//! (feature `receipt-secret`), so no other function compiles or links the client.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::{
    GetSecretValueError, GetSecretValueOutput,
};
use zeroize::Zeroizing;

use crate::domain::erasure::{KeyVersion, ReceiptKey};
use crate::ports::{ReceiptKeys, StoreError};

/// The receipt key's versions, read with `GetSecretValue` from one secret (its ARN or name).
pub struct SecretsManagerKeys {
    client: Client,
    secret_id: String,
}

impl SecretsManagerKeys {
    pub fn new(client: Client, secret_id: String) -> Self {
        SecretsManagerKeys { client, secret_id }
    }

    /// A client on the function's AWS configuration (and so on moto locally).
    pub fn client(config: &aws_config::SdkConfig) -> Client {
        Client::new(config)
    }

    /// The version `version` names (the current one when `None`); `None` if the secret holds
    /// no such version.
    async fn read(&self, version: Option<&KeyVersion>) -> Result<Option<ReceiptKey>, StoreError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .set_version_id(version.map(|v| v.as_str().to_owned()))
            .send()
            .await;
        match out {
            Ok(out) => key_of(out).map(Some),
            Err(e) if not_found(&e) && version.is_some() => Ok(None),
            // The service's own words name the secret and the cause, never the value.
            Err(e) => Err(StoreError::Backend(format!(
                "GetSecretValue of {}: {}",
                self.secret_id,
                DisplayErrorContext(e)
            ))),
        }
    }
}

fn not_found(e: &SdkError<GetSecretValueError>) -> bool {
    e.as_service_error()
        .is_some_and(GetSecretValueError::is_resource_not_found_exception)
}

/// The key a `GetSecretValue` answer holds, moved into wiped memory: the text of the secret
/// (what the template's `GenerateSecretString` makes), or its bytes if it is binary.
fn key_of(mut out: GetSecretValueOutput) -> Result<ReceiptKey, StoreError> {
    let version = out
        .version_id
        .as_deref()
        .ok_or_else(|| StoreError::Backend("GetSecretValue answered no VersionId".into()))
        .and_then(|v| KeyVersion::parse(v).map_err(StoreError::Backend))?;
    let secret = match (out.secret_string.take(), out.secret_binary.take()) {
        (Some(text), _) => Zeroizing::new(text.into_bytes()),
        (None, Some(blob)) => Zeroizing::new(blob.into_inner()),
        (None, None) => {
            return Err(StoreError::Backend(format!(
                "version {version} of the receipt secret holds no value"
            )));
        }
    };
    ReceiptKey::new(version, secret).map_err(StoreError::Backend)
}

#[async_trait]
impl ReceiptKeys for SecretsManagerKeys {
    async fn current(&self) -> Result<ReceiptKey, StoreError> {
        self.read(None).await?.ok_or_else(|| {
            StoreError::Backend(format!("the secret {} has no value", self.secret_id))
        })
    }

    async fn version(&self, version: &KeyVersion) -> Result<Option<ReceiptKey>, StoreError> {
        self.read(Some(version)).await
    }
}
