//! Tenant settings: each tenant's effective settings, read through a short per-container
//! cache, and changed over the settings API with a history of who changed what.
//!
//! The cache keeps a tenant's effective settings for [`SETTINGS_CACHE_SECS`] after it read
//! them: at most one `GetItem` per tenant per container in that time (concurrent misses wait
//! for one read), none on a hit. Where users are created it keeps the tenant's size too, to
//! place new users in the listing, read with the settings in one `BatchGetItem`: a
//! container's first read takes the size last recorded (two items); each later one, and a
//! first one that finds no record, counts the tenant (every count item), and the next create
//! records the count when it calls for another spread (docs/data-model.md, "Listing
//! shards"). A change is seen by every function within [`SETTINGS_CACHE_SECS`]; the
//! container that made it (on Lambda, the PATCH function's own) at once. See
//! docs/configuration.md.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{App, Races};
use crate::domain::Error;
use crate::domain::ids::{Connection, TenantId, UserId};
use crate::domain::listing::spread_for;
use crate::domain::login::{Credential, Identifier, LoginState, LoginSubject};
use crate::domain::tenant::{SettingsChange, SettingsPatch, StoredSettings, TenantEmail};
use crate::domain::time::Timestamp;
use crate::domain::user::User;
use crate::ports::{PasswordHasher, Store};
use crate::ports::{StoreError, TenantSize};

/// How long a container trusts the tenant settings it read.
pub const SETTINGS_CACHE_SECS: i64 = 30;
/// Tenants one container keeps settings for; past this the cache starts again empty (a
/// container serving more tenants than this in 30 seconds reads more, nothing else).
const MAX_CACHED: usize = 10_000;
/// Changes a settings answer shows, newest first.
pub const HISTORY_SHOWN: usize = 20;

/// The per-container cache of effective tenant settings and, where users are created, of
/// tenants' sizes.
#[derive(Default)]
pub struct SettingsCache {
    entries: Mutex<HashMap<TenantId, Entry>>,
    /// Held while a miss reads the store, so concurrent misses (the purge and the outbox work
    /// 8 at a time) make one read, not one each.
    filling: tokio::sync::Mutex<()>,
    /// Whether a miss reads the tenant's size with its settings (a `BatchGetItem` in place of
    /// the `GetItem`: of the recorded size on a container's first read, of every count item
    /// after): set in the functions that create users, which place each new user by it.
    sizes: bool,
}

struct Entry {
    expires: Timestamp,
    settings: Arc<TenantEmail>,
    /// How many users the tenant had when read, and those this container created since.
    users: Option<u64>,
    /// A count the tenant's recorded size should take, for the next create to write once
    /// its request is admitted: a miss may run beside the rate limiter's draw, before it.
    unrecorded: Option<u64>,
}

impl SettingsCache {
    /// A cache whose misses also read each tenant's size: for a function that creates users.
    pub fn keeping_sizes() -> Self {
        SettingsCache {
            sizes: true,
            ..SettingsCache::default()
        }
    }

