//! The contract every store implementation passes: each store port of `shared::ports`
//! (`UserStore`, `LinkStore`, `ErasureStore`, `LoginStore`, `TicketStore`, `OutboxStore`,
//! `TenantStore`)
//! checked against its `///` contract through the ports alone, in the manner of Ory Kratos'
//! `TestPool(ctx, persister)`: one suite function per port, generic over the implementation,
//! each case a small named function. A case asserts what the ports read back: the documented
//! result, the documented failure (`ConditionFailed`, `Taken`, `Consumed`, `Capped`,
//! `Deleted::NotFound`) and, after a failure, that nothing was written.
//!
//! How a new implementation joins: implement the seven store traits (it then is a [`Stores`]
//! through the blanket impl), implement [`Receipts`] for whatever can read its erasure receipts
//! (no port reads them), and add one `#[tokio::test]` per port, like the DynamoStore ones
//! after the suite functions, each building a fresh, empty store and calling the same suite
//! function.
//!
//! The cases of one port share its store, so every case works in a tenant of its own. Only the
//! two due indexes span tenants: their cases look only at their own tenant's entries, and the
//! one that checks `limit` reads at an instant before anything else the suite queues (the
//! outbox cases each have a year of their own, long before [`t0`], the present every other
//! case writes at). A failing case does not stop the others; the suite names every failed case
//! at the end. Nothing reads the wall clock: every instant is a parameter.

use std::panic::AssertUnwindSafe;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::FutureExt;
use serde_json::json;
use shared::adapters::argon::Argon2Hasher;
use shared::adapters::dynamo::{DynamoStore, PK, SK, TTL_ATTRIBUTE, table};
use shared::domain::email::Email;
use shared::domain::erasure::{ErasureSettings, Reason, Receipt};
use shared::domain::ids::{Connection, ProviderUserId, TenantId, UserId};
use shared::domain::linking::{linked, unlinked};
use shared::domain::listing::{Filter, PageRequest, Position, shard_of};
use shared::domain::login::{
    BruteForce, Counter, CounterRecord, Credential, Failures, Identifier, LoginState, LoginSubject,
};
use shared::domain::message::{Message, MessageKind, Queued, SendCap, Status};
use shared::domain::metadata::{Kind, MAX_KEYS, MetadataPatch, parse_initial};
use shared::domain::password::{Password, PasswordHash};
use shared::domain::profile;
use shared::domain::tenant::{SettingsChange, SettingsDoc, StoredSettings};
use shared::domain::ticket::{RawTicket, Ticket, TicketHash, TicketKind};
use shared::domain::time::Timestamp;
use shared::domain::user::{Identity, User};
use shared::ports::{
    Deleted, Effects, ErasureStore, FieldUpdate, LinkStore, LoginStore, OutboxStore,
    PasswordHasher, StoreError, TenantSize, TenantStore, TicketStore, Unique, UserStore,
};
use time::macros::datetime;
use ulid::Ulid;
use zeroize::Zeroizing;

use crate::support::{self, CallLog};

/// Every store port at once: what the operations are wired with.
pub trait Stores:
    UserStore + LinkStore + ErasureStore + LoginStore + TicketStore + OutboxStore + TenantStore
{
}

impl<T> Stores for T where
    T: UserStore + LinkStore + ErasureStore + LoginStore + TicketStore + OutboxStore + TenantStore
{
}

/// What no port reads: the erasure receipts a store holds. Each implementation's tests supply
/// one.
pub trait Receipts {
    /// Whether the store holds `receipt` as given (every field; `expires_at` at least to the
    /// second, as a TTL keeps it).
    async fn holds(&self, receipt: &Receipt) -> bool;
}

// ---------------------------------------------------------------------------------------------
// The suite: one function per port.
// ---------------------------------------------------------------------------------------------

/// Runs each case, catching its panic so the rest still run, and fails at the end naming
/// every case that failed.
macro_rules! cases {
    ($port:literal; $($case:ident($($arg:expr),*)),+ $(,)?) => {{
        let mut failed: Vec<&'static str> = Vec::new();
        let mut count = 0;
        $(
            count += 1;
            let outcome = AssertUnwindSafe($case($($arg),*)).catch_unwind().await;
            eprintln!(
                "{} contract: {} ... {}",
                $port,
                stringify!($case),
                if outcome.is_ok() { "ok" } else { "FAILED" }
            );
            if outcome.is_err() {
                failed.push(stringify!($case));
            }
        )+
        assert!(
            failed.is_empty(),
            "{} contract: {} of {count} cases failed: {failed:#?}",
            $port,
            failed.len()
        );
    }};
}

pub async fn user_store_contract<S: Stores>(store: &S) {
    cases!("UserStore";
        create_stores_the_user_and_get_reads_it_back(store),
        the_count_is_kept_by_creates_and_a_refused_create_counts_nothing(store),
        create_queues_the_mail_it_is_given_with_its_tickets(store),
        create_queues_every_message_it_is_given_even_two_of_one_kind(store),
        create_refuses_a_taken_email_and_writes_nothing(store),
        create_refuses_a_taken_username_and_writes_nothing(store),
        create_refuses_a_taken_identity_and_writes_nothing(store),
        an_email_is_unique_per_connection_only(store),
        get_and_stored_of_an_unknown_user_find_nothing(store),
        a_user_is_invisible_from_another_tenant(store),
        update_sets_and_removes_fields_and_bumps_the_version(store),
        update_merges_and_clears_metadata(store),
        update_with_a_stale_version_is_condition_failed(store),
        update_of_a_missing_user_is_condition_failed_and_creates_nothing(store),
        update_past_the_metadata_key_cap_is_condition_failed_and_writes_nothing(store),
        update_may_fill_metadata_up_to_the_key_cap(store),
        replace_writes_the_next_user(store),
        replace_moves_guards(store),
        replace_keeps_the_guard_when_only_the_case_of_the_email_changes(store),
        replace_with_a_stale_version_is_condition_failed_and_writes_nothing(store),
        replace_of_a_user_that_does_not_exist_is_condition_failed(store),
        replace_refuses_a_taken_email_and_writes_nothing(store),
        replace_refuses_a_taken_username_and_writes_nothing(store),
        replace_writes_the_password_it_is_given(store),
        replace_redeems_the_ticket_it_consumes(store),
        a_consumed_ticket_cannot_be_redeemed_twice(store),
        replace_queues_mail_within_the_cap(store),
        replace_counts_each_message_it_queues_against_the_cap(store),
        replace_over_the_cap_is_capped_and_writes_nothing(store),
        stored_holds_the_user_its_tickets_messages_and_counters(store),
        list_pages_through_every_user_of_the_tenant_once(store),
        list_of_an_empty_tenant_is_one_empty_last_page(store),
        list_reads_past_the_shards_that_hold_nobody_and_ends_on_the_last_user(store),
        list_where_and_count_where_find_the_users_a_filter_names(store),
        find_by_email_ignores_case_and_finds_nobody_for_an_unknown_address(store),
        identity_owner_names_the_holder_of_an_identity(store),
    );
}

pub async fn link_store_contract<S: Stores>(store: &S) {
    cases!("LinkStore";
        link_moves_the_secondary_into_the_primary(store),
        link_moves_a_social_identity_and_finds_the_primary_once_by_a_shared_address(store),
        link_with_a_stale_primary_is_condition_failed_and_writes_nothing(store),
        link_with_a_stale_secondary_is_condition_failed_and_writes_nothing(store),
        link_then_unlink_restores_the_secondary(store),
        link_and_unlink_move_the_users_search_entries(store),
        unlink_with_a_stale_primary_is_condition_failed_and_restores_nothing(store),
        unlink_removes_what_was_left_under_the_restored_id(store),
        unlink_refuses_when_a_user_exists_under_the_restored_id(store),
        replace_writes_a_linked_identitys_password_under_its_credential(store),
        a_login_by_a_linked_identity_rehashes_its_own_password(store),
    );
}

pub async fn erasure_store_contract<S: Stores, R: Receipts>(store: &S, receipts: &R) {
    cases!("ErasureStore";
        delete_removes_every_item_and_writes_the_receipt(store, receipts),
        delete_with_a_stale_version_is_condition_failed_and_erases_nothing(store, receipts),
        delete_without_an_expected_version_erases_the_current_version(store, receipts),
        delete_of_an_unknown_user_is_not_found_and_writes_no_receipt(store, receipts),
        delete_in_another_tenant_finds_nothing(store, receipts),
        delete_takes_the_user_out_of_the_search_index(store),
        delete_removes_the_passwords_and_guards_of_linked_identities(store, receipts),
        due_erasures_returns_the_accounts_whose_erasure_is_due(store),
        a_replace_moves_an_account_in_and_out_of_the_due_erasures(store),
        erase_removes_a_due_user_with_its_items_and_writes_the_receipt(store, receipts),
        erase_removes_the_passwords_and_guards_of_linked_identities(store, receipts),
        erase_of_a_user_changed_since_it_was_read_is_condition_failed_and_removes_nothing(store, receipts),
        erase_of_a_user_already_gone_is_condition_failed(store, receipts),
        keep_receipt_writes_a_receipt_once_and_never_over_one_held(store, receipts),
    );
}

pub async fn login_store_contract<S: Stores>(store: &S) {
    cases!("LoginStore";
        login_state_of_a_user_reads_its_profile_and_hash_and_no_counters_yet(store),
        login_state_reads_back_with_the_settings_of_its_own_tenant_only(store),
        record_failure_counts_on_the_address_and_the_user(store),
        record_failure_is_conditional_on_the_counters_read(store),
        an_address_throttle_spans_accounts_and_adds_up_failures(store),
        a_counter_past_its_window_starts_again_at_one(store),
        each_address_counts_apart(store),
        an_unknown_identifier_is_counted_apart_from_every_user(store),
        counters_are_fenced_by_the_tenant(store),
        record_login_counts_the_login_and_resets_the_address(store),
        record_login_with_trust_notes_the_success(store),
        record_login_stores_the_rehash_in_place_of_the_verified_hash(store),
        record_login_is_conditional_on_the_version(store),
        record_login_is_conditional_on_the_counters(store),
        confirm_unchanged_holds_until_a_counter_moves_and_writes_nothing(store),
        failure_counters_lists_every_counter_with_failures(store),
        clear_failures_removes_every_counter_and_every_block(store),
    );
}

pub async fn ticket_store_contract<S: Stores>(store: &S) {
    cases!("TicketStore";
        a_stored_ticket_reads_back_by_its_hash(store),
        every_kind_of_ticket_reads_back_whole(store),
        an_expired_ticket_still_reads_back(store),
        an_unknown_hash_finds_nothing(store),
        a_ticket_is_not_found_in_another_tenant(store),
        a_stored_ticket_is_listed_with_its_user(store),
    );
}

pub async fn tenant_store_contract<S: Stores>(store: &S) {
    cases!("TenantStore";
        a_tenant_that_stored_nothing_has_no_settings(store),
        settings_and_size_reads_the_settings_and_the_count_together(store),
        a_recorded_size_reads_back_with_the_settings_and_counts_nothing(store),
        a_user_reads_back_with_the_settings_of_its_own_tenant_only(store),
        a_login_reads_back_with_the_settings_of_its_own_tenant_only(store),
        a_ticket_reads_back_with_the_settings_of_its_own_tenant_only(store),
        put_settings_stores_the_first_version_and_its_change(store),
        put_settings_is_conditional_on_the_version_read(store),
        history_comes_newest_first_and_at_most_limit(store),
        settings_are_fenced_by_their_tenant(store),
    );
}

pub async fn outbox_store_contract<S: Stores>(store: &S) {
    cases!("OutboxStore";
        enqueue_queues_messages_and_their_tickets(store),
        enqueue_over_the_cap_is_capped_and_queues_nothing(store),
        the_cap_counts_per_user_and_kind(store),
        the_cap_counts_per_hour(store),
        enqueue_counts_each_message_of_one_call(store),
        due_returns_only_due_messages_oldest_first(store),
        due_takes_at_most_limit_the_oldest(store),
        claim_takes_a_message_once(store),
        claim_of_a_message_gone_or_moved_on_is_condition_failed_and_writes_nothing(store),
        save_stores_the_message_after_a_failed_attempt(store),
        save_after_another_sender_moved_it_is_condition_failed(store),
        save_of_a_removed_message_does_not_bring_it_back(store),
        an_abandoned_message_is_kept_but_never_due(store),
        remove_takes_a_message_out_of_the_outbox(store),
    );
}

// ---------------------------------------------------------------------------------------------
// DynamoStore on moto.
// ---------------------------------------------------------------------------------------------

/// A DynamoStore on a fresh table of the moto server the tests run against.
async fn dynamo() -> (DynamoStore, DynamoReceipts) {
    let client = support::client(&CallLog::default());
    let name = format!("contract-{}", Ulid::generate().to_string().to_lowercase());
    table::create(&client, &name).await.unwrap_or_else(|e| {
        panic!(
            "cannot create a table on moto at {}: {e}",
            support::moto_endpoint()
        )
    });
    (
        DynamoStore::new(client.clone(), name.clone()),
        DynamoReceipts {
            client,
            table: name,
        },
    )
}

#[tokio::test]
async fn dynamo_store_keeps_the_user_store_contract() {
    let (store, _) = dynamo().await;
    user_store_contract(&store).await;
}

#[tokio::test]
async fn dynamo_store_keeps_the_link_store_contract() {
    let (store, _) = dynamo().await;
    link_store_contract(&store).await;
}

#[tokio::test]
async fn dynamo_store_keeps_the_erasure_store_contract() {
    let (store, receipts) = dynamo().await;
    erasure_store_contract(&store, &receipts).await;
}

#[tokio::test]
async fn dynamo_store_keeps_the_login_store_contract() {
    let (store, _) = dynamo().await;
    login_store_contract(&store).await;
}

#[tokio::test]
async fn dynamo_store_keeps_the_ticket_store_contract() {
    let (store, _) = dynamo().await;
    ticket_store_contract(&store).await;
}

#[tokio::test]
async fn dynamo_store_keeps_the_tenant_store_contract() {
    let (store, _) = dynamo().await;
    tenant_store_contract(&store).await;
}

#[tokio::test]
async fn dynamo_store_keeps_the_outbox_store_contract() {
    let (store, _) = dynamo().await;
    outbox_store_contract(&store).await;
}

/// Reads a receipt where docs/data-model.md puts it: `TENANT#{t}#ERASURE#{subject}`,
/// `RECEIPT`, its `expires_at` the TTL in epoch seconds.
struct DynamoReceipts {
    client: Client,
    table: String,
}

