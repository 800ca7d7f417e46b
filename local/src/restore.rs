//! `restore-into`: makes the stack's live table hold exactly the items of a table restored to
//! a point in time (docs/erasure.md, "Putting the restored table in service"). A restore
//! always makes a new table, while the stack's functions, alarms and IAM name the table the
//! stack owns: rather than moving the stack to the new table, this brings the content across.
//! It knows nothing of the items but their key, read from each table's description, and is
//! what both the command and its tests run.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeyType, KeysAndAttributes, PutRequest, ScalarAttributeType,
    TableStatus, WriteRequest,
};
use futures::future::try_join_all;
use serde::Serialize;

type Item = HashMap<String, AttributeValue>;

pub const USAGE: &str = "usage: restore-into --from TABLE --to TABLE [--dry-run] [--segments N]";

/// Scan segments read at once when `--segments` is not given: enough to keep a table that
/// grew large from holding the stack's pause for hours, few enough for an on-demand table to
/// absorb the writes at once.
pub const DEFAULT_SEGMENTS: u32 = 4;

/// At most this many segments: each one holds a page of both tables in memory (up to 1 MB of
/// each) while it works.
pub const MAX_SEGMENTS: u32 = 64;

/// DynamoDB's limits: keys read by one `BatchGetItem`, writes sent in one `BatchWriteItem`.
const BATCH_GET: usize = 100;
const BATCH_WRITE: usize = 25;

/// Calls of one batch while DynamoDB keeps leaving some of it unprocessed (it does under
/// throttling, as an on-demand table scales up): about half a minute of backing off in all,
/// after which the run fails and can be run again.
const BATCH_TRIES: u32 = 12;

/// What to copy, from where to where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The table restored to the point in time (and the erasures re-applied to it).
    pub from: String,
    /// The stack's table, made to hold exactly `from`'s items.
    pub to: String,
    /// Reads both tables and counts, writing nothing.
    pub dry_run: bool,
    /// Parallel scan segments of each table, each read and written at once.
    pub segments: u32,
    /// Items per scan page; `None` leaves it to DynamoDB (1 MB pages). Not a flag: the tests
    /// set it small so a few dozen items span many pages.
    pub page_size: Option<i32>,
}

impl Request {
    /// The command's arguments (without the program name).
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let (mut from, mut to, mut segments) = (None, None, None);
        let mut dry_run = false;
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            let slot = match flag.as_str() {
                "--dry-run" if dry_run => return Err("--dry-run given twice".into()),
                "--dry-run" => {
                    dry_run = true;
                    continue;
                }
                "--from" => &mut from,
                "--to" => &mut to,
                "--segments" => &mut segments,
                _ => return Err(format!("unknown argument {flag:?}; {USAGE}")),
            };
            let value = rest
                .next()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
            if slot.replace(value.clone()).is_some() {
                return Err(format!("{flag} given twice"));
            }
        }
        let from = from.ok_or_else(|| format!("--from is required; {USAGE}"))?;
        let to = to.ok_or_else(|| format!("--to is required; {USAGE}"))?;
        if from == to {
            return Err(format!(
                "--from and --to both name {from}: the restored table must be another table"
            ));
        }
        let segments = match segments {
            None => DEFAULT_SEGMENTS,
            Some(raw) => raw
                .parse()
                .ok()
                .filter(|n| (1..=MAX_SEGMENTS).contains(n))
                .ok_or_else(|| {
                    format!("--segments {raw:?} is no number from 1 to {MAX_SEGMENTS}")
                })?,
        };
        Ok(Request {
            from,
            to,
            dry_run,
            segments,
            page_size: None,
        })
    }
}

/// What a run did, or in a dry run would do: counts only, as the items hold personal data.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Items read from `--from`.
    pub scanned_from: u64,
    /// Items read from `--to`, before anything was written to it.
    pub scanned_to: u64,
    /// Items of `--from` put into `--to`, missing there or different.
    pub written: u64,
    /// Items of `--to` deleted as `--from` lacks their key.
    pub deleted: u64,
    /// Items of `--from` that `--to` held as they are, not written.
    pub unchanged: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// A run that stopped: why, and what it had done by then (every step is idempotent, so the
/// run can simply be started again).
#[derive(Debug)]
pub struct Failed {
    pub error: String,
    /// `None` when it refused to start: nothing was read from either table or written.
    pub so_far: Option<Report>,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error)
    }
}

