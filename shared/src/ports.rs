//! The ports the operations run over, one small trait per concern. Adapters implement them
//! (`crate::adapters`); every store implementation passes the contract suite in
//! `local/tests/it/store_contract.rs`.

use async_trait::async_trait;
use serde_json::Value;

use crate::domain::Error;
use crate::domain::email::Email;
use crate::domain::erasure::{KeyVersion, Receipt, ReceiptKey};
pub use crate::domain::export::Stored;
use crate::domain::idempotency::{Commit, Record};
use crate::domain::ids::{Connection, TenantId, UserId};
use crate::domain::listing::{Filter, Occupancy, Page, PageRequest};
use crate::domain::login::{
    BruteForce, Counter, Credential, Failures, Identifier, LoginState, LoginSubject,
};
use crate::domain::mail_request::MailRequest;
use crate::domain::message::{JobRecord, Message, OutgoingEmail, Queued, SendCap};
use crate::domain::metadata::MetadataPatch;
use crate::domain::password::{Password, PasswordHash};
use crate::domain::rate_limit::{BucketOf, Draw};
use crate::domain::tenant::{SettingsChange, StoredSettings};
use crate::domain::ticket::{Ticket, TicketHash, invalid_ticket};
use crate::domain::time::Timestamp;
use crate::domain::user::User;

/// Which unique value another user already owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unique {
    Email,
    Username,
    Identity,
}

#[derive(Debug)]
pub enum StoreError {
    /// A write's condition did not hold: the user is gone, its version moved on, or (for a
    /// blind metadata merge) the key cap might be exceeded. The caller reads and decides.
    ConditionFailed,
    /// A uniqueness guard belongs to another user; nothing was written.
    Taken(Unique),
    /// The ticket a write was to consume is gone: used by a concurrent redemption, or expired.
    Consumed,
    /// A message the write was to queue would exceed the user's send cap for its kind.
    Capped,
    /// The store is throttling, or writes kept colliding; retrying later will work.
    Throttled(String),
    /// The store could not be reached or failed on its side: a timeout, a refused or dropped
    /// connection, a 5xx. Retrying later will work; nothing is known of a write's outcome.
    Unavailable(String),
    /// Anything else: a bug or an outage.
    Backend(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ConditionFailed => Error::internal("unhandled conditional check failure"),
            StoreError::Consumed => invalid_ticket(),
            StoreError::Capped => Error::internal("unhandled send cap"),
            StoreError::Taken(what) => Error::user_exists(match what {
                Unique::Email => "A user with this email already exists in this connection.",
                Unique::Username => "A user with this username already exists in this connection.",
                Unique::Identity => "A user with this identity already exists.",
            }),
            StoreError::Throttled(cause) | StoreError::Unavailable(cause) => {
                Error::unavailable(cause)
            }
            StoreError::Backend(cause) => Error::Internal { cause },
        }
    }
}

/// A change that needs no knowledge of the current user: root fields that own no guard item
/// and metadata merges.
#[derive(Debug)]
pub struct FieldUpdate {
    pub set: Vec<(&'static str, Value)>,
    pub remove: Vec<&'static str>,
    pub user_metadata: Option<MetadataPatch>,
    pub app_metadata: Option<MetadataPatch>,
    pub updated_at: Timestamp,
}

/// A read of the erasure index.
#[derive(Debug)]
pub struct Due {
    pub users: Vec<User>,
    /// Items DynamoDB read.
    pub items_read: u64,
    /// Whether a shard had more due entries than the read took.
    pub more: bool,
}

/// A read of the outbox's due index.
#[derive(Debug, Default)]
pub struct DueMessages {
    pub messages: Vec<Message>,
    /// Due items that did not read as messages (now out of the index).
    pub unreadable: usize,
}

/// What a user write does besides changing the user, in the same transaction.
#[derive(Debug, Default, Clone, Copy)]
pub struct Effects<'a> {
    /// A ticket the write consumes: it must still exist (`Consumed` otherwise) and is deleted.
    pub redeem: Option<(&'a TenantId, &'a TicketHash)>,
    /// Messages the write queues in the outbox (with their tickets), each counted against
    /// `cap`.
    pub mail: &'a [Queued],
    pub cap: SendCap,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Deleted {
    Yes,
    NotFound,
}

/// Everything the operations keep, as one type: the table's adapter implements every store
/// port. [`crate::operations::App`] is generic over it rather than holding trait objects, so
/// each function's binary links only the store calls its operation makes
/// (docs/performance.md, "What each function links").
pub trait Store:
    UserStore
    + LoginStore
    + LinkStore
    + ErasureStore
    + TicketStore
    + OutboxStore
    + TenantStore
    + RateLimiter
    + IdempotencyStore
    + 'static
{
}

impl<T> Store for T where
    T: UserStore
        + LoginStore
        + LinkStore
        + ErasureStore
        + TicketStore
        + OutboxStore
        + TenantStore
        + RateLimiter
        + IdempotencyStore
        + 'static
{
}

/// Users and the items that make their unique values unique.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Stores a new user, its password hash (kept in an item no read returns) and a guard item
    /// for each unique value (email and username per connection, every identity), all in one
    /// transaction, with the messages `mail` queues and their tickets. `Taken` if any guard
    /// exists; then nothing is written.
    async fn create(
        &self,
        user: &User,
        password: Option<&PasswordHash>,
        mail: &[Queued],
    ) -> Result<(), StoreError> {
        self.create_committing(user, password, mail, None).await
    }

