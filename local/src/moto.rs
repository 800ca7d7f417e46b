//! A DynamoDB client for the local moto server, for the tests and the benchmarks, with a log
//! of the operations it sends (the number of round trips an operation costs) and of the IAM
//! actions each function's requests need (held to template.yaml by `tests/iam.rs`).

use std::collections::BTreeSet;
use std::future::Future;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

tokio::task_local! {
    static FUNCTION: &'static str;
}

/// Runs `work` as the Lambda function `name` would: the AWS actions its requests need are
/// recorded against that function.
pub async fn as_function<F: Future>(name: &'static str, work: F) -> F::Output {
    FUNCTION.scope(name, work).await
}

/// Where the (function, IAM action) pairs go when `CALL_LOG_DIR` is set: one file per test
/// process, one line per pair the process had not recorded yet.
static ACTIONS: Mutex<BTreeSet<(&'static str, String)>> = Mutex::new(BTreeSet::new());

/// The IAM actions one request needs. A transaction needs those of the writes (or reads) it
/// holds, not an action of its own.
fn iam_actions(service: &str, operation: &str, body: Option<&[u8]>) -> Vec<String> {
    let prefix = match service {
        "DynamoDB" => "dynamodb",
        "SESv2" => "ses",
        "Secrets Manager" => "secretsmanager",
        other => return vec![format!("{}:{operation}", other.to_lowercase())],
    };
    let inner = |key: &str| -> Vec<String> {
        let parsed: serde_json::Value = body
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default();
        parsed[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.as_object()?.keys().next().cloned())
            .map(|kind| match kind.as_str() {
                "Put" => "PutItem".to_owned(),
                "Update" => "UpdateItem".to_owned(),
                "Delete" => "DeleteItem".to_owned(),
                "Get" => "GetItem".to_owned(),
                "ConditionCheck" => "ConditionCheckItem".to_owned(),
                other => format!("Unknown{other}"),
            })
            .map(|action| format!("{prefix}:{action}"))
            .collect()
    };
    match operation {
        "TransactWriteItems" | "TransactGetItems" => inner("TransactItems"),
        _ => vec![format!("{prefix}:{operation}")],
    }
}

fn record_actions(function: &'static str, actions: Vec<String>) {
    let mut known = ACTIONS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::var_os("CALL_LOG_DIR");
    for action in actions {
        if !known.insert((function, action.clone())) {
            continue;
        }
        let Some(dir) = &dir else { continue };
        let path = std::path::Path::new(dir).join(format!("{}.txt", std::process::id()));
        let written = std::fs::create_dir_all(dir).and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?
                .write_all(format!("{function} {action}\n").as_bytes())
        });
        if let Err(e) = written {
            panic!("cannot record calls in {}: {e}", path.display());
        }
    }
}

/// Records the DynamoDB operation (`GetItem`, `UpdateItem`, ...) of every request sent, and
/// which were sent while another was in flight; can hold one request in flight so a test can
/// put another write between two of an operation's calls.
#[derive(Debug, Default, Clone)]
pub struct CallLog {
    calls: Arc<Mutex<Vec<String>>>,
    hold: Arc<Mutex<Option<Armed>>>,
    /// Attempts sent and not yet answered.
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// The operations sent while another attempt was in flight.
    overlapping: Arc<Mutex<Vec<String>>>,
}

/// A hold waiting for its moment: the request after the next `after` call.
#[derive(Debug)]
struct Armed {
    after: String,
    /// Text the `after` call's body must hold (an item's key), when not any such call.
    holding: Option<String>,
    passed: bool,
    reached: tokio::sync::oneshot::Sender<()>,
    release: std::sync::mpsc::Receiver<()>,
}

/// A request held in flight by [`CallLog::hold_after`].
pub struct Hold {
    reached: tokio::sync::oneshot::Receiver<()>,
    release: std::sync::mpsc::Sender<()>,
}

impl Hold {
    /// Waits until the held request is about to be sent.
    pub async fn reached(&mut self) {
        (&mut self.reached)
            .await
            .expect("the held request was never sent");
    }

