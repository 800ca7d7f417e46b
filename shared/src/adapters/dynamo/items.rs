//! The key schema and the codec: how each item family is keyed and how domain values become
//! items and back. The schema is documented once, in docs/data-model.md.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_attribute_value, to_item};

use crate::domain::email::email_key;
use crate::domain::erasure::Receipt;
use crate::domain::ids::{Connection, TenantId, UserId};
use crate::domain::listing::{Filter, shard_of};
use crate::domain::login::{Counter, CounterRecord, Credential, Identifier, LoginSubject};
use crate::domain::message::Message;
use crate::domain::profile::username_key;
use crate::domain::tenant::{SettingsChange, SettingsDoc, StoredSettings};
use crate::domain::ticket::TicketHash;
use crate::domain::time::Timestamp;
use crate::domain::user::User;
use crate::ports::{StoreError, Unique};

pub(super) type Item = HashMap<String, AttributeValue>;

/// `value` as an item whose numbers are in the form DynamoDB reads back (see
/// [`canonical_numbers`]).
pub(super) fn item_of<T: Serialize>(value: &T, what: &str) -> Result<Item, StoreError> {
    let mut item: Item =
        to_item(value).map_err(|e| StoreError::Backend(format!("serialize {what}: {e}")))?;
    item.values_mut().for_each(canonical_numbers);
    Ok(item)
}

/// `value` as an attribute, numbers as [`item_of`] writes them.
pub(super) fn attribute_of<T: Serialize>(
    value: &T,
    what: &str,
) -> Result<AttributeValue, StoreError> {
    let mut out = to_attribute_value(value)
        .map_err(|e| StoreError::Backend(format!("serialize {what}: {e}")))?;
    canonical_numbers(&mut out);
    Ok(out)
}

/// Rewrites every number in `value` that the serializer spelled out in more than 38 digits
/// (a double such as 1e38 or 1e-130 printed in full) in exponent form, which DynamoDB stores
/// and reads back; its limit is 38 digits of precision (docs/api.md, "Numbers").
pub(super) fn canonical_numbers(value: &mut AttributeValue) {
    match value {
        AttributeValue::N(n) if n.bytes().filter(u8::is_ascii_digit).count() > 38 => {
            if let Ok(f) = n.parse::<f64>() {
                let e = format!("{f:E}");
                *n = match e.split_once('E') {
                    Some((m, x)) if !x.starts_with('-') => format!("{m}E+{x}"),
                    _ => e,
                };
            }
        }
        AttributeValue::M(map) => map.values_mut().for_each(canonical_numbers),
        AttributeValue::L(list) => list.iter_mut().for_each(canonical_numbers),
        _ => {}
    }
}

pub const PK: &str = "pk";

pub const SK: &str = "sk";

pub const GSI1: &str = "gsi1";

pub const GSI1_PK: &str = "gsi1pk";

pub const GSI1_SK: &str = "gsi1sk";

pub const GSI2: &str = "gsi2";

pub const GSI2_PK: &str = "gsi2pk";

pub const GSI2_SK: &str = "gsi2sk";

/// The search index: users by a [`Filter`], sharded as the listing is.
pub const GSI3: &str = "gsi3";

pub const GSI3_PK: &str = "gsi3pk";

pub const GSI3_SK: &str = "gsi3sk";

/// The sort key prefix of a user's entries in the search index by connection.
pub(super) const PRESENCE_PREFIX: &str = "PRESENCE#";

/// Epoch seconds after which DynamoDB may delete an item (tickets, counters, receipts).
pub const TTL_ATTRIBUTE: &str = "expires_at";

pub(super) const PROFILE: &str = "PROFILE";

pub(super) const PASSWORD: &str = "PASSWORD";

pub(super) const LINKED_PASSWORD_PREFIX: &str = "PASSWORD#";

pub(super) const IDENTITY: &str = "IDENTITY";

pub(super) const JOB: &str = "JOB";

/// The sort key of an idempotency key's record.
pub(super) const IDEMPOTENCY: &str = "IDEMPOTENCY";

/// The sort key of a rate-limit window's count.
pub(super) const RATE: &str = "RATE";

pub(super) const LOGIN_PREFIX: &str = "LOGIN#";

pub(super) const LOGIN_USER: &str = "LOGIN#USER";

pub(super) const LOGIN_IP_PREFIX: &str = "LOGIN#IP#";

/// The sort key of an address's throttle across a tenant's accounts, in the address's own
/// partition ([`keys::address`]).
pub(super) const THROTTLE: &str = "THROTTLE";