impl Receipts for DynamoReceipts {
    async fn holds(&self, receipt: &Receipt) -> bool {
        let pk = format!("TENANT#{}#ERASURE#{}", receipt.tenant_id, receipt.subject);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(pk))
            .key(SK, AttributeValue::S("RECEIPT".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem of a receipt");
        let Some(item) = out.item else {
            return false;
        };
        let text = |name: &str| match item.get(name) {
            Some(AttributeValue::S(v)) => v.clone(),
            _ => String::new(),
        };
        let reason = serde_json::to_value(receipt.reason).expect("a reason serializes");
        let same = text("subject") == receipt.subject
            && text("key_version")
                == receipt
                    .key_version
                    .as_ref()
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            && text("tenant_id") == receipt.tenant_id.as_str()
            && text("erased_at") == receipt.erased_at.to_string()
            && reason.as_str() == Some(text("reason").as_str())
            && text("actor") == receipt.actor
            && item.get(TTL_ATTRIBUTE)
                == Some(&AttributeValue::N(
                    receipt.expires_at.epoch_secs().to_string(),
                ));
        if !same {
            eprintln!("the receipt stored is not the one written: {item:?} vs {receipt:?}");
        }
        same
    }
}

// ---------------------------------------------------------------------------------------------
// Values, built with the domain's own constructors, and reads through the ports.
// ---------------------------------------------------------------------------------------------

const IP: &str = "198.51.100.7";
const OTHER_IP: &str = "203.0.113.9";

/// The present of every case that is not about a due index.
fn t0() -> Timestamp {
    Timestamp::from_datetime(datetime!(2030-06-01 12:00 UTC))
}

/// A tenant of the case's own.
fn tenant() -> TenantId {
    TenantId::parse(&format!(
        "t-{}",
        Ulid::generate().to_string().to_lowercase()
    ))
    .expect("a valid tenant id")
}

fn address(raw: &str) -> String {
    Email::parse(raw)
        .expect("a valid address")
        .as_str()
        .to_owned()
}

fn google() -> Connection {
    Connection::parse("google-oauth2").expect("a valid connection")
}

fn database() -> Connection {
    Connection::database()
}

/// A database user created at [`t0`], its address (if any) verified.
fn database_user(tenant: &TenantId, email: Option<&str>, username: Option<&str>) -> User {
    let id = UserId::generate();
    let mut user = User::new(id, tenant.clone(), Identity::database(&id), t0());
    user.email = email.map(address);
    user.email_verified = email.is_some();
    user.username = username.map(|u| profile::username(u).expect("a valid username"));
    user
}

/// A `google-oauth2` user created at [`t0`], its address (if any) verified.
fn social_user(tenant: &TenantId, provider_user_id: &str, email: Option<&str>) -> User {
    let id = UserId::generate();
    let sub = ProviderUserId::parse(provider_user_id).expect("a valid provider user id");
    let identity = Identity::social(google(), sub.as_str().to_owned());
    let mut user = User::new(id, tenant.clone(), identity, t0());
    user.email = email.map(address);
    user.email_verified = email.is_some();
    user
}

/// `user` as a write that changes it leaves it: changed, updated at `at`, version bumped.
fn edited(user: &User, at: Timestamp, change: impl FnOnce(&mut User)) -> User {
    let mut next = user.clone();
    change(&mut next);
    next.updated_at = at;
    next.version += 1;
    next
}

/// A fresh ticket of `kind` about `user`'s address, minted at `at` for its default lifetime.
fn ticket_for(user: &User, kind: TicketKind, at: Timestamp) -> (TicketHash, Ticket) {
    let raw = RawTicket::generate().expect("randomness for a ticket");
    let (ttl, _) = kind.ttl_secs();
    let ticket = Ticket {
        tenant_id: user.tenant_id.clone(),
        kind,
        user_id: user.user_id,
        email: user.email.clone(),
        identity: None,
        result_url: None,
        mark_email_verified: false,
        created_at: at,
        expires: at.plus_secs(i64::try_from(ttl).expect("a ticket lifetime fits")),
    };
    (raw.hash(), ticket)
}

/// A message of `kind` to `user`'s address, queued at `at`, with the ticket its link carries.
fn mail(kind: MessageKind, user: &User, at: Timestamp) -> Queued {
    let to = user.email.clone().expect("a user with an address");
    let message = Message::new(kind, user, &to, 3600, at);
    let ticket = message.ticket_kind().map(|k| ticket_for(user, k, at));
    Queued { message, ticket }
}

/// A verification to `user` queued an hour before `due`, its next attempt at `due`.
fn due_mail(user: &User, due: Timestamp) -> Queued {
    let mut queued = mail(MessageKind::VerifyEmail, user, due.plus_secs(-3600));
    queued.message.next_attempt = due;
    queued
}

fn receipt_for(user: &User, at: Timestamp, reason: Reason) -> Receipt {
    ErasureSettings::local()
        .receipt(
            &user.tenant_id,
            &user.user_id,
            at,
            reason,
            "store-contract-suite",
        )
        .expect("the local settings hold a receipt key")
}

/// Three password hashes made by the service's own hasher, once for the whole run.
async fn hashes() -> &'static [PasswordHash; 3] {
    static HASHES: tokio::sync::OnceCell<[PasswordHash; 3]> = tokio::sync::OnceCell::const_new();
    HASHES
        .get_or_init(|| async {
            let hasher = Argon2Hasher::new();
            let mut made = Vec::new();
            for raw in [
                "correct horse battery staple",
                "quartz lantern over harbor",
                "violet tin orchestra 42",
            ] {
                let password = Password::parse(Zeroizing::new(raw.to_owned()), None, None)
                    .expect("a strong password");
                made.push(hasher.hash(&password).await.expect("argon2 hashing"));
            }
            made.try_into().expect("three hashes")
        })
        .await
}

fn own(user: &User) -> LoginSubject {
    LoginSubject::User(user.tenant_id.clone(), user.user_id, Credential::Own)
}

fn as_linked(primary: &User, identity: &User) -> LoginSubject {
    LoginSubject::User(
        primary.tenant_id.clone(),
        primary.user_id,
        Credential::Linked(identity.user_id.to_string()),
    )
}

fn record(count: u32, last: Timestamp) -> Option<CounterRecord> {
    Some(CounterRecord {
        count,
        last_failure: Some(last),
        last_success: None,
    })
}

async fn state<S: Stores>(store: &S, subject: &LoginSubject, ip: &str) -> LoginState {
    store.login_state(subject, ip).await.expect("login_state")
}

async fn password_of<S: Stores>(store: &S, subject: &LoginSubject) -> Option<PasswordHash> {
    state(store, subject, IP).await.hash
}

/// Counts one failure of `subject` from `ip` at `at`, on the counters as they are now.
async fn fail<S: Stores>(store: &S, subject: &LoginSubject, ip: &str, at: Timestamp) {
    let read = state(store, subject, ip).await;
    store
        .record_failure(subject, &read, ip, at, &BruteForce::default())
        .await
        .expect("record_failure");
}

/// Whom a login by `identifier` in `connection` signs in as.
async fn login_of<S: Stores>(
    store: &S,
    tenant: &TenantId,
    identifier: &str,
    connection: &Connection,
) -> Option<(UserId, Credential)> {
    let identifier = Identifier::parse(identifier).expect("a valid identifier");
    store
        .find_login(tenant, &identifier, connection)
        .await
        .expect("find_login")
}

async fn identity_owner<S: Stores>(store: &S, user: &User) -> Option<UserId> {
    let own = &user.identities[0];
    store
        .identity_owner(&user.tenant_id, &own.provider, &own.user_id)
        .await
        .expect("identity_owner")
}

async fn find_by_email<S: Stores>(store: &S, tenant: &TenantId, raw: &str) -> Vec<UserId> {
    let email = Email::parse(raw).expect("a valid address");
    let mut ids: Vec<UserId> = store
        .find_by_email(tenant, &email)
        .await
        .expect("find_by_email")
        .iter()
        .map(|u| u.user_id)
        .collect();
    ids.sort();
    ids
}

async fn get<S: Stores>(store: &S, user: &User) -> Option<User> {
    store
        .get(&user.tenant_id, &user.user_id)
        .await
        .expect("get")
}

async fn messages<S: Stores>(store: &S, user: &User) -> Vec<Message> {
    let mut messages = store
        .stored(&user.tenant_id, &user.user_id)
        .await
        .expect("stored")
        .expect("the user exists")
        .messages;
    messages.sort_by(|a, b| a.id.cmp(&b.id));
    messages
}

async fn ticket<S: Stores>(store: &S, tenant: &TenantId, hash: &TicketHash) -> Option<Ticket> {
    store.ticket(tenant, hash).await.expect("ticket")
}

/// The messages of `tenant` that `due` returns at `now`, in the order returned.
async fn due_in<S: Stores>(store: &S, tenant: &TenantId, now: Timestamp) -> Vec<Message> {
    store
        .due(now, 1000)
        .await
        .expect("due")
        .messages
        .into_iter()
        .filter(|m| &m.tenant_id == tenant)
        .collect()
}

/// The users of `tenant` that `due_erasures` returns at `now`.
async fn due_erasures_in<S: Stores>(store: &S, tenant: &TenantId, now: Timestamp) -> Vec<User> {
    let mut users: Vec<User> = store
        .due_erasures(now, 1000)
        .await
        .expect("due_erasures")
        .users
        .into_iter()
        .filter(|u| &u.tenant_id == tenant)
        .collect();
    users.sort_by_key(|u| u.user_id);
    users
}

fn sorted<T: std::fmt::Debug>(mut items: Vec<T>) -> Vec<T> {
    items.sort_by_key(|item| format!("{item:?}"));
    items
}

/// Everything the ports show of a user and of the unique values it holds: what a failed
/// write must leave as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    user: Option<User>,
    tickets: Vec<Ticket>,
    messages: Vec<Message>,
    counters: Vec<(Counter, CounterRecord)>,
    password: Option<PasswordHash>,
    email: Option<(UserId, Credential)>,
    username: Option<(UserId, Credential)>,
    identity: Option<UserId>,
}

async fn snapshot<S: Stores>(store: &S, user: &User) -> Snapshot {
    let t = &user.tenant_id;
    let stored = store.stored(t, &user.user_id).await.expect("stored");
    let (found, tickets, messages, counters) = match stored {
        Some(s) => (
            Some(s.user),
            sorted(s.tickets),
            sorted(s.messages),
            sorted(s.counters),
        ),
        None => (None, Vec::new(), Vec::new(), Vec::new()),
    };
    let connection = user.connection();
    let email = match &user.email {
        Some(e) => login_of(store, t, e, connection).await,
        None => None,
    };
    let username = match &user.username {
        Some(u) => login_of(store, t, u, connection).await,
        None => None,
    };
    Snapshot {
        user: found,
        tickets,
        messages,
        counters,
        password: password_of(store, &own(user)).await,
        email,
        username,
        identity: identity_owner(store, user).await,
    }
}

/// `user`'s own email, username and identity all name it.
async fn assert_holds_its_values<S: Stores>(store: &S, user: &User) {
    let t = &user.tenant_id;
    let mine = Some((user.user_id, Credential::Own));
    if let Some(e) = &user.email {
        assert_eq!(
            login_of(store, t, e, user.connection()).await,
            mine,
            "email {e}"
        );
    }
    if let Some(u) = &user.username {
        assert_eq!(
            login_of(store, t, u, user.connection()).await,
            mine,
            "username {u}"
        );
    }
    assert_eq!(identity_owner(store, user).await, Some(user.user_id));
}

/// Nobody holds `user`'s email, username or identity.
async fn assert_values_free<S: Stores>(store: &S, user: &User) {
    let t = &user.tenant_id;
    if let Some(e) = &user.email {
        assert_eq!(
            login_of(store, t, e, user.connection()).await,
            None,
            "email {e}"
        );
    }
    if let Some(u) = &user.username {
        assert_eq!(
            login_of(store, t, u, user.connection()).await,
            None,
            "username {u}"
        );
    }
    assert_eq!(identity_owner(store, user).await, None, "identity");
}

macro_rules! assert_fails {
    ($result:expr, $pattern:pat) => {{
        let result = $result;
        assert!(
            matches!(result, Err($pattern)),
            "expected Err({}), got {:?}",
            stringify!($pattern),
            result
        );
    }};
}

/// Creates `user` with a password, a queued verification (its message, send count and
/// ticket), a password-change ticket and one failed login from [`IP`]: an item of every
/// family a user has. Returns both tickets' hashes.
async fn furnished<S: Stores>(store: &S, user: &User) -> [TicketHash; 2] {
    let [hash, _, _] = hashes().await;
    let verification = mail(MessageKind::VerifyEmail, user, t0());
    let (verify_hash, _) = verification
        .ticket
        .clone()
        .expect("a verification has a ticket");
    store
        .create(user, Some(hash), &[verification])
        .await
        .expect("create");
    let (reset_hash, reset) = ticket_for(user, TicketKind::PasswordChange, t0());
    store
        .put_ticket(&reset_hash, &reset)
        .await
        .expect("put_ticket");
    fail(store, &own(user), IP, t0()).await;
    [verify_hash, reset_hash]
}

// ---------------------------------------------------------------------------------------------
// UserStore
// ---------------------------------------------------------------------------------------------

async fn create_stores_the_user_and_get_reads_it_back<S: Stores>(store: &S) {
    let [hash, _, _] = hashes().await;
    let t = tenant();
    let mut user = database_user(&t, Some("Ana.Silva@Example.com"), Some("Ana_S"));
    user.name = Some("Ana Silva".into());
    user.user_metadata =
        parse_initial(Kind::User, json!({"theme": "dark", "n": 3})).expect("valid metadata");
    user.app_metadata = parse_initial(Kind::App, json!({"plan": "pro"})).expect("valid metadata");
    store.create(&user, Some(hash), &[]).await.expect("create");

    assert_eq!(get(store, &user).await, Some(user.clone()));
    assert_holds_its_values(store, &user).await;
    assert_eq!(
        login_of(store, &t, "ana.silva@EXAMPLE.com", &database()).await,
        Some((user.user_id, Credential::Own)),
        "an address is one account whatever its case"
    );
    assert_eq!(
        login_of(store, &t, "ANA_s", &database()).await,
        Some((user.user_id, Credential::Own)),
        "so is a username"
    );
    // The hash is kept apart: only a login's read returns it.
    assert_eq!(password_of(store, &own(&user)).await.as_ref(), Some(hash));
    let stored = store
        .stored(&t, &user.user_id)
        .await
        .expect("stored")
        .expect("the user exists");
    assert_eq!(stored.user, user);
    assert!(stored.tickets.is_empty() && stored.messages.is_empty() && stored.counters.is_empty());
}

async fn create_queues_the_mail_it_is_given_with_its_tickets<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    let verification = mail(MessageKind::VerifyEmail, &user, t0());
    let notice = mail(MessageKind::AccountDeletionScheduled, &user, t0());
    store
        .create(&user, None, &[verification.clone(), notice.clone()])
        .await
        .expect("create");

    let (hash, minted) = verification
        .ticket
        .clone()
        .expect("a verification has a ticket");
    assert_eq!(ticket(store, &t, &hash).await, Some(minted.clone()));
    let stored = store
        .stored(&t, &user.user_id)
        .await
        .expect("stored")
        .expect("the user exists");
    assert_eq!(
        sorted(stored.messages),
        sorted(vec![verification.message, notice.message])
    );
    assert_eq!(stored.tickets, vec![minted]);
    assert_eq!(
        password_of(store, &own(&user)).await,
        None,
        "no password given"
    );
}

async fn create_queues_every_message_it_is_given_even_two_of_one_kind<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    let pair = [
        mail(MessageKind::VerifyEmail, &user, t0()),
        mail(MessageKind::VerifyEmail, &user, t0()),
    ];
    store.create(&user, None, &pair).await.expect("create");
    assert_eq!(
        messages(store, &user).await,
        sorted_by_id(pair.iter().map(|q| q.message.clone()).collect())
    );
}

async fn create_refuses_a_taken_email_and_writes_nothing<S: Stores>(store: &S) {
    let [a, b, _] = hashes().await;
    let t = tenant();
    let ana = database_user(&t, Some("ana@example.com"), None);
    store.create(&ana, Some(a), &[]).await.expect("create");
    let before = snapshot(store, &ana).await;

    let bea = database_user(&t, Some("ANA@Example.COM"), Some("bea"));
    let verification = mail(MessageKind::VerifyEmail, &bea, t0());
    let (hash, _) = verification.ticket.clone().expect("a ticket");
    assert_fails!(
        store.create(&bea, Some(b), &[verification]).await,
        StoreError::Taken(Unique::Email)
    );

    assert_eq!(get(store, &bea).await, None);
    assert!(
        store
            .stored(&t, &bea.user_id)
            .await
            .expect("stored")
            .is_none()
    );
    assert_eq!(login_of(store, &t, "bea", &database()).await, None);
    assert_eq!(identity_owner(store, &bea).await, None);
    assert_eq!(password_of(store, &own(&bea)).await, None);
    assert_eq!(ticket(store, &t, &hash).await, None, "its mail's ticket");
    assert_eq!(
        find_by_email(store, &t, "ana@example.com").await,
        vec![ana.user_id]
    );
    assert_eq!(snapshot(store, &ana).await, before);
}

async fn create_refuses_a_taken_username_and_writes_nothing<S: Stores>(store: &S) {
    let t = tenant();
    let ana = database_user(&t, None, Some("Ana_S"));
    store.create(&ana, None, &[]).await.expect("create");
    let bea = database_user(&t, Some("bea@example.com"), Some("ana_s"));
    assert_fails!(
        store.create(&bea, None, &[]).await,
        StoreError::Taken(Unique::Username)
    );
    assert_eq!(get(store, &bea).await, None);
    assert_eq!(
        login_of(store, &t, "bea@example.com", &database()).await,
        None
    );
    assert!(find_by_email(store, &t, "bea@example.com").await.is_empty());
    assert_eq!(identity_owner(store, &bea).await, None);
    assert_holds_its_values(store, &ana).await;
}

async fn create_refuses_a_taken_identity_and_writes_nothing<S: Stores>(store: &S) {
    let t = tenant();
    let ana = social_user(&t, "108234567890", Some("ana@example.com"));
    store.create(&ana, None, &[]).await.expect("create");
    let twin = social_user(&t, "108234567890", Some("twin@example.com"));
    assert_fails!(
        store.create(&twin, None, &[]).await,
        StoreError::Taken(Unique::Identity)
    );
    assert_eq!(get(store, &twin).await, None);
    assert!(
        find_by_email(store, &t, "twin@example.com")
            .await
            .is_empty()
    );
    assert_eq!(identity_owner(store, &twin).await, Some(ana.user_id));
}

async fn an_email_is_unique_per_connection_only<S: Stores>(store: &S) {
    let t = tenant();
    let local = database_user(&t, Some("ana@example.com"), None);
    let social = social_user(&t, "1001", Some("Ana@example.com"));
    store.create(&local, None, &[]).await.expect("create");
    store
        .create(&social, None, &[])
        .await
        .expect("create in another connection");

    let mut both = vec![local.user_id, social.user_id];
    both.sort();
    assert_eq!(find_by_email(store, &t, "ana@example.com").await, both);
    assert_eq!(
        login_of(store, &t, "ana@example.com", &database()).await,
        Some((local.user_id, Credential::Own))
    );
    assert_eq!(
        login_of(store, &t, "ana@example.com", &google()).await,
        Some((social.user_id, Credential::Own))
    );
    let other = Connection::parse("facebook").expect("a valid connection");
    assert_eq!(login_of(store, &t, "ana@example.com", &other).await, None);
}

async fn get_and_stored_of_an_unknown_user_find_nothing<S: Stores>(store: &S) {
    let t = tenant();
    let id = UserId::generate();
    assert_eq!(store.get(&t, &id).await.expect("get"), None);
    assert!(store.stored(&t, &id).await.expect("stored").is_none());
}