/// A DynamoDB client for the run: the SDK's standard retries with ten tries rather than three,
/// as a run lasts minutes to hours and meets throttling while an on-demand table scales up.
pub fn client(config: &aws_config::SdkConfig) -> Client {
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    let builder = aws_sdk_dynamodb::config::Builder::from(config)
        .retry_config(RetryConfig::standard().with_max_attempts(10));
    Client::from_conf(builder.build())
}

/// Makes `request.to` hold exactly the items of `request.from`, page by page: first every
/// item of `to` whose key `from` lacks is deleted, then every item of `from` that `to` lacks
/// or holds otherwise is put. Refuses, having written nothing, when either table cannot be
/// described or is not active, when both name one table, or when their keys differ.
pub async fn run(request: &Request, client: &Client) -> Result<Report, Failed> {
    let refused = |error: String| Failed {
        error,
        so_far: None,
    };
    let from = describe(client, &request.from).await.map_err(refused)?;
    let to = describe(client, &request.to).await.map_err(refused)?;
    if from.arn == to.arn {
        return Err(refused(format!(
            "--from {} and --to {} are the same table ({}); nothing was written",
            request.from, request.to, from.arn
        )));
    }
    if from.key != to.key {
        return Err(refused(format!(
            "the key schemas differ: {} has {}, {} has {}; nothing was written",
            from.name, from.key, to.name, to.key
        )));
    }
    let transfer = Transfer {
        client,
        key: from.key,
        from: from.name,
        to: to.name,
        request,
        counts: Counts::default(),
    };
    let segments = || 0..request.segments;
    // Deletions first: the live table is then read whole before anything is written to it,
    // so a dry run counts exactly what the run after it does.
    let passes = async {
        try_join_all(segments().map(|s| transfer.delete_pass(s))).await?;
        try_join_all(segments().map(|s| transfer.write_pass(s))).await?;
        Ok::<(), String>(())
    };
    let outcome = passes.await;
    let report = transfer.counts.report(request.dry_run);
    match outcome {
        Ok(()) => Ok(report),
        Err(error) => Err(Failed {
            error,
            so_far: Some(report),
        }),
    }
}

/// A table's primary key: each key attribute's name, role and type, the partition key first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeySchema(Vec<(String, KeyType, ScalarAttributeType)>);

impl fmt::Display for KeySchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(name, role, kind)| format!("{name} ({}, {})", kind.as_str(), role.as_str()))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// One key value, as a key attribute can hold only these three types.
#[derive(Debug, PartialEq, Eq, Hash)]
enum KeyPart {
    S(String),
    N(String),
    B(Vec<u8>),
}

impl KeySchema {
    /// The key attributes of `item`, as `BatchGetItem` and `DeleteRequest` take a key. The
    /// message names the attribute, never a value.
    fn key_of(&self, item: &Item, table: &str) -> Result<Item, String> {
        self.0
            .iter()
            .map(|(name, ..)| {
                item.get(name)
                    .map(|v| (name.clone(), v.clone()))
                    .ok_or_else(|| format!("an item of {table} has no key attribute {name}"))
            })
            .collect()
    }

    /// `item`'s key as a value to look items up by.
    fn id_of(&self, item: &Item, table: &str) -> Result<Vec<KeyPart>, String> {
        self.0
            .iter()
            .map(|(name, ..)| match item.get(name) {
                Some(AttributeValue::S(v)) => Ok(KeyPart::S(v.clone())),
                Some(AttributeValue::N(v)) => Ok(KeyPart::N(v.clone())),
                Some(AttributeValue::B(v)) => Ok(KeyPart::B(v.as_ref().to_vec())),
                _ => Err(format!(
                    "an item of {table} has no string, number or binary {name}"
                )),
            })
            .collect()
    }