    /// As [`UserStore::create`], and in the same transaction marks `commit`'s idempotency
    /// record committed to this user, only if it is still in flight with that fingerprint
    /// (`ConditionFailed` otherwise, and nothing is written).
    async fn create_committing(
        &self,
        user: &User,
        password: Option<&PasswordHash>,
        mail: &[Queued],
        commit: Option<&Commit>,
    ) -> Result<(), StoreError>;

    /// The user, read with strong consistency, in one call.
    async fn get(&self, tenant: &TenantId, id: &UserId) -> Result<Option<User>, StoreError>;

    /// Applies `update` in one conditional write: only if the user exists, its version is
    /// `expected` (when given), and each metadata merge cannot leave more than
    /// [`crate::domain::metadata::MAX_KEYS`] keys. That last check is conservative (a merge that only
    /// replaces keys of a nearly full object may fail it); on `ConditionFailed` the caller reads
    /// the user and applies the change exactly. Bumps `version`, returns the new user.
    async fn update(
        &self,
        tenant: &TenantId,
        id: &UserId,
        update: &FieldUpdate,
        expected: Option<u64>,
    ) -> Result<User, StoreError>;

    /// Replaces `current` with `next` in one transaction, conditional on the stored version
    /// still being `current.version`; moves every guard item whose value changed, and writes
    /// `password` when given (the user's own, or a linked identity's), and does what
    /// `effects` asks. `ConditionFailed` on a lost race,
    /// `Taken` if a new unique value belongs to someone else, `Consumed` if the ticket is gone,
    /// `Capped` if a message would exceed its cap; nothing is written then.
    async fn replace(
        &self,
        current: &User,
        next: &User,
        password: Option<(&Credential, &PasswordHash)>,
        effects: Effects<'_>,
    ) -> Result<(), StoreError>;

    /// Everything stored about the user (see [`Stored`]), or `None` if there is no such user:
    /// one query of its partition and one batch read of its tickets. A message or ticket that
    /// does not read is left out (and logged), never the whole answer.
    async fn stored(&self, tenant: &TenantId, id: &UserId) -> Result<Option<Stored>, StoreError>;