async fn a_user_is_invisible_from_another_tenant<S: Stores>(store: &S) {
    let (t1, t2) = (tenant(), tenant());
    let mut ana = social_user(&t1, "2002", Some("ana@example.com"));
    ana.username = Some("ana".into());
    store.create(&ana, None, &[]).await.expect("create");
    let elsewhere = |u: &User| {
        let mut u = u.clone();
        u.tenant_id = t2.clone();
        u
    };
    let ghost = elsewhere(&ana);

    assert_eq!(get(store, &ghost).await, None);
    assert!(
        store
            .stored(&t2, &ana.user_id)
            .await
            .expect("stored")
            .is_none()
    );
    assert!(
        find_by_email(store, &t2, "ana@example.com")
            .await
            .is_empty()
    );
    assert_values_free(store, &ghost).await;
    let page = store
        .list(
            &t2,
            &PageRequest {
                limit: 100,
                start: Position::default(),
            },
        )
        .await
        .expect("list");
    assert!(page.users.is_empty());

    // The same values are free to take there, and each tenant keeps its own.
    let mut twin = social_user(&t2, "2002", Some("ana@example.com"));
    twin.username = Some("ana".into());
    store
        .create(&twin, None, &[])
        .await
        .expect("the same values in another tenant");
    assert_holds_its_values(store, &ana).await;
    assert_holds_its_values(store, &twin).await;
}

async fn update_sets_and_removes_fields_and_bumps_the_version<S: Stores>(store: &S) {
    let t = tenant();
    let mut user = database_user(&t, Some("ana@example.com"), None);
    user.name = Some("Ana".into());
    user.nickname = Some("nana".into());
    store.create(&user, None, &[]).await.expect("create");
    let at = t0().plus_secs(60);
    let update = FieldUpdate {
        set: vec![("name", json!("Ana Silva")), ("blocked", json!(true))],
        remove: vec!["nickname"],
        user_metadata: None,
        app_metadata: None,
        updated_at: at,
    };
    let updated = store
        .update(&t, &user.user_id, &update, Some(1))
        .await
        .expect("update");
    let expected = edited(&user, at, |u| {
        u.name = Some("Ana Silva".into());
        u.blocked = true;
        u.nickname = None;
    });
    assert_eq!(updated, expected);
    assert_eq!(updated.version, 2);
    assert_eq!(get(store, &user).await, Some(expected));
}

async fn update_merges_and_clears_metadata<S: Stores>(store: &S) {
    let t = tenant();
    let mut user = database_user(&t, None, None);
    user.user_metadata =
        parse_initial(Kind::User, json!({"theme": "dark", "lang": "pt"})).expect("valid metadata");
    user.app_metadata = parse_initial(Kind::App, json!({"plan": "pro"})).expect("valid metadata");
    store.create(&user, None, &[]).await.expect("create");
    let at = t0().plus_secs(60);
    let update = FieldUpdate {
        set: vec![],
        remove: vec![],
        user_metadata: Some(
            MetadataPatch::parse(
                Kind::User,
                json!({"theme": "light", "lang": null, "tz": {"name": "UTC"}}),
            )
            .expect("a valid patch"),
        ),
        app_metadata: Some(MetadataPatch::parse(Kind::App, json!(null)).expect("a valid patch")),
        updated_at: at,
    };
    let updated = store
        .update(&t, &user.user_id, &update, None)
        .await
        .expect("update");
    let expected = edited(&user, at, |u| {
        u.user_metadata =
            parse_initial(Kind::User, json!({"theme": "light", "tz": {"name": "UTC"}}))
                .expect("valid metadata");
        u.app_metadata.clear();
    });
    assert_eq!(updated, expected);
    assert_eq!(get(store, &user).await, Some(expected));
}

fn rename(to: &str, at: Timestamp) -> FieldUpdate {
    FieldUpdate {
        set: vec![("name", json!(to))],
        remove: vec![],
        user_metadata: None,
        app_metadata: None,
        updated_at: at,
    }
}

async fn update_with_a_stale_version_is_condition_failed<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, None, None);
    store.create(&user, None, &[]).await.expect("create");
    let v2 = store
        .update(
            &t,
            &user.user_id,
            &rename("First", t0().plus_secs(1)),
            Some(1),
        )
        .await
        .expect("update at the current version");
    assert_fails!(
        store
            .update(
                &t,
                &user.user_id,
                &rename("Second", t0().plus_secs(2)),
                Some(1)
            )
            .await,
        StoreError::ConditionFailed
    );
    assert_eq!(get(store, &user).await, Some(v2.clone()));
    let v3 = store
        .update(&t, &user.user_id, &rename("Third", t0().plus_secs(3)), None)
        .await
        .expect("update at any version");
    assert_eq!(v3.version, 3);
    assert_eq!(v3.name.as_deref(), Some("Third"));
}

async fn update_of_a_missing_user_is_condition_failed_and_creates_nothing<S: Stores>(store: &S) {
    let t = tenant();
    let id = UserId::generate();
    assert_fails!(
        store.update(&t, &id, &rename("Nobody", t0()), None).await,
        StoreError::ConditionFailed
    );
    assert_fails!(
        store
            .update(&t, &id, &rename("Nobody", t0()), Some(1))
            .await,
        StoreError::ConditionFailed
    );
    assert_eq!(store.get(&t, &id).await.expect("get"), None);
}

/// A user whose `user_metadata` holds `keys` keys `k00`, `k01`, ...
fn with_metadata_keys(user: &mut User, keys: usize) {
    let object: serde_json::Map<String, serde_json::Value> =
        (0..keys).map(|i| (format!("k{i:02}"), json!(i))).collect();
    user.user_metadata =
        parse_initial(Kind::User, serde_json::Value::Object(object)).expect("valid metadata");
}

async fn update_past_the_metadata_key_cap_is_condition_failed_and_writes_nothing<S: Stores>(
    store: &S,
) {
    let t = tenant();
    let mut user = database_user(&t, None, None);
    with_metadata_keys(&mut user, MAX_KEYS - 1);
    store.create(&user, None, &[]).await.expect("create");
    let update = FieldUpdate {
        set: vec![("name", json!("Ana"))],
        remove: vec![],
        user_metadata: Some(
            MetadataPatch::parse(Kind::User, json!({"new_a": 1, "new_b": 2}))
                .expect("a valid patch"),
        ),
        app_metadata: None,
        updated_at: t0().plus_secs(60),
    };
    assert_fails!(
        store.update(&t, &user.user_id, &update, None).await,
        StoreError::ConditionFailed
    );
    assert_eq!(get(store, &user).await, Some(user));
}

async fn update_may_fill_metadata_up_to_the_key_cap<S: Stores>(store: &S) {
    let t = tenant();
    let mut user = database_user(&t, None, None);
    with_metadata_keys(&mut user, MAX_KEYS - 1);
    store.create(&user, None, &[]).await.expect("create");
    let at = t0().plus_secs(60);
    let update = FieldUpdate {
        set: vec![],
        remove: vec![],
        user_metadata: Some(
            MetadataPatch::parse(Kind::User, json!({"last": true})).expect("a valid patch"),
        ),
        app_metadata: None,
        updated_at: at,
    };
    let updated = store
        .update(&t, &user.user_id, &update, Some(1))
        .await
        .expect("a merge that leaves exactly the cap");
    assert_eq!(updated.user_metadata.len(), MAX_KEYS);
    let expected = edited(&user, at, |u| {
        u.user_metadata.insert("last".into(), json!(true));
    });
    assert_eq!(get(store, &user).await, Some(expected));
}

async fn replace_writes_the_next_user<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), Some("ana"));
    store.create(&user, None, &[]).await.expect("create");
    let next = edited(&user, t0().plus_secs(60), |u| {
        u.name = Some("Ana".into());
        u.phone_number = Some("+14155550123".into());
        u.email_verified = false;
    });
    store
        .replace(&user, &next, None, Effects::default())
        .await
        .expect("replace");
    assert_eq!(get(store, &user).await, Some(next.clone()));
    assert_holds_its_values(store, &next).await;
}

async fn replace_moves_guards<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("old@example.com"), Some("ana"));
    store.create(&user, None, &[]).await.expect("create");
    let next = edited(&user, t0().plus_secs(60), |u| {
        u.email = Some("new@example.com".into());
        u.username = Some("ana_silva".into());
    });
    store
        .replace(&user, &next, None, Effects::default())
        .await
        .expect("replace");

    assert_holds_its_values(store, &next).await;
    assert_eq!(
        login_of(store, &t, "old@example.com", &database()).await,
        None
    );
    assert_eq!(login_of(store, &t, "ana", &database()).await, None);
    assert!(find_by_email(store, &t, "old@example.com").await.is_empty());
    assert_eq!(
        find_by_email(store, &t, "new@example.com").await,
        vec![user.user_id]
    );

    // A value dropped altogether is released too.
    let bare = edited(&next, t0().plus_secs(120), |u| u.username = None);
    store
        .replace(&next, &bare, None, Effects::default())
        .await
        .expect("replace");
    assert_eq!(login_of(store, &t, "ana_silva", &database()).await, None);

    // What was released is free for someone else.
    let other = database_user(&t, Some("old@example.com"), Some("ana_silva"));
    store
        .create(&other, None, &[])
        .await
        .expect("released values are free");
    assert_holds_its_values(store, &other).await;
}

async fn replace_keeps_the_guard_when_only_the_case_of_the_email_changes<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    let next = edited(&user, t0().plus_secs(60), |u| {
        u.email = Some("Ana@Example.com".into());
    });
    store
        .replace(&user, &next, None, Effects::default())
        .await
        .expect("replace");
    assert_holds_its_values(store, &next).await;
    let other = database_user(&t, Some("ANA@example.com"), None);
    assert_fails!(
        store.create(&other, None, &[]).await,
        StoreError::Taken(Unique::Email)
    );
}

async fn replace_with_a_stale_version_is_condition_failed_and_writes_nothing<S: Stores>(store: &S) {
    let [a, b, _] = hashes().await;
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), Some("ana"));
    store.create(&user, Some(a), &[]).await.expect("create");
    let v2 = store
        .update(&t, &user.user_id, &rename("Ana", t0().plus_secs(1)), None)
        .await
        .expect("update");
    let before = snapshot(store, &v2).await;

    let next = edited(&user, t0().plus_secs(60), |u| {
        u.email = Some("new@example.com".into());
        u.email_verified = false;
        u.username = Some("ana_new".into());
    });
    let verification = mail(MessageKind::VerifyEmail, &next, t0().plus_secs(60));
    let (hash, _) = verification.ticket.clone().expect("a ticket");
    let effects = Effects {
        mail: std::slice::from_ref(&verification),
        ..Effects::default()
    };
    assert_fails!(
        store
            .replace(&user, &next, Some((&Credential::Own, b)), effects)
            .await,
        StoreError::ConditionFailed
    );

    assert_eq!(snapshot(store, &v2).await, before);
    assert_eq!(password_of(store, &own(&user)).await.as_ref(), Some(a));
    assert_eq!(
        login_of(store, &t, "new@example.com", &database()).await,
        None
    );
    assert_eq!(login_of(store, &t, "ana_new", &database()).await, None);
    assert_eq!(ticket(store, &t, &hash).await, None);
}

async fn replace_of_a_user_that_does_not_exist_is_condition_failed<S: Stores>(store: &S) {
    let t = tenant();
    let ghost = database_user(&t, Some("ghost@example.com"), None);
    let next = edited(&ghost, t0().plus_secs(60), |u| {
        u.name = Some("Ghost".into())
    });
    assert_fails!(
        store.replace(&ghost, &next, None, Effects::default()).await,
        StoreError::ConditionFailed
    );
    assert_eq!(get(store, &ghost).await, None);
    assert_values_free(store, &ghost).await;
}

async fn replace_refuses_a_taken_email_and_writes_nothing<S: Stores>(store: &S) {
    let t = tenant();
    let ana = database_user(&t, Some("ana@example.com"), None);
    let bea = database_user(&t, Some("bea@example.com"), Some("bea"));
    store.create(&ana, None, &[]).await.expect("create");
    store.create(&bea, None, &[]).await.expect("create");
    let before = snapshot(store, &bea).await;
    let next = edited(&bea, t0().plus_secs(60), |u| {
        u.email = Some("ANA@example.com".into());
        u.username = Some("bea_new".into());
        u.name = Some("Bea".into());
    });
    assert_fails!(
        store.replace(&bea, &next, None, Effects::default()).await,
        StoreError::Taken(Unique::Email)
    );
    assert_eq!(snapshot(store, &bea).await, before);
    assert_eq!(login_of(store, &t, "bea_new", &database()).await, None);
    assert_holds_its_values(store, &ana).await;
}

async fn replace_refuses_a_taken_username_and_writes_nothing<S: Stores>(store: &S) {
    let t = tenant();
    let ana = database_user(&t, None, Some("ana"));
    let bea = database_user(&t, Some("bea@example.com"), Some("bea"));
    store.create(&ana, None, &[]).await.expect("create");
    store.create(&bea, None, &[]).await.expect("create");
    let before = snapshot(store, &bea).await;
    let next = edited(&bea, t0().plus_secs(60), |u| {
        u.email = Some("bea.new@example.com".into());
        u.username = Some("ANA".into());
    });
    assert_fails!(
        store.replace(&bea, &next, None, Effects::default()).await,
        StoreError::Taken(Unique::Username)
    );
    assert_eq!(snapshot(store, &bea).await, before);
    assert_eq!(
        login_of(store, &t, "bea.new@example.com", &database()).await,
        None
    );
    assert_holds_its_values(store, &ana).await;
}

async fn replace_writes_the_password_it_is_given<S: Stores>(store: &S) {
    let [a, b, _] = hashes().await;
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, Some(a), &[]).await.expect("create");
    let next = edited(&user, t0().plus_secs(60), |u| {
        u.last_password_reset = Some(t0().plus_secs(60));
    });
    store
        .replace(
            &user,
            &next,
            Some((&Credential::Own, b)),
            Effects::default(),
        )
        .await
        .expect("replace");
    assert_eq!(password_of(store, &own(&user)).await.as_ref(), Some(b));
    assert_eq!(get(store, &user).await, Some(next));
}

async fn replace_redeems_the_ticket_it_consumes<S: Stores>(store: &S) {
    let t = tenant();
    let mut user = database_user(&t, Some("ana@example.com"), None);
    user.email_verified = false;
    store.create(&user, None, &[]).await.expect("create");
    let (hash, minted) = ticket_for(&user, TicketKind::EmailVerification, t0());
    store.put_ticket(&hash, &minted).await.expect("put_ticket");
    let next = edited(&user, t0().plus_secs(60), |u| u.email_verified = true);
    let effects = Effects {
        redeem: Some((&t, &hash)),
        ..Effects::default()
    };
    store
        .replace(&user, &next, None, effects)
        .await
        .expect("replace");
    assert_eq!(get(store, &user).await, Some(next));
    assert_eq!(ticket(store, &t, &hash).await, None);
    let stored = store
        .stored(&t, &user.user_id)
        .await
        .expect("stored")
        .expect("the user exists");
    assert!(stored.tickets.is_empty(), "{:?}", stored.tickets);
}

async fn a_consumed_ticket_cannot_be_redeemed_twice<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    let (hash, minted) = ticket_for(&user, TicketKind::PasswordChange, t0());
    store.put_ticket(&hash, &minted).await.expect("put_ticket");
    let redeem = Effects {
        redeem: Some((&t, &hash)),
        ..Effects::default()
    };
    let first = edited(&user, t0().plus_secs(60), |u| u.name = Some("First".into()));
    store
        .replace(&user, &first, None, redeem)
        .await
        .expect("the first redemption");
    let before = snapshot(store, &first).await;

    let second = edited(&first, t0().plus_secs(120), |u| {
        u.name = Some("Second".into());
        u.email = Some("second@example.com".into());
    });
    let notice = mail(MessageKind::EmailChangeNotice, &first, t0().plus_secs(120));
    let again = Effects {
        redeem: Some((&t, &hash)),
        mail: std::slice::from_ref(&notice),
        ..Effects::default()
    };
    assert_fails!(
        store.replace(&first, &second, None, again).await,
        StoreError::Consumed
    );
    assert_eq!(snapshot(store, &first).await, before);
    assert_eq!(
        login_of(store, &t, "second@example.com", &database()).await,
        None
    );

    // A ticket never stored is as gone as a used one.
    let (never, _) = ticket_for(&user, TicketKind::PasswordChange, t0());
    let unknown = Effects {
        redeem: Some((&t, &never)),
        ..Effects::default()
    };
    assert_fails!(
        store.replace(&first, &second, None, unknown).await,
        StoreError::Consumed
    );
    assert_eq!(snapshot(store, &first).await, before);
}

async fn replace_queues_mail_within_the_cap<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    let next = edited(&user, t0().plus_secs(60), |u| {
        u.pending_email = Some("new@example.com".into());
    });
    let verification = mail(MessageKind::VerifyEmail, &next, t0().plus_secs(60));
    let effects = Effects {
        mail: std::slice::from_ref(&verification),
        cap: SendCap { per_hour: 1 },
        redeem: None,
    };
    store
        .replace(&user, &next, None, effects)
        .await
        .expect("replace");
    assert_eq!(get(store, &user).await, Some(next.clone()));
    assert_eq!(messages(store, &user).await, vec![verification.message]);
    let (hash, minted) = verification.ticket.expect("a ticket");
    assert_eq!(ticket(store, &t, &hash).await, Some(minted));
}