    /// A projection of the key attributes alone (`#k0, #k1` and their names), so that
    /// finding which keys a table holds reads no personal data into memory.
    fn projection(&self) -> (String, HashMap<String, String>) {
        let names: HashMap<String, String> = self
            .0
            .iter()
            .enumerate()
            .map(|(i, (name, ..))| (format!("#k{i}"), name.clone()))
            .collect();
        let expression = (0..self.0.len())
            .map(|i| format!("#k{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        (expression, names)
    }
}

/// What the run needs of a table's description.
struct Described {
    /// The name DynamoDB gives it, by which every request below names it.
    name: String,
    arn: String,
    key: KeySchema,
}

async fn describe(client: &Client, table: &str) -> Result<Described, String> {
    let out = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| format!("DescribeTable {table}: {}", DisplayErrorContext(e)))?;
    let description = out
        .table
        .ok_or_else(|| format!("DescribeTable {table} answered no table"))?;
    // A restore's table is CREATING until its items are all there.
    match description.table_status() {
        Some(TableStatus::Active | TableStatus::Updating) => {}
        status => {
            return Err(format!(
                "{table} is {}: wait until it is ACTIVE (aws dynamodb wait table-exists)",
                status.map_or("of no status", TableStatus::as_str)
            ));
        }
    }
    let mut key = Vec::new();
    for element in description.key_schema() {
        let name = element.attribute_name();
        let kind = description
            .attribute_definitions()
            .iter()
            .find(|d| d.attribute_name() == name)
            .map(|d| d.attribute_type().clone())
            .ok_or_else(|| format!("{table} does not define its key attribute {name}"))?;
        key.push((name.to_owned(), element.key_type().clone(), kind));
    }
    key.sort_by_key(|(_, role, _)| *role != KeyType::Hash);
    if key.is_empty() {
        return Err(format!("{table} has no key schema"));
    }
    Ok(Described {
        name: description.table_name().unwrap_or(table).to_owned(),
        arn: description.table_arn().unwrap_or(table).to_owned(),
        key: KeySchema(key),
    })
}

/// The running counts, added to by every segment at once.
#[derive(Default)]
struct Counts {
    scanned_from: AtomicU64,
    scanned_to: AtomicU64,
    written: AtomicU64,
    deleted: AtomicU64,
    unchanged: AtomicU64,
}

impl Counts {
    fn report(&self, dry_run: bool) -> Report {
        let read = |n: &AtomicU64| n.load(Ordering::Relaxed);
        Report {
            scanned_from: read(&self.scanned_from),
            scanned_to: read(&self.scanned_to),
            written: read(&self.written),
            deleted: read(&self.deleted),
            unchanged: read(&self.unchanged),
            dry_run,
        }
    }
}

fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

struct Transfer<'a> {
    client: &'a Client,
    key: KeySchema,
    from: String,
    to: String,
    request: &'a Request,
    counts: Counts,
}