    /// One page of the tenant's users (see [`crate::domain::listing`]), in listing order, each
    /// user once across the pages of a walk whatever shards the tenant's users are in. A page
    /// that needed the tenant's per-shard counts returns them (`occupancy`).
    async fn list(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page, StoreError>;

    /// One page of the tenant's users that `filter` names, in listing order. As current as
    /// the index the writes keep: a write is seen by the next listing or shortly after.
    async fn list_where(
        &self,
        tenant: &TenantId,
        filter: &Filter,
        page: &PageRequest,
    ) -> Result<Page, StoreError>;

    /// How many of the tenant's users `filter` names, counting no further than `at_most`
    /// (which bounds the read). `known`: the tenant's per-shard counts, when the caller read
    /// them already (a page's `occupancy`), so they are not read again.
    async fn count_where(
        &self,
        tenant: &TenantId,
        filter: &Filter,
        at_most: u64,
        known: Option<&Occupancy>,
    ) -> Result<u64, StoreError>;

    /// How many users the tenant has: counts kept by the writes that create and remove users
    /// (sign-up, erasure, link, unlink), in the same transactions, so never a scan; one read.
    async fn count(&self, tenant: &TenantId) -> Result<u64, StoreError>;

    /// Every user of the tenant whose email is `email` (case-insensitively), any connection.
    async fn find_by_email(
        &self,
        tenant: &TenantId,
        email: &Email,
    ) -> Result<Vec<User>, StoreError>;

    /// The user a login identifier belongs to in `connection`, and whose password it signs in
    /// with (a linked database identity's, or the user's own): one read of its guard.
    async fn find_login(
        &self,
        tenant: &TenantId,
        identifier: &Identifier,
        connection: &Connection,
    ) -> Result<Option<(UserId, Credential)>, StoreError>;

    /// The user holding an identity (as its own or linked): one read of its guard.
    async fn identity_owner(
        &self,
        tenant: &TenantId,
        provider: &str,
        provider_user_id: &str,
    ) -> Result<Option<UserId>, StoreError>;
}

/// Account linking: one transaction moves an identity, its password and its guards between
/// two users.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Links `secondary` into `primary`, which becomes `next` (holding the secondary's identity
    /// last), in one transaction conditional on both users' versions: removes the secondary's
    /// profile, moves its password beside the primary's, and re-points each of its guard items
    /// to the primary (conditional on the secondary owning it). Then removes the secondary's
    /// remaining items (tickets, queued mail, counters); a failure there is logged, and those
    /// items expire by TTL. `ConditionFailed` if either user changed; nothing is written then.
    async fn link(&self, primary: &User, next: &User, secondary: &User) -> Result<(), StoreError>;

    /// The reverse of [`LinkStore::link`]: `primary` becomes `next` and the identity it drops
    /// becomes the standalone user `restored`, in one transaction conditional on the primary's
    /// version and on no user existing under the restored id; its password and guard items
    /// move back. Items left under the restored id by an earlier failed clean-up are removed
    /// first. `ConditionFailed` if the primary changed.
    async fn unlink(&self, primary: &User, next: &User, restored: &User) -> Result<(), StoreError>;
}

/// Erasure: a user and every item it has, removed with a receipt; the due index the purge
/// reads.
#[async_trait]
pub trait ErasureStore: Send + Sync {
    /// Erases the user: first the items under its key that no transaction needs (tickets,
    /// queued mail, counters), then, in one transaction, the profile, the passwords of every
    /// identity it holds and every guard item it owns, writing `receipt`. With `expected`,
    /// only if the version matches (`ConditionFailed` otherwise); without it, a concurrent
    /// write also yields `ConditionFailed` and the caller retries.
    async fn delete(
        &self,
        tenant: &TenantId,
        id: &UserId,
        expected: Option<u64>,
        receipt: &Receipt,
    ) -> Result<Deleted, StoreError>;

    /// Accounts due at `now` in the sparse, sharded erasure index (never a scan), about
    /// `limit` in all, as the index shows them (eventually consistent).
    async fn due_erasures(&self, now: Timestamp, limit: usize) -> Result<Due, StoreError>;

    /// [`ErasureStore::delete`] of a user already read (from the due index): first claims the
    /// profile with a write conditional on `user.version` (`ConditionFailed`, with nothing
    /// removed, if it changed or is gone). Reads only the items it must remove besides those
    /// `user` names; returns how many it read.
    async fn erase(&self, user: &User, receipt: &Receipt) -> Result<u64, StoreError>;

    /// Writes `receipt` as it is, unless the store holds a receipt with its tenant and
    /// subject already; whether it wrote. For re-applying erasures to a restored table, which
    /// must end up with the receipts of the erasures it missed.
    async fn keep_receipt(&self, receipt: &Receipt) -> Result<bool, StoreError>;
}

/// Where the erasure receipt key is kept, by version: one secret whose versions are the
/// key's (AWS Secrets Manager). An implementation hands the key out only inside a
/// [`ReceiptKey`] and never logs it.
#[async_trait]
pub trait ReceiptKeys: Send + Sync {
    /// The current version of the key, which new receipts are hashed under and name. An error
    /// if it cannot be read, or is not a usable key (fewer than [`ReceiptKey::MIN_BYTES`]).
    async fn current(&self) -> Result<ReceiptKey, StoreError>;