    /// Lets the held request go.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

impl CallLog {
    /// The operations recorded since the last call, oldest first.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The operations sent, since the last call, while another request of this log was in
    /// flight: what an operation made at the same time as another call.
    pub fn take_overlapping(&self) -> Vec<String> {
        std::mem::take(&mut *self.overlapping.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Holds the request that follows the next `after` call (any operation) until the
    /// returned [`Hold`] is released. Once only. The held request waits in
    /// `block_in_place`: use a multi-threaded runtime.
    pub fn hold_after(&self, after: &str) -> Hold {
        self.arm(after, None)
    }

    /// [`Self::hold_after`] the next `after` call whose request body holds `text` (a key's
    /// part, such as `#IDEMPOTENCY#`): an `UpdateItem` of one item, not of another.
    pub fn hold_after_call_on(&self, after: &str, text: &str) -> Hold {
        self.arm(after, Some(text.to_owned()))
    }

    fn arm(&self, after: &str, holding: Option<String>) -> Hold {
        let (reached_tx, reached) = tokio::sync::oneshot::channel();
        let (release, release_rx) = std::sync::mpsc::channel();
        *self.hold.lock().unwrap_or_else(|e| e.into_inner()) = Some(Armed {
            after: after.to_owned(),
            holding,
            passed: false,
            reached: reached_tx,
            release: release_rx,
        });
        Hold { reached, release }
    }

    /// The hold this request triggers, if it is the one after the armed call.
    fn trigger(&self, operation: &str, body: &[u8]) -> Option<Armed> {
        let mut hold = self.hold.lock().unwrap_or_else(|e| e.into_inner());
        let armed = hold.as_mut()?;
        if armed.passed {
            return hold.take();
        }
        let holds = |text: &String| String::from_utf8_lossy(body).contains(text.as_str());
        if armed.after == operation && armed.holding.as_ref().is_none_or(holds) {
            armed.passed = true;
        }
        None
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_after_transmit(
        &self,
        _: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // An attempt that got no answer (a failed connection) stays counted: the tests that
        // look at overlaps make none.
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Ok(function), Some(metadata)) = (FUNCTION.try_with(|f| *f), cfg.load::<Metadata>())
        {
            let body = context.request().body().bytes();
            record_actions(
                function,
                iam_actions(metadata.service(), metadata.name(), body),
            );
        }
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("");
        let operation = target.rsplit('.').next().unwrap_or("").to_owned();
        let body = context.request().body().bytes().unwrap_or_default();
        let held = self.trigger(&operation, body);
        let others = self.in_flight.fetch_add(1, Ordering::SeqCst);
        if others > 0 {
            self.overlapping
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(operation.clone());
        }
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(operation);
        if let Some(armed) = held {
            let _ = armed.reached.send(());
            // Hands this worker's other tasks to another thread while it waits, or one of them
            // (a connection another request needs) could wait on it forever.
            tokio::task::block_in_place(|| {
                let _ = armed.release.recv();
            });
        }
        Ok(())
    }
}

/// A client for moto at `endpoint`, with dummy credentials, recording into `log`: the
/// deployed functions' retries, with timeouts long enough for a moto that a whole test suite
/// keeps busy (a table scan or a creation can take seconds there).
pub fn client(endpoint: &str, log: &CallLog) -> Client {
    let relaxed = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .operation_attempt_timeout(std::time::Duration::from_secs(60))
        .operation_timeout(std::time::Duration::from_secs(180))
        .build();
    Client::from_conf(deployed(endpoint, log).timeout_config(relaxed).build())
}

/// A client for `endpoint` with the deployed functions' retries and timeouts exactly, for
/// the tests of what those do.
pub fn deployed_client(endpoint: &str, log: &CallLog) -> Client {
    Client::from_conf(deployed(endpoint, log).build())
}

fn deployed(endpoint: &str, log: &CallLog) -> aws_sdk_dynamodb::config::Builder {
    let builder = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
        .endpoint_url(endpoint)
        .interceptor(log.clone());
    shared::adapters::dynamo::resilient(builder)
}

/// An SES v2 client for moto at `endpoint`, with dummy credentials. Its log of its own
/// records only the IAM actions (the DynamoDB round-trip counts stay apart).
pub fn ses_client(endpoint: &str) -> aws_sdk_sesv2::Client {
    let config = aws_sdk_sesv2::Config::builder()
        .behavior_version(aws_sdk_sesv2::config::BehaviorVersion::latest())
        .region(aws_sdk_sesv2::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sesv2::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .endpoint_url(endpoint)
        // As the deployed client: two tries, then the outbox takes over.
        .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::standard().with_max_attempts(2))
        .interceptor(CallLog::default())
        .build();
    aws_sdk_sesv2::Client::from_conf(config)
}

/// Makes `domain` a sending identity (moto, like SES, refuses mail from anything else).
/// Idempotent.
pub async fn create_identity(client: &aws_sdk_sesv2::Client, domain: &str) -> Result<(), String> {
    match client
        .create_email_identity()
        .email_identity(domain)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(format!(
            "CreateEmailIdentity {domain}: {}",
            aws_sdk_sesv2::error::DisplayErrorContext(e)
        )),
    }
}

/// The domain of a sender such as `Acme <no-reply@acme.example>`.
pub fn sender_domain(from: &str) -> Option<&str> {
    let address = from
        .rsplit_once('<')
        .map_or(from, |(_, rest)| rest.trim_end_matches('>'));
    address.rsplit_once('@').map(|(_, domain)| domain.trim())
}

/// A Secrets Manager client for moto at `endpoint`, with dummy credentials, recording the IAM
/// actions of the function it runs as into `log`.
pub fn secrets_client(endpoint: &str, log: &CallLog) -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .endpoint_url(endpoint)
        .interceptor(log.clone())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// 64 random letters and digits from the service, as the template's `GenerateSecretString`
/// (`PasswordLength: 64`, `ExcludePunctuation`) makes the deployed key.
async fn random_key(client: &aws_sdk_secretsmanager::Client) -> Result<String, String> {
    client
        .get_random_password()
        .password_length(64)
        .exclude_punctuation(true)
        .send()
        .await
        .map_err(|e| {
            format!(
                "GetRandomPassword: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            )
        })?
        .random_password
        .ok_or_else(|| "GetRandomPassword answered no password".to_owned())
}

/// Makes `name` the erasure receipt secret, holding a random key, as the template's
/// `ErasureReceiptSecret` does; leaves one that exists as it is. Idempotent.
pub async fn create_receipt_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
) -> Result<(), String> {
    let key = random_key(client).await?;
    match client
        .create_secret()
        .name(name)
        .description("Local erasure receipt key (make dev, make test)")
        .secret_string(key)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(format!(
            "CreateSecret {name}: {}",
            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
        )),
    }
}

/// Rotates the receipt secret `name` as docs/erasure.md tells an operator to: a new random
/// key becomes the current version. Returns its version id.
pub async fn rotate_receipt_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
) -> Result<String, String> {
    let key = random_key(client).await?;
    client
        .put_secret_value()
        .secret_id(name)
        .secret_string(key)
        .send()
        .await
        .map_err(|e| {
            format!(
                "PutSecretValue {name}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            )
        })?
        .version_id
        .ok_or_else(|| "PutSecretValue answered no VersionId".to_owned())
}