async fn replace_counts_each_message_it_queues_against_the_cap<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    let at = t0().plus_secs(60);
    let next = edited(&user, at, |u| u.name = Some("Ana".into()));
    let pair = [
        mail(MessageKind::PasswordReset, &next, at),
        mail(MessageKind::PasswordReset, &next, at),
    ];
    let effects = Effects {
        mail: &pair,
        cap: SendCap { per_hour: 2 },
        redeem: None,
    };
    store
        .replace(&user, &next, None, effects)
        .await
        .expect("two of one kind, within a cap of two");
    assert_eq!(get(store, &user).await, Some(next.clone()));
    assert_eq!(
        messages(store, &user).await,
        sorted_by_id(pair.iter().map(|q| q.message.clone()).collect())
    );
}

async fn replace_over_the_cap_is_capped_and_writes_nothing<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    let at = t0().plus_secs(60);
    let cap = SendCap { per_hour: 1 };
    let next = edited(&user, at, |u| u.name = Some("First".into()));
    let first = mail(MessageKind::PasswordReset, &next, at);
    let effects = Effects {
        mail: std::slice::from_ref(&first),
        cap,
        redeem: None,
    };
    store
        .replace(&user, &next, None, effects)
        .await
        .expect("the first, within the cap");
    let before = snapshot(store, &next).await;

    let after = edited(&next, at.plus_secs(1), |u| {
        u.name = Some("Second".into());
        u.username = Some("ana".into());
    });
    let second = mail(MessageKind::PasswordReset, &after, at.plus_secs(1));
    let (hash, _) = second.ticket.clone().expect("a ticket");
    let effects = Effects {
        mail: std::slice::from_ref(&second),
        cap,
        redeem: None,
    };
    assert_fails!(
        store.replace(&next, &after, None, effects).await,
        StoreError::Capped
    );
    assert_eq!(snapshot(store, &next).await, before);
    assert_eq!(login_of(store, &t, "ana", &database()).await, None);
    assert_eq!(ticket(store, &t, &hash).await, None);
}

async fn stored_holds_the_user_its_tickets_messages_and_counters<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    let verification = mail(MessageKind::VerifyEmail, &user, t0());
    store
        .create(&user, None, std::slice::from_ref(&verification))
        .await
        .expect("create");
    let (reset_hash, reset) = ticket_for(&user, TicketKind::PasswordChange, t0().plus_secs(5));
    store
        .put_ticket(&reset_hash, &reset)
        .await
        .expect("put_ticket");
    fail(store, &own(&user), IP, t0().plus_secs(10)).await;

    let stored = store
        .stored(&t, &user.user_id)
        .await
        .expect("stored")
        .expect("the user exists");
    assert_eq!(stored.user, user);
    let (_, verify_ticket) = verification.ticket.expect("a ticket");
    assert_eq!(sorted(stored.tickets), sorted(vec![verify_ticket, reset]));
    assert_eq!(stored.messages, vec![verification.message]);
    assert_eq!(
        sorted(stored.counters),
        sorted(vec![
            (
                Counter::Ip(IP.into()),
                record(1, t0().plus_secs(10)).unwrap()
            ),
            (Counter::User, record(1, t0().plus_secs(10)).unwrap()),
        ])
    );
}

async fn the_count_is_kept_by_creates_and_a_refused_create_counts_nothing<S: Stores>(store: &S) {
    let t = tenant();
    assert_eq!(store.count(&t).await.expect("count"), 0);
    for i in 0..3 {
        let user = database_user(&t, Some(&format!("u{i}@example.com")), None);
        store.create(&user, None, &[]).await.expect("create");
    }
    let taken = database_user(&t, Some("u0@example.com"), None);
    assert!(store.create(&taken, None, &[]).await.is_err());
    assert_eq!(store.count(&t).await.expect("count"), 3);
    assert_eq!(
        store.count(&tenant()).await.expect("count"),
        0,
        "fenced by the tenant"
    );
}

async fn list_pages_through_every_user_of_the_tenant_once<S: Stores>(store: &S) {
    let (t, other) = (tenant(), tenant());
    let mut created = Vec::new();
    for i in 0..7 {
        let user = database_user(&t, Some(&format!("u{i}@example.com")), None);
        store.create(&user, None, &[]).await.expect("create");
        created.push(user);
    }
    for i in 0..2 {
        let user = database_user(&other, Some(&format!("u{i}@example.com")), None);
        store.create(&user, None, &[]).await.expect("create");
    }

    let mut seen: Vec<User> = Vec::new();
    let mut request = PageRequest {
        limit: 3,
        start: Position::default(),
    };
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 20, "paging does not end");
        let page = store.list(&t, &request).await.expect("list");
        assert!(
            page.users.len() <= 3,
            "a page of {} users",
            page.users.len()
        );
        seen.extend(page.users);
        match page.next {
            Some(next) => request.start = next,
            None => break,
        }
    }
    // In listing order: by shard, then by user id (creation) within a shard.
    let order: Vec<(u16, UserId)> = seen
        .iter()
        .map(|u| (shard_of(&u.user_id), u.user_id))
        .collect();
    let mut walked = order.clone();
    walked.sort();
    assert_eq!(order, walked, "pages follow the listing order");
    let by_id = |mut users: Vec<User>| {
        users.sort_by_key(|u| u.user_id);
        users
    };
    assert_eq!(by_id(seen), by_id(created), "every user once, as stored");
}

async fn list_of_an_empty_tenant_is_one_empty_last_page<S: Stores>(store: &S) {
    let page = store
        .list(
            &tenant(),
            &PageRequest {
                limit: 50,
                start: Position::default(),
            },
        )
        .await
        .expect("list");
    assert!(page.users.is_empty());
    assert_eq!(page.next, None);
}

/// A database user whose id falls in listing shard `shard`.
fn database_user_in(tenant: &TenantId, email: &str, shard: u16) -> User {
    let id = std::iter::repeat_with(UserId::generate)
        .find(|id| shard_of(id) == shard)
        .expect("ids fall in every shard");
    let mut user = User::new(id, tenant.clone(), Identity::database(&id), t0());
    user.email = Some(address(email));
    user
}

async fn list_reads_past_the_shards_that_hold_nobody_and_ends_on_the_last_user<S: Stores>(
    store: &S,
) {
    let t = tenant();
    let mut created = Vec::new();
    for (i, shard) in [0, 0, 0, 11, 11].into_iter().enumerate() {
        let user = database_user_in(&t, &format!("u{i}@example.com"), shard);
        store.create(&user, None, &[]).await.expect("create");
        created.push(user);
    }
    created.sort_by_key(|u| (shard_of(&u.user_id), u.user_id));
    let want: Vec<UserId> = created.iter().map(|u| u.user_id).collect();
    let page = |limit, start| PageRequest { limit, start };

    let all = store
        .list(&t, &page(5, Position::default()))
        .await
        .expect("list");
    let got: Vec<UserId> = all.users.iter().map(|u| u.user_id).collect();
    assert_eq!(got, want, "in listing order, shard 0's before shard 11's");
    assert_eq!(all.next, None, "a page that holds the last user says so");
    if let Some(counts) = all.occupancy {
        assert_eq!(counts.total(), 5, "the counts it read: {counts:?}");
    }

    // Three at a time: the first page ends with shard 0, the second starts past the empty
    // shards between.
    let first = store
        .list(&t, &page(3, Position::default()))
        .await
        .expect("list");
    let second = store
        .list(&t, &page(3, first.next.expect("a second page")))
        .await
        .expect("list");
    let walked: Vec<UserId> = first
        .users
        .iter()
        .chain(&second.users)
        .map(|u| u.user_id)
        .collect();
    assert_eq!(walked, want);
    assert_eq!(second.next, None);
}

/// Every user `filter` names in the tenant, paged two at a time, by id.
async fn listed<S: Stores>(store: &S, tenant: &TenantId, filter: &Filter) -> Vec<UserId> {
    let mut request = PageRequest {
        limit: 2,
        start: Position::default(),
    };
    let mut ids = Vec::new();
    for _ in 0..20 {
        let page = store
            .list_where(tenant, filter, &request)
            .await
            .expect("list_where");
        ids.extend(page.users.iter().map(|u| u.user_id));
        match page.next {
            Some(next) => request.start = next,
            None => {
                ids.sort();
                return ids;
            }
        }
    }
    panic!("paging does not end")
}

fn ids_of<'a>(users: impl IntoIterator<Item = &'a User>) -> Vec<UserId> {
    let mut ids: Vec<UserId> = users.into_iter().map(|u| u.user_id).collect();
    ids.sort();
    ids
}

async fn list_where_and_count_where_find_the_users_a_filter_names<S: Stores>(store: &S) {
    let t = tenant();
    let verified: Vec<User> = (0..3)
        .map(|i| database_user(&t, Some(&format!("v{i}@example.com")), None))
        .collect();
    let no_address = database_user(&t, None, Some("nomail"));
    let social = social_user(&t, "50505", Some("s@example.com"));
    for user in verified.iter().chain([&no_address, &social]) {
        store.create(user, None, &[]).await.expect("create");
    }
    let other = tenant();
    store
        .create(
            &database_user(&other, Some("v0@example.com"), None),
            None,
            &[],
        )
        .await
        .expect("create");

    let yes = Filter::EmailVerified(true);
    assert_eq!(
        listed(store, &t, &yes).await,
        ids_of(verified.iter().chain([&social]))
    );
    assert_eq!(
        listed(store, &t, &Filter::EmailVerified(false)).await,
        ids_of([&no_address])
    );
    assert_eq!(
        listed(store, &t, &Filter::Connection(google())).await,
        ids_of([&social])
    );
    assert_eq!(
        listed(store, &t, &Filter::Connection(database())).await,
        ids_of(verified.iter().chain([&no_address]))
    );
    let count = |at_most| store.count_where(&t, &yes, at_most, None);
    assert_eq!(count(100).await.expect("count_where"), 4);
    let bounded = count(2).await.expect("count_where");
    assert_eq!(bounded, 2, "stops at its bound");

    let verify = FieldUpdate {
        set: vec![("email_verified", json!(true))],
        remove: Vec::new(),
        user_metadata: None,
        app_metadata: None,
        updated_at: t0().plus_secs(60),
    };
    store
        .update(&t, &no_address.user_id, &verify, None)
        .await
        .expect("update");
    assert_eq!(
        count(100).await.expect("count_where"),
        5,
        "an update moves it"
    );
    let unverified = listed(store, &t, &Filter::EmailVerified(false)).await;
    assert!(unverified.is_empty(), "{unverified:?}");
}

async fn find_by_email_ignores_case_and_finds_nobody_for_an_unknown_address<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("Ana.Silva@Example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    let found = store
        .find_by_email(&t, &Email::parse("aNA.silva@example.COM").expect("valid"))
        .await
        .expect("find_by_email");
    assert_eq!(found, vec![user]);
    assert!(
        find_by_email(store, &t, "nobody@example.com")
            .await
            .is_empty()
    );
}

async fn identity_owner_names_the_holder_of_an_identity<S: Stores>(store: &S) {
    let t = tenant();
    let user = social_user(&t, "30303", None);
    store.create(&user, None, &[]).await.expect("create");
    for (provider, sub, expected) in [
        ("google-oauth2", "30303".to_owned(), Some(user.user_id)),
        ("google-oauth2", "30304".to_owned(), None),
        ("facebook", "30303".to_owned(), None),
        // Its user id is no database identity.
        ("database", user.user_id.to_string(), None),
    ] {
        let owner = store
            .identity_owner(&t, provider, &sub)
            .await
            .expect("identity_owner");
        assert_eq!(owner, expected, "{provider}/{sub}");
    }
}

// ---------------------------------------------------------------------------------------------
// LinkStore
// ---------------------------------------------------------------------------------------------

/// Two database users of a fresh tenant, `pat` (password a) and `sam` (password b).
async fn two_users<S: Stores>(store: &S) -> (User, User) {
    let [a, b, _] = hashes().await;
    let t = tenant();
    let pat = database_user(&t, Some("pat@example.com"), Some("pat"));
    let sam = database_user(&t, Some("sam@example.com"), Some("sam"));
    store.create(&pat, Some(a), &[]).await.expect("create");
    store.create(&sam, Some(b), &[]).await.expect("create");
    (pat, sam)
}

/// [`two_users`], `sam` linked into `pat`: `(pat, sam, pat as linked)`.
async fn linked_pair<S: Stores>(store: &S) -> (User, User, User) {
    let (pat, sam) = two_users(store).await;
    let next = linked(&pat, &sam, t0().plus_secs(60));
    store.link(&pat, &next, &sam).await.expect("link");
    (pat, sam, next)
}

async fn link_moves_the_secondary_into_the_primary<S: Stores>(store: &S) {
    let [a, b, _] = hashes().await;
    let t = tenant();
    let pat = database_user(&t, Some("pat@example.com"), Some("pat"));
    let sam = database_user(&t, Some("sam@example.com"), Some("sam"));
    store.create(&pat, Some(a), &[]).await.expect("create");
    let verification = mail(MessageKind::VerifyEmail, &sam, t0());
    let (sams_ticket, _) = verification.ticket.clone().expect("a ticket");
    store
        .create(&sam, Some(b), &[verification])
        .await
        .expect("create");
    fail(store, &own(&sam), IP, t0()).await;

    let next = linked(&pat, &sam, t0().plus_secs(60));
    store.link(&pat, &next, &sam).await.expect("link");

    assert_eq!(get(store, &pat).await, Some(next.clone()));
    assert_eq!(get(store, &sam).await, None);
    assert!(
        store
            .stored(&t, &sam.user_id)
            .await
            .expect("stored")
            .is_none()
    );
    // Its guards now name the primary, with the identity whose password signs in.
    let as_sam = Some((pat.user_id, Credential::Linked(sam.user_id.to_string())));
    assert_eq!(
        login_of(store, &t, "sam@example.com", &database()).await,
        as_sam
    );
    assert_eq!(login_of(store, &t, "sam", &database()).await, as_sam);
    assert_eq!(identity_owner(store, &sam).await, Some(pat.user_id));
    assert_eq!(
        find_by_email(store, &t, "sam@example.com").await,
        vec![pat.user_id]
    );
    // Its password moved beside the primary's, which stays.
    assert_eq!(
        password_of(store, &as_linked(&pat, &sam)).await.as_ref(),
        Some(b)
    );
    assert_eq!(password_of(store, &own(&pat)).await.as_ref(), Some(a));
    assert_eq!(password_of(store, &own(&sam)).await, None);
    assert_holds_its_values(store, &pat).await;
    // Its remaining items are removed.
    assert_eq!(ticket(store, &t, &sams_ticket).await, None);
    assert!(
        store
            .failure_counters(&t, &sam.user_id)
            .await
            .expect("failure_counters")
            .is_empty()
    );
}

async fn link_moves_a_social_identity_and_finds_the_primary_once_by_a_shared_address<S: Stores>(
    store: &S,
) {
    let t = tenant();
    let pat = database_user(&t, Some("pat@example.com"), None);
    let social = social_user(&t, "40404", Some("PAT@example.com"));
    store.create(&pat, None, &[]).await.expect("create");
    store.create(&social, None, &[]).await.expect("create");
    let next = linked(&pat, &social, t0().plus_secs(60));
    store.link(&pat, &next, &social).await.expect("link");

    assert_eq!(get(store, &social).await, None);
    assert_eq!(identity_owner(store, &social).await, Some(pat.user_id));
    assert_eq!(
        login_of(store, &t, "pat@example.com", &google()).await,
        Some((pat.user_id, Credential::Linked("40404".into())))
    );
    assert_eq!(
        login_of(store, &t, "pat@example.com", &database()).await,
        Some((pat.user_id, Credential::Own))
    );
    let found = store
        .find_by_email(&t, &Email::parse("pat@example.com").expect("valid"))
        .await
        .expect("find_by_email");
    assert_eq!(found, vec![next.clone()], "the primary, once");

    // Unlinked, it has its identity and its address back.
    let (back, restored) = unlinked(&next, 1, t0().plus_secs(120)).expect("a linked identity");
    store.unlink(&next, &back, &restored).await.expect("unlink");
    assert_eq!(get(store, &social).await, Some(restored.clone()));
    assert_eq!(restored.identities, social.identities);
    assert_holds_its_values(store, &restored).await;
    assert_holds_its_values(store, &back).await;
    let mut both = vec![pat.user_id, social.user_id];
    both.sort();
    assert_eq!(find_by_email(store, &t, "pat@example.com").await, both);
}

async fn link_with_a_stale_primary_is_condition_failed_and_writes_nothing<S: Stores>(store: &S) {
    link_after_one_side_moved_writes_nothing(store, true).await;
}

async fn link_with_a_stale_secondary_is_condition_failed_and_writes_nothing<S: Stores>(store: &S) {
    link_after_one_side_moved_writes_nothing(store, false).await;
}