impl Transfer<'_> {
    /// Deletes every item of segment `segment` of `to` whose key `from` lacks.
    async fn delete_pass(&self, segment: u32) -> Result<(), String> {
        let mut start = None;
        loop {
            let (keys, next) = self.scan_page(&self.to, segment, start, true).await?;
            add(&self.counts.scanned_to, keys.len());
            let mut lacking = Vec::new();
            for chunk in keys.chunks(BATCH_GET) {
                let held = self.get_batch(&self.from, chunk.to_vec(), true).await?;
                let held: HashSet<Vec<KeyPart>> = held
                    .iter()
                    .map(|k| self.key.id_of(k, &self.from))
                    .collect::<Result<_, _>>()?;
                for key in chunk {
                    if !held.contains(&self.key.id_of(key, &self.to)?) {
                        lacking.push(self.key.key_of(key, &self.to)?);
                    }
                }
            }
            let deletes = lacking
                .into_iter()
                .map(|key| {
                    DeleteRequest::builder()
                        .set_key(Some(key))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            self.write(deletes, &self.counts.deleted).await?;
            start = next;
            if start.is_none() {
                return Ok(());
            }
        }
    }

    /// Puts every item of segment `segment` of `from` that `to` lacks or holds otherwise.
    async fn write_pass(&self, segment: u32) -> Result<(), String> {
        let mut start = None;
        loop {
            let (items, next) = self.scan_page(&self.from, segment, start, false).await?;
            add(&self.counts.scanned_from, items.len());
            let mut differing = Vec::new();
            for chunk in items.chunks(BATCH_GET) {
                let keys = chunk
                    .iter()
                    .map(|i| self.key.key_of(i, &self.from))
                    .collect::<Result<Vec<_>, _>>()?;
                let held: HashMap<Vec<KeyPart>, Item> = self
                    .get_batch(&self.to, keys, false)
                    .await?
                    .into_iter()
                    .map(|i| Ok((self.key.id_of(&i, &self.to)?, i)))
                    .collect::<Result<_, String>>()?;
                for item in chunk {
                    match held.get(&self.key.id_of(item, &self.from)?) {
                        Some(there) if same_item(there, item) => add(&self.counts.unchanged, 1),
                        _ => differing.push(item.clone()),
                    }
                }
            }
            let puts = differing
                .into_iter()
                .map(|item| {
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .map(|p| WriteRequest::builder().put_request(p).build())
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            self.write(puts, &self.counts.written).await?;
            start = next;
            if start.is_none() {
                return Ok(());
            }
        }
    }

    /// One page of `table`'s segment `segment` from `start`, read with strong consistency,
    /// and where the next one starts.
    async fn scan_page(
        &self,
        table: &str,
        segment: u32,
        start: Option<Item>,
        keys_only: bool,
    ) -> Result<(Vec<Item>, Option<Item>), String> {
        let mut scan = self
            .client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .set_limit(self.request.page_size);
        if self.request.segments > 1 {
            scan = scan
                .segment(to_i32(segment))
                .total_segments(to_i32(self.request.segments));
        }
        if keys_only {
            let (expression, names) = self.key.projection();
            scan = scan
                .projection_expression(expression)
                .set_expression_attribute_names(Some(names));
        }
        let page = scan
            .send()
            .await
            .map_err(|e| format!("Scan {table}: {}", DisplayErrorContext(e)))?;
        Ok((page.items.unwrap_or_default(), page.last_evaluated_key))
    }

    /// The items of `table` at `keys` (at most [`BATCH_GET`]) that it holds, read with strong
    /// consistency (their key attributes alone when `keys_only`), retrying the keys DynamoDB
    /// leaves unprocessed.
    async fn get_batch(
        &self,
        table: &str,
        keys: Vec<Item>,
        keys_only: bool,
    ) -> Result<Vec<Item>, String> {
        let mut found = Vec::new();
        let mut pending = keys;
        let mut tries = 0;
        while !pending.is_empty() {
            tries += 1;
            let mut wanted = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true);
            if keys_only {
                let (expression, names) = self.key.projection();
                wanted = wanted
                    .projection_expression(expression)
                    .set_expression_attribute_names(Some(names));
            }
            let out = self
                .client
                .batch_get_item()
                .request_items(table, wanted.build().map_err(|e| e.to_string())?)
                .send()
                .await
                .map_err(|e| format!("BatchGetItem {table}: {}", DisplayErrorContext(e)))?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(table))
                    .unwrap_or_default(),
            );
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if !pending.is_empty() {
                if tries >= BATCH_TRIES {
                    return Err(format!(
                        "BatchGetItem {table}: {} keys still unprocessed after {tries} tries",
                        pending.len()
                    ));
                }
                tokio::time::sleep(backoff(tries)).await;
            }
        }
        Ok(found)
    }

    /// Sends `requests` to `to` in batches of [`BATCH_WRITE`], retrying what DynamoDB leaves
    /// unprocessed, and counts each write done into `done`. A dry run sends nothing and
    /// counts them all.
    async fn write(&self, requests: Vec<WriteRequest>, done: &AtomicU64) -> Result<(), String> {
        if self.request.dry_run {
            add(done, requests.len());
            return Ok(());
        }
        for chunk in requests.chunks(BATCH_WRITE) {
            let mut pending = chunk.to_vec();
            let mut tries = 0;
            while !pending.is_empty() {
                tries += 1;
                let sent = pending.len();
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.to, pending)
                    .send()
                    .await
                    .map_err(|e| {
                        format!("BatchWriteItem {}: {}", self.to, DisplayErrorContext(e))
                    })?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.to))
                    .unwrap_or_default();
                add(done, sent - pending.len());
                if !pending.is_empty() {
                    if tries >= BATCH_TRIES {
                        return Err(format!(
                            "BatchWriteItem {}: {} writes still unprocessed after {tries} tries",
                            self.to,
                            pending.len()
                        ));
                    }
                    tokio::time::sleep(backoff(tries)).await;
                }
            }
        }
        Ok(())
    }
}

/// The wait before try `tries + 1` of a batch: doubling from 50 ms, at most 5 s.
fn backoff(tries: u32) -> Duration {
    Duration::from_millis(50u64 << tries.saturating_sub(1).min(7)).min(Duration::from_secs(5))
}

