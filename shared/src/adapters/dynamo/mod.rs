//! The DynamoDB single-table store. Key schema (also in the README):
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | profile | `TENANT#{t}#USER#{user_id}` | `PROFILE` | the user; `gsi1pk`/`gsi1sk` list it |
//! | password | `TENANT#{t}#USER#{user_id}` | `PASSWORD` | PHC hash; never read by a profile read |
//! | a linked identity's password | `TENANT#{t}#USER#{user_id}` | `PASSWORD#{identity user_id}` | as above |
//! | email guard | `TENANT#{t}#EMAIL#{lower(email)}` | `CONN#{connection}` | owns the email per connection |
//! | username guard | `TENANT#{t}#USERNAME#{lower(username)}` | `CONN#{connection}` | owns the username per connection |
//! | identity guard | `TENANT#{t}#IDENTITY#{provider}#{provider_user_id}` | `IDENTITY` | owns the identity |
//!
//! Every guard holds its owner's `user_id`; a guard of a linked identity (its email, username
//! and identity, in the identity's connection) also holds that identity's `user_id` as
//! `identity`, so a login by it checks the identity's own password.
//! | an address's logins | `TENANT#{t}#USER#{user_id}` | `LOGIN#IP#{ip}` | `count`, `last`, `last_success`, TTL |
//! | failures from anywhere | `TENANT#{t}#USER#{user_id}` | `LOGIN#USER` | `count`, `last`, TTL |
//! | an unknown identifier's counters | `TENANT#{t}#LOGINID#{sha256}` | `LOGIN#IP#{ip}`, `LOGIN#USER` | as above |
//!
//! Index `gsi1` (keys only): `gsi1pk = TENANT#{t}#LIST#{shard}`, `gsi1sk = user_id`, with the
//! shard from [`crate::domain::listing::shard_of`]. Only creation and deletion write it: a
//! profile update changes no key attribute, so it costs the index nothing. A page reads one
//! shard; when that shard runs out before the page is full, the next shards are read in
//! concurrent waves of 1, 2, 4, 8, so a small tenant's listing takes five rounds, not
//! sixteen, and a large tenant's page stays one query.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, DeleteRequest, KeysAndAttributes, Put, ReturnValue,
    TransactWriteItem, Update, WriteRequest,
};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_attribute_value, to_item};

use crate::domain::email::Email;
use crate::domain::erasure::Receipt;
use crate::domain::ids::Connection;
use crate::domain::ids::{TenantId, UserId};
use crate::domain::listing::{Page, PageRequest, Position, SHARDS, shard_of};
use crate::domain::login::{
    BruteForce, Counter, CounterRecord, Credential, Failures, Identifier, LoginState, LoginSubject,
};
use crate::domain::message::{Queued, SendCap};
use crate::domain::metadata::{MAX_KEYS, MetadataPatch};
use crate::domain::password::PasswordHash;
use crate::domain::profile::username_key;
use crate::domain::ticket::Ticket;
use crate::domain::time::Timestamp;
use crate::domain::user::User;
use crate::ports::{
    Deleted, Due, Effects, ErasureStore, FieldUpdate, LinkStore, LoginStore, StoreError, Stored,
    Unique, UserStore,
};

type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
/// Epoch seconds after which DynamoDB may delete an item (tickets, counters, receipts).
pub const GSI2: &str = "gsi2";
pub const GSI2_PK: &str = "gsi2pk";
pub const GSI2_SK: &str = "gsi2sk";

pub const TTL_ATTRIBUTE: &str = "expires_at";

mod mail;
pub mod table;

const PROFILE: &str = "PROFILE";
const PASSWORD: &str = "PASSWORD";
const LINKED_PASSWORD_PREFIX: &str = "PASSWORD#";
const IDENTITY: &str = "IDENTITY";
const LOGIN_PREFIX: &str = "LOGIN#";
const LOGIN_USER: &str = "LOGIN#USER";
const LOGIN_IP_PREFIX: &str = "LOGIN#IP#";

fn password_sk(credential: &Credential) -> String {
    match credential {
        Credential::Own => PASSWORD.to_owned(),
        Credential::Linked(identity) => format!("{LINKED_PASSWORD_PREFIX}{identity}"),
    }
}

fn counter_sk(counter: &Counter) -> String {
    match counter {
        Counter::Ip(ip) => format!("{LOGIN_IP_PREFIX}{ip}"),
        Counter::User => LOGIN_USER.to_owned(),
    }
}

fn timestamp_attr(item: &Item, name: &str) -> Option<Timestamp> {
    match item.get(name) {
        Some(AttributeValue::S(t)) => {
            serde_json::from_value(serde_json::Value::from(t.as_str())).ok()
        }
        _ => None,
    }
}

fn counter_of(item: &Item) -> Option<(Counter, CounterRecord)> {
    let sk = match item.get(SK) {
        Some(AttributeValue::S(sk)) => sk,
        _ => return None,
    };
    let counter = match sk.strip_prefix(LOGIN_IP_PREFIX) {
        Some(ip) => Counter::Ip(ip.to_owned()),
        None if sk == LOGIN_USER => Counter::User,
        None => return None,
    };
    let count = match item.get("count") {
        Some(AttributeValue::N(n)) => n.parse().ok()?,
        _ => 0,
    };
    let record = CounterRecord {
        count,
        last_failure: timestamp_attr(item, "last"),
        last_success: timestamp_attr(item, "last_success"),
    };
    Some((counter, record))
}