/// A link built from versions one of which (the primary's, or else the secondary's) moved on
/// since: `ConditionFailed`, and both users, passwords and guards as they were.
async fn link_after_one_side_moved_writes_nothing<S: Stores>(store: &S, primary_moved: bool) {
    let (pat, sam) = two_users(store).await;
    let t = pat.tenant_id.clone();
    let (who, name) = if primary_moved {
        (&pat, "Pat")
    } else {
        (&sam, "Sam")
    };
    let moved = store
        .update(&t, &who.user_id, &rename(name, t0().plus_secs(1)), None)
        .await
        .expect("update");
    let (pat_now, sam_now) = if primary_moved {
        (&moved, &sam)
    } else {
        (&pat, &moved)
    };
    let (pat_before, sam_before) = (
        snapshot(store, pat_now).await,
        snapshot(store, sam_now).await,
    );

    let next = linked(&pat, &sam, t0().plus_secs(60));
    assert_fails!(
        store.link(&pat, &next, &sam).await,
        StoreError::ConditionFailed
    );
    assert_eq!(snapshot(store, pat_now).await, pat_before);
    assert_eq!(snapshot(store, sam_now).await, sam_before);
    assert_eq!(password_of(store, &as_linked(&pat, &sam)).await, None);
    assert_holds_its_values(store, &sam).await;
}

async fn link_then_unlink_restores_the_secondary<S: Stores>(store: &S) {
    let [a, b, _] = hashes().await;
    let (pat, sam, next) = linked_pair(store).await;
    let t = pat.tenant_id.clone();
    let (back, restored) = unlinked(&next, 1, t0().plus_secs(120)).expect("a linked identity");
    store.unlink(&next, &back, &restored).await.expect("unlink");

    assert_eq!(get(store, &pat).await, Some(back.clone()));
    assert_eq!(get(store, &sam).await, Some(restored.clone()));
    assert_eq!(restored.identities, sam.identities);
    assert_eq!(restored.email, sam.email);
    assert_holds_its_values(store, &restored).await;
    assert_holds_its_values(store, &back).await;
    assert_eq!(
        find_by_email(store, &t, "sam@example.com").await,
        vec![sam.user_id]
    );
    assert_eq!(password_of(store, &own(&sam)).await.as_ref(), Some(b));
    assert_eq!(password_of(store, &own(&pat)).await.as_ref(), Some(a));
    assert_eq!(password_of(store, &as_linked(&pat, &sam)).await, None);
}

async fn link_and_unlink_move_the_users_search_entries<S: Stores>(store: &S) {
    let t = tenant();
    let pat = database_user(&t, Some("pat@example.com"), None);
    let social = social_user(&t, "60606", None);
    store.create(&pat, None, &[]).await.expect("create");
    store.create(&social, None, &[]).await.expect("create");
    let next = linked(&pat, &social, t0().plus_secs(60));
    store.link(&pat, &next, &social).await.expect("link");
    let google = Filter::Connection(google());
    let database = Filter::Connection(database());
    assert_eq!(listed(store, &t, &google).await, ids_of([&pat]));
    assert_eq!(listed(store, &t, &database).await, ids_of([&pat]));
    assert_eq!(
        listed(store, &t, &Filter::EmailVerified(false)).await,
        Vec::<UserId>::new(),
        "the secondary left the index with its profile"
    );

    let (back, restored) = unlinked(&next, 1, t0().plus_secs(120)).expect("a linked identity");
    store.unlink(&next, &back, &restored).await.expect("unlink");
    assert_eq!(listed(store, &t, &google).await, ids_of([&social]));
    assert_eq!(listed(store, &t, &database).await, ids_of([&pat]));
}

async fn unlink_with_a_stale_primary_is_condition_failed_and_restores_nothing<S: Stores>(
    store: &S,
) {
    let [_, b, _] = hashes().await;
    let (pat, sam, next) = linked_pair(store).await;
    let t = pat.tenant_id.clone();
    let moved = store
        .update(&t, &pat.user_id, &rename("Pat", t0().plus_secs(90)), None)
        .await
        .expect("update");
    let (back, restored) = unlinked(&next, 1, t0().plus_secs(120)).expect("a linked identity");
    assert_fails!(
        store.unlink(&next, &back, &restored).await,
        StoreError::ConditionFailed
    );
    assert_eq!(get(store, &pat).await, Some(moved));
    assert_eq!(get(store, &sam).await, None);
    assert_eq!(
        login_of(store, &t, "sam@example.com", &database()).await,
        Some((pat.user_id, Credential::Linked(sam.user_id.to_string())))
    );
    assert_eq!(identity_owner(store, &sam).await, Some(pat.user_id));
    assert_eq!(
        password_of(store, &as_linked(&pat, &sam)).await.as_ref(),
        Some(b)
    );
    assert_eq!(password_of(store, &own(&sam)).await, None);
}

async fn unlink_removes_what_was_left_under_the_restored_id<S: Stores>(store: &S) {
    let (pat, sam, next) = linked_pair(store).await;
    let t = pat.tenant_id.clone();
    // What a clean-up that failed, or a write racing the link, leaves under the gone id.
    let (hash, late) = ticket_for(&sam, TicketKind::PasswordChange, t0().plus_secs(61));
    store.put_ticket(&hash, &late).await.expect("put_ticket");
    fail(store, &own(&sam), IP, t0().plus_secs(61)).await;

    let (back, restored) = unlinked(&next, 1, t0().plus_secs(120)).expect("a linked identity");
    store.unlink(&next, &back, &restored).await.expect("unlink");

    assert_eq!(ticket(store, &t, &hash).await, None);
    let stored = store
        .stored(&t, &sam.user_id)
        .await
        .expect("stored")
        .expect("restored");
    assert_eq!(stored.user, restored);
    assert!(stored.tickets.is_empty(), "{:?}", stored.tickets);
    assert!(stored.counters.is_empty(), "{:?}", stored.counters);
    assert!(stored.messages.is_empty(), "{:?}", stored.messages);
}

async fn unlink_refuses_when_a_user_exists_under_the_restored_id<S: Stores>(store: &S) {
    let [_, b, _] = hashes().await;
    let (pat, sam, next) = linked_pair(store).await;
    let t = pat.tenant_id.clone();
    // Someone under the secondary's id, with none of its values.
    let squatter = User::new(
        sam.user_id,
        t.clone(),
        Identity::social(google(), "50505".into()),
        t0().plus_secs(90),
    );
    store.create(&squatter, None, &[]).await.expect("create");

    let (back, restored) = unlinked(&next, 1, t0().plus_secs(120)).expect("a linked identity");
    assert_fails!(
        store.unlink(&next, &back, &restored).await,
        StoreError::ConditionFailed
    );
    assert_eq!(get(store, &pat).await, Some(next));
    assert_eq!(get(store, &sam).await, Some(squatter));
    assert_eq!(
        login_of(store, &t, "sam@example.com", &database()).await,
        Some((pat.user_id, Credential::Linked(sam.user_id.to_string())))
    );
    assert_eq!(identity_owner(store, &sam).await, Some(pat.user_id));
    assert_eq!(
        password_of(store, &as_linked(&pat, &sam)).await.as_ref(),
        Some(b)
    );
}

async fn replace_writes_a_linked_identitys_password_under_its_credential<S: Stores>(store: &S) {
    let [a, _, c] = hashes().await;
    let (pat, sam, next) = linked_pair(store).await;
    let reset = edited(&next, t0().plus_secs(120), |u| {
        let identity = u
            .linked_database_mut(&sam.user_id.to_string())
            .expect("sam is linked");
        if let Some(standalone) = identity.standalone.as_mut() {
            standalone.last_password_reset = Some(t0().plus_secs(120));
        }
    });
    let credential = Credential::Linked(sam.user_id.to_string());
    store
        .replace(&next, &reset, Some((&credential, c)), Effects::default())
        .await
        .expect("replace");
    assert_eq!(
        password_of(store, &as_linked(&pat, &sam)).await.as_ref(),
        Some(c)
    );
    assert_eq!(password_of(store, &own(&pat)).await.as_ref(), Some(a));
    assert_eq!(get(store, &pat).await, Some(reset));
}

async fn a_login_by_a_linked_identity_rehashes_its_own_password<S: Stores>(store: &S) {
    let [a, b, c] = hashes().await;
    let (pat, sam, next) = linked_pair(store).await;
    let subject = as_linked(&pat, &sam);
    let read = state(store, &subject, IP).await;
    assert_eq!(read.user, Some(next.clone()));
    assert_eq!(read.hash.as_ref(), Some(b));
    let at = t0().plus_secs(120);
    let user = store
        .record_login(&read, IP, at, &BruteForce::default(), Some(c), false)
        .await
        .expect("record_login");
    assert_eq!(user.logins_count, next.logins_count + 1);
    assert_eq!(password_of(store, &subject).await.as_ref(), Some(c));
    assert_eq!(password_of(store, &own(&pat)).await.as_ref(), Some(a));
}

// ---------------------------------------------------------------------------------------------
// ErasureStore
// ---------------------------------------------------------------------------------------------

/// Everything of `user` is gone and its values are free.
async fn assert_erased<S: Stores>(store: &S, user: &User, tickets: &[TicketHash]) {
    let t = &user.tenant_id;
    assert_eq!(get(store, user).await, None);
    assert!(
        store
            .stored(t, &user.user_id)
            .await
            .expect("stored")
            .is_none()
    );
    assert_values_free(store, user).await;
    if let Some(e) = &user.email {
        assert!(find_by_email(store, t, e).await.is_empty());
    }
    for hash in tickets {
        assert_eq!(ticket(store, t, hash).await, None);
    }
    assert!(
        store
            .failure_counters(t, &user.user_id)
            .await
            .expect("failure_counters")
            .is_empty()
    );
    let read = state(store, &own(user), IP).await;
    assert_eq!(
        (read.user, read.hash, read.ip, read.all),
        (None, None, None, None)
    );
}

async fn delete_removes_every_item_and_writes_the_receipt<S: Stores, R: Receipts>(
    store: &S,
    receipts: &R,
) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), Some("ana"));
    let tickets = furnished(store, &user).await;
    let receipt = receipt_for(&user, t0().plus_secs(60), Reason::Admin);
    assert_eq!(
        store
            .delete(&t, &user.user_id, Some(user.version), &receipt)
            .await
            .expect("delete"),
        Deleted::Yes
    );
    assert_erased(store, &user, &tickets).await;
    assert!(receipts.holds(&receipt).await, "the receipt is written");
    // Its values are free again.
    let next = database_user(&t, Some("ana@example.com"), Some("ana"));
    store
        .create(&next, None, &[])
        .await
        .expect("an erased user's values are free");
}

async fn delete_with_a_stale_version_is_condition_failed_and_erases_nothing<
    S: Stores,
    R: Receipts,
>(
    store: &S,
    receipts: &R,
) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), Some("ana"));
    furnished(store, &user).await;
    let moved = store
        .update(&t, &user.user_id, &rename("Ana", t0().plus_secs(1)), None)
        .await
        .expect("update");
    let before = snapshot(store, &moved).await;
    let receipt = receipt_for(&user, t0().plus_secs(60), Reason::Admin);
    assert_fails!(
        store
            .delete(&t, &user.user_id, Some(user.version), &receipt)
            .await,
        StoreError::ConditionFailed
    );
    assert_eq!(snapshot(store, &moved).await, before);
    assert!(!receipts.holds(&receipt).await, "no receipt");
}

async fn delete_without_an_expected_version_erases_the_current_version<S: Stores, R: Receipts>(
    store: &S,
    receipts: &R,
) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    let tickets = furnished(store, &user).await;
    store
        .update(&t, &user.user_id, &rename("Ana", t0().plus_secs(1)), None)
        .await
        .expect("update");
    let receipt = receipt_for(&user, t0().plus_secs(60), Reason::Admin);
    assert_eq!(
        store
            .delete(&t, &user.user_id, None, &receipt)
            .await
            .expect("delete"),
        Deleted::Yes
    );
    assert_erased(store, &user, &tickets).await;
    assert!(receipts.holds(&receipt).await);
}

async fn delete_of_an_unknown_user_is_not_found_and_writes_no_receipt<S: Stores, R: Receipts>(
    store: &S,
    receipts: &R,
) {
    let t = tenant();
    let ghost = database_user(&t, None, None);
    let receipt = receipt_for(&ghost, t0(), Reason::Admin);
    assert_eq!(
        store
            .delete(&t, &ghost.user_id, None, &receipt)
            .await
            .expect("delete"),
        Deleted::NotFound
    );
    assert_eq!(
        store
            .delete(&t, &ghost.user_id, Some(1), &receipt)
            .await
            .expect("delete"),
        Deleted::NotFound
    );
    assert!(!receipts.holds(&receipt).await);
}

async fn keep_receipt_writes_a_receipt_once_and_never_over_one_held<S: Stores, R: Receipts>(
    store: &S,
    receipts: &R,
) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    let receipt = receipt_for(&user, t0(), Reason::SelfService);
    assert!(store.keep_receipt(&receipt).await.expect("keep_receipt"));
    assert!(receipts.holds(&receipt).await);
    // Another erasure time under the same subject: the receipt held stays as it is.
    let later = receipt_for(&user, t0().plus_secs(60), Reason::Admin);
    assert!(!store.keep_receipt(&later).await.expect("keep_receipt"));
    assert!(receipts.holds(&receipt).await);
}

async fn delete_in_another_tenant_finds_nothing<S: Stores, R: Receipts>(store: &S, receipts: &R) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    furnished(store, &user).await;
    let before = snapshot(store, &user).await;
    let elsewhere = tenant();
    let receipt = ErasureSettings::local()
        .receipt(&elsewhere, &user.user_id, t0(), Reason::Admin, "x")
        .expect("a receipt");
    assert_eq!(
        store
            .delete(&elsewhere, &user.user_id, None, &receipt)
            .await
            .expect("delete"),
        Deleted::NotFound
    );
    assert_eq!(snapshot(store, &user).await, before);
    assert!(!receipts.holds(&receipt).await);
}

async fn delete_takes_the_user_out_of_the_search_index<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    furnished(store, &user).await;
    let receipt = ErasureSettings::local()
        .receipt(&t, &user.user_id, t0(), Reason::Admin, "x")
        .expect("a receipt");
    let deleted = store.delete(&t, &user.user_id, None, &receipt).await;
    assert_eq!(deleted.expect("delete"), Deleted::Yes);
    for filter in [Filter::EmailVerified(true), Filter::Connection(database())] {
        assert_eq!(listed(store, &t, &filter).await, Vec::<UserId>::new());
        assert_eq!(
            store
                .count_where(&t, &filter, 10, None)
                .await
                .expect("count"),
            0
        );
    }
}

async fn delete_removes_the_passwords_and_guards_of_linked_identities<S: Stores, R: Receipts>(
    store: &S,
    receipts: &R,
) {
    let (pat, sam, next) = linked_pair(store).await;
    let t = pat.tenant_id.clone();
    let receipt = receipt_for(&pat, t0().plus_secs(120), Reason::Admin);
    assert_eq!(
        store
            .delete(&t, &pat.user_id, Some(next.version), &receipt)
            .await
            .expect("delete"),
        Deleted::Yes
    );
    assert_erased(store, &pat, &[]).await;
    assert_eq!(password_of(store, &as_linked(&pat, &sam)).await, None);
    assert_values_free(store, &sam).await;
    assert!(receipts.holds(&receipt).await);
    let again = database_user(&t, Some("sam@example.com"), Some("sam"));
    store
        .create(&again, None, &[])
        .await
        .expect("a linked identity's values are free once its holder is erased");
}

async fn due_erasures_returns_the_accounts_whose_erasure_is_due<S: Stores>(store: &S) {
    let now = Timestamp::from_datetime(datetime!(2002-03-01 00:00 UTC));
    let t = tenant();
    let mut scheduled = database_user(&t, Some("a@example.com"), None);
    scheduled.deletion_scheduled_at = Some(now.plus_secs(-3600));
    let mut reviewed = database_user(&t, Some("b@example.com"), None);
    reviewed.review_at = Some(now.plus_secs(-7200));
    let mut later = database_user(&t, Some("c@example.com"), None);
    later.deletion_scheduled_at = Some(now.plus_secs(3600));
    let mut both = database_user(&t, Some("d@example.com"), None);
    both.deletion_scheduled_at = Some(now.plus_secs(3600));
    both.review_at = Some(now.plus_secs(-60));
    let never = database_user(&t, Some("e@example.com"), None);
    for user in [&scheduled, &reviewed, &later, &both, &never] {
        store.create(user, None, &[]).await.expect("create");
    }
    let mut expected = vec![scheduled, reviewed, both];
    expected.sort_by_key(|u| u.user_id);
    assert_eq!(due_erasures_in(store, &t, now).await, expected);
    assert!(
        due_erasures_in(store, &t, now.plus_secs(-86_400))
            .await
            .is_empty(),
        "nothing is due a day earlier"
    );
}

