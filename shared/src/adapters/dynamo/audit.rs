//! A check of a table's items against each other, for after a fault, a restore or a test
//! run: what every profile implies (its guards, search entries and count) is there, and
//! nothing names a user that is gone. Counts are checked per listing shard: a listing reads
//! only the shards whose count says they hold users. `local-api audit` runs it on a table
//! (docs/operations.md, "Auditing a table").

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoStore;
use super::items::{
    Item, PK, PRESENCE_PREFIX, PROFILE, SK, counted_shard, counted_users, guards, keys, user_of,
};
use crate::domain::listing::shard_of;

/// Every item of `table`, by a scan: for [`audit`], on a table of tests or a restored copy
/// (a scan of a live table reads all of it).
pub async fn scan_all(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<Item>, String> {
    scan_where(client, table, None).await
}

/// A condition a scan applies on the server: its expression and the `:name` values in it.
pub struct ScanFilter<'a> {
    pub expression: &'a str,
    pub values: &'a [(&'a str, AttributeValue)],
}

/// Every item of `table` that `filter` keeps (all without one), page by page: a scan reads
/// the whole table either way, and only what passes comes back.
pub async fn scan_where(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    filter: Option<&ScanFilter<'_>>,
) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let mut request = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start);
        if let Some(filter) = filter {
            request = request.filter_expression(filter.expression);
            for (name, value) in filter.values {
                request = request.expression_attribute_values(*name, value.clone());
            }
        }
        let page = request
            .send()
            .await
            .map_err(|e| format!("Scan: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        out.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(out);
        }
    }
}

/// Every inconsistency among `items` (a whole table, or whole tenants of it), each named by
/// the keys involved; empty when the items agree.
pub fn audit(items: &[Item]) -> Vec<String> {
    let mut problems = Vec::new();
    let text = |item: &Item, name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => String::new(),
    };
    let mut users = BTreeSet::new();
    let mut expected: BTreeMap<(String, String), Item> = BTreeMap::new();
    // Profiles per tenant and listing shard.
    let mut counted: BTreeMap<(String, u16), i64> = BTreeMap::new();
    for item in items.iter().filter(|i| text(i, SK) == PROFILE) {
        let pk = text(item, PK);
        match user_of(item.clone()) {
            Ok(user) => {
                *counted
                    .entry((user.tenant_id.to_string(), shard_of(&user.user_id)))
                    .or_default() += 1;
                for guard in guards(&user) {
                    expected.insert(
                        (guard.pk.clone(), guard.sk.clone()),
                        DynamoStore::guard_item(&guard),
                    );
                }
                users.insert(pk);
            }
            Err(e) => problems.push(format!("{pk}: {e:?}")),
        }
    }
    let mut counts: BTreeMap<(String, u16), i64> = BTreeMap::new();
    for item in items {
        let (pk, sk) = (text(item, PK), text(item, SK));
        let guard = ["#EMAIL#", "#USERNAME#", "#IDENTITY#"]
            .iter()
            .any(|k| pk.contains(k))
            || sk.starts_with(PRESENCE_PREFIX);
        if guard {
            match expected.remove(&(pk.clone(), sk.clone())) {
                Some(want) if &want == item => {}
                Some(want) => problems.push(format!(
                    "{pk} {sk}: holds {item:?}, its owner's profile implies {want:?}"
                )),
                None => problems.push(format!(
                    "{pk} {sk}: no profile implies it (owner {})",
                    text(item, "user_id")
                )),
            }
        } else if let Some(tenant) = pk
            .strip_suffix("#COUNT")
            .and_then(|p| p.strip_prefix("TENANT#"))
        {
            match counted_shard(&sk) {
                Some(shard) => {
                    *counts.entry((tenant.to_owned(), shard)).or_default() += counted_users(item)
                }
                // An estimate for placing users, which nothing counts by.
                None if sk == keys::RECORDED_SIZE => {}
                None => problems.push(format!("{pk} {sk}: a count item of no listing shard")),
            }
        } else if sk != PROFILE
            && pk.contains("#USER#")
            && (sk == "PASSWORD" || sk.starts_with("PASSWORD#"))
            && !users.contains(&pk)
        {
            problems.push(format!("{pk} {sk}: a password of no profile"));
        }
    }
    for ((pk, sk), _) in expected {
        problems.push(format!(
            "{pk} {sk}: missing, though its owner's profile implies it"
        ));
    }
    for at in counts.keys().chain(counted.keys()).collect::<BTreeSet<_>>() {
        let (stored, profiles) = (counts.get(at), counted.get(at));
        if stored.copied().unwrap_or(0) != profiles.copied().unwrap_or(0) {
            let (tenant, shard) = at;
            problems.push(format!(
                "TENANT#{tenant}#COUNT: listing shard {shard:02} counts {stored:?}, it holds {profiles:?} profiles"
            ));
        }
    }
    problems
}