/// The partition an unknown identifier's counters live in: a digest, so the identifier
/// itself (an address that has no account) is not stored.
fn unknown_login_pk(tenant: &TenantId, connection: &Connection, identifier: &Identifier) -> String {
    use sha2::{Digest, Sha256};
    let name = match identifier {
        Identifier::Email(email) => format!("email:{}", email.normalized()),
        Identifier::Username(name) => format!("username:{}", username_key(name)),
    };
    let digest = Sha256::digest(format!("{connection}#{name}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("TENANT#{tenant}#LOGINID#{hex}")
}

fn subject_pk(subject: &LoginSubject) -> String {
    match subject {
        LoginSubject::User(tenant, id, _) => keys::user(tenant, id),
        LoginSubject::Unknown {
            tenant,
            connection,
            identifier,
        } => unknown_login_pk(tenant, connection, identifier),
    }
}

/// A condition that holds only while a counter is as it was read.
fn unchanged(read: Option<&CounterRecord>) -> (String, Vec<(&'static str, AttributeValue)>) {
    match read {
        None => ("attribute_not_exists(pk)".into(), vec![]),
        Some(r) => {
            let mut parts = vec!["#c = :seen_c".to_owned()];
            let mut values = vec![(":seen_c", AttributeValue::N(r.count.to_string()))];
            match r.last_failure {
                Some(t) => {
                    parts.push("#l = :seen_l".into());
                    values.push((":seen_l", s(t.to_string())));
                }
                None => parts.push("attribute_not_exists(#l)".into()),
            }
            match r.last_success {
                Some(t) => {
                    parts.push("#s = :seen_s".into());
                    values.push((":seen_s", s(t.to_string())));
                }
                None => parts.push("attribute_not_exists(#s)".into()),
            }
            (parts.join(" AND "), values)
        }
    }
}

/// Transactions that collide with another transaction on the same item are retried this many
/// times before the request is answered 503.
const CONFLICT_RETRIES: usize = 3;

pub mod keys {
    use super::*;

    pub fn user(tenant: &TenantId, id: &UserId) -> String {
        format!("TENANT#{tenant}#USER#{id}")
    }

    pub fn list(tenant: &TenantId, shard: u16) -> String {
        format!("TENANT#{tenant}#LIST#{shard:02}")
    }

    pub fn email(tenant: &TenantId, email_key: &str) -> String {
        format!("TENANT#{tenant}#EMAIL#{email_key}")
    }

    pub fn username(tenant: &TenantId, key: &str) -> String {
        format!("TENANT#{tenant}#USERNAME#{key}")
    }

    pub fn identity(tenant: &TenantId, provider: &str, provider_user_id: &str) -> String {
        format!("TENANT#{tenant}#IDENTITY#{provider}#{provider_user_id}")
    }

    pub fn connection(connection: &str) -> String {
        format!("CONN#{connection}")
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

/// An item that makes one value unique, as its owner should hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Guard {
    pk: String,
    sk: String,
    kind: Unique,
    owner: UserId,
    /// The linked identity the value came with; `None` for the owner's own values.
    identity: Option<String>,
}

impl Guard {
    fn key(&self) -> (&str, &str) {
        (&self.pk, &self.sk)
    }
}

/// Every guard a user owns: its own email, username and identity, and those of each identity
/// linked into it, each in that identity's connection.
fn guards(user: &User) -> Vec<Guard> {
    let t = &user.tenant_id;
    let mut out = Vec::new();
    for (i, identity) in user.identities.iter().enumerate() {
        let (email, username, linked) = if i == 0 {
            (user.email_key(), user.username.as_deref(), None)
        } else {
            (
                identity.email().map(str::to_lowercase),
                identity.username(),
                Some(identity.user_id.clone()),
            )
        };
        let conn = keys::connection(identity.connection.as_str());
        let guard = |pk: String, sk: String, kind| Guard {
            pk,
            sk,
            kind,
            owner: user.user_id,
            identity: linked.clone(),
        };
        if let Some(email) = email {
            out.push(guard(keys::email(t, &email), conn.clone(), Unique::Email));
        }
        if let Some(name) = username {
            out.push(guard(
                keys::username(t, &username_key(name)),
                conn,
                Unique::Username,
            ));
        }
        out.push(guard(
            keys::identity(t, &identity.provider, &identity.user_id),
            IDENTITY.to_owned(),
            Unique::Identity,
        ));
    }
    out
}

/// Shards of the due-erasure index (on `gsi2`, beside the outbox's).
const ERASE_SHARDS: u16 = 16;

fn erase_shard_key(shard: u16) -> String {
    format!("DUE#ERASE#{shard:02}")
}

/// An erasure receipt: its own partition, found by its keyed hash.
fn receipt_item(receipt: &Receipt) -> Result<Item, StoreError> {
    let mut item: Item =
        to_item(receipt).map_err(|e| StoreError::Backend(format!("serialize receipt: {e}")))?;
    item.insert(
        PK.into(),
        s(format!(
            "TENANT#{}#ERASURE#{}",
            receipt.tenant_id, receipt.subject
        )),
    );
    item.insert(SK.into(), s("RECEIPT"));
    item.insert(
        TTL_ATTRIBUTE.into(),
        AttributeValue::N(receipt.expires_at.epoch_secs().to_string()),
    );
    Ok(item)
}

/// Items sorted for a clean-up that may stop halfway: tickets before the references that
/// find them, so no ticket is ever left unreachable.
fn cleanup_order(user_pk: &str, items: &[Item]) -> Vec<Item> {
    let mut tickets = Vec::new();
    let mut rest = Vec::new();
    for item in items {
        let Some(AttributeValue::S(sk)) = item.get(SK) else {
            continue;
        };
        if sk == PROFILE {
            continue;
        }
        if let Some(ticket) = mail::referenced_ticket(user_pk, sk) {
            tickets.push(ticket);
        }
        rest.push(item.clone());
    }
    tickets.extend(rest);
    tickets
}

/// What a transaction item's failed condition means.
#[derive(Clone, Copy)]
enum OnFail {
    Condition,
    Taken(Unique),
    Consumed,
    Capped,
    Inconsistent,
}

pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    fn profile_item(&self, user: &User) -> Result<Item, StoreError> {
        let mut item: Item =
            to_item(user).map_err(|e| StoreError::Backend(format!("serialize user: {e}")))?;
        item.insert(PK.into(), s(keys::user(&user.tenant_id, &user.user_id)));
        item.insert(SK.into(), s(PROFILE));
        item.insert(
            GSI1_PK.into(),
            s(keys::list(&user.tenant_id, shard_of(&user.user_id))),
        );
        item.insert(GSI1_SK.into(), s(user.user_id.to_string()));
        // Only a profile whose erasure is scheduled is in the due index.
        if let Some(due) = user.erasure_due() {
            let shard = shard_of(&user.user_id) % ERASE_SHARDS;
            item.insert(GSI2_PK.into(), s(erase_shard_key(shard)));
            item.insert(
                GSI2_SK.into(),
                s(format!("{due}#{}#{}", user.tenant_id, user.user_id)),
            );
        }
        Ok(item)
    }

    fn put(
        &self,
        item: Item,
        condition: Option<&str>,
        values: Option<Item>,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(values.as_ref().map(|_| version_name()))
            .set_expression_attribute_values(values)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn guard_item(guard: &Guard) -> Item {
        let mut item = key(guard.pk.clone(), &guard.sk);
        item.insert("user_id".into(), s(guard.owner.to_string()));
        if let Some(identity) = &guard.identity {
            item.insert("identity".into(), s(identity.clone()));
        }
        item
    }

    fn guard_put(&self, guard: &Guard) -> Result<TransactWriteItem, StoreError> {
        self.put(
            Self::guard_item(guard),
            Some("attribute_not_exists(pk)"),
            None,
        )
    }

    /// A guard that changes hands (or identity), only from the owner it is known to have.
    fn guard_repoint(&self, guard: &Guard, from: &UserId) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::guard_item(guard)))
            .condition_expression("user_id = :owner")
            .expression_attribute_values(":owner", s(from.to_string()))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The writes that turn the guards `before` into the guards `after`: new values are taken
    /// (`Taken` if someone has them), values that stay but change owner or identity are
    /// re-pointed (conditional on the old owner), dropped values are released. Two values of
    /// `after` on one guard (a user's own address equal to one a linked identity holds in the
    /// same connection) are `Taken`: a login by it could not tell which password to check.
    fn guard_writes(
        &self,
        before: &[Guard],
        after: &[Guard],
    ) -> Result<(Vec<TransactWriteItem>, Vec<OnFail>), StoreError> {
        let mut held = HashSet::new();
        if before.iter().any(|g| !held.insert(g.key())) {
            return Err(StoreError::Backend(
                "two users' guards share a key: the table is inconsistent".into(),
            ));
        }
        let mut seen = HashSet::new();
        if let Some(twice) = after.iter().find(|g| !seen.insert(g.key())) {
            return Err(StoreError::Taken(twice.kind));
        }
        let old: HashMap<(&str, &str), &Guard> = before.iter().map(|g| (g.key(), g)).collect();
        let mut items = Vec::new();
        let mut on_fail = Vec::new();
        for guard in after {
            match old.get(&guard.key()) {
                None => {
                    items.push(self.guard_put(guard)?);
                    on_fail.push(OnFail::Taken(guard.kind));
                }
                Some(held) if *held == guard => {}
                Some(held) => {
                    items.push(self.guard_repoint(guard, &held.owner)?);
                    on_fail.push(OnFail::Condition);
                }
            }
        }
        for guard in before.iter().filter(|g| !seen.contains(&g.key())) {
            items.push(self.guard_delete(guard, &guard.owner)?);
            on_fail.push(OnFail::Inconsistent);
        }
        Ok((items, on_fail))
    }

    /// A delete of item `pk`/`sk`, conditional on `attribute` still being `value`.
    fn delete_if(
        &self,
        pk: String,
        sk: &str,
        attribute: &str,
        value: AttributeValue,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .condition_expression("#a = :seen")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":seen", value)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// A password hash moved to another item: removed where it was (only if still that hash)
    /// and written at `to`.
    fn password_move(
        &self,
        from: (String, &str),
        to: (String, &str),
        hash: &str,
        at: Timestamp,
    ) -> Result<[TransactWriteItem; 2], StoreError> {
        let delete = self.delete_if(from.0, from.1, "hash", s(hash))?;
        let mut item = key(to.0, to.1);
        item.insert("hash".into(), s(hash));
        item.insert("updated_at".into(), s(at.to_string()));
        Ok([delete, self.put(item, None, None)?])
    }

    /// Removes leftovers of a user that is gone (tickets first).
    async fn sweep(&self, user_pk: &str, items: &[Item]) -> Result<(), StoreError> {
        self.delete_items(&cleanup_order(user_pk, items)).await
    }

    /// [`Self::sweep`] once the user is gone for good: what a failure leaves expires by TTL.
    async fn sweep_or_expire(&self, user_pk: &str, items: &[Item]) {
        if let Err(e) = self.sweep(user_pk, items).await {
            tracing::warn!(error = ?e, "items of a user that is gone are left to their TTL");
        }
    }

    fn guard_delete(&self, guard: &Guard, owner: &UserId) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(guard.pk.clone(), &guard.sk)))
            // Refuses to remove a guard another user owns, tolerates one already gone.
            .condition_expression("attribute_not_exists(pk) OR user_id = :owner")
            .expression_attribute_values(":owner", s(owner.to_string()))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    fn password_put(
        &self,
        user: &User,
        credential: &Credential,
        hash: &PasswordHash,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = key(
            keys::user(&user.tenant_id, &user.user_id),
            &password_sk(credential),
        );
        item.insert("hash".into(), s(hash.as_phc()));
        item.insert("updated_at".into(), s(user.updated_at.to_string()));
        self.put(item, None, None)
    }

    /// Runs a transaction, retrying collisions with other transactions, and maps a cancelled
    /// condition to what `on_fail[i]` says item `i`'s condition means.
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        on_fail: &[OnFail],
    ) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let service = match err.as_service_error() {
                Some(service) if service.is_transaction_canceled_exception() => service,
                _ => return Err(sdk_error("TransactWriteItems", err)),
            };
            let reasons = match service {
                aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                    c.cancellation_reasons().to_vec()
                }
                _ => Vec::new(),
            };
            let failed = reasons
                .iter()
                .enumerate()
                .find(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                .map(|(i, _)| i);
            if let Some(i) = failed {
                return Err(
                    match on_fail.get(i).copied().unwrap_or(OnFail::Inconsistent) {
                        OnFail::Condition => StoreError::ConditionFailed,
                        OnFail::Taken(what) => StoreError::Taken(what),
                        OnFail::Consumed => StoreError::Consumed,
                        OnFail::Capped => StoreError::Capped,
                        OnFail::Inconsistent => StoreError::Backend(format!(
                            "transaction item {i} found the table inconsistent"
                        )),
                    },
                );
            }
            let conflict = reasons
                .iter()
                .any(|r| r.code() == Some("TransactionConflict"));
            if conflict && attempt < CONFLICT_RETRIES {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(10 * (1 << attempt))).await;
                continue;
            }
            let codes: Vec<_> = reasons.iter().filter_map(|r| r.code()).collect();
            return Err(if conflict {
                StoreError::Throttled(format!("transaction kept conflicting: {codes:?}"))
            } else {
                StoreError::Backend(format!("transaction cancelled: {codes:?}"))
            });
        }
    }

    /// Reads items by key (at most 100), retrying what DynamoDB leaves unprocessed.
    async fn batch_items(
        &self,
        keys: Vec<Item>,
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        if keys.is_empty() {
            return Ok(found);
        }
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(consistent)
                .build()
                .map_err(build_error)?,
        );
        let mut rounds = 0;
        while let Some(req) = request.take() {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, req)
                .send()
                .await
                .map_err(|e| sdk_error("BatchGetItem", e))?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            request = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys.is_empty());
            if request.is_some() {
                rounds += 1;
                if rounds > 8 {
                    return Err(StoreError::Throttled(
                        "BatchGetItem left keys unprocessed".into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(20 * rounds)).await;
            }
        }
        Ok(found)
    }

    /// Reads profiles by id, in the order given, skipping ids that no longer exist.
    async fn batch_get(
        &self,
        tenant: &TenantId,
        ids: &[UserId],
        consistent: bool,
    ) -> Result<Vec<User>, StoreError> {
        let mut found: HashMap<String, User> = HashMap::new();
        for chunk in ids.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|id| key(keys::user(tenant, id), PROFILE))
                .collect();
            for item in self.batch_items(keys, consistent).await? {
                let user = user_of(item)?;
                found.insert(user.user_id.to_string(), user);
            }
        }
        Ok(ids
            .iter()
            .filter_map(|id| found.remove(&id.to_string()))
            .collect())
    }

    /// The failure counter items of a user.
    async fn counter_items(&self, tenant: &TenantId, id: &UserId) -> Result<Vec<Item>, StoreError> {
        self.query(&keys::user(tenant, id), Some(LOGIN_PREFIX))
            .await
    }

    /// Deletes items (by their keys) in batches of 25, retrying what DynamoDB leaves unprocessed.
    async fn delete_items(&self, items: &[Item]) -> Result<(), StoreError> {
        let requests = items
            .iter()
            .map(|item| {
                let k: Item = [PK, SK]
                    .iter()
                    .filter_map(|n| item.get(*n).map(|v| ((*n).to_owned(), v.clone())))
                    .collect();
                DeleteRequest::builder()
                    .set_key(Some(k))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(build_error)?;
        self.write_batches(requests).await
    }

    /// Sends writes in batches of 25, retrying what DynamoDB leaves unprocessed.
    async fn write_batches(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            let mut rounds = 0;
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchWriteItem", e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if !pending.is_empty() {
                    rounds += 1;
                    if rounds > 8 {
                        return Err(StoreError::Throttled(
                            "BatchWriteItem left writes unprocessed".into(),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(20 * rounds)).await;
                }
            }
        }
        Ok(())
    }

    /// A check, writing nothing, that a counter is as `read`.
    fn counter_check(
        &self,
        pk: &str,
        counter: &Counter,
        read: Option<&CounterRecord>,
    ) -> Result<TransactWriteItem, StoreError> {
        let (condition, seen) = unchanged(read);
        let mut check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_owned(), &counter_sk(counter))))
            .condition_expression(condition);
        if read.is_some() {
            for (placeholder, name) in [("#c", "count"), ("#l", "last"), ("#s", "last_success")] {
                check = check.expression_attribute_names(placeholder, name);
            }
        }
        for (placeholder, value) in seen {
            check = check.expression_attribute_values(placeholder, value);
        }
        Ok(TransactWriteItem::builder()
            .condition_check(check.build().map_err(build_error)?)
            .build())
    }

    /// One counter's write, conditional on the counter being as `read`.
    fn counter_update(
        &self,
        pk: &str,
        counter: &Counter,
        read: Option<&CounterRecord>,
        expression: &str,
        values: Vec<(&'static str, AttributeValue)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let (condition, seen) = unchanged(read);
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_owned(), &counter_sk(counter))))
            .update_expression(expression)
            .condition_expression(condition);
        for (placeholder, name) in [
            ("#c", "count"),
            ("#l", "last"),
            ("#s", "last_success"),
            ("#e", TTL_ATTRIBUTE),
        ] {
            if expression.contains(placeholder) || read.is_some() {
                update = update.expression_attribute_names(placeholder, name);
            }
        }
        for (placeholder, value) in values.into_iter().chain(seen) {
            update = update.expression_attribute_values(placeholder, value);
        }
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(build_error)?)
            .build())
    }

    /// Up to `limit` user ids of one listing shard after `after`, and whether the shard has
    /// no more.
    async fn shard_page(
        &self,
        tenant: &TenantId,
        shard: u16,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<(Vec<UserId>, bool), StoreError> {
        let start = after.map(|after| {
            let mut k = key(keys::user(tenant, &after), PROFILE);
            k.insert(GSI1_PK.into(), s(keys::list(tenant, shard)));
            k.insert(GSI1_SK.into(), s(after.to_string()));
            k
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(keys::list(tenant, shard)))
            .set_exclusive_start_key(start)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        let mut ids = Vec::new();
        for item in out.items.unwrap_or_default() {
            if let Some(AttributeValue::S(raw)) = item.get(GSI1_SK) {
                ids.push(UserId::parse(raw).map_err(|_| {
                    StoreError::Backend("listing index holds a bad user id".into())
                })?);
            }
        }
        Ok((ids, out.last_evaluated_key.is_none()))
    }

    /// The items of partition `pk` whose sort key satisfies `condition` against `:bound`,
    /// read with strong consistency, all pages; and how many items DynamoDB read.
    async fn range(
        &self,
        pk: &str,
        condition: &str,
        bound: &str,
    ) -> Result<(Vec<Item>, u64), StoreError> {
        let mut items = Vec::new();
        let mut read = 0;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(format!("pk = :pk AND {condition}"))
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":bound", s(bound))
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            read += u64::try_from(out.scanned_count).unwrap_or(0);
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok((items, read));
            }
        }
    }

    /// Erases `user`: `leftovers` (its items no transaction needs) first, so an erasure
    /// stopped halfway leaves the profile, and with it the way back to everything else; then
    /// the profile (conditional on the version read), its passwords and guards, with the
    /// receipt, in one transaction.
    async fn erase_with(
        &self,
        user: &User,
        leftovers: &[Item],
        receipt: &Receipt,
    ) -> Result<(), StoreError> {
        let pk = keys::user(&user.tenant_id, &user.user_id);
        self.sweep(&pk, leftovers).await?;
        let mut writes = vec![self.delete_if(
            pk.clone(),
            PROFILE,
            "version",
            AttributeValue::N(user.version.to_string()),
        )?];
        let mut on_fail = vec![OnFail::Condition];
        let passwords = std::iter::once(Credential::Own).chain(
            user.identities[1..]
                .iter()
                .filter(|i| i.connection.is_database())
                .map(|i| Credential::Linked(i.user_id.clone())),
        );
        for credential in passwords {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), &password_sk(&credential))))
                .build()
                .map_err(build_error)?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
            on_fail.push(OnFail::Inconsistent);
        }
        for guard in guards(user) {
            writes.push(self.guard_delete(&guard, &user.user_id)?);
            on_fail.push(OnFail::Inconsistent);
        }
        writes.push(self.put(receipt_item(receipt)?, None, None)?);
        on_fail.push(OnFail::Inconsistent);
        self.transact(writes, &on_fail).await
    }

    /// Writes users (profile, password, guards) with no condition and no uniqueness check, 25
    /// items per `BatchWriteItem`. Only for filling a table for a benchmark: anything else
    /// creates users with [`UserStore::create`].
    pub async fn seed(&self, users: &[(User, Option<PasswordHash>)]) -> Result<(), StoreError> {
        let mut items = Vec::new();
        for (user, password) in users {
            items.push(self.profile_item(user)?);
            if let Some(hash) = password {
                let mut item = key(keys::user(&user.tenant_id, &user.user_id), PASSWORD);
                item.insert("hash".into(), s(hash.as_phc()));
                items.push(item);
            }
            items.extend(guards(user).iter().map(Self::guard_item));
        }
        let requests = items
            .into_iter()
            .map(|item| {
                aws_sdk_dynamodb::types::PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(build_error)?;
        self.write_batches(requests).await
    }

    /// Up to `limit` entries of one shard of the sparse due index (`gsi2`) whose due time has
    /// come at `now`, oldest first.
    pub(super) async fn due_shard(
        &self,
        shard: String,
        now: Timestamp,
        limit: usize,
    ) -> Result<aws_sdk_dynamodb::operation::query::QueryOutput, StoreError> {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("gsi2pk = :p AND gsi2sk <= :due")
            .expression_attribute_values(":p", s(shard))
            .expression_attribute_values(":due", s(format!("{now}#~")))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))
    }

    /// One item, read with strong consistency.
    async fn item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item)
    }

    async fn partition(&self, pk: &str) -> Result<Vec<Item>, StoreError> {
        self.query(pk, None).await
    }

    /// Every item of partition `pk` (whose sort key begins with `prefix`, when given), read
    /// with strong consistency, all pages.
    async fn query(&self, pk: &str, prefix: Option<&str>) -> Result<Vec<Item>, StoreError> {
        let condition = if prefix.is_some() {
            "pk = :pk AND begins_with(sk, :prefix)"
        } else {
            "pk = :pk"
        };
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start)
                .consistent_read(true);
            let out = match prefix {
                Some(p) => out.expression_attribute_values(":prefix", s(p)),
                None => out,
            };
            let out = out.send().await.map_err(|e| sdk_error("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

/// Conditions with values in this adapter all compare `version`, a name kept behind a
/// placeholder like every attribute name in an expression.
fn version_name() -> HashMap<String, String> {
    HashMap::from([("#version".to_owned(), "version".to_owned())])
}

/// A login write that lost to a concurrent one (a failed condition, or transactions that
/// kept colliding) is read again and retried by the caller, never answered as an error: the
/// answer to a password guess must not depend on how its bookkeeping fared.
fn login_write<T>(result: Result<T, StoreError>) -> Result<T, StoreError> {
    match result {
        Err(StoreError::Throttled(_)) => Err(StoreError::ConditionFailed),
        other => other,
    }
}

fn user_of(item: Item) -> Result<User, StoreError> {
    from_item(item).map_err(|e| StoreError::Backend(format!("stored profile does not parse: {e}")))
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend(format!("request build: {e}"))
}

fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &str,
    err: SdkError<E, R>,
) -> StoreError {
    let code = err.code().unwrap_or("");
    let throttled = matches!(
        code,
        "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "TransactionConflictException"
    );
    let detail = match &err {
        SdkError::ServiceError(e) => format!("{code}: {}", e.err().message().unwrap_or("")),
        other => format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(other)),
    };
    if throttled {
        StoreError::Throttled(format!("{operation}: {detail}"))
    } else {
        StoreError::Backend(format!("{operation}: {detail}"))
    }
}