    /// The key of `version`, for receipts written under it; `None` if the secret has no such
    /// version (never made, or removed: Secrets Manager may delete a version that carries no
    /// staging label any more).
    async fn version(&self, version: &KeyVersion) -> Result<Option<ReceiptKey>, StoreError>;
}

/// Sign-in bookkeeping: failure counters and their brute-force blocks, and successful
/// logins.
#[async_trait]
pub trait LoginStore: Send + Sync {
    /// What a login from `ip` reads, in one call: for a user, the profile, the password hash
    /// and both counters; for an unknown identifier, its two counters; for either, the
    /// address's throttle across the tenant's accounts.
    async fn login_state(&self, subject: &LoginSubject, ip: &str)
    -> Result<LoginState, StoreError>;

    /// [`LoginStore::login_state`] and the tenant's stored settings, as
    /// [`TenantStore::settings`], in the same one call: how a container whose cache holds no
    /// settings for the tenant reads them with the login's state rather than in a call of
    /// their own (docs/performance.md, "Cold starts").
    async fn login_state_and_settings(
        &self,
        subject: &LoginSubject,
        ip: &str,
    ) -> Result<(LoginState, Option<StoredSettings>), StoreError>;

    /// Counts a failed attempt on the address's and the subject's counter, in one write
    /// conditional on both being as `state` read them (`ConditionFailed` otherwise: the caller
    /// reads again). A counter past its window starts again at one.
    async fn record_failure(
        &self,
        subject: &LoginSubject,
        state: &LoginState,
        ip: &str,
        now: Timestamp,
        rules: &BruteForce,
    ) -> Result<(), StoreError>;

    /// Adds one failure to the throttle of `ip` across the tenant's accounts: its drain time
    /// moves `interval_secs` past the later of itself and `now`. Atomic, and never refused
    /// for a concurrent failure from the same address (they add up), so failures from one
    /// address do not contend with each other. `read` is the drain time the attempt read: a
    /// hint of which write applies, so one call usually does.
    async fn fill_address_throttle(
        &self,
        tenant: &TenantId,
        ip: &str,
        now: Timestamp,
        interval_secs: i64,
        read: Option<Timestamp>,
    ) -> Result<(), StoreError>;

    /// A successful login, in one transaction conditional on the user's version and both
    /// counters being as `state` read them: `logins_count + 1`, `last_login`, `version + 1`,
    /// the address's failures reset (and, with `trust`, its success noted), and `rehash`
    /// stored in place of the verified hash when given. Returns the updated user.
    async fn record_login(
        &self,
        state: &LoginState,
        ip: &str,
        now: Timestamp,
        rules: &BruteForce,
        rehash: Option<&PasswordHash>,
        trust: bool,
    ) -> Result<User, StoreError>;

    /// Succeeds only if both counters of the login are still as `state` read them
    /// (`ConditionFailed` otherwise); writes nothing.
    async fn confirm_unchanged(
        &self,
        subject: &LoginSubject,
        state: &LoginState,
        ip: &str,
    ) -> Result<(), StoreError>;

    /// Every failure counter of the user.
    async fn failure_counters(
        &self,
        tenant: &TenantId,
        id: &UserId,
    ) -> Result<Vec<(Counter, Failures)>, StoreError>;

    /// Removes every failure counter of the user as read, and with them every brute-force
    /// block. A failure counted after the read stays counted: a counter loses only what was
    /// read.
    async fn clear_failures(&self, tenant: &TenantId, id: &UserId) -> Result<(), StoreError>;

    /// When the throttle of `ip` across the tenant's accounts drains, if it holds failures.
    async fn address_throttle(
        &self,
        tenant: &TenantId,
        ip: &str,
    ) -> Result<Option<Timestamp>, StoreError>;

    /// Empties the throttle of `ip` across the tenant's accounts (idempotent).
    async fn clear_address_throttle(&self, tenant: &TenantId, ip: &str) -> Result<(), StoreError>;
}

/// Tickets, stored only under their hash.
#[async_trait]
pub trait TicketStore: Send + Sync {
    /// Stores a ticket under its hash, with a TTL at its expiry.
    async fn put_ticket(&self, hash: &TicketHash, ticket: &Ticket) -> Result<(), StoreError>;