async fn a_replace_moves_an_account_in_and_out_of_the_due_erasures<S: Stores>(store: &S) {
    let now = Timestamp::from_datetime(datetime!(2003-03-01 00:00 UTC));
    let t = tenant();
    let mut going = database_user(&t, Some("a@example.com"), None);
    going.deletion_scheduled_at = Some(now.plus_secs(-3600));
    let staying = database_user(&t, Some("b@example.com"), None);
    store.create(&going, None, &[]).await.expect("create");
    store.create(&staying, None, &[]).await.expect("create");
    assert_eq!(due_erasures_in(store, &t, now).await, vec![going.clone()]);

    let cancelled = edited(&going, now, |u| u.deletion_scheduled_at = None);
    store
        .replace(&going, &cancelled, None, Effects::default())
        .await
        .expect("replace");
    let scheduled = edited(&staying, now, |u| {
        u.deletion_scheduled_at = Some(now.plus_secs(-60));
    });
    store
        .replace(&staying, &scheduled, None, Effects::default())
        .await
        .expect("replace");
    assert_eq!(due_erasures_in(store, &t, now).await, vec![scheduled]);
}

async fn erase_removes_a_due_user_with_its_items_and_writes_the_receipt<S: Stores, R: Receipts>(
    store: &S,
    receipts: &R,
) {
    let now = Timestamp::from_datetime(datetime!(2040-01-01 00:00 UTC));
    let t = tenant();
    let mut user = database_user(&t, Some("ana@example.com"), Some("ana"));
    user.deletion_scheduled_at = Some(t0().plus_secs(3600));
    let tickets = furnished(store, &user).await;
    let seen = due_erasures_in(store, &t, now)
        .await
        .into_iter()
        .find(|u| u.user_id == user.user_id)
        .expect("the user is due");
    let receipt = receipt_for(&user, now, Reason::SelfService);
    let read = store.erase(&seen, &receipt).await.expect("erase");
    // Besides the items `seen` names: the verification's message and send count, the
    // references to both tickets, and the two failure counters.
    assert_eq!(read, 6, "items read besides those the user names");
    assert_erased(store, &user, &tickets).await;
    assert!(receipts.holds(&receipt).await);
    assert!(due_erasures_in(store, &t, now).await.is_empty());
}

async fn erase_removes_the_passwords_and_guards_of_linked_identities<S: Stores, R: Receipts>(
    store: &S,
    receipts: &R,
) {
    let now = Timestamp::from_datetime(datetime!(2040-01-01 00:00 UTC));
    let (pat, sam) = two_users(store).await;
    let t = pat.tenant_id.clone();
    let scheduled = edited(&pat, t0().plus_secs(30), |u| {
        u.deletion_scheduled_at = Some(t0().plus_secs(3600));
    });
    store
        .replace(&pat, &scheduled, None, Effects::default())
        .await
        .expect("replace");
    let next = linked(&scheduled, &sam, t0().plus_secs(60));
    store.link(&scheduled, &next, &sam).await.expect("link");
    let seen = due_erasures_in(store, &t, now)
        .await
        .into_iter()
        .find(|u| u.user_id == pat.user_id)
        .expect("the primary is due");
    assert_eq!(seen, next);
    let receipt = receipt_for(&pat, now, Reason::SelfService);
    store.erase(&seen, &receipt).await.expect("erase");
    assert_erased(store, &pat, &[]).await;
    assert_eq!(password_of(store, &as_linked(&pat, &sam)).await, None);
    assert_values_free(store, &sam).await;
    assert!(receipts.holds(&receipt).await);
}

async fn erase_of_a_user_changed_since_it_was_read_is_condition_failed_and_removes_nothing<
    S: Stores,
    R: Receipts,
>(
    store: &S,
    receipts: &R,
) {
    let now = Timestamp::from_datetime(datetime!(2040-01-01 00:00 UTC));
    let t = tenant();
    let mut user = database_user(&t, Some("ana@example.com"), Some("ana"));
    user.deletion_scheduled_at = Some(t0().plus_secs(3600));
    furnished(store, &user).await;
    let seen = get(store, &user).await.expect("the user exists");
    let moved = store
        .update(&t, &user.user_id, &rename("Ana", t0().plus_secs(1)), None)
        .await
        .expect("update");
    let before = snapshot(store, &moved).await;
    let receipt = receipt_for(&user, now, Reason::SelfService);
    assert_fails!(
        store.erase(&seen, &receipt).await,
        StoreError::ConditionFailed
    );
    assert_eq!(snapshot(store, &moved).await, before);
    assert!(!receipts.holds(&receipt).await);
}

async fn erase_of_a_user_already_gone_is_condition_failed<S: Stores, R: Receipts>(
    store: &S,
    receipts: &R,
) {
    let now = Timestamp::from_datetime(datetime!(2040-01-01 00:00 UTC));
    let t = tenant();
    let mut user = database_user(&t, Some("ana@example.com"), None);
    user.deletion_scheduled_at = Some(t0().plus_secs(3600));
    store.create(&user, None, &[]).await.expect("create");
    let first = receipt_for(&user, now, Reason::Admin);
    assert_eq!(
        store
            .delete(&t, &user.user_id, None, &first)
            .await
            .expect("delete"),
        Deleted::Yes
    );
    let second = receipt_for(&user, now.plus_secs(1), Reason::SelfService);
    assert_fails!(
        store.erase(&user, &second).await,
        StoreError::ConditionFailed
    );
    assert_eq!(
        get(store, &user).await,
        None,
        "the claim brings nothing back"
    );
    assert!(!receipts.holds(&second).await);
}

// ---------------------------------------------------------------------------------------------
// LoginStore
// ---------------------------------------------------------------------------------------------

async fn login_state_of_a_user_reads_its_profile_and_hash_and_no_counters_yet<S: Stores>(
    store: &S,
) {
    let [a, _, _] = hashes().await;
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, Some(a), &[]).await.expect("create");
    let read = state(store, &own(&user), IP).await;
    assert_eq!(read.user, Some(user));
    assert_eq!(read.credential, Credential::Own);
    assert_eq!(read.hash.as_ref(), Some(a));
    assert_eq!((read.ip, read.all), (None, None));
}

async fn login_state_reads_back_with_the_settings_of_its_own_tenant_only<S: Stores>(store: &S) {
    let [a, _, _] = hashes().await;
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, Some(a), &[]).await.expect("create");
    fail(store, &own(&user), IP, t0()).await;
    let nobody = LoginSubject::Unknown {
        tenant: t.clone(),
        connection: database(),
        identifier: Identifier::parse("nobody@example.com").expect("a valid identifier"),
    };
    let with = |subject: LoginSubject| async move {
        store
            .login_state_and_settings(&subject, IP)
            .await
            .expect("login_state_and_settings")
    };
    let (read, settings) = with(own(&user)).await;
    assert_eq!(settings, None, "no settings stored yet");
    let (first, change) = settings_version(1, "With a login");
    store.put_settings(&t, &first, 0, &change).await.unwrap();
    for (subject, stored) in [
        (own(&user), Some(first.clone())),
        (nobody, Some(first.clone())),
        (
            own(&database_user(&tenant(), Some("ana@example.com"), None)),
            None,
        ),
    ] {
        let plain = state(store, &subject, IP).await;
        let (read, settings) = with(subject).await;
        assert_eq!(settings, stored, "fenced by the tenant");
        assert_eq!(
            (read.user, read.hash, read.ip, read.all, read.address),
            (plain.user, plain.hash, plain.ip, plain.all, plain.address),
            "the state is the one login_state reads"
        );
    }
    assert_eq!((read.ip, read.all), (record(1, t0()), record(1, t0())));
    assert_eq!(read.hash.as_ref(), Some(a));
}

async fn record_failure_counts_on_the_address_and_the_user<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    let subject = own(&user);
    let rules = BruteForce::default();
    let first = state(store, &subject, IP).await;
    store
        .record_failure(&subject, &first, IP, t0(), &rules)
        .await
        .expect("record_failure");
    let second = state(store, &subject, IP).await;
    assert_eq!((second.ip, second.all), (record(1, t0()), record(1, t0())));
    let later = t0().plus_secs(10);
    store
        .record_failure(&subject, &second, IP, later, &rules)
        .await
        .expect("record_failure");
    let third = state(store, &subject, IP).await;
    assert_eq!((third.ip, third.all), (record(2, later), record(2, later)));
    assert_eq!(third.user, Some(user), "the profile is not touched");
}

async fn record_failure_is_conditional_on_the_counters_read<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    let subject = own(&user);
    let rules = BruteForce::default();
    let read = state(store, &subject, IP).await;
    store
        .record_failure(&subject, &read, IP, t0(), &rules)
        .await
        .expect("record_failure");
    assert_fails!(
        store
            .record_failure(&subject, &read, IP, t0().plus_secs(5), &rules)
            .await,
        StoreError::ConditionFailed
    );
    let now = state(store, &subject, IP).await;
    assert_eq!((now.ip, now.all), (record(1, t0()), record(1, t0())));

    // Either counter moving is enough: another address's failure moves the user's.
    fail(store, &subject, OTHER_IP, t0().plus_secs(6)).await;
    assert_fails!(
        store
            .record_failure(&subject, &now, IP, t0().plus_secs(7), &rules)
            .await,
        StoreError::ConditionFailed
    );
    let after = state(store, &subject, IP).await;
    assert_eq!(
        (after.ip, after.all),
        (record(1, t0()), record(2, t0().plus_secs(6)))
    );
}

async fn an_address_throttle_spans_accounts_and_adds_up_failures<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    let nobody = LoginSubject::Unknown {
        tenant: t.clone(),
        connection: database(),
        identifier: Identifier::parse("nobody@example.com").expect("a valid identifier"),
    };
    assert_eq!(state(store, &nobody, IP).await.address, None);
    // The hint of what was read only orders the writes: a wrong one changes nothing.
    let fill = |at| store.fill_address_throttle(&t, IP, at, 864, None);
    fill(t0()).await.expect("fill");
    // Another account sees it, from that address only.
    assert_eq!(
        state(store, &own(&user), IP).await.address,
        Some(t0().plus_secs(864))
    );
    assert_eq!(state(store, &own(&user), OTHER_IP).await.address, None);
    // Failures while it holds some add up, wherever they were read from.
    let (a, b) = futures::join!(fill(t0().plus_secs(1)), fill(t0().plus_secs(2)));
    a.expect("fill");
    b.expect("fill");
    assert_eq!(
        store.address_throttle(&t, IP).await.expect("read"),
        Some(t0().plus_secs(3 * 864))
    );
    // Once it drained, it starts again from the failure.
    let later = t0().plus_secs(10 * 864);
    fill(later).await.expect("fill");
    assert_eq!(
        store.address_throttle(&t, IP).await.expect("read"),
        Some(later.plus_secs(864))
    );
    assert_eq!(
        store.address_throttle(&tenant(), IP).await.expect("read"),
        None,
        "fenced by the tenant"
    );
    store.clear_address_throttle(&t, IP).await.expect("clear");
    store
        .clear_address_throttle(&t, IP)
        .await
        .expect("clearing twice is fine");
    assert_eq!(store.address_throttle(&t, IP).await.expect("read"), None);
}

async fn a_counter_past_its_window_starts_again_at_one<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    let subject = own(&user);
    let rules = BruteForce::default();
    fail(store, &subject, IP, t0()).await;
    fail(store, &subject, IP, t0().plus_secs(1)).await;
    // Past the user counter's window, within the address's.
    let later = t0()
        .plus_secs(1)
        .plus_secs(rules.window(&Counter::User) + 1);
    assert!(later < t0().plus_secs(rules.window(&Counter::Ip(IP.into()))));
    let read = state(store, &subject, IP).await;
    store
        .record_failure(&subject, &read, IP, later, &rules)
        .await
        .expect("record_failure");
    let now = state(store, &subject, IP).await;
    assert_eq!((now.ip, now.all), (record(3, later), record(1, later)));
    // Past the address's window too.
    let much_later = later.plus_secs(rules.window(&Counter::Ip(IP.into())) + 1);
    store
        .record_failure(&subject, &now, IP, much_later, &rules)
        .await
        .expect("record_failure");
    let last = state(store, &subject, IP).await;
    assert_eq!(
        (last.ip, last.all),
        (record(1, much_later), record(1, much_later))
    );
}

async fn each_address_counts_apart<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    fail(store, &own(&user), IP, t0()).await;
    let elsewhere = state(store, &own(&user), OTHER_IP).await;
    assert_eq!((elsewhere.ip, elsewhere.all), (None, record(1, t0())));
}

async fn an_unknown_identifier_is_counted_apart_from_every_user<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    let unknown = |raw: &str, tenant: &TenantId| LoginSubject::Unknown {
        tenant: tenant.clone(),
        connection: database(),
        identifier: Identifier::parse(raw).expect("a valid identifier"),
    };
    let nobody = unknown("nobody@example.com", &t);
    let read = state(store, &nobody, IP).await;
    assert_eq!(read.user, None);
    assert_eq!(read.hash, None);
    assert_eq!((read.ip, read.all), (None, None));

    fail(store, &nobody, IP, t0()).await;
    let counted = state(store, &nobody, IP).await;
    assert_eq!(
        (counted.ip, counted.all),
        (record(1, t0()), record(1, t0()))
    );
    // Its counters are its own: not the same address in any case, nor another identifier's,
    // nor a user's, nor another tenant's.
    let same = state(store, &unknown("NOBODY@example.com", &t), IP).await;
    assert_eq!(
        (same.ip, same.all),
        (record(1, t0()), record(1, t0())),
        "an address counts whatever its case"
    );
    for other in [
        unknown("somebody@example.com", &t),
        unknown("nobody", &t),
        unknown("nobody@example.com", &tenant()),
        own(&user),
    ] {
        let read = state(store, &other, IP).await;
        assert_eq!((read.ip, read.all), (None, None), "{other:?}");
    }
}

async fn counters_are_fenced_by_the_tenant<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    fail(store, &own(&user), IP, t0()).await;
    let elsewhere = tenant();
    let ghost = LoginSubject::User(elsewhere.clone(), user.user_id, Credential::Own);
    let read = state(store, &ghost, IP).await;
    assert_eq!(read.user, None);
    assert_eq!(read.hash, None);
    assert_eq!((read.ip, read.all), (None, None));
    assert!(
        store
            .failure_counters(&elsewhere, &user.user_id)
            .await
            .expect("failure_counters")
            .is_empty()
    );
    store
        .clear_failures(&elsewhere, &user.user_id)
        .await
        .expect("clear_failures");
    assert_eq!(
        store
            .failure_counters(&t, &user.user_id)
            .await
            .expect("failure_counters")
            .len(),
        2,
        "a clear in another tenant leaves them"
    );
}

async fn record_login_counts_the_login_and_resets_the_address<S: Stores>(store: &S) {
    let [a, _, _] = hashes().await;
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, Some(a), &[]).await.expect("create");
    fail(store, &own(&user), IP, t0()).await;
    fail(store, &own(&user), IP, t0().plus_secs(1)).await;
    let read = state(store, &own(&user), IP).await;
    let at = t0().plus_secs(2);
    let returned = store
        .record_login(&read, IP, at, &BruteForce::default(), None, false)
        .await
        .expect("record_login");
    assert_eq!(returned.logins_count, 1);
    assert_eq!(returned.last_login, Some(at));
    assert_eq!(returned.version, user.version + 1);
    assert_eq!(get(store, &user).await, Some(returned.clone()));
    let after = state(store, &own(&user), IP).await;
    assert_eq!(
        after.ip,
        Some(CounterRecord {
            count: 0,
            last_failure: None,
            last_success: None
        }),
        "the address's failures reset, no success noted without trust"
    );
    assert_eq!(
        after.all,
        record(2, t0().plus_secs(1)),
        "the user's counter stays"
    );
    assert_eq!(after.hash.as_ref(), Some(a));
}

async fn record_login_with_trust_notes_the_success<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    fail(store, &own(&user), IP, t0()).await;
    let read = state(store, &own(&user), IP).await;
    let at = t0().plus_secs(2);
    store
        .record_login(&read, IP, at, &BruteForce::default(), None, true)
        .await
        .expect("record_login");
    let after = state(store, &own(&user), IP).await;
    assert_eq!(
        after.ip,
        Some(CounterRecord {
            count: 0,
            last_failure: None,
            last_success: Some(at)
        })
    );
    // A login from an address never seen before is trusted as well.
    let fresh = state(store, &own(&user), OTHER_IP).await;
    let later = at.plus_secs(5);
    store
        .record_login(&fresh, OTHER_IP, later, &BruteForce::default(), None, true)
        .await
        .expect("record_login");
    let other = state(store, &own(&user), OTHER_IP).await;
    assert_eq!(other.ip.and_then(|r| r.last_success), Some(later));
    assert_eq!(other.user.map(|u| u.logins_count), Some(2));
}

async fn record_login_stores_the_rehash_in_place_of_the_verified_hash<S: Stores>(store: &S) {
    let [a, b, _] = hashes().await;
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, Some(a), &[]).await.expect("create");
    let read = state(store, &own(&user), IP).await;
    store
        .record_login(&read, IP, t0(), &BruteForce::default(), Some(b), false)
        .await
        .expect("record_login");
    assert_eq!(password_of(store, &own(&user)).await.as_ref(), Some(b));
}