/// Builds `SET`/`REMOVE` clauses with placeholders for every name and value.
#[derive(Default)]
struct Expr {
    set: Vec<String>,
    remove: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: Item,
}

impl Expr {
    fn name(&mut self, raw: &str) -> String {
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), raw.to_owned());
        placeholder
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    fn update_expression(&self) -> String {
        let mut out = String::new();
        if !self.set.is_empty() {
            out.push_str("SET ");
            out.push_str(&self.set.join(", "));
        }
        if !self.remove.is_empty() {
            out.push_str(" REMOVE ");
            out.push_str(&self.remove.join(", "));
        }
        out
    }

    fn metadata(&mut self, field: &str, patch: &MetadataPatch) -> Result<(), StoreError> {
        if patch.is_noop() {
            // DynamoDB refuses an expression with an unused name placeholder.
            return Ok(());
        }
        let f = self.name(field);
        match patch {
            MetadataPatch::Clear => {
                let empty = self.value(AttributeValue::M(HashMap::new()));
                self.set.push(format!("{f} = {empty}"));
            }
            MetadataPatch::Merge { set, remove } => {
                let mut set_paths = Vec::new();
                for (k, v) in set {
                    let path = format!("{f}.{}", self.name(k));
                    let value = self
                        .value(to_attribute_value(v).map_err(|e| {
                            StoreError::Backend(format!("serialize metadata: {e}"))
                        })?);
                    self.set.push(format!("{path} = {value}"));
                    set_paths.push(path);
                }
                for k in remove {
                    let path = format!("{f}.{}", self.name(k));
                    self.remove.push(path);
                }
                // The key cap, without reading: either there is room for every key as a new
                // one, or every key exists already and is only replaced.
                if !set_paths.is_empty() {
                    let room = self.value(AttributeValue::N(
                        (MAX_KEYS.saturating_sub(set_paths.len())).to_string(),
                    ));
                    let all_exist: Vec<String> = set_paths
                        .iter()
                        .map(|p| format!("attribute_exists({p})"))
                        .collect();
                    self.conditions.push(format!(
                        "(size({f}) <= {room} OR ({}))",
                        all_exist.join(" AND ")
                    ));
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl UserStore for DynamoStore {
    async fn create(
        &self,
        user: &User,
        password: Option<&PasswordHash>,
        mail: &[Queued],
    ) -> Result<(), StoreError> {
        let mut items = vec![self.put(
            self.profile_item(user)?,
            Some("attribute_not_exists(pk)"),
            None,
        )?];
        let mut on_fail = vec![OnFail::Inconsistent];
        if let Some(hash) = password {
            items.push(self.password_put(user, &Credential::Own, hash)?);
            on_fail.push(OnFail::Inconsistent);
        }
        let (writes, fails) = self.guard_writes(&[], &guards(user))?;
        items.extend(writes);
        on_fail.extend(fails);
        // A new user has sent nothing yet: the counters start, they cannot be over the cap.
        let (writes, fails) = self.mail_writes(mail, SendCap { per_hour: u32::MAX })?;
        items.extend(writes);
        on_fail.extend(fails);
        self.transact(items, &on_fail).await
    }

    async fn get(&self, tenant: &TenantId, id: &UserId) -> Result<Option<User>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user(tenant, id), PROFILE)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        out.item.map(user_of).transpose()
    }

    async fn update(
        &self,
        tenant: &TenantId,
        id: &UserId,
        update: &FieldUpdate,
        expected: Option<u64>,
    ) -> Result<User, StoreError> {
        let mut e = Expr::default();
        for (field, value) in &update.set {
            let n = e.name(field);
            let v = e.value(
                to_attribute_value(value)
                    .map_err(|err| StoreError::Backend(format!("serialize {field}: {err}")))?,
            );
            e.set.push(format!("{n} = {v}"));
        }
        for field in &update.remove {
            let n = e.name(field);
            e.remove.push(n);
        }
        if let Some(m) = &update.user_metadata {
            e.metadata("user_metadata", m)?;
        }
        if let Some(m) = &update.app_metadata {
            e.metadata("app_metadata", m)?;
        }
        let updated_at = e.name("updated_at");
        let at = e.value(s(update.updated_at.to_string()));
        e.set.push(format!("{updated_at} = {at}"));
        let version = e.name("version");
        let one = e.value(AttributeValue::N("1".into()));
        e.set.push(format!("{version} = {version} + {one}"));
        e.conditions.insert(0, "attribute_exists(pk)".into());
        if let Some(v) = expected {
            let expected = e.value(AttributeValue::N(v.to_string()));
            e.conditions.push(format!("{version} = {expected}"));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user(tenant, id), PROFILE)))
            .update_expression(e.update_expression())
            .condition_expression(e.conditions.join(" AND "))
            .set_expression_attribute_names(Some(e.names))
            .set_expression_attribute_values(Some(e.values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => user_of(out.attributes.unwrap_or_default()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::ConditionFailed)
            }
            Err(err) => Err(sdk_error("UpdateItem", err)),
        }
    }

    async fn replace(
        &self,
        current: &User,
        next: &User,
        password: Option<(&Credential, &PasswordHash)>,
        effects: Effects<'_>,
    ) -> Result<(), StoreError> {
        let values = HashMap::from([(
            ":version".to_owned(),
            AttributeValue::N(current.version.to_string()),
        )]);
        let mut items = Vec::new();
        let mut on_fail = Vec::new();
        // First, so a ticket used by a concurrent redemption is the failure reported.
        if let Some((tenant, hash)) = effects.redeem {
            let [ticket, reference] = self.ticket_delete(tenant, &current.user_id, hash)?;
            items.extend([ticket, reference]);
            on_fail.extend([OnFail::Consumed, OnFail::Inconsistent]);
        }
        items.push(self.put(
            self.profile_item(next)?,
            Some("#version = :version"),
            Some(values),
        )?);
        on_fail.push(OnFail::Condition);
        if let Some((credential, hash)) = password {
            items.push(self.password_put(next, credential, hash)?);
            on_fail.push(OnFail::Inconsistent);
        }
        let (writes, fails) = self.guard_writes(&guards(current), &guards(next))?;
        items.extend(writes);
        on_fail.extend(fails);
        let (writes, fails) = self.mail_writes(effects.mail, effects.cap)?;
        items.extend(writes);
        on_fail.extend(fails);
        self.transact(items, &on_fail).await
    }

    async fn stored(&self, tenant: &TenantId, id: &UserId) -> Result<Option<Stored>, StoreError> {
        let pk = keys::user(tenant, id);
        let mut user = None;
        let mut messages = Vec::new();
        let mut counters = Vec::new();
        let mut ticket_keys = Vec::new();
        for item in self.partition(&pk).await? {
            let Some(AttributeValue::S(sk)) = item.get(SK) else {
                continue;
            };
            if sk == PROFILE {
                user = Some(user_of(item)?);
            } else if sk.starts_with(mail::OUTBOX_PREFIX) {
                messages.push(mail::message_of(item)?);
            } else if let Some(ticket) = mail::referenced_ticket(&pk, sk) {
                ticket_keys.push(ticket);
            } else if let Some(counter) = counter_of(&item) {
                counters.push(counter);
            }
        }
        let Some(user) = user else {
            return Ok(None);
        };
        let mut tickets = Vec::new();
        for chunk in ticket_keys.chunks(100) {
            for item in self.batch_items(chunk.to_vec(), true).await? {
                let ticket: Ticket = from_item(item).map_err(|e| {
                    StoreError::Backend(format!("stored ticket does not parse: {e}"))
                })?;
                tickets.push(ticket);
            }
        }
        tickets.sort_by_key(|t| t.created_at);
        messages.sort_by_key(|m| m.created_at);
        Ok(Some(Stored {
            user,
            tickets,
            messages,
            counters,
        }))
    }

    async fn list(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page, StoreError> {
        let mut pos = page.start;
        let mut ids: Vec<UserId> = Vec::with_capacity(page.limit);
        let mut wave = 1;
        let next = 'page: loop {
            let remaining = page.limit - ids.len();
            let last = (pos.shard + wave).min(SHARDS);
            let queries = (pos.shard..last).map(|shard| {
                let after = if shard == pos.shard { pos.after } else { None };
                self.shard_page(tenant, shard, after, remaining)
            });
            let results = futures::future::join_all(queries).await;
            for (shard, result) in (pos.shard..last).zip(results) {
                let (found, exhausted) = result?;
                for id in found {
                    if ids.len() == page.limit {
                        break 'page Some(pos);
                    }
                    ids.push(id);
                    pos = Position {
                        shard,
                        after: Some(id),
                    };
                }
                if !exhausted {
                    // The shard holds more than it returned: the page is full, or DynamoDB
                    // cut the response at 1 MB and this shard is read again from here.
                    if ids.len() == page.limit {
                        break 'page Some(pos);
                    }
                    wave = 1;
                    continue 'page;
                }
                pos = Position {
                    shard: shard + 1,
                    after: None,
                };
                if pos.shard == SHARDS {
                    break 'page None;
                }
                if ids.len() == page.limit {
                    break 'page Some(pos);
                }
            }
            wave *= 2;
        };
        let users = self.batch_get(tenant, &ids, false).await?;
        Ok(Page { users, next })
    }

    async fn find_by_email(
        &self,
        tenant: &TenantId,
        email: &Email,
    ) -> Result<Vec<User>, StoreError> {
        let guards = self
            .partition(&keys::email(tenant, email.normalized()))
            .await?;
        let mut ids: Vec<UserId> = guards
            .iter()
            .filter_map(|g| match g.get("user_id") {
                Some(AttributeValue::S(id)) => UserId::parse(id).ok(),
                _ => None,
            })
            .collect();
        // A user holding the address in several connections (its own and a linked identity's)
        // is one user.
        let mut seen = HashSet::new();
        ids.retain(|id| seen.insert(*id));
        self.batch_get(tenant, &ids, true).await
    }

    async fn find_login(
        &self,
        tenant: &TenantId,
        identifier: &Identifier,
        connection: &Connection,
    ) -> Result<Option<(UserId, Credential)>, StoreError> {
        let pk = match identifier {
            Identifier::Email(email) => keys::email(tenant, email.normalized()),
            Identifier::Username(name) => keys::username(tenant, &username_key(name)),
        };
        let Some(guard) = self
            .item(pk, &keys::connection(connection.as_str()))
            .await?
        else {
            return Ok(None);
        };
        let owner = match guard.get("user_id") {
            Some(AttributeValue::S(id)) => UserId::parse(id).ok(),
            _ => None,
        };
        let credential = match guard.get("identity") {
            Some(AttributeValue::S(identity)) => Credential::Linked(identity.clone()),
            _ => Credential::Own,
        };
        Ok(owner.map(|id| (id, credential)))
    }

    async fn identity_owner(
        &self,
        tenant: &TenantId,
        provider: &str,
        provider_user_id: &str,
    ) -> Result<Option<UserId>, StoreError> {
        let guard = self
            .item(keys::identity(tenant, provider, provider_user_id), IDENTITY)
            .await?;
        Ok(match guard.as_ref().and_then(|g| g.get("user_id")) {
            Some(AttributeValue::S(id)) => UserId::parse(id).ok(),
            _ => None,
        })
    }
}

