//! `reapply-erasures`: after a point-in-time restore, erases from the restored table the users
//! that were erased after the restore point, as the receipts of the table that went on after
//! it record them (docs/erasure.md, "Re-applying erasures after a restore"). The erasing is
//! [`shared::App::reapply_erasures`]; this reads the receipts, wires the restored table and
//! the secret, and is what both the command and its tests run.

use std::sync::Arc;

use shared::adapters::LeaveToOutbox;
use shared::adapters::dynamo::DynamoStore;
use shared::adapters::secrets::SecretsManagerKeys;
use shared::domain::erasure::KeyVersion;
use shared::domain::time::Timestamp;
use shared::operations::erasure::ReapplyReport;

/// How far before the restore point receipts are read. A receipt's `erased_at` is taken just
/// before the erasure's transaction, which may commit up to a function's timeout later
/// (Lambda's longest is 15 minutes): an erasure timed before the restore point may still be
/// missing from the restored table. Looking further back costs only reads, as a user the
/// restored table no longer holds is skipped.
pub const LOOKBACK_SECS: i64 = 15 * 60;

pub const USAGE: &str = "usage: reapply-erasures --receipts-table TABLE --restored-table TABLE \
--restore-point RFC3339 [--secret ARN_OR_NAME] [--unversioned-key-version VERSION_ID]";

/// What to re-apply, from where to where.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The table that went on after the restore point, holding the receipts.
    pub receipts_table: String,
    /// The table restored to the restore point, where the erasures are applied again.
    pub restored_table: String,
    pub restore_point: Timestamp,
    /// The receipt key's secret (ARN or name): `--secret`, else `ERASURE_RECEIPT_SECRET`.
    pub secret: String,
    /// The key version receipts that name none were hashed under (docs/erasure.md,
    /// "Upgrading from ERASURE_RECEIPT_KEY").
    pub unversioned: Option<KeyVersion>,
}

impl Request {
    /// The command's arguments (without the program name); `secret_from_env` is
    /// `ERASURE_RECEIPT_SECRET`, used when `--secret` is not given.
    pub fn parse(args: &[String], secret_from_env: Option<String>) -> Result<Self, String> {
        let mut flags = std::collections::BTreeMap::new();
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            let known = [
                "--receipts-table",
                "--restored-table",
                "--restore-point",
                "--secret",
                "--unversioned-key-version",
            ];
            if !known.contains(&flag.as_str()) {
                return Err(format!("unknown argument {flag:?}; {USAGE}"));
            }
            let value = rest
                .next()
                .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
            if flags.insert(flag.as_str(), value.clone()).is_some() {
                return Err(format!("{flag} given twice"));
            }
        }
        let need = |flag: &str| {
            flags
                .get(flag)
                .cloned()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{flag} is required; {USAGE}"))
        };
        let receipts_table = need("--receipts-table")?;
        let restored_table = need("--restored-table")?;
        if receipts_table == restored_table {
            return Err("the restored table must be another table than the receipts' one".into());
        }
        let raw_point = need("--restore-point")?;
        let restore_point: Timestamp =
            serde_json::from_value(serde_json::Value::String(raw_point.clone())).map_err(|_| {
                format!("--restore-point {raw_point:?} is no RFC 3339 time (2026-11-30T10:00:00Z)")
            })?;
        let secret = flags
            .get("--secret")
            .cloned()
            .or(secret_from_env)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("--secret or ERASURE_RECEIPT_SECRET is required; {USAGE}"))?;
        let unversioned = flags
            .get("--unversioned-key-version")
            .map(|v| KeyVersion::parse(v))
            .transpose()
            .map_err(|e| format!("--unversioned-key-version: {e}"))?;
        Ok(Request {
            receipts_table,
            restored_table,
            restore_point,
            secret,
            unversioned,
        })
    }
}

/// Reads every receipt of `receipts_table` erased from [`LOOKBACK_SECS`] before the restore
/// point on, and re-applies them to `restored_table`.
pub async fn run(
    request: &Request,
    dynamo: aws_sdk_dynamodb::Client,
    secrets: aws_sdk_secretsmanager::Client,
) -> Result<ReapplyReport, String> {
    let receipts = DynamoStore::new(dynamo.clone(), request.receipts_table.clone())
        .receipts_since(request.restore_point.plus_secs(-LOOKBACK_SECS))
        .await
        .map_err(|e| format!("reading receipts of {}: {e:?}", request.receipts_table))?;
    // The erasure sends no mail and reads no tenant settings: the settings are placeholders.
    let placeholder =
        url::Url::parse("https://reapply-erasures.invalid").map_err(|e| e.to_string())?;
    let app = shared::app::wire(
        dynamo,
        request.restored_table.clone(),
        Arc::new(LeaveToOutbox),
        shared::domain::tenant::EmailSettings::local(placeholder),
    );
    let keys = SecretsManagerKeys::new(secrets, request.secret.clone());
    app.reapply_erasures(&receipts, &keys, request.unversioned.as_ref())
        .await
        .map_err(|e| format!("re-applying to {}: {e}", request.restored_table))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn the_command_takes_both_tables_a_restore_point_and_the_secret_from_env_or_flag() {
        let base = [
            "--receipts-table",
            "profiles",
            "--restored-table",
            "profiles-restored",
            "--restore-point",
            "2026-11-30T10:00:00Z",
        ];
        let r = Request::parse(&args(&base), Some("arn:secret".into())).unwrap();
        assert_eq!(r.secret, "arn:secret");
        assert_eq!(r.restore_point.to_string(), "2026-11-30T10:00:00.000Z");
        assert_eq!(r.unversioned, None);
        let mut flagged = args(&base);
        flagged.extend(args(&[
            "--secret",
            "other",
            "--unversioned-key-version",
            "v-1",
        ]));
        let r = Request::parse(&flagged, Some("arn:secret".into())).unwrap();
        assert_eq!(r.secret, "other");
        assert_eq!(r.unversioned, Some(KeyVersion::parse("v-1").unwrap()));
        assert!(Request::parse(&args(&base), None).is_err());
        let same = args(&[
            "--receipts-table",
            "t",
            "--restored-table",
            "t",
            "--restore-point",
            "2026-11-30T10:00:00Z",
        ]);
        assert!(Request::parse(&same, Some("s".into())).is_err());
        let mut bad_time = args(&base);
        bad_time[5] = "yesterday".into();
        assert!(Request::parse(&bad_time, Some("s".into())).is_err());
        assert!(Request::parse(&args(&["--force"]), Some("s".into())).is_err());
    }
}