async fn record_login_is_conditional_on_the_version<S: Stores>(store: &S) {
    let [a, b, _] = hashes().await;
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, Some(a), &[]).await.expect("create");
    fail(store, &own(&user), IP, t0()).await;
    let read = state(store, &own(&user), IP).await;
    let moved = store
        .update(&t, &user.user_id, &rename("Ana", t0().plus_secs(1)), None)
        .await
        .expect("update");
    let before = snapshot(store, &moved).await;
    assert_fails!(
        store
            .record_login(
                &read,
                IP,
                t0().plus_secs(2),
                &BruteForce::default(),
                Some(b),
                true
            )
            .await,
        StoreError::ConditionFailed
    );
    assert_eq!(snapshot(store, &moved).await, before);
}

async fn record_login_is_conditional_on_the_counters<S: Stores>(store: &S) {
    let [a, b, _] = hashes().await;
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, Some(a), &[]).await.expect("create");
    let read = state(store, &own(&user), IP).await;
    // A failure from another address moves only the user's counter.
    fail(store, &own(&user), OTHER_IP, t0()).await;
    let before = snapshot(store, &user).await;
    assert_fails!(
        store
            .record_login(
                &read,
                IP,
                t0().plus_secs(2),
                &BruteForce::default(),
                Some(b),
                true
            )
            .await,
        StoreError::ConditionFailed
    );
    assert_eq!(snapshot(store, &user).await, before);
    assert_eq!(state(store, &own(&user), IP).await.ip, None);

    // And a failure from the same address moves both.
    let read = state(store, &own(&user), IP).await;
    fail(store, &own(&user), IP, t0().plus_secs(3)).await;
    let before = snapshot(store, &user).await;
    assert_fails!(
        store
            .record_login(
                &read,
                IP,
                t0().plus_secs(4),
                &BruteForce::default(),
                None,
                false
            )
            .await,
        StoreError::ConditionFailed
    );
    assert_eq!(snapshot(store, &user).await, before);
}

async fn confirm_unchanged_holds_until_a_counter_moves_and_writes_nothing<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    let unknown = LoginSubject::Unknown {
        tenant: t.clone(),
        connection: database(),
        identifier: Identifier::parse("nobody@example.com").expect("valid"),
    };
    for subject in [own(&user), unknown] {
        let read = state(store, &subject, IP).await;
        store
            .confirm_unchanged(&subject, &read, IP)
            .await
            .expect("unchanged counters");
        store
            .confirm_unchanged(&subject, &read, IP)
            .await
            .expect("still unchanged: the confirmation wrote nothing");
        fail(store, &subject, IP, t0()).await;
        assert_fails!(
            store.confirm_unchanged(&subject, &read, IP).await,
            StoreError::ConditionFailed
        );
        let moved = state(store, &subject, IP).await;
        store
            .confirm_unchanged(&subject, &moved, IP)
            .await
            .expect("unchanged since the new read");
        let after = state(store, &subject, IP).await;
        assert_eq!((after.ip, after.all), (moved.ip, moved.all));
        assert_eq!(after.user, moved.user);
    }
}

async fn failure_counters_lists_every_counter_with_failures<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    let other = database_user(&t, Some("bea@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    store.create(&other, None, &[]).await.expect("create");
    assert!(
        store
            .failure_counters(&t, &user.user_id)
            .await
            .expect("failure_counters")
            .is_empty()
    );
    fail(store, &own(&user), IP, t0()).await;
    fail(store, &own(&user), IP, t0().plus_secs(1)).await;
    fail(store, &own(&user), OTHER_IP, t0().plus_secs(2)).await;
    fail(store, &own(&other), IP, t0().plus_secs(3)).await;
    let failures = |count, at| Failures { count, last: at };
    let counters = store
        .failure_counters(&t, &user.user_id)
        .await
        .expect("failure_counters");
    assert_eq!(
        sorted(counters),
        sorted(vec![
            (Counter::Ip(IP.into()), failures(2, t0().plus_secs(1))),
            (Counter::Ip(OTHER_IP.into()), failures(1, t0().plus_secs(2))),
            (Counter::User, failures(3, t0().plus_secs(2))),
        ])
    );
    // A success resets its address: it has no failures left to list.
    let read = state(store, &own(&user), IP).await;
    store
        .record_login(
            &read,
            IP,
            t0().plus_secs(4),
            &BruteForce::default(),
            None,
            true,
        )
        .await
        .expect("record_login");
    let counters = store
        .failure_counters(&t, &user.user_id)
        .await
        .expect("failure_counters");
    assert_eq!(
        sorted(counters),
        sorted(vec![
            (Counter::Ip(OTHER_IP.into()), failures(1, t0().plus_secs(2))),
            (Counter::User, failures(3, t0().plus_secs(2))),
        ])
    );
    assert!(
        store
            .failure_counters(&t, &UserId::generate())
            .await
            .expect("failure_counters")
            .is_empty()
    );
}

async fn clear_failures_removes_every_counter_and_every_block<S: Stores>(store: &S) {
    let [a, _, _] = hashes().await;
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    let other = database_user(&t, Some("bea@example.com"), None);
    store.create(&user, Some(a), &[]).await.expect("create");
    store.create(&other, None, &[]).await.expect("create");
    let rules = BruteForce {
        pair_threshold: 2,
        user_free_failures: 1,
        ..BruteForce::default()
    };
    for (i, ip) in [IP, IP, OTHER_IP].into_iter().enumerate() {
        let read = state(store, &own(&user), ip).await;
        store
            .record_failure(&own(&user), &read, ip, t0().plus_secs(i as i64), &rules)
            .await
            .expect("record_failure");
    }
    fail(store, &own(&other), IP, t0()).await;
    let now = t0().plus_secs(3);
    let blocked = state(store, &own(&user), IP).await;
    assert!(
        blocked.blocked_until(&rules, IP, now).is_some(),
        "blocked before"
    );
    let other_before = snapshot(store, &other).await;

    store
        .clear_failures(&t, &user.user_id)
        .await
        .expect("clear_failures");
    assert!(
        store
            .failure_counters(&t, &user.user_id)
            .await
            .expect("failure_counters")
            .is_empty()
    );
    for ip in [IP, OTHER_IP] {
        let read = state(store, &own(&user), ip).await;
        assert_eq!((read.ip, read.all), (None, None), "{ip}");
        assert_eq!(read.blocked_until(&rules, ip, now), None, "{ip}");
        assert_eq!(read.user.as_ref(), Some(&user), "the profile stays");
        assert_eq!(read.hash.as_ref(), Some(a), "the password stays");
    }
    assert_eq!(
        snapshot(store, &other).await,
        other_before,
        "another user's"
    );
}

// ---------------------------------------------------------------------------------------------
// TicketStore
// ---------------------------------------------------------------------------------------------

async fn a_stored_ticket_reads_back_by_its_hash<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    let (hash, minted) = ticket_for(&user, TicketKind::EmailVerification, t0());
    store.put_ticket(&hash, &minted).await.expect("put_ticket");
    assert_eq!(ticket(store, &t, &hash).await, Some(minted));
}

async fn every_kind_of_ticket_reads_back_whole<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    for kind in [
        TicketKind::EmailVerification,
        TicketKind::PasswordChange,
        TicketKind::EmailChange,
        TicketKind::EmailChangeCancel,
    ] {
        let (hash, mut minted) = ticket_for(&user, kind, t0());
        minted.identity = Some(UserId::generate().to_string());
        minted.result_url = Some(url::Url::parse("https://id.example.com/done?x=1").unwrap());
        minted.mark_email_verified = true;
        minted.email = Some("Ana.New@Example.com".into());
        store.put_ticket(&hash, &minted).await.expect("put_ticket");
        assert_eq!(ticket(store, &t, &hash).await, Some(minted), "{kind:?}");
    }
}

async fn an_expired_ticket_still_reads_back<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    let (hash, mut minted) = ticket_for(&user, TicketKind::PasswordChange, t0());
    minted.created_at = t0().plus_secs(-7200);
    minted.expires = t0().plus_secs(-3600);
    store.put_ticket(&hash, &minted).await.expect("put_ticket");
    let found = ticket(store, &t, &hash)
        .await
        .expect("expired, still there");
    assert!(!found.is_live(t0()));
    assert_eq!(found, minted);
}

async fn an_unknown_hash_finds_nothing<S: Stores>(store: &S) {
    let hash = RawTicket::generate().expect("randomness").hash();
    assert_eq!(ticket(store, &tenant(), &hash).await, None);
}

async fn a_ticket_is_not_found_in_another_tenant<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    let (hash, minted) = ticket_for(&user, TicketKind::PasswordChange, t0());
    store.put_ticket(&hash, &minted).await.expect("put_ticket");
    assert_eq!(ticket(store, &tenant(), &hash).await, None);
    assert_eq!(ticket(store, &t, &hash).await, Some(minted));
}

async fn a_stored_ticket_is_listed_with_its_user<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    let (hash, minted) = ticket_for(&user, TicketKind::PasswordChange, t0());
    store.put_ticket(&hash, &minted).await.expect("put_ticket");
    let stored = store
        .stored(&t, &user.user_id)
        .await
        .expect("stored")
        .expect("the user exists");
    assert_eq!(stored.tickets, vec![minted]);
}

// ---------------------------------------------------------------------------------------------
// OutboxStore
// ---------------------------------------------------------------------------------------------

const ROOMY: SendCap = SendCap { per_hour: 100 };

/// A database user with an address, created in a fresh tenant.
async fn recipient<S: Stores>(store: &S) -> User {
    let user = database_user(&tenant(), Some("ana@example.com"), None);
    store.create(&user, None, &[]).await.expect("create");
    user
}

async fn enqueue_queues_messages_and_their_tickets<S: Stores>(store: &S) {
    let user = recipient(store).await;
    let verification = mail(MessageKind::VerifyEmail, &user, t0());
    let notice = mail(MessageKind::AccountDeletionScheduled, &user, t0());
    store
        .enqueue(
            &[verification.clone(), notice.clone()],
            SendCap::default(),
            t0(),
        )
        .await
        .expect("enqueue");
    assert_eq!(
        messages(store, &user).await,
        sorted_by_id(vec![verification.message, notice.message])
    );
    let (hash, minted) = verification.ticket.expect("a ticket");
    assert_eq!(ticket(store, &user.tenant_id, &hash).await, Some(minted));
    store
        .enqueue(&[], SendCap::default(), t0())
        .await
        .expect("nothing to queue");
}

/// Queues each message in a call of its own (so no call holds two of one kind).
async fn enqueue_each<S: Stores>(store: &S, mail: &[&Queued], now: Timestamp) {
    for queued in mail {
        store
            .enqueue(std::slice::from_ref(*queued), ROOMY, now)
            .await
            .expect("enqueue");
    }
}

fn sorted_by_id(mut messages: Vec<Message>) -> Vec<Message> {
    messages.sort_by(|a, b| a.id.cmp(&b.id));
    messages
}

async fn enqueue_over_the_cap_is_capped_and_queues_nothing<S: Stores>(store: &S) {
    let user = recipient(store).await;
    let t = user.tenant_id.clone();
    let cap = SendCap { per_hour: 2 };
    let first = mail(MessageKind::VerifyEmail, &user, t0());
    let second = mail(MessageKind::VerifyEmail, &user, t0().plus_secs(1));
    store
        .enqueue(std::slice::from_ref(&first), cap, t0())
        .await
        .expect("enqueue");
    store
        .enqueue(std::slice::from_ref(&second), cap, t0().plus_secs(1))
        .await
        .expect("enqueue");

    let reset = mail(MessageKind::PasswordReset, &user, t0().plus_secs(2));
    let third = mail(MessageKind::VerifyEmail, &user, t0().plus_secs(2));
    assert_fails!(
        store
            .enqueue(&[reset.clone(), third.clone()], cap, t0().plus_secs(2))
            .await,
        StoreError::Capped
    );
    assert_eq!(
        messages(store, &user).await,
        sorted_by_id(vec![first.message.clone(), second.message.clone()])
    );
    for queued in [&reset, &third] {
        let (hash, _) = queued.ticket.clone().expect("a ticket");
        assert_eq!(ticket(store, &t, &hash).await, None);
    }
    // The refused call counted nothing: the reset's kind still has its whole cap.
    let resets: Vec<Queued> = (3..5)
        .map(|i| mail(MessageKind::PasswordReset, &user, t0().plus_secs(i)))
        .collect();
    for queued in &resets {
        store
            .enqueue(std::slice::from_ref(queued), cap, queued.message.created_at)
            .await
            .expect("within the cap of its kind");
    }
    let over = mail(MessageKind::PasswordReset, &user, t0().plus_secs(5));
    assert_fails!(
        store.enqueue(&[over], cap, t0().plus_secs(5)).await,
        StoreError::Capped
    );
    assert_eq!(messages(store, &user).await.len(), 4);
}

async fn the_cap_counts_per_user_and_kind<S: Stores>(store: &S) {
    let ana = recipient(store).await;
    let bea = database_user(&ana.tenant_id, Some("bea@example.com"), None);
    store.create(&bea, None, &[]).await.expect("create");
    let cap = SendCap { per_hour: 1 };
    for queued in [
        mail(MessageKind::VerifyEmail, &ana, t0()),
        mail(MessageKind::PasswordReset, &ana, t0()),
        mail(MessageKind::VerifyEmail, &bea, t0()),
    ] {
        store
            .enqueue(std::slice::from_ref(&queued), cap, t0())
            .await
            .expect("the first of its user and kind");
    }
    assert_fails!(
        store
            .enqueue(&[mail(MessageKind::VerifyEmail, &ana, t0())], cap, t0())
            .await,
        StoreError::Capped
    );
    assert_eq!(messages(store, &ana).await.len(), 2);
    assert_eq!(messages(store, &bea).await.len(), 1);
}

async fn the_cap_counts_per_hour<S: Stores>(store: &S) {
    let user = recipient(store).await;
    let cap = SendCap { per_hour: 1 };
    let hour = SendCap::window(t0());
    let start = t0().plus_secs(hour * 3600 - t0().epoch_secs());
    let early = start.plus_secs(10);
    let late = start.plus_secs(3590);
    let next_hour = start.plus_secs(3600);
    store
        .enqueue(&[mail(MessageKind::VerifyEmail, &user, early)], cap, early)
        .await
        .expect("the first this hour");
    assert_fails!(
        store
            .enqueue(&[mail(MessageKind::VerifyEmail, &user, late)], cap, late)
            .await,
        StoreError::Capped
    );
    store
        .enqueue(
            &[mail(MessageKind::VerifyEmail, &user, next_hour)],
            cap,
            next_hour,
        )
        .await
        .expect("the first of the next hour");
    assert_eq!(messages(store, &user).await.len(), 2);
}

async fn enqueue_counts_each_message_of_one_call<S: Stores>(store: &S) {
    let user = recipient(store).await;
    let cap = SendCap { per_hour: 2 };
    let pair = [
        mail(MessageKind::VerifyEmail, &user, t0()),
        mail(MessageKind::VerifyEmail, &user, t0()),
    ];
    store
        .enqueue(&pair, cap, t0())
        .await
        .expect("two of one kind, within a cap of two");
    assert_eq!(
        messages(store, &user).await,
        sorted_by_id(pair.iter().map(|q| q.message.clone()).collect())
    );
    assert_fails!(
        store
            .enqueue(&[mail(MessageKind::VerifyEmail, &user, t0())], cap, t0())
            .await,
        StoreError::Capped
    );

    let other = recipient(store).await;
    let over = [
        mail(MessageKind::VerifyEmail, &other, t0()),
        mail(MessageKind::VerifyEmail, &other, t0()),
    ];
    assert_fails!(
        store.enqueue(&over, SendCap { per_hour: 1 }, t0()).await,
        StoreError::Capped
    );
    assert!(messages(store, &other).await.is_empty());
}

async fn due_returns_only_due_messages_oldest_first<S: Stores>(store: &S) {
    let now = Timestamp::from_datetime(datetime!(2002-06-01 00:00 UTC));
    let user = recipient(store).await;
    let t = user.tenant_id.clone();
    let oldest = due_mail(&user, now.plus_secs(-30));
    let newest = due_mail(&user, now.plus_secs(-10));
    let middle = due_mail(&user, now.plus_secs(-20));
    let later = due_mail(&user, now.plus_secs(10));
    enqueue_each(store, &[&oldest, &newest, &middle, &later], now).await;
    assert_eq!(
        due_in(store, &t, now).await,
        vec![oldest.message, middle.message, newest.message.clone()]
    );
    assert!(due_in(store, &t, now.plus_secs(-31)).await.is_empty());
    assert_eq!(
        due_in(store, &t, now.plus_secs(11)).await.last(),
        Some(&later.message)
    );
}

async fn due_takes_at_most_limit_the_oldest<S: Stores>(store: &S) {
    // The earliest era of the suite: nothing of another case is due then.
    let now = Timestamp::from_datetime(datetime!(2001-06-01 00:00 UTC));
    let user = recipient(store).await;
    let queued = [
        due_mail(&user, now.plus_secs(-10)),
        due_mail(&user, now.plus_secs(-30)),
        due_mail(&user, now.plus_secs(-20)),
    ];
    enqueue_each(store, &[&queued[0], &queued[1], &queued[2]], now).await;
    let due = store.due(now, 2).await.expect("due").messages;
    assert_eq!(
        due,
        vec![queued[1].message.clone(), queued[2].message.clone()]
    );
}