#[async_trait]
impl LinkStore for DynamoStore {
    async fn link(&self, primary: &User, next: &User, secondary: &User) -> Result<(), StoreError> {
        let tenant = &primary.tenant_id;
        let gone = keys::user(tenant, &secondary.user_id);
        let items = self.partition(&gone).await?;
        let mut writes = vec![
            self.put(
                self.profile_item(next)?,
                Some("#version = :version"),
                Some(HashMap::from([(
                    ":version".to_owned(),
                    AttributeValue::N(primary.version.to_string()),
                )])),
            )?,
            self.delete_if(
                gone.clone(),
                PROFILE,
                "version",
                AttributeValue::N(secondary.version.to_string()),
            )?,
        ];
        let mut on_fail = vec![OnFail::Condition, OnFail::Condition];
        let hash = items
            .iter()
            .find(|i| i.get(SK) == Some(&s(PASSWORD)))
            .and_then(|i| match i.get("hash") {
                Some(AttributeValue::S(h)) => Some(h.clone()),
                _ => None,
            });
        if let Some(hash) = hash {
            let identity = Credential::Linked(secondary.identities[0].user_id.clone());
            writes.extend(self.password_move(
                (gone.clone(), PASSWORD),
                (
                    keys::user(tenant, &primary.user_id),
                    &password_sk(&identity),
                ),
                &hash,
                next.updated_at,
            )?);
            on_fail.extend([OnFail::Condition, OnFail::Inconsistent]);
        }
        let mut before = guards(primary);
        before.extend(guards(secondary));
        let (guard_writes, fails) = self.guard_writes(&before, &guards(next))?;
        writes.extend(guard_writes);
        on_fail.extend(fails);
        self.transact(writes, &on_fail).await?;
        let rest: Vec<Item> = items
            .into_iter()
            .filter(|i| i.get(SK) != Some(&s(PASSWORD)))
            .collect();
        self.sweep_or_expire(&gone, &rest).await;
        Ok(())
    }