    fn fresh<T>(
        &self,
        tenant: &TenantId,
        now: Timestamp,
        read: impl FnOnce(&Entry) -> Option<T>,
    ) -> Option<T> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(tenant)
            .filter(|entry| now < entry.expires)
            .and_then(read)
    }

    fn get(&self, tenant: &TenantId, now: Timestamp) -> Option<Arc<TenantEmail>> {
        self.fresh(tenant, now, |e| Some(e.settings.clone()))
    }

    fn users(&self, tenant: &TenantId, now: Timestamp) -> Option<u64> {
        self.fresh(tenant, now, |e| e.users)
    }

    /// Whether this container has read the tenant's size before, fresh or not: its next read
    /// counts the tenant, where a first one takes the recorded size.
    fn has_size(&self, tenant: &TenantId) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(tenant).is_some_and(|e| e.users.is_some())
    }

    fn put(
        &self,
        tenant: &TenantId,
        now: Timestamp,
        settings: Arc<TenantEmail>,
        users: Option<u64>,
        unrecorded: Option<u64>,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_CACHED && !entries.contains_key(tenant) {
            entries.clear();
        }
        entries.insert(
            tenant.clone(),
            Entry {
                expires: now.plus_secs(SETTINGS_CACHE_SECS),
                settings,
                users,
                unrecorded,
            },
        );
    }

    /// The count the tenant's recorded size should take, if one is due, once.
    fn take_unrecorded(&self, tenant: &TenantId) -> Option<u64> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get_mut(tenant).and_then(|e| e.unrecorded.take())
    }

    /// Counts a user this container just created into the tenant's size, so a container
    /// creating many users spreads them as the tenant grows, not only at its next read.
    pub fn created(&self, tenant: &TenantId) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(users) = entries.get_mut(tenant).and_then(|e| e.users.as_mut()) {
            *users = users.saturating_add(1);
        }
    }
}

/// A tenant's settings as the settings API shows them.
#[derive(Debug, Clone)]
pub struct SettingsView {
    /// What the tenant's operations use: its stored layer over the deployment's.
    pub settings: TenantEmail,
    /// The stored layer's version (0: the tenant never stored any); the `ETag`.
    pub version: u64,
    /// The newest changes, newest first.
    pub history: Vec<SettingsChange>,
}

fn settings_precondition_failed(current: u64) -> Error {
    Error::PreconditionFailed {
        message: format!("If-Match does not name the current version of the settings ({current})."),
    }
}

impl<S: Store, H: PasswordHasher> App<S, H> {
    /// `stored` over the deployment's layers. A stored layer was checked when it was stored,
    /// but a deployment whose own layers changed since can make it unusable: the tenant then
    /// works on the deployment's settings (logged), and its next PATCH must fix the layer.
    fn effective(&self, tenant: &TenantId, stored: &StoredSettings) -> TenantEmail {
        self.email
            .tenants
            .effective(tenant, &stored.doc)
            .unwrap_or_else(|why| {
                tracing::error!(tenant = %tenant, why = %why, "stored tenant settings no longer resolve; using the deployment's");
                self.email.tenants.tenant(tenant).clone()
            })
    }

    /// The tenant's effective settings, from the cache when it is fresh.
    pub async fn tenant(&self, tenant: &TenantId) -> Result<Arc<TenantEmail>, Error> {
        let now = self.clock.now();
        if let Some(settings) = self.settings_cache.get(tenant, now) {
            return Ok(settings);
        }
        let _filling = self.settings_cache.filling.lock().await;
        if let Some(settings) = self.settings_cache.get(tenant, self.clock.now()) {
            return Ok(settings);
        }
        let (settings, _) = self.fill(tenant, now, self.settings_cache.sizes).await?;
        Ok(settings)
    }

    /// The user, as [`App::get_user`], read with the tenant's settings when the cache holds
    /// none fresh: a container's first request for the tenant reads them in the call it makes
    /// anyway, and the operation's later [`App::tenant`] finds them cached. For operations
    /// whose first read after the draw is this user (docs/performance.md, "Cold starts").
    pub async fn get_user_reading_settings(
        &self,
        tenant: &TenantId,
        id: &UserId,
    ) -> Result<User, Error> {
        self.user_reading_settings(tenant, id)
            .await?
            .ok_or_else(Error::user_not_found)
    }

    /// As [`App::get_user_reading_settings`], `None` for a user not found.
    pub(crate) async fn user_reading_settings(
        &self,
        tenant: &TenantId,
        id: &UserId,
    ) -> Result<Option<User>, Error> {
        let read = self.reading_settings(
            tenant,
            self.users.get(tenant, id),
            self.tenants.settings_and_user(tenant, id),
        );
        Ok(read.await?.0)
    }