/// The attribute holding when a throttle drains.
pub(super) const DRAINED_AT: &str = "drained_at";

pub(super) fn password_sk(credential: &Credential) -> String {
    match credential {
        Credential::Own => PASSWORD.to_owned(),
        Credential::Linked(identity) => format!("{LINKED_PASSWORD_PREFIX}{identity}"),
    }
}

pub(super) fn counter_sk(counter: &Counter) -> String {
    match counter {
        Counter::Ip(ip) => format!("{LOGIN_IP_PREFIX}{ip}"),
        Counter::User => LOGIN_USER.to_owned(),
    }
}

pub(super) fn timestamp_attr(item: &Item, name: &str) -> Option<Timestamp> {
    match item.get(name) {
        Some(AttributeValue::S(t)) => {
            serde_json::from_value(serde_json::Value::from(t.as_str())).ok()
        }
        _ => None,
    }
}

pub(super) fn counter_of(item: &Item) -> Option<(Counter, CounterRecord)> {
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
pub(super) fn unknown_login_pk(
    tenant: &TenantId,
    connection: &Connection,
    identifier: &Identifier,
) -> String {
    use sha2::{Digest, Sha256};
    let name = match identifier {
        Identifier::Email(email) => format!("email:{}", email.normalized()),
        Identifier::Username(name) => format!("username:{}", username_key(name)),
    };
    let digest = Sha256::digest(format!("{connection}#{name}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("TENANT#{tenant}#LOGINID#{hex}")
}

pub(super) fn subject_pk(subject: &LoginSubject) -> String {
    match subject {
        LoginSubject::User(tenant, id, _) => keys::user(tenant, id),
        LoginSubject::Unknown {
            tenant,
            connection,
            identifier,
        } => unknown_login_pk(tenant, connection, identifier),
    }
}

pub mod keys {
    use crate::domain::ids::{TenantId, UserId};
    use crate::domain::listing::Filter;

    pub fn user(tenant: &TenantId, id: &UserId) -> String {
        format!("TENANT#{tenant}#USER#{id}")
    }

    /// One address's partition in a tenant (its throttle across accounts).
    pub fn address(tenant: &TenantId, ip: &str) -> String {
        format!("TENANT#{tenant}#ADDRESS#{ip}")
    }

    pub fn list(tenant: &TenantId, shard: u16) -> String {
        format!("TENANT#{tenant}#LIST#{shard:02}")
    }

    /// One shard of the users a filter names, in the search index.
    pub fn filtered(tenant: &TenantId, filter: &Filter, shard: u16) -> String {
        match filter {
            Filter::EmailVerified(v) => format!("TENANT#{tenant}#VERIFIED#{v}#{shard:02}"),
            Filter::Connection(c) => format!("TENANT#{tenant}#CONNECTION#{c}#{shard:02}"),
        }
    }

    /// The partition of a tenant's user count: items per listing shard.
    pub fn count(tenant: &TenantId) -> String {
        format!("TENANT#{tenant}#COUNT")
    }

    /// The item in the count partition holding the tenant's size as a creating container
    /// last recorded it: no `SHARD#` key, so no count reads it as one.
    pub const RECORDED_SIZE: &str = "SIZE";

    /// One count item of a listing shard: `SHARD#{nn}` (the first, and the only one before
    /// shards had several), then `SHARD#{nn}#{kk}`.
    pub fn count_sk(shard: u16, item: u16) -> String {
        if item == 0 {
            format!("SHARD#{shard:02}")
        } else {
            format!("SHARD#{shard:02}#{item:02}")
        }
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

    /// A tracked message's job record: in the tenant, apart from its user, so a lookup by
    /// job id alone finds it.
    pub fn job(tenant: &TenantId, id: &str) -> String {
        format!("TENANT#{tenant}#JOB#{id}")
    }

    /// A tenant's settings and their history.
    pub fn settings(tenant: &TenantId) -> String {
        format!("TENANT#{tenant}#SETTINGS")
    }

    pub fn connection(connection: &str) -> String {
        format!("CONN#{connection}")
    }
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

/// An item that makes one value unique, or lists its owner in the search index under a
/// connection its identities are in, as its owner should hold it. Both follow the user's
/// identities through the same writes, so both are kept by [`DynamoStore::guard_writes`].
///
/// [`DynamoStore::guard_writes`]: super::DynamoStore::guard_writes
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Guard {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) kind: Unique,
    pub(super) owner: UserId,
    /// The linked identity the value came with; `None` for the owner's own values.
    pub(super) identity: Option<String>,
    /// The search index partition that lists the owner: only a connection's entry has one.
    pub(super) listed: Option<String>,
}

impl Guard {
    pub(super) fn key(&self) -> (&str, &str) {
        (&self.pk, &self.sk)
    }
}

/// Every guard a user owns: its own email, username and identity, and those of each identity
/// linked into it, each in that identity's connection; then, in its own partition, one
/// search entry per connection its identities are in.
pub(super) fn guards(user: &User) -> Vec<Guard> {
    let t = &user.tenant_id;
    let mut out = Vec::new();
    let mut connections: Vec<&Connection> = Vec::new();
    for (i, identity) in user.identities.iter().enumerate() {
        let (email, username, linked) = if i == 0 {
            (user.email_key(), user.username.as_deref(), None)
        } else {
            (
                identity.email().map(email_key),
                identity.username(),
                Some(identity.user_id.clone()),
            )
        };
        if !connections.contains(&&identity.connection) {
            connections.push(&identity.connection);
        }
        let conn = keys::connection(identity.connection.as_str());
        let guard = |pk: String, sk: String, kind| Guard {
            pk,
            sk,
            kind,
            owner: user.user_id,
            identity: linked.clone(),
            listed: None,
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
    let shard = shard_of(&user.user_id);
    out.extend(connections.into_iter().map(|c| Guard {
        pk: keys::user(t, &user.user_id),
        sk: search_entry_sk(c),
        kind: Unique::Identity,
        owner: user.user_id,
        identity: None,
        listed: Some(keys::filtered(t, &Filter::Connection(c.clone()), shard)),
    }));
    out
}

/// The sort key of a user's entry in the search index under a connection.
pub(super) fn search_entry_sk(connection: &Connection) -> String {
    format!("{PRESENCE_PREFIX}CONNECTION#{connection}")
}

/// Whether an item of a user's partition is one of its search entries, which leave with the
/// profile, in its transaction, never before it.
pub(super) fn is_search_entry(item: &Item) -> bool {
    matches!(item.get(SK), Some(AttributeValue::S(sk)) if sk.starts_with(PRESENCE_PREFIX))
}

/// Shards of the due-erasure index (on `gsi2`, beside the outbox's).
pub(super) const ERASE_SHARDS: u16 = 16;

/// Two bytes of a digest of the user id other than those that make its listing shard: small
/// tenants' users share listing shard 0 (placed ids), so whatever else spreads by the id must
/// not follow the listing shard.
fn id_bytes(id: &UserId, at: usize) -> u16 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(id.to_string().as_bytes());
    u16::from_be_bytes([digest[at], digest[at + 1]])
}

/// The user's shard of the due-erasure index. The index spans tenants, so it goes by its own
/// bytes of the id's digest: by the listing shard, every small tenant's due users would share
/// one partition.
pub(super) fn erase_shard(id: &UserId) -> u16 {
    id_bytes(id, 4) % ERASE_SHARDS
}

/// Count items of a listing shard. A shard opened while the tenant was small takes a larger
/// share of its sign-ups (shard 0 every one at first, shard 1 half, …), so it has more items:
/// 16, 8, 4 (shards 2 and 3), 2 (4 to 7), 1 (8 to 15). Whatever the tenant's spread, no item
/// takes more than a sixteenth of its sign-ups, so concurrent transactions rarely meet on
/// one. All of a tenant's count items together are [`count_keys`]: 48, one `BatchGetItem`.
pub(super) fn count_items_of(shard: u16) -> u16 {
    let opened_at = 16 - shard.leading_zeros();
    16u16.checked_shr(opened_at).unwrap_or(1).max(1)
}

/// The count item a user is counted in: of its listing shard, by bytes of its id's digest
/// other than the shard's.
pub(super) fn count_sk_of(id: &UserId) -> String {
    let shard = shard_of(id);
    keys::count_sk(shard, id_bytes(id, 2) % count_items_of(shard))
}

/// Every count item a tenant can have.
pub(super) fn count_keys(tenant: &TenantId) -> Vec<Item> {
    (0..crate::domain::listing::SHARDS)
        .flat_map(|shard| (0..count_items_of(shard)).map(move |i| keys::count_sk(shard, i)))
        .map(|sk| key(keys::count(tenant), &sk))
        .collect()
}

/// The listing shard a count item counts, by its sort key.
pub(super) fn counted_shard(sk: &str) -> Option<u16> {
    sk.strip_prefix("SHARD#")?.get(..2)?.parse().ok()
}

/// A count item's `users`.
pub(super) fn counted_users(item: &Item) -> i64 {
    match item.get("users") {
        Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
        _ => 0,
    }
}

pub(super) fn erase_shard_key(shard: u16) -> String {
    format!("DUE#ERASE#{shard:02}")
}

/// An erasure receipt: its own partition, found by its keyed hash.
pub(super) fn receipt_item(receipt: &Receipt) -> Result<Item, StoreError> {
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

/// The receipt a [`receipt_item`] holds (its TTL read back as `expires_at`).
pub(super) fn receipt_of(mut item: Item) -> Result<Receipt, StoreError> {
    let expires = match item.remove(TTL_ATTRIBUTE) {
        Some(AttributeValue::N(secs)) => secs
            .parse::<i64>()
            .ok()
            .and_then(|secs| secs.checked_mul(1000))
            .and_then(Timestamp::from_epoch_millis),
        _ => None,
    }
    .ok_or_else(|| StoreError::Backend("a receipt without its expiry".into()))?;
    item.insert(TTL_ATTRIBUTE.into(), s(expires.to_string()));
    item.remove(PK);
    item.remove(SK);
    from_item(item).map_err(|e| StoreError::Backend(format!("a receipt does not read: {e}")))
}

/// Items sorted for a clean-up that may stop halfway: tickets before the references that
/// find them, so no ticket is ever left unreachable.
pub(super) fn cleanup_order(user_pk: &str, items: &[Item]) -> Vec<Item> {
    let mut tickets = Vec::new();
    let mut rest = Vec::new();
    for item in items {
        let Some(AttributeValue::S(sk)) = item.get(SK) else {
            continue;
        };
        if sk == PROFILE {
            continue;
        }
        if let Some(ticket) = referenced_ticket(user_pk, sk) {
            tickets.push(ticket);
        }
        rest.push(item.clone());
    }
    tickets.extend(rest);
    tickets
}

/// Conditions with values in this adapter all compare `version`, a name kept behind a
/// placeholder like every attribute name in an expression.
pub(super) fn version_name() -> HashMap<String, String> {
    HashMap::from([("#version".to_owned(), "version".to_owned())])
}

pub(super) fn user_of(item: Item) -> Result<User, StoreError> {
    from_item(item).map_err(|e| StoreError::Backend(format!("stored profile does not parse: {e}")))
}

pub(super) const TICKET: &str = "TICKET";

pub(super) const OUTBOX_PREFIX: &str = "OUTBOX#";

pub(super) const SENDS_PREFIX: &str = "SENDS#";

pub(super) const TICKET_REF_PREFIX: &str = "TICKET#";

/// Shards of the due index: sixteen partitions take any realistic outbox without a hot key.
pub(super) const DUE_SHARDS: u32 = 16;

/// An abandoned message stays this long for inspection, then its TTL removes it.
pub(super) const ABANDONED_KEEP_SECS: i64 = 30 * 86_400;

pub(super) fn ticket_pk(tenant: &TenantId, hash: &TicketHash) -> String {
    format!("TENANT#{tenant}#TICKET#{}", hash.as_str())
}

/// The ticket item a reference in a user's partition (sort key `TICKET#{hash}`) points at.
pub(super) fn referenced_ticket(user_pk: &str, ref_sk: &str) -> Option<Item> {
    let hash = ref_sk.strip_prefix(TICKET_REF_PREFIX)?;
    let tenant_prefix = user_pk.split("#USER#").next()?;
    Some(key(format!("{tenant_prefix}#TICKET#{hash}"), TICKET))
}

pub(super) fn due_shard(id: &str) -> String {
    let sum = id
        .bytes()
        .fold(0u32, |acc, b| acc.wrapping_mul(31).wrapping_add(b.into()));
    format!("DUE#OUTBOX#{:02}", sum % DUE_SHARDS)
}

pub(super) fn due_sk(message: &Message) -> String {
    format!("{}#{}", message.next_attempt, message.id)
}

pub(super) fn message_of(item: Item) -> Result<Message, StoreError> {
    from_item(item).map_err(|e| StoreError::Backend(format!("stored message does not parse: {e}")))
}

pub(super) const SETTINGS: &str = "SETTINGS";
pub(super) const HISTORY_PREFIX: &str = "HISTORY#";

/// A tenant's stored settings as an item: the document under `settings`.
#[derive(Serialize, Deserialize)]
struct SettingsRecord {
    settings: SettingsDoc,
    version: u64,
    #[serde(default)]
    updated_at: Option<Timestamp>,
}

pub(super) fn settings_item(
    tenant: &TenantId,
    stored: &StoredSettings,
) -> Result<Item, StoreError> {
    let record = SettingsRecord {
        settings: stored.doc.clone(),
        version: stored.version,
        updated_at: stored.updated_at,
    };
    let mut item: Item =
        to_item(record).map_err(|e| StoreError::Backend(format!("serialize settings: {e}")))?;
    item.extend(key(keys::settings(tenant), SETTINGS));
    Ok(item)
}

pub(super) fn settings_of(item: Item) -> Result<StoredSettings, StoreError> {
    let record: SettingsRecord = from_item(item)
        .map_err(|e| StoreError::Backend(format!("stored settings do not parse: {e}")))?;
    Ok(StoredSettings {
        doc: record.settings,
        version: record.version,
        updated_at: record.updated_at,
    })
}

/// A change's history item, keyed by the version it made so versions sort in order.
pub(super) fn change_item(tenant: &TenantId, change: &SettingsChange) -> Result<Item, StoreError> {
    let mut item: Item =
        to_item(change).map_err(|e| StoreError::Backend(format!("serialize change: {e}")))?;
    item.extend(key(
        keys::settings(tenant),
        &format!("{HISTORY_PREFIX}{:020}", change.version),
    ));
    Ok(item)
}

pub(super) fn change_of(item: Item) -> Result<SettingsChange, StoreError> {
    from_item(item).map_err(|e| StoreError::Backend(format!("stored change does not parse: {e}")))
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
    fn a_receipt_reads_back_from_its_item_as_written_its_ttl_included() {
        let user = fixtures::user();
        let at = Timestamp::from_epoch_millis(1_800_000_000_000).unwrap();
        let receipt = crate::domain::erasure::ErasureSettings::local()
            .receipt(
                &user.tenant_id,
                &user.user_id,
                at,
                crate::domain::erasure::Reason::Inactivity,
                "purge",
            )
            .unwrap();
        let item = receipt_item(&receipt).unwrap();
        assert_eq!(item.get("key_version"), Some(&s("local")));
        assert_eq!(receipt_of(item).unwrap(), receipt);
    }

    #[test]
    fn count_items_share_out_each_shards_sign_ups_and_name_their_shard() {
        let per_shard: Vec<u16> = (0..16).map(count_items_of).collect();
        assert_eq!(per_shard, [16, 8, 4, 4, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1]);
        let t = TenantId::parse("acme").unwrap();
        let all = count_keys(&t);
        assert_eq!(
            all.len(),
            48,
            "one BatchGetItem reads them with the settings"
        );
        assert_eq!(
            keys::count_sk(7, 0),
            "SHARD#07",
            "the first is the one of old"
        );
        assert_eq!(keys::count_sk(0, 15), "SHARD#00#15");
        for k in &all {
            let Some(AttributeValue::S(sk)) = k.get(SK) else {
                panic!("{k:?}")
            };
            assert!(counted_shard(sk).is_some_and(|s| s < 16), "{sk}");
        }
        for _ in 0..200 {
            let id = UserId::generate();
            assert_eq!(counted_shard(&count_sk_of(&id)), Some(shard_of(&id)));
        }
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

/// Properties of the key schema (docs/data-model.md) over generated inputs: every partition
/// key reads back as the one input it was made from, so no two inputs share one, and every
/// key of a tenant begins with that tenant's prefix and no other's, even where one tenant id
/// begins with another (`acme`, `acme2`, `acme-2`): one IAM `LeadingKeys` condition fences a
/// tenant and no query of one can read another's item.
#[cfg(test)]
mod properties {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::select;

    use super::super::idempotency::record_pk;
    use super::super::rate::window_key;
    use super::*;
    use crate::domain::email::Email;
    use crate::domain::erasure::Reason;
    use crate::domain::login::parse_ip;
    use crate::domain::rate_limit::{BucketOf, Draw};

    /// What a partition key is made from, beside the tenant.
    #[derive(Debug, Clone, PartialEq)]
    enum Family {
        User(UserId),
        Address(String),
        List(u16),
        Verified(bool, u16),
        InConnection(Connection, u16),
        Count,
        Email(String),
        Username(String),
        Identity(Connection, String),
        Job(String),
        Settings,
        Ticket(String),
        Idempotency(String),
        RateOfTenant(i64, u32),
        RateOfAddress(String, i64),
        Receipt(String),
    }

    fn pk(tenant: &TenantId, family: &Family) -> String {
        let draw = |window, shard| Draw {
            window,
            shard,
            capacity: 1,
            resets_at_ms: 0,
        };
        match family {
            Family::User(id) => keys::user(tenant, id),
            Family::Address(ip) => keys::address(tenant, ip),
            Family::List(shard) => keys::list(tenant, *shard),
            Family::Verified(v, shard) => {
                keys::filtered(tenant, &Filter::EmailVerified(*v), *shard)
            }
            Family::InConnection(c, shard) => {
                keys::filtered(tenant, &Filter::Connection(c.clone()), *shard)
            }
            Family::Count => keys::count(tenant),
            Family::Email(key) => keys::email(tenant, key),
            Family::Username(key) => keys::username(tenant, key),
            Family::Identity(provider, id) => keys::identity(tenant, provider.as_str(), id),
            Family::Job(id) => keys::job(tenant, id),
            Family::Settings => keys::settings(tenant),
            Family::Ticket(presented) => ticket_pk(tenant, &TicketHash::parse(presented).unwrap()),
            Family::Idempotency(id) => record_pk(tenant, id),
            Family::RateOfTenant(window, shard) => {
                window_key(&BucketOf::Tenant(tenant.clone()), &draw(*window, *shard))
            }
            Family::RateOfAddress(ip, window) => window_key(
                &BucketOf::Address(tenant.clone(), ip.clone()),
                &draw(*window, 0),
            ),
            Family::Receipt(subject) => {
                let at = Timestamp::from_epoch_millis(0).unwrap();
                let receipt = Receipt {
                    subject: subject.clone(),
                    key_version: None,
                    tenant_id: tenant.clone(),
                    erased_at: at,
                    reason: Reason::Admin,
                    actor: "admin".into(),
                    expires_at: at,
                };
                match receipt_item(&receipt).unwrap().remove(PK) {
                    Some(AttributeValue::S(pk)) => pk,
                    other => panic!("a receipt's key is {other:?}"),
                }
            }
        }
    }

    /// Reads a partition key by the schema alone: a tenant id holds no `#`, nor does a
    /// connection; shards and windows are numbers; the last field takes the rest.
    fn read(key: &str) -> Option<(TenantId, Family)> {
        let rest = key.strip_prefix("TENANT#")?;
        let (tenant, rest) = rest.split_once('#')?;
        let tenant = TenantId::parse(tenant).ok()?;
        let (tag, rest) = rest.split_once('#').unwrap_or((rest, ""));
        let shard = |s: &str| (s.len() == 2).then(|| s.parse::<u16>().ok()).flatten();
        let family = match tag {
            "USER" => Family::User(UserId::parse(rest).ok()?),
            "ADDRESS" => Family::Address(rest.to_owned()),
            "LIST" => Family::List(shard(rest)?),
            "VERIFIED" => {
                let (v, s) = rest.split_once('#')?;
                Family::Verified(v.parse().ok()?, shard(s)?)
            }
            "CONNECTION" => {
                let (c, s) = rest.split_once('#')?;
                Family::InConnection(Connection::parse(c).ok()?, shard(s)?)
            }
            "COUNT" if rest.is_empty() && !key.ends_with('#') => Family::Count,
            "EMAIL" => Family::Email(rest.to_owned()),
            "USERNAME" => Family::Username(rest.to_owned()),
            "IDENTITY" => {
                let (provider, id) = rest.split_once('#')?;
                Family::Identity(Connection::parse(provider).ok()?, id.to_owned())
            }
            "JOB" => Family::Job(rest.to_owned()),
            "SETTINGS" if rest.is_empty() && !key.ends_with('#') => Family::Settings,
            "TICKET" => Family::Ticket(rest.to_owned()),
            "IDEMPOTENCY" => Family::Idempotency(rest.to_owned()),
            "RATE" => match rest.strip_prefix("ADDRESS#") {
                Some(rest) => {
                    let (ip, window) = rest.rsplit_once('#')?;
                    Family::RateOfAddress(ip.to_owned(), window.parse().ok()?)
                }
                None => {
                    let (window, shard) = rest.split_once('#')?;
                    Family::RateOfTenant(window.parse().ok()?, shard.parse().ok()?)
                }
            },
            "ERASURE" => Family::Receipt(rest.to_owned()),
            _ => return None,
        };
        Some((tenant, family))
    }

    /// A ticket's family is read back as its hash; the input is the ticket presented.
    fn as_read(family: &Family) -> Family {
        match family {
            Family::Ticket(presented) => {
                Family::Ticket(TicketHash::parse(presented).unwrap().as_str().to_owned())
            }
            other => other.clone(),
        }
    }

    const TRICKY: &[char] = &[
        '#', '/', '.', '$', '@', ':', '|', '-', '_', ' ', '\0', '\n', '\u{7f}', '\u{200b}',
        '\u{301}', 'é', 'ß', 'Σ', '中', '😀',
    ];

    fn text(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
        vec(
            prop_oneof![
                3 => proptest::char::range('a', 'z'),
                1 => proptest::char::range('A', 'Z'),
                1 => proptest::char::range('0', '9'),
                3 => select(TRICKY),
                1 => any::<char>(),
            ],
            len,
        )
        .prop_map(|c| c.into_iter().collect())
    }

    /// Pairs of tenant ids, often one a prefix of the other.
    fn tenants() -> impl Strategy<Value = (TenantId, TenantId)> {
        let id = "[a-z0-9][a-z0-9-]{1,12}";
        prop_oneof![
            (id, id),
            (id, select(&["2", "-2", "-", "0", "-acme", "a"][..]))
                .prop_map(|(t, tail)| (t.clone(), format!("{t}{tail}"))),
            (id, id).prop_map(|(a, b)| (format!("{a}{b}"), a)),
        ]
        .prop_filter_map("both valid and distinct", |(a, b)| {
            let (a, b) = (TenantId::parse(&a).ok()?, TenantId::parse(&b).ok()?);
            (a != b).then_some((a, b))
        })
    }

    fn connection() -> impl Strategy<Value = Connection> {
        prop_oneof![
            select(&["database", "google-oauth2", "a", "a-b", "ab"][..]).prop_map(str::to_owned),
            "[a-z0-9][a-z0-9-]{0,20}",
        ]
        .prop_map(|c| Connection::parse(&c).unwrap())
    }

    fn ip() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<std::net::IpAddr>().prop_map(|ip| parse_ip(&ip.to_string()).unwrap()),
            // Not what an address is, but the encoding must hold whatever it is handed.
            text(0..=12),
        ]
    }

    fn family() -> impl Strategy<Value = Family> {
        prop_oneof![
            any::<u128>().prop_map(|b| Family::User(
                UserId::parse(&format!("usr_{}", ulid::Ulid(b))).unwrap()
            )),
            ip().prop_map(Family::Address),
            (0..100u16).prop_map(Family::List),
            (any::<bool>(), 0..100u16).prop_map(|(v, s)| Family::Verified(v, s)),
            (connection(), 0..100u16).prop_map(|(c, s)| Family::InConnection(c, s)),
            Just(Family::Count),
            text(0..=30).prop_map(Family::Email),
            text(0..=20).prop_map(Family::Username),
            (connection(), text(0..=20)).prop_map(|(c, id)| Family::Identity(c, id)),
            text(0..=20).prop_map(Family::Job),
            Just(Family::Settings),
            any::<[u8; 32]>().prop_map(|b| Family::Ticket(URL_SAFE_NO_PAD.encode(b))),
            text(0..=20).prop_map(Family::Idempotency),
            (any::<i64>(), any::<u32>()).prop_map(|(w, s)| Family::RateOfTenant(w, s)),
            (ip(), any::<i64>()).prop_map(|(ip, w)| Family::RateOfAddress(ip, w)),
            text(0..=20).prop_map(Family::Receipt),
        ]
    }

    fn identifier() -> impl Strategy<Value = Identifier> {
        prop_oneof![
            ("[a-c#/]{1,4}", select(&["x.com", "x.co", "m.x.com"][..]))
                .prop_filter_map("an address", |(local, domain)| {
                    Email::parse(&format!("{local}@{domain}")).ok()
                })
                .prop_map(Identifier::Email),
            "[a-c._+-]{1,6}".prop_map(Identifier::Username),
            // A username that reads like the tag of an address.
            "email:[a-c]{1,3}".prop_map(Identifier::Username),
        ]
    }

    fn identifier_text(identifier: &Identifier) -> (bool, String) {
        match identifier {
            Identifier::Email(e) => (true, e.normalized().to_owned()),
            Identifier::Username(u) => (false, crate::domain::profile::username_key(u)),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn every_partition_key_reads_back_as_the_one_input_it_was_made_from(
            (tenant, _) in tenants(),
            family in family(),
        ) {
            let key = pk(&tenant, &family);
            prop_assert_eq!(read(&key), Some((tenant, as_read(&family))), "{}", key);
        }

        #[test]
        fn a_tenants_keys_begin_with_its_own_prefix_and_never_with_another_tenants(
            (tenant, other) in tenants(),
            family in family(),
        ) {
            let key = pk(&tenant, &family);
            prop_assert!(key.starts_with(&format!("TENANT#{tenant}#")), "{}", key);
            prop_assert!(!key.starts_with(&format!("TENANT#{other}#")), "{} reads as {}'s", key, other);
        }

        /// Inputs from small alphabets, so near misses (`a#b` and `a`, `b`) come up often.
        #[test]
        fn two_different_inputs_never_share_a_partition_key(
            (t1, t2) in tenants(),
            same_tenant in any::<bool>(),
            a in family(),
            b in family(),
            (p, q) in (connection(), connection()),
            (x, y) in ("[a#b]{0,4}", "[a#b]{0,4}"),
        ) {
            let t2 = if same_tenant { t1.clone() } else { t2 };
            let pairs = [
                ((t1.clone(), a.clone()), (t2.clone(), b.clone())),
                (
                    (t1.clone(), Family::Identity(p.clone(), x.clone())),
                    (t2.clone(), Family::Identity(q.clone(), y.clone())),
                ),
                (
                    (t1.clone(), Family::RateOfAddress(x.clone(), 1)),
                    (t2.clone(), Family::RateOfAddress(y.clone(), 1)),
                ),
                ((t1.clone(), Family::Email(x.clone())), (t2.clone(), Family::Username(y.clone()))),
            ];
            for ((ta, fa), (tb, fb)) in pairs {
                if (&ta, as_read(&fa)) != (&tb, as_read(&fb)) {
                    prop_assert_ne!(pk(&ta, &fa), pk(&tb, &fb));
                }
            }
        }

        /// An unknown identifier's counters live under a digest; what it digests must
        /// tell a connection, an email and a username apart.
        #[test]
        fn two_different_unknown_identifiers_never_share_a_partition_key(
            (t1, t2) in tenants(),
            same_tenant in any::<bool>(),
            (c1, c2) in (connection(), connection()),
            (i1, i2) in (identifier(), identifier()),
        ) {
            let t2 = if same_tenant { t1.clone() } else { t2 };
            let (k1, k2) = (unknown_login_pk(&t1, &c1, &i1), unknown_login_pk(&t2, &c2, &i2));
            let prefix = format!("TENANT#{t1}#LOGINID#");
            prop_assert!(k1.starts_with(&prefix), "{}", k1);
            if (&t1, &c1, identifier_text(&i1)) != (&t2, &c2, identifier_text(&i2)) {
                prop_assert_ne!(k1, k2);
            }
        }

        /// A clean-up finds a ticket from the reference in the user's partition: the ticket
        /// it finds is that tenant's, under that hash.
        #[test]
        fn a_ticket_reference_leads_to_its_own_tenants_ticket(
            (tenant, _) in tenants(),
            bits in any::<u128>(),
            ticket in any::<[u8; 32]>(),
        ) {
            let user = UserId::parse(&format!("usr_{}", ulid::Ulid(bits))).unwrap();
            let hash = TicketHash::parse(&URL_SAFE_NO_PAD.encode(ticket)).unwrap();
            let found = referenced_ticket(
                &keys::user(&tenant, &user),
                &format!("{TICKET_REF_PREFIX}{}", hash.as_str()),
            );
            prop_assert_eq!(found, Some(key(ticket_pk(&tenant, &hash), TICKET)));
        }

        /// Within a user's partition, a query by the `LOGIN#` prefix reads the login
        /// counters and nothing else, and each reads back as its counter.
        #[test]
        fn a_login_counters_sort_key_reads_back_and_no_other_sort_key_looks_like_one(
            ip in ip(),
            identity in text(0..=12),
            job in text(0..=12),
            hash in text(0..=12),
            connection in connection(),
        ) {
            for counter in [Counter::User, Counter::Ip(ip)] {
                let sk = counter_sk(&counter);
                prop_assert!(sk.starts_with(LOGIN_PREFIX));
                let item = key("pk".into(), &sk);
                prop_assert_eq!(counter_of(&item).map(|(c, _)| c), Some(counter));
            }
            let others = [
                PROFILE.to_owned(),
                password_sk(&Credential::Own),
                password_sk(&Credential::Linked(identity)),
                format!("{OUTBOX_PREFIX}{job}"),
                format!("{SENDS_PREFIX}verification#{job}"),
                format!("{TICKET_REF_PREFIX}{hash}"),
                search_entry_sk(&connection),
            ];
            for sk in others {
                prop_assert!(!sk.starts_with(LOGIN_PREFIX), "{}", sk);
                prop_assert_eq!(sk.starts_with(PRESENCE_PREFIX), sk == search_entry_sk(&connection));
            }
        }
    }
}