    async fn unlink(&self, primary: &User, next: &User, restored: &User) -> Result<(), StoreError> {
        let tenant = &primary.tenant_id;
        let back = keys::user(tenant, &restored.user_id);
        let leftovers = self.partition(&back).await?;
        // A user already there is a concurrent unlink of the same identity that won: the
        // caller reads the primary again and finds the identity gone.
        if leftovers.iter().any(|i| i.get(SK) == Some(&s(PROFILE))) {
            return Err(StoreError::ConditionFailed);
        }
        // Whatever is left under the id (a ticket minted while the link committed, counters
        // of a login in flight) must not come back to life with the user: no restore until
        // it is gone.
        self.sweep(&back, &leftovers).await?;
        let held = keys::user(tenant, &primary.user_id);
        let linked_sk = password_sk(&Credential::Linked(restored.identities[0].user_id.clone()));
        // Only a database identity has a password to move back.
        let stored = if restored.connection().is_database() {
            self.item(held.clone(), &linked_sk).await?
        } else {
            None
        };
        let hash = match stored.as_ref().and_then(|i| i.get("hash")) {
            Some(AttributeValue::S(h)) => Some(h.clone()),
            _ => None,
        };
        let mut writes = vec![
            self.put(
                self.profile_item(next)?,
                Some("#version = :version"),
                Some(HashMap::from([(
                    ":version".to_owned(),
                    AttributeValue::N(primary.version.to_string()),
                )])),
            )?,
            self.put(
                self.profile_item(restored)?,
                Some("attribute_not_exists(pk)"),
                None,
            )?,
        ];
        let mut on_fail = vec![OnFail::Condition, OnFail::Inconsistent];
        if let Some(hash) = hash {
            writes.extend(self.password_move(
                (held, &linked_sk),
                (back, PASSWORD),
                &hash,
                next.updated_at,
            )?);
            on_fail.extend([OnFail::Condition, OnFail::Inconsistent]);
        }
        let mut after = guards(next);
        after.extend(guards(restored));
        let (guard_writes, fails) = self.guard_writes(&guards(primary), &after)?;
        writes.extend(guard_writes);
        on_fail.extend(fails);
        self.transact(writes, &on_fail).await
    }
}