    /// Whom a login signs in as, as [`crate::ports::UserStore::find_login`], and the
    /// tenant's settings: read together when the cache holds none fresh, as
    /// [`App::get_user_reading_settings`] does with a user.
    pub(crate) async fn find_login_reading_settings(
        &self,
        tenant: &TenantId,
        identifier: &Identifier,
        connection: &Connection,
    ) -> Result<(Option<(UserId, Credential)>, Arc<TenantEmail>), Error> {
        self.reading_settings(
            tenant,
            self.users.find_login(tenant, identifier, connection),
            self.tenants
                .settings_and_login(tenant, identifier, connection),
        )
        .await
    }

    /// A login's state, as [`crate::ports::LoginStore::login_state`], and the tenant's
    /// settings: read together when the cache holds none fresh, as
    /// [`App::get_user_reading_settings`] does with a user. For a login's first read.
    pub(crate) async fn login_state_reading_settings(
        &self,
        subject: &LoginSubject,
        ip: &str,
    ) -> Result<(LoginState, Arc<TenantEmail>), Error> {
        let with = async {
            let (state, stored) = self.logins.login_state_and_settings(subject, ip).await?;
            Ok((stored, state))
        };
        self.reading_settings(subject.tenant(), self.logins.login_state(subject, ip), with)
            .await
    }

    /// What `plain` reads, with the tenant's settings from the cache when it holds them
    /// fresh; otherwise what `with` reads, the settings in the same call, which fill the
    /// cache (docs/performance.md, "Cold starts"). Only one of the two is awaited.
    pub(crate) async fn reading_settings<T>(
        &self,
        tenant: &TenantId,
        plain: impl Future<Output = Result<T, StoreError>>,
        with: impl Future<Output = Result<(Option<StoredSettings>, T), StoreError>>,
    ) -> Result<(T, Arc<TenantEmail>), Error> {
        // The settings are the ones the cache held when checked, never read on their own
        // after, even should they turn stale meanwhile: a function that reads them only this
        // way makes no `GetItem` for them, and is granted none.
        let now = self.clock.now();
        let settings = match self.settings_cache.get(tenant, now) {
            Some(settings) => settings,
            None => {
                let _filling = self.settings_cache.filling.lock().await;
                match self.settings_cache.get(tenant, self.clock.now()) {
                    Some(settings) => settings,
                    None => {
                        let (stored, read) = with.await?;
                        let stored = stored.unwrap_or_default();
                        let settings = Arc::new(self.effective(tenant, &stored));
                        self.settings_cache
                            .put(tenant, now, settings.clone(), None, None);
                        return Ok((read, settings));
                    }
                }
            }
        };
        Ok((plain.await?, settings))
    }

    /// How many listing shards the tenant's new users go to: by its size, from the cache when
    /// fresh, else read with its settings (one call).
    pub async fn listing_spread(&self, tenant: &TenantId) -> Result<u16, Error> {
        let now = self.clock.now();
        let users = match self.settings_cache.users(tenant, now) {
            Some(users) => users,
            None => {
                let _filling = self.settings_cache.filling.lock().await;
                match self.settings_cache.users(tenant, self.clock.now()) {
                    Some(users) => users,
                    None => self.fill(tenant, now, true).await?.1.unwrap_or(0),
                }
            }
        };
        Ok(spread_for(users, self.users_per_shard))
    }

    /// Reads the tenant's settings (and its size, with `sizes`) into the cache.
    async fn fill(
        &self,
        tenant: &TenantId,
        now: Timestamp,
        sizes: bool,
    ) -> Result<(Arc<TenantEmail>, Option<u64>), Error> {
        let mut recorded = None;
        if sizes && !self.settings_cache.has_size(tenant) {
            let (stored, size) = self.tenants.settings_and_recorded_size(tenant).await?;
            recorded = size.map(|users| (stored, users));
        }
        let (stored, users, unrecorded) = match recorded {
            Some((stored, users)) => (stored, Some(users), None),
            // A later read, or a first one that found no record (a tenant recorded by no
            // create yet): counted.
            None if sizes => {
                let (stored, size) = self.tenants.settings_and_size(tenant).await?;
                (stored, Some(size.counted), self.unrecorded(size))
            }
            None => (self.tenants.settings(tenant).await?, None, None),
        };
        let settings = Arc::new(self.effective(tenant, &stored.unwrap_or_default()));
        self.settings_cache
            .put(tenant, now, settings.clone(), users, unrecorded);
        Ok((settings, users))
    }