fn to_i32(n: u32) -> i32 {
    // Segments are at most MAX_SEGMENTS.
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Whether two items hold the same attributes with the same values. Sets compare as sets:
/// DynamoDB keeps no order in a set, so two tables may answer one set in two orders, and
/// an item that differs only so would be written again on every run.
fn same_item(a: &Item, b: &Item) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(name, v)| b.get(name).is_some_and(|w| same_value(v, w)))
}

fn same_value(a: &AttributeValue, b: &AttributeValue) -> bool {
    fn same_set<T: Ord>(mut x: Vec<T>, mut y: Vec<T>) -> bool {
        x.sort();
        y.sort();
        x == y
    }
    use AttributeValue as V;
    match (a, b) {
        (V::Ss(x), V::Ss(y)) | (V::Ns(x), V::Ns(y)) => {
            same_set(x.iter().collect(), y.iter().collect())
        }
        (V::Bs(x), V::Bs(y)) => same_set(
            x.iter().map(|b| b.as_ref()).collect(),
            y.iter().map(|b| b.as_ref()).collect(),
        ),
        (V::L(x), V::L(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_value(v, w)),
        (V::M(x), V::M(y)) => same_item(x, y),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn the_command_takes_two_other_tables_a_dry_run_and_a_number_of_segments() {
        let r = Request::parse(&args(&["--from", "restored", "--to", "live"])).unwrap();
        assert_eq!(
            r,
            Request {
                from: "restored".into(),
                to: "live".into(),
                dry_run: false,
                segments: DEFAULT_SEGMENTS,
                page_size: None,
            }
        );
        let r = Request::parse(&args(&[
            "--dry-run",
            "--to",
            "live",
            "--segments",
            "16",
            "--from",
            "restored",
        ]))
        .unwrap();
        assert!(r.dry_run);
        assert_eq!(r.segments, 16);
        for refused in [
            &["--from", "t", "--to", "t"][..],
            &["--from", "restored"],
            &["--to", "live"],
            &["--from", "restored", "--to", "live", "--segments", "0"],
            &["--from", "restored", "--to", "live", "--segments", "65"],
            &["--from", "restored", "--to", "live", "--segments", "many"],
            &[
                "--from",
                "restored",
                "--to",
                "live",
                "--dry-run",
                "--dry-run",
            ],
            &["--from", "restored", "--to", "live", "--to", "other"],
            &["--from", "", "--to", "live"],
            &["--from", "restored", "--to"],
            &["--from", "restored", "--to", "live", "--force"],
        ] {
            assert!(Request::parse(&args(refused)).is_err(), "{refused:?}");
        }
    }

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn items_are_the_same_when_every_attribute_is_and_sets_in_any_order_are() {
        let s = |v: &str| AttributeValue::S(v.into());
        let set = |vs: &[&str]| AttributeValue::Ss(vs.iter().map(|v| (*v).into()).collect());
        let nested = |v: AttributeValue| {
            AttributeValue::M(item(&[("tags", v), ("n", AttributeValue::N("1".into()))]))
        };
        let a = item(&[("pk", s("a")), ("m", nested(set(&["x", "y"])))]);
        assert!(same_item(
            &a,
            &item(&[("pk", s("a")), ("m", nested(set(&["y", "x"])))])
        ));
        assert!(!same_item(
            &a,
            &item(&[("pk", s("a")), ("m", nested(set(&["x"])))])
        ));
        assert!(!same_item(&a, &item(&[("pk", s("a"))])));
        assert!(!same_item(
            &a,
            &item(&[
                ("pk", s("a")),
                ("m", nested(set(&["x", "y"]))),
                ("extra", s("e"))
            ])
        ));
        let list = |vs: &[&str]| AttributeValue::L(vs.iter().map(|v| s(v)).collect());
        assert!(same_value(&list(&["x", "y"]), &list(&["x", "y"])));
        assert!(
            !same_value(&list(&["x", "y"]), &list(&["y", "x"])),
            "a list keeps its order"
        );
        assert!(!same_value(&s("1"), &AttributeValue::N("1".into())));
    }

    #[test]
    fn backing_off_doubles_up_to_five_seconds() {
        let waits: Vec<u64> = (1..=BATCH_TRIES)
            .map(|t| backoff(t).as_millis() as u64)
            .collect();
        assert_eq!(&waits[..4], &[50, 100, 200, 400]);
        assert!(waits.iter().all(|w| *w <= 5000));
        assert_eq!(waits.last(), Some(&5000));
    }
}