#[async_trait]
impl ErasureStore for DynamoStore {
    async fn delete(
        &self,
        tenant: &TenantId,
        id: &UserId,
        expected: Option<u64>,
        receipt: &Receipt,
    ) -> Result<Deleted, StoreError> {
        let pk = keys::user(tenant, id);
        let items = self.partition(&pk).await?;
        let Some(profile) = items
            .iter()
            .find(|i| i.get(SK) == Some(&s(PROFILE)))
            .cloned()
        else {
            return Ok(Deleted::NotFound);
        };
        let user = user_of(profile)?;
        if expected.is_some_and(|v| v != user.version) {
            return Err(StoreError::ConditionFailed);
        }
        let leftovers: Vec<Item> = items
            .into_iter()
            .filter(|i| match i.get(SK) {
                Some(AttributeValue::S(sk)) => sk != PROFILE && !sk.starts_with(PASSWORD),
                _ => false,
            })
            .collect();
        self.erase_with(&user, &leftovers, receipt).await?;
        Ok(Deleted::Yes)
    }

    async fn due_erasures(&self, now: Timestamp, limit: usize) -> Result<Due, StoreError> {
        let per_shard = limit.div_ceil(usize::from(ERASE_SHARDS)).max(1);
        let queries =
            (0..ERASE_SHARDS).map(|shard| self.due_shard(erase_shard_key(shard), now, per_shard));
        let mut due = Due {
            users: Vec::new(),
            items_read: 0,
            more: false,
        };
        for out in futures::future::join_all(queries).await {
            let out = out?;
            due.items_read += u64::try_from(out.scanned_count).unwrap_or(0);
            due.more |= out.last_evaluated_key.is_some();
            for item in out.items.unwrap_or_default() {
                // One profile that does not parse must not stop every tenant's purge.
                match user_of(item) {
                    Ok(user) => due.users.push(user),
                    Err(e) => tracing::error!(error = ?e, "a due profile does not parse; skipped"),
                }
            }
        }
        Ok(due)
    }