    /// The ticket stored under `hash` in `tenant`, expired or not (the caller checks).
    async fn ticket(
        &self,
        tenant: &TenantId,
        hash: &TicketHash,
    ) -> Result<Option<Ticket>, StoreError>;
}

/// The email outbox: messages queued with the writes that cause them, and the send caps.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Queues messages (and stores their tickets, and a tracked message's pending
    /// [`JobRecord`]) in one transaction, each counted against
    /// `cap` for its user and kind in the current hour; `Capped` (and nothing queued) if any
    /// would exceed it.
    async fn enqueue(
        &self,
        mail: &[Queued],
        cap: SendCap,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Takes a due message for one attempt: succeeds only if it is still as `message` was
    /// read, and moves its next attempt to `lease_until` so no other sender takes it meanwhile.
    async fn claim(&self, message: &Message, lease_until: Timestamp) -> Result<(), StoreError>;

    /// Pending messages whose next attempt is due at `now`, oldest first, at most `limit`. A
    /// due item that does not read as a message is taken out of the due index, kept for
    /// inspection (and its TTL), logged once by its key, and counted in `unreadable`: one bad
    /// item never stops the others.
    async fn due(&self, now: Timestamp, limit: usize) -> Result<DueMessages, StoreError>;

    /// Stores the message as it now stands (after a failed attempt), only if it is still as
    /// the attempt took it: `taken` is its (attempts, next attempt) then. `ConditionFailed`
    /// if another sender has moved it on, or it is gone.
    async fn save(&self, message: &Message, taken: (u32, Timestamp)) -> Result<(), StoreError>;

    /// Removes a message that was sent (or no longer applies).
    async fn remove(&self, message: &Message) -> Result<(), StoreError>;

    /// Records where a tracked message's job stands now (sent, moot or abandoned), if its
    /// record is still kept; one gone past its day stays gone.
    async fn finish_job(&self, tenant: &TenantId, record: &JobRecord) -> Result<(), StoreError>;

    /// The job of that id queued in the tenant, if its record is still kept (DynamoDB may
    /// keep one a while past its day: the caller checks `created_at`).
    async fn job(&self, tenant: &TenantId, id: &str) -> Result<Option<JobRecord>, StoreError>;
}

/// Idempotency keys' records ([`crate::domain::idempotency`]), each kept a day.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Takes the key for a request with `fingerprint` until `now` plus the lease: `None` when
    /// it was free (never used, its day over, or its holder's lease run out), else the record
    /// as it stands, unchanged. One conditional write, and a read when the key was taken.
    async fn begin(
        &self,
        tenant: &TenantId,
        id: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<Option<Record>, StoreError>;

    /// Keeps the sealed answer of the request that holds the key (in flight or committed with
    /// `fingerprint`), for the rest of the key's day.
    async fn complete(
        &self,
        tenant: &TenantId,
        id: &str,
        fingerprint: &str,
        sealed: &str,
    ) -> Result<(), StoreError>;

    /// Frees a key whose request failed before it had any effect, so a retry runs again; a
    /// key committed or done is left as it is.
    async fn release(
        &self,
        tenant: &TenantId,
        id: &str,
        fingerprint: &str,
    ) -> Result<(), StoreError>;
}

/// The windows of the token buckets rate limits draw on ([`crate::domain::rate_limit`]).
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Takes one of `draw.capacity` tokens from `of`'s bucket (its shard and window `draw`
    /// names) in one write: `Some(taken)`, the tokens taken in that window now, or `None` when
    /// none was left, and then nothing changed. A window's count is kept a little past its
    /// end, then dropped.
    async fn take(&self, of: &BucketOf, draw: &Draw) -> Result<Option<u32>, StoreError>;
}

/// A tenant's size as [`TenantStore::settings_and_size`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantSize {
    /// The users its count items hold.
    pub counted: u64,
    /// The size last recorded by [`TenantStore::record_size`], if one was.
    pub recorded: Option<u64>,
}