/// A user of a fresh tenant with one message, due a minute before `now`, as `due` reads it.
async fn one_due<S: Stores>(store: &S, now: Timestamp) -> (User, Message) {
    let user = recipient(store).await;
    let queued = due_mail(&user, now.plus_secs(-60));
    store
        .enqueue(std::slice::from_ref(&queued), ROOMY, now)
        .await
        .expect("enqueue");
    let due = due_in(store, &user.tenant_id, now).await;
    assert_eq!(due, vec![queued.message]);
    let message = due.into_iter().next().expect("one due");
    (user, message)
}

async fn claim_takes_a_message_once<S: Stores>(store: &S) {
    let now = Timestamp::from_datetime(datetime!(2003-06-01 00:00 UTC));
    let (user, seen) = one_due(store, now).await;
    let t = user.tenant_id.clone();
    let lease = now.plus_secs(120);
    store.claim(&seen, lease).await.expect("claim");
    assert_fails!(
        store.claim(&seen, now.plus_secs(240)).await,
        StoreError::ConditionFailed
    );
    let mut leased = seen.clone();
    leased.next_attempt = lease;
    assert_eq!(messages(store, &user).await, vec![leased.clone()]);
    assert!(
        due_in(store, &t, now).await.is_empty(),
        "not due while leased"
    );
    assert_eq!(
        due_in(store, &t, lease.plus_secs(1)).await,
        vec![leased.clone()]
    );
    // Once the lease is over, it is taken again as now read.
    store
        .claim(&leased, lease.plus_secs(120))
        .await
        .expect("claim after the lease");
}

async fn claim_of_a_message_gone_or_moved_on_is_condition_failed_and_writes_nothing<S: Stores>(
    store: &S,
) {
    let now = Timestamp::from_datetime(datetime!(2004-06-01 00:00 UTC));
    let (user, seen) = one_due(store, now).await;
    // Read with other attempts than it has.
    let mut stale = seen.clone();
    stale.attempts = 3;
    assert_fails!(
        store.claim(&stale, now.plus_secs(120)).await,
        StoreError::ConditionFailed
    );
    assert_eq!(messages(store, &user).await, vec![seen.clone()]);
    // Never queued.
    let never = due_mail(&user, now.plus_secs(-60)).message;
    assert_fails!(
        store.claim(&never, now.plus_secs(120)).await,
        StoreError::ConditionFailed
    );
    // Removed.
    store.remove(&seen).await.expect("remove");
    assert_fails!(
        store.claim(&seen, now.plus_secs(120)).await,
        StoreError::ConditionFailed
    );
    assert!(
        messages(store, &user).await.is_empty(),
        "a claim creates nothing"
    );
    assert!(
        due_in(store, &user.tenant_id, now.plus_secs(3600))
            .await
            .is_empty()
    );
}

/// `message` as a failed attempt leaves it: one more attempt, the next at `retry`.
fn failed_attempt(message: &Message, retry: Timestamp) -> Message {
    let mut failed = message.clone();
    failed.attempts += 1;
    failed.next_attempt = retry;
    failed.last_error = Some("ThrottlingException: slow down".into());
    failed
}

async fn save_stores_the_message_after_a_failed_attempt<S: Stores>(store: &S) {
    let now = Timestamp::from_datetime(datetime!(2005-06-01 00:00 UTC));
    let (user, seen) = one_due(store, now).await;
    let lease = now.plus_secs(120);
    store.claim(&seen, lease).await.expect("claim");
    let failed = failed_attempt(&seen, now.plus_secs(60));
    store
        .save(&failed, (seen.attempts, lease))
        .await
        .expect("save");
    assert_eq!(messages(store, &user).await, vec![failed.clone()]);
    assert!(due_in(store, &user.tenant_id, now).await.is_empty());
    assert_eq!(
        due_in(store, &user.tenant_id, now.plus_secs(61)).await,
        vec![failed]
    );
}

async fn save_after_another_sender_moved_it_is_condition_failed<S: Stores>(store: &S) {
    let now = Timestamp::from_datetime(datetime!(2006-06-01 00:00 UTC));
    let (user, seen) = one_due(store, now).await;
    let lease = now.plus_secs(120);
    store.claim(&seen, lease).await.expect("claim");
    // Another sender took it over after this attempt's lease ran out.
    let mut leased = seen.clone();
    leased.next_attempt = lease;
    let second_lease = lease.plus_secs(120);
    store.claim(&leased, second_lease).await.expect("claim");
    let mut theirs = leased.clone();
    theirs.next_attempt = second_lease;

    let failed = failed_attempt(&seen, now.plus_secs(60));
    assert_fails!(
        store.save(&failed, (seen.attempts, lease)).await,
        StoreError::ConditionFailed
    );
    assert_eq!(messages(store, &user).await, vec![theirs.clone()]);
    // Nor does a save with other attempts than it has pass.
    assert_fails!(
        store.save(&failed, (seen.attempts + 1, second_lease)).await,
        StoreError::ConditionFailed
    );
    assert_eq!(messages(store, &user).await, vec![theirs]);
}

async fn save_of_a_removed_message_does_not_bring_it_back<S: Stores>(store: &S) {
    let now = Timestamp::from_datetime(datetime!(2007-06-01 00:00 UTC));
    let (user, seen) = one_due(store, now).await;
    let lease = now.plus_secs(120);
    store.claim(&seen, lease).await.expect("claim");
    let mut leased = seen.clone();
    leased.next_attempt = lease;
    store.remove(&leased).await.expect("remove");
    assert_fails!(
        store
            .save(
                &failed_attempt(&seen, now.plus_secs(60)),
                (seen.attempts, lease)
            )
            .await,
        StoreError::ConditionFailed
    );
    assert!(messages(store, &user).await.is_empty());
    assert!(
        due_in(store, &user.tenant_id, now.plus_secs(3600))
            .await
            .is_empty()
    );
}

async fn an_abandoned_message_is_kept_but_never_due<S: Stores>(store: &S) {
    let now = Timestamp::from_datetime(datetime!(2008-06-01 00:00 UTC));
    let (user, seen) = one_due(store, now).await;
    let lease = now.plus_secs(120);
    store.claim(&seen, lease).await.expect("claim");
    let mut abandoned = failed_attempt(&seen, now.plus_secs(60));
    abandoned.status = Status::Abandoned;
    store
        .save(&abandoned, (seen.attempts, lease))
        .await
        .expect("save");
    assert_eq!(messages(store, &user).await, vec![abandoned]);
    let far = Timestamp::from_datetime(datetime!(2100-01-01 00:00 UTC));
    assert!(due_in(store, &user.tenant_id, far).await.is_empty());
}

async fn remove_takes_a_message_out_of_the_outbox<S: Stores>(store: &S) {
    let now = Timestamp::from_datetime(datetime!(2009-06-01 00:00 UTC));
    let (user, seen) = one_due(store, now).await;
    let kept = due_mail(&user, now.plus_secs(-30));
    store
        .enqueue(std::slice::from_ref(&kept), ROOMY, now)
        .await
        .expect("enqueue");
    store.remove(&seen).await.expect("remove");
    assert_eq!(messages(store, &user).await, vec![kept.message.clone()]);
    assert_eq!(
        due_in(store, &user.tenant_id, now).await,
        vec![kept.message]
    );
}

// ---------------------------------------------------------------------------------------------
// TenantStore
// ---------------------------------------------------------------------------------------------

fn settings_version(version: u64, display_name: &str) -> (StoredSettings, SettingsChange) {
    let at = t0().plus_secs(i64::try_from(version).unwrap());
    let stored = StoredSettings {
        doc: SettingsDoc {
            display_name: Some(display_name.to_owned()),
            result_url_hosts: Some(vec!["app.example.com".into(), "*.example.org".into()]),
            inactive_after_days: Some(90),
            ..SettingsDoc::default()
        },
        version,
        updated_at: Some(at),
    };
    let change = SettingsChange {
        changed_at: at,
        changed_by: format!("admin-{version}@clients"),
        fields: vec!["display_name".into()],
        version,
    };
    (stored, change)
}

async fn a_tenant_that_stored_nothing_has_no_settings<S: Stores>(store: &S) {
    let t = tenant();
    assert_eq!(store.settings(&t).await.unwrap(), None);
    let (stored, history) = store.settings_with_history(&t, 20).await.unwrap();
    assert_eq!((stored, history.len()), (None, 0));
}

async fn settings_and_size_reads_the_settings_and_the_count_together<S: Stores>(store: &S) {
    let t = tenant();
    let size = |counted, recorded| TenantSize { counted, recorded };
    assert_eq!(
        store.settings_and_size(&t).await.unwrap(),
        (None, size(0, None))
    );
    let (first, change) = settings_version(1, "Sized");
    store.put_settings(&t, &first, 0, &change).await.unwrap();
    for (i, shard) in [0, 0, 5, 15].into_iter().enumerate() {
        let user = database_user_in(&t, &format!("s{i}@example.com"), shard);
        store.create(&user, None, &[]).await.expect("create");
    }
    assert_eq!(
        store.settings_and_size(&t).await.unwrap(),
        (Some(first), size(4, None))
    );
    assert_eq!(store.count(&t).await.unwrap(), 4);
    assert_eq!(
        store.settings_and_size(&tenant()).await.unwrap(),
        (None, size(0, None)),
        "fenced by the tenant"
    );
}

async fn a_recorded_size_reads_back_with_the_settings_and_counts_nothing<S: Stores>(store: &S) {
    let t = tenant();
    assert_eq!(
        store.settings_and_recorded_size(&t).await.unwrap(),
        (None, None)
    );
    let (first, change) = settings_version(1, "Recorded");
    store.put_settings(&t, &first, 0, &change).await.unwrap();
    let user = database_user_in(&t, "r@example.com", 0);
    store.create(&user, None, &[]).await.expect("create");
    store.record_size(&t, 5_000).await.unwrap();
    store.record_size(&t, 4_200).await.unwrap();
    assert_eq!(
        store.settings_and_recorded_size(&t).await.unwrap(),
        (Some(first.clone()), Some(4_200)),
        "the last figure recorded"
    );
    let counted = TenantSize {
        counted: 1,
        recorded: Some(4_200),
    };
    assert_eq!(
        store.settings_and_size(&t).await.unwrap(),
        (Some(first), counted)
    );
    assert_eq!(store.count(&t).await.unwrap(), 1, "the record is no count");
    let first_page = PageRequest {
        limit: 10,
        start: Position::default(),
    };
    let listed = store.list(&t, &first_page).await.unwrap();
    assert_eq!(listed.users.len(), 1);
    assert_eq!(
        store.settings_and_recorded_size(&tenant()).await.unwrap(),
        (None, None),
        "fenced by the tenant"
    );
}

async fn a_user_reads_back_with_the_settings_of_its_own_tenant_only<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user_in(&t, "u@example.com", 0);
    assert_eq!(
        store.settings_and_user(&t, &user.user_id).await.unwrap(),
        (None, None)
    );
    store.create(&user, None, &[]).await.expect("create");
    assert_eq!(
        store.settings_and_user(&t, &user.user_id).await.unwrap(),
        (None, Some(user.clone())),
        "no settings stored yet"
    );
    let (first, change) = settings_version(1, "With a user");
    store.put_settings(&t, &first, 0, &change).await.unwrap();
    assert_eq!(
        store.settings_and_user(&t, &user.user_id).await.unwrap(),
        (Some(first.clone()), Some(user.clone()))
    );
    let unknown = UserId::generate();
    assert_eq!(
        store.settings_and_user(&t, &unknown).await.unwrap(),
        (Some(first), None)
    );
    assert_eq!(
        store
            .settings_and_user(&tenant(), &user.user_id)
            .await
            .unwrap(),
        (None, None),
        "fenced by the tenant"
    );
}

async fn a_login_reads_back_with_the_settings_of_its_own_tenant_only<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user_in(&t, "u@example.com", 0);
    let identifier = Identifier::parse("U@example.com").expect("a valid identifier");
    let with = |tenant: TenantId| {
        let identifier = identifier.clone();
        async move {
            store
                .settings_and_login(&tenant, &identifier, &database())
                .await
                .expect("settings_and_login")
        }
    };
    assert_eq!(with(t.clone()).await, (None, None));
    store.create(&user, None, &[]).await.expect("create");
    assert_eq!(
        with(t.clone()).await,
        (None, Some((user.user_id, Credential::Own))),
        "no settings stored yet"
    );
    let (first, change) = settings_version(1, "With a login");
    store.put_settings(&t, &first, 0, &change).await.unwrap();
    assert_eq!(
        with(t.clone()).await,
        (Some(first.clone()), Some((user.user_id, Credential::Own)))
    );
    let elsewhere = Connection::parse("google-oauth2").expect("a valid connection");
    assert_eq!(
        store
            .settings_and_login(&t, &identifier, &elsewhere)
            .await
            .unwrap(),
        (Some(first), None),
        "the login is the connection's"
    );
    assert_eq!(with(tenant()).await, (None, None), "fenced by the tenant");
    assert_eq!(
        login_of(store, &t, "u@example.com", &database()).await,
        Some((user.user_id, Credential::Own)),
        "the same login find_login reads"
    );
}

async fn a_ticket_reads_back_with_the_settings_of_its_own_tenant_only<S: Stores>(store: &S) {
    let t = tenant();
    let user = database_user(&t, Some("ana@example.com"), None);
    let (hash, minted) = ticket_for(&user, TicketKind::Unblock, t0());
    let with = |tenant: TenantId| {
        let hash = hash.clone();
        async move {
            store
                .settings_and_ticket(&tenant, &hash)
                .await
                .expect("settings_and_ticket")
        }
    };
    assert_eq!(with(t.clone()).await, (None, None));
    store.put_ticket(&hash, &minted).await.expect("put_ticket");
    assert_eq!(
        with(t.clone()).await,
        (None, Some(minted.clone())),
        "no settings stored yet"
    );
    let (first, change) = settings_version(1, "With a ticket");
    store.put_settings(&t, &first, 0, &change).await.unwrap();
    assert_eq!(with(t.clone()).await, (Some(first), Some(minted.clone())));
    assert_eq!(with(tenant()).await, (None, None), "fenced by the tenant");
    assert_eq!(
        ticket(store, &t, &hash).await,
        Some(minted),
        "the same ticket"
    );
}

async fn put_settings_stores_the_first_version_and_its_change<S: Stores>(store: &S) {
    let t = tenant();
    let (first, change) = settings_version(1, "Acme");
    store.put_settings(&t, &first, 0, &change).await.unwrap();
    assert_eq!(store.settings(&t).await.unwrap(), Some(first.clone()));
    let (stored, history) = store.settings_with_history(&t, 20).await.unwrap();
    assert_eq!(stored, Some(first));
    assert_eq!(history, [change]);
}

async fn put_settings_is_conditional_on_the_version_read<S: Stores>(store: &S) {
    let t = tenant();
    let (first, change) = settings_version(1, "First");
    store.put_settings(&t, &first, 0, &change).await.unwrap();
    // A second "first" write, and a write expecting a version that is not stored.
    let (again, again_change) = settings_version(1, "Again");
    assert!(matches!(
        store.put_settings(&t, &again, 0, &again_change).await,
        Err(StoreError::ConditionFailed)
    ));
    let (skipped, skipped_change) = settings_version(3, "Skipped");
    assert!(matches!(
        store.put_settings(&t, &skipped, 2, &skipped_change).await,
        Err(StoreError::ConditionFailed)
    ));
    let (stored, history) = store.settings_with_history(&t, 20).await.unwrap();
    assert_eq!(stored, Some(first));
    assert_eq!(history, [change], "nothing written by a refused put");
    let (second, second_change) = settings_version(2, "Second");
    store
        .put_settings(&t, &second, 1, &second_change)
        .await
        .unwrap();
    assert_eq!(store.settings(&t).await.unwrap(), Some(second));
}

async fn history_comes_newest_first_and_at_most_limit<S: Stores>(store: &S) {
    let t = tenant();
    for version in 1..=5 {
        let (next, change) = settings_version(version, &format!("V{version}"));
        store
            .put_settings(&t, &next, version - 1, &change)
            .await
            .unwrap();
    }
    let (stored, history) = store.settings_with_history(&t, 3).await.unwrap();
    assert_eq!(stored.map(|s| s.version), Some(5));
    let versions: Vec<u64> = history.iter().map(|c| c.version).collect();
    assert_eq!(versions, [5, 4, 3]);
    assert_eq!(history[0].changed_by, "admin-5@clients");
}

async fn settings_are_fenced_by_their_tenant<S: Stores>(store: &S) {
    let (a, b) = (tenant(), tenant());
    let (first, change) = settings_version(1, "Only A");
    store.put_settings(&a, &first, 0, &change).await.unwrap();
    assert_eq!(store.settings(&b).await.unwrap(), None);
    assert!(
        store
            .settings_with_history(&b, 20)
            .await
            .unwrap()
            .1
            .is_empty()
    );
    // B's first version is its own, whatever A's is.
    let (b_first, b_change) = settings_version(1, "Only B");
    store
        .put_settings(&b, &b_first, 0, &b_change)
        .await
        .unwrap();
    assert_eq!(
        store
            .settings(&a)
            .await
            .unwrap()
            .unwrap()
            .doc
            .display_name
            .as_deref(),
        Some("Only A")
    );
}