    async fn erase(&self, user: &User, receipt: &Receipt) -> Result<u64, StoreError> {
        let pk = keys::user(&user.tenant_id, &user.user_id);
        // `user` comes from the index, which may lag: claim the profile (a write conditional
        // on the version read) before removing anything, so a deletion cancelled or a user
        // changed since loses nothing.
        let claimed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), PROFILE)))
            .update_expression("SET #version = :next")
            .condition_expression("#version = :seen")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":seen", AttributeValue::N(user.version.to_string()))
            .expression_attribute_values(":next", AttributeValue::N((user.version + 1).to_string()))
            .send()
            .await;
        if let Err(err) = claimed {
            return Err(
                if err
                    .as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception())
                {
                    StoreError::ConditionFailed
                } else {
                    sdk_error("UpdateItem", err)
                },
            );
        }
        let mut user = user.clone();
        user.version += 1;
        let user = &user;
        // The profile and passwords are known from `user`: only what sorts before the
        // passwords (LOGIN#, OUTBOX#) and after the profile (SENDS#, TICKET#) is read.
        let (before, after) = futures::future::join(
            self.range(&pk, "sk < :bound", PASSWORD),
            self.range(&pk, "sk > :bound", PROFILE),
        )
        .await;
        let (mut leftovers, read_before) = before?;
        let (rest, read_after) = after?;
        leftovers.extend(rest);
        self.erase_with(user, &leftovers, receipt).await?;
        Ok(read_before + read_after)
    }
}

#[async_trait]
impl LoginStore for DynamoStore {
    async fn login_state(
        &self,
        subject: &LoginSubject,
        ip: &str,
    ) -> Result<LoginState, StoreError> {
        let pk = subject_pk(subject);
        let ip_sk = counter_sk(&Counter::Ip(ip.to_owned()));
        let credential = match subject {
            LoginSubject::User(_, _, credential) => credential.clone(),
            LoginSubject::Unknown { .. } => Credential::Own,
        };
        let password = password_sk(&credential);
        let mut wanted = vec![ip_sk.as_str(), LOGIN_USER];
        if matches!(subject, LoginSubject::User(..)) {
            wanted.extend([PROFILE, password.as_str()]);
        }
        let keys = wanted.into_iter().map(|sk| key(pk.clone(), sk)).collect();
        let mut state = LoginState {
            user: None,
            credential,
            hash: None,
            ip: None,
            all: None,
        };
        for item in self.batch_items(keys, true).await? {
            match item.get(SK) {
                Some(AttributeValue::S(sk)) if sk == PROFILE => state.user = Some(user_of(item)?),
                Some(AttributeValue::S(sk)) if *sk == password => {
                    if let Some(AttributeValue::S(phc)) = item.get("hash") {
                        state.hash = Some(PasswordHash::from_phc(phc.clone()));
                    }
                }
                _ => match counter_of(&item) {
                    Some((Counter::User, r)) => state.all = Some(r),
                    Some((Counter::Ip(_), r)) => state.ip = Some(r),
                    None => {}
                },
            }
        }
        Ok(state)
    }

    async fn record_failure(
        &self,
        subject: &LoginSubject,
        state: &LoginState,
        ip: &str,
        now: Timestamp,
        rules: &BruteForce,
    ) -> Result<(), StoreError> {
        let pk = subject_pk(subject);
        let mut items = Vec::new();
        for (counter, read) in [
            (Counter::Ip(ip.to_owned()), state.ip.as_ref()),
            (Counter::User, state.all.as_ref()),
        ] {
            let failures = read.and_then(CounterRecord::failures);
            let count = rules.live(&counter, failures.as_ref(), now) + 1;
            // An address's item also carries its trust; it lives as long as either lasts.
            let trusted_until = read
                .and_then(|r| r.last_success)
                .map(|t| t.plus_secs(rules.trusted_secs).epoch_secs());
            let expires = now
                .plus_secs(rules.window(&counter))
                .epoch_secs()
                .max(trusted_until.unwrap_or(0));
            let values = vec![
                (":count", AttributeValue::N(count.to_string())),
                (":now", s(now.to_string())),
                (":exp", AttributeValue::N(expires.to_string())),
            ];
            items.push(self.counter_update(
                &pk,
                &counter,
                read,
                "SET #c = :count, #l = :now, #e = :exp",
                values,
            )?);
        }
        login_write(
            self.transact(items, &[OnFail::Condition, OnFail::Condition])
                .await,
        )
    }