    /// The count to record, when there is no record or it calls for another spread than
    /// the count does: containers starting after place users as this one does.
    fn unrecorded(&self, size: TenantSize) -> Option<u64> {
        let spread = |users| spread_for(users, self.users_per_shard);
        match size.recorded {
            Some(recorded) if spread(recorded) == spread(size.counted) => None,
            _ => Some(size.counted),
        }
    }

    /// Writes the tenant's size as its last count found it, if that is due: called by a
    /// create once admitted, so a refused request writes nothing. A failed write costs
    /// placement accuracy, not the request: logged, and due again at the next count.
    pub(crate) async fn record_size_if_due(&self, tenant: &TenantId) {
        let Some(users) = self.settings_cache.take_unrecorded(tenant) else {
            return;
        };
        if let Err(e) = self.tenants.record_size(tenant, users).await {
            tracing::warn!(tenant = %tenant, error = ?e, "the tenant's size was not recorded");
        }
    }

    /// `GET /settings`: the effective settings, their version and the newest changes.
    pub async fn tenant_settings(&self, tenant: &TenantId) -> Result<SettingsView, Error> {
        let (stored, history) = self
            .tenants
            .settings_with_history(tenant, HISTORY_SHOWN)
            .await?;
        let stored = stored.unwrap_or_default();
        Ok(SettingsView {
            settings: self.effective(tenant, &stored),
            version: stored.version,
            history,
        })
    }

    /// `PATCH /settings`: applies `patch` to the stored layer, if the result resolves over the
    /// deployment's layers (400 otherwise, nothing stored), and records who changed which
    /// fields. `actor` is the caller's `sub`.
    pub async fn patch_tenant_settings(
        &self,
        tenant: &TenantId,
        patch: &SettingsPatch,
        if_match: Option<u64>,
        actor: &str,
    ) -> Result<SettingsView, Error> {
        let mut races = Races::new("a settings PATCH");
        loop {
            races.next()?;
            let (stored, mut history) = self
                .tenants
                .settings_with_history(tenant, HISTORY_SHOWN)
                .await?;
            let current = stored.unwrap_or_default();
            if if_match.is_some_and(|v| v != current.version) {
                return Err(settings_precondition_failed(current.version));
            }
            if patch.is_empty() {
                return Ok(SettingsView {
                    settings: self.effective(tenant, &current),
                    version: current.version,
                    history,
                });
            }
            let doc = current.doc.patched(patch);
            let settings = self
                .email
                .tenants
                .effective(tenant, &doc)
                .map_err(|why| Error::body(format!("{why}.")))?;
            let now = self.clock.now();
            let next = StoredSettings {
                doc,
                version: current.version + 1,
                updated_at: Some(now),
            };
            let change = SettingsChange {
                changed_at: now,
                changed_by: actor.chars().take(256).collect(),
                fields: patch.fields().into_iter().map(str::to_owned).collect(),
                version: next.version,
            };
            match self
                .tenants
                .put_settings(tenant, &next, current.version, &change)
                .await
            {
                Ok(()) => {
                    let users = self.settings_cache.users(tenant, now);
                    self.settings_cache
                        .put(tenant, now, Arc::new(settings.clone()), users, None);
                    history.insert(0, change);
                    history.truncate(HISTORY_SHOWN);
                    return Ok(SettingsView {
                        settings,
                        version: next.version,
                        history,
                    });
                }
                // A concurrent change: read again (and answer 412 if If-Match named the old).
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