/// Each tenant's stored settings and the history of their changes, in the tenant's own
/// partition.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// The tenant's stored settings (`None` if it never stored any), read with strong
    /// consistency in one call.
    async fn settings(&self, tenant: &TenantId) -> Result<Option<StoredSettings>, StoreError>;

    /// The stored settings, as [`TenantStore::settings`], and the tenant's size: how many
    /// users it has, as [`UserStore::count`], and the size last recorded, together in one
    /// call: what a function that places new users keeps of a tenant for a while
    /// ([`crate::domain::listing::spread_for`]).
    async fn settings_and_size(
        &self,
        tenant: &TenantId,
    ) -> Result<(Option<StoredSettings>, TenantSize), StoreError>;

    /// The stored settings, as [`TenantStore::settings`], and the size last recorded by
    /// [`TenantStore::record_size`] (`None` if none was), together in one call of two items:
    /// what a container that has not yet counted the tenant places new users by, where
    /// reading every count item would cost a cold start more than one small read.
    async fn settings_and_recorded_size(
        &self,
        tenant: &TenantId,
    ) -> Result<(Option<StoredSettings>, Option<u64>), StoreError>;

    /// The stored settings, as [`TenantStore::settings`], and one of the tenant's users, as
    /// [`UserStore::get`], together in one call of two items: how a container whose cache
    /// holds no settings for the tenant reads them with the user its operation reads first,
    /// rather than in a call of their own (docs/performance.md, "Cold starts").
    async fn settings_and_user(
        &self,
        tenant: &TenantId,
        id: &UserId,
    ) -> Result<(Option<StoredSettings>, Option<User>), StoreError>;

    /// The stored settings, as [`TenantStore::settings`], and whom a login signs in as, as
    /// [`UserStore::find_login`], together in one call of two items, as
    /// [`TenantStore::settings_and_user`] reads a user.
    async fn settings_and_login(
        &self,
        tenant: &TenantId,
        identifier: &Identifier,
        connection: &Connection,
    ) -> Result<(Option<StoredSettings>, Option<(UserId, Credential)>), StoreError>;

    /// The stored settings, as [`TenantStore::settings`], and the ticket stored under `hash`,
    /// as [`TicketStore::ticket`], together in one call of two items, as
    /// [`TenantStore::settings_and_user`] reads a user.
    async fn settings_and_ticket(
        &self,
        tenant: &TenantId,
        hash: &TicketHash,
    ) -> Result<(Option<StoredSettings>, Option<Ticket>), StoreError>;

    /// Records `users` as the tenant's size for [`TenantStore::settings_and_recorded_size`]:
    /// one write, the last writer's figure kept. An estimate for placing users, never a count
    /// anything is decided on.
    async fn record_size(&self, tenant: &TenantId, users: u64) -> Result<(), StoreError>;

    /// The stored settings and the newest `limit` changes, newest first, in one call.
    async fn settings_with_history(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<(Option<StoredSettings>, Vec<SettingsChange>), StoreError>;

    /// Stores `next` and records `change` in one transaction, only if the stored version is
    /// still `expected` (0: nothing stored yet); `ConditionFailed` otherwise, and nothing is
    /// written. `next.version` is `expected + 1`.
    async fn put_settings(
        &self,
        tenant: &TenantId,
        next: &StoredSettings,
        expected: u64,
        change: &SettingsChange,
    ) -> Result<(), StoreError>;
}

/// Why the provider did not take a message.
#[derive(Debug)]
pub enum SendError {
    /// Throttling, an outage, a network failure: a later attempt may work.
    Transient(String),
    /// The provider refused this message (a rejected address, say): retrying will not help.
    Rejected(String),
}

/// Mail requests waiting for the worker that resolves them (`account-mail-sender`), so the
/// code that makes one does the same work whether or not an account exists.
#[async_trait]
pub trait MailQueue: Send + Sync {
    /// Hands the request on, or fails; the same calls whatever the address, and nothing read.
    async fn enqueue(&self, request: &MailRequest) -> Result<(), StoreError>;
}

/// Delivers rendered email.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError>;
}

/// Password hashing. Implementations do the work off the async executor.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, Error>;
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, Error>;
    /// Does the work of one verification and fails, for a login with no account or no usable
    /// password, so its timing matches a wrong password.
    async fn verify_nothing(&self, password: Option<&Password>);
    /// Whether `hash` was made with other parameters than new hashes get.
    fn needs_rehash(&self, hash: &PasswordHash) -> bool;
}

/// The time operations run at; tests move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}