    async fn record_login(
        &self,
        state: &LoginState,
        ip: &str,
        now: Timestamp,
        rules: &BruteForce,
        rehash: Option<&PasswordHash>,
        trust: bool,
    ) -> Result<User, StoreError> {
        let user = state
            .user
            .as_ref()
            .ok_or_else(|| StoreError::Backend("record_login without a user".into()))?;
        let pk = keys::user(&user.tenant_id, &user.user_id);
        let profile = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), PROFILE)))
            .update_expression("SET #ll = :now, #ua = :now ADD #lc :one, #version :one")
            .condition_expression("#version = :v")
            .expression_attribute_names("#ll", "last_login")
            .expression_attribute_names("#ua", "updated_at")
            .expression_attribute_names("#lc", "logins_count")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":v", AttributeValue::N(user.version.to_string()))
            .build()
            .map_err(build_error)?;
        let address = if trust {
            let trusted_until = now.plus_secs(rules.trusted_secs).epoch_secs();
            self.counter_update(
                &pk,
                &Counter::Ip(ip.to_owned()),
                state.ip.as_ref(),
                "SET #c = :zero, #s = :now, #e = :exp REMOVE #l",
                vec![
                    (":zero", AttributeValue::N("0".into())),
                    (":now", s(now.to_string())),
                    (":exp", AttributeValue::N(trusted_until.to_string())),
                ],
            )?
        } else {
            let counter = Counter::Ip(ip.to_owned());
            let trusted_until = state
                .ip
                .and_then(|r| r.last_success)
                .map(|t| t.plus_secs(rules.trusted_secs).epoch_secs());
            let expires = now
                .plus_secs(rules.window(&counter))
                .epoch_secs()
                .max(trusted_until.unwrap_or(0));
            self.counter_update(
                &pk,
                &counter,
                state.ip.as_ref(),
                "SET #c = :zero, #e = :exp REMOVE #l",
                vec![
                    (":zero", AttributeValue::N("0".into())),
                    (":exp", AttributeValue::N(expires.to_string())),
                ],
            )?
        };
        // One success does not reset the per-user counter; it is only checked unchanged, so a
        // failure recorded meanwhile (which may have locked the account) wins.
        let check = self.counter_check(&pk, &Counter::User, state.all.as_ref())?;
        let mut items = vec![
            TransactWriteItem::builder().update(profile).build(),
            address,
            check,
        ];
        let mut on_fail = vec![OnFail::Condition, OnFail::Condition, OnFail::Condition];
        if let (Some(new), Some(verified)) = (rehash, &state.hash) {
            let mut item = key(pk.clone(), &password_sk(&state.credential));
            item.insert("hash".into(), s(new.as_phc()));
            item.insert("updated_at".into(), s(now.to_string()));
            // Only over the hash that was verified: a password changed meanwhile stays.
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("#h = :verified")
                .expression_attribute_names("#h", "hash")
                .expression_attribute_values(":verified", s(verified.as_phc()))
                .build()
                .map_err(build_error)?;
            items.push(TransactWriteItem::builder().put(put).build());
            on_fail.push(OnFail::Condition);
        }
        login_write(self.transact(items, &on_fail).await)?;
        let mut next = user.clone();
        next.last_login = Some(now);
        next.updated_at = now;
        next.logins_count += 1;
        next.version += 1;
        Ok(next)
    }

    async fn confirm_unchanged(
        &self,
        subject: &LoginSubject,
        state: &LoginState,
        ip: &str,
    ) -> Result<(), StoreError> {
        let pk = subject_pk(subject);
        let items = vec![
            self.counter_check(&pk, &Counter::Ip(ip.to_owned()), state.ip.as_ref())?,
            self.counter_check(&pk, &Counter::User, state.all.as_ref())?,
        ];
        login_write(
            self.transact(items, &[OnFail::Condition, OnFail::Condition])
                .await,
        )
    }

    async fn failure_counters(
        &self,
        tenant: &TenantId,
        id: &UserId,
    ) -> Result<Vec<(Counter, Failures)>, StoreError> {
        let items = self.counter_items(tenant, id).await?;
        Ok(items
            .iter()
            .filter_map(counter_of)
            .filter_map(|(c, r)| r.failures().map(|f| (c, f)))
            .collect())
    }

    async fn clear_failures(&self, tenant: &TenantId, id: &UserId) -> Result<(), StoreError> {
        let items = self.counter_items(tenant, id).await?;
        self.delete_items(&items).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::user::fixtures;

    #[test]
    fn every_key_of_a_user_begins_with_its_tenant() {
        let mut user = fixtures::user();
        user.username = Some("Ana".into());
        let t = format!("TENANT#{}#", user.tenant_id);
        for g in guards(&user) {
            assert!(g.pk.starts_with(&t), "{}", g.pk);
        }
        assert!(keys::user(&user.tenant_id, &user.user_id).starts_with(&t));
        assert!(keys::list(&user.tenant_id, 3).starts_with(&t));
    }

    #[test]
    fn the_largest_possible_blind_update_stays_within_dynamodbs_expression_limits() {
        use serde_json::{Map, Value};
        let longest = |prefix: &str| -> Map<String, Value> {
            (0..MAX_KEYS)
                .map(|i| (format!("{prefix}{i:0>62}"), Value::from(i)))
                .collect()
        };
        let mut e = Expr::default();
        for (field, prefix) in [("user_metadata", "u"), ("app_metadata", "a")] {
            let patch = MetadataPatch::parse(
                if field == "user_metadata" {
                    crate::domain::metadata::Kind::User
                } else {
                    crate::domain::metadata::Kind::App
                },
                Value::Object(longest(prefix)),
            )
            .unwrap();
            e.metadata(field, &patch).unwrap();
        }
        for field in [
            "phone_number",
            "name",
            "given_name",
            "family_name",
            "nickname",
            "picture",
            "email_verified",
            "phone_verified",
            "blocked",
            "updated_at",
            "version",
        ] {
            let n = e.name(field);
            let v = e.value(s("x"));
            e.set.push(format!("{n} = {v}"));
        }
        assert!(
            e.update_expression().len() < 4096,
            "{}",
            e.update_expression().len()
        );
        assert!(
            e.conditions.join(" AND ").len() + 60 < 4096,
            "{}",
            e.conditions.join(" AND ").len()
        );
    }

    #[test]
    fn guards_are_case_insensitive_and_scoped_to_the_connection() {
        let mut user = fixtures::user();
        user.username = Some("AnaS".into());
        let g = guards(&user);
        assert_eq!(g[0].pk, format!("TENANT#acme#EMAIL#ana@example.com"));
        assert_eq!(g[0].sk, "CONN#database");
        assert_eq!(g[1].pk, format!("TENANT#acme#USERNAME#anas"));
        assert_eq!(g[2].kind, Unique::Identity);
    }
}
