//! Users: profiles, their passwords, the guard items that make emails, usernames and
//! identities unique, and the listing index.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, WriteRequest,
};
use serde_dynamo::aws_sdk_dynamodb_1::from_item;

use super::expr::Expr;
use super::items::*;
use super::{DynamoStore, OnFail, build_error, sdk_error};
use crate::domain::email::Email;
use crate::domain::idempotency::Commit;
use crate::domain::ids::Connection;
use crate::domain::ids::{TenantId, UserId};
use crate::domain::listing::{Filter, Occupancy, Page, PageRequest, Position, SHARDS, shard_of};
use crate::domain::login::Credential;
use crate::domain::login::Identifier;
use crate::domain::message::{Queued, SendCap};
use crate::domain::password::PasswordHash;
use crate::domain::profile::username_key;
use crate::domain::ticket::Ticket;
use crate::domain::time::Timestamp;
use crate::domain::user::User;
use crate::ports::StoreError;
use crate::ports::{Effects, FieldUpdate, Stored, UserStore};

/// Where a listing reads: every user (the listing index), or those a filter names (the
/// search index).
#[derive(Debug, Clone, Copy)]
pub(super) enum Index<'a> {
    All,
    Where(&'a Filter),
}

impl Index<'_> {
    /// The index and its key attributes.
    fn attributes(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Index::All => (GSI1, GSI1_PK, GSI1_SK),
            Index::Where(_) => (GSI3, GSI3_PK, GSI3_SK),
        }
    }

    fn partition(self, tenant: &TenantId, shard: u16) -> String {
        match self {
            Index::All => keys::list(tenant, shard),
            Index::Where(filter) => keys::filtered(tenant, filter, shard),
        }
    }

    /// The table sort key of the items this index lists, which a start key names.
    fn table_sk(self) -> String {
        match self {
            Index::Where(Filter::Connection(c)) => search_entry_sk(c),
            Index::All | Index::Where(Filter::EmailVerified(_)) => PROFILE.to_owned(),
        }
    }
}

impl DynamoStore {
    pub(super) fn profile_item(&self, user: &User) -> Result<Item, StoreError> {
        let mut item = item_of(user, "user")?;
        item.insert(PK.into(), s(keys::user(&user.tenant_id, &user.user_id)));
        item.insert(SK.into(), s(PROFILE));
        item.insert(
            GSI1_PK.into(),
            s(keys::list(&user.tenant_id, shard_of(&user.user_id))),
        );
        item.insert(GSI1_SK.into(), s(user.user_id.to_string()));
        let verified = Filter::EmailVerified(user.email_verified);
        item.insert(
            GSI3_PK.into(),
            s(keys::filtered(
                &user.tenant_id,
                &verified,
                shard_of(&user.user_id),
            )),
        );
        item.insert(GSI3_SK.into(), s(user.user_id.to_string()));
        // Only a profile whose erasure is scheduled is in the due index.
        if let Some(due) = user.erasure_due() {
            let shard = erase_shard(&user.user_id);
            item.insert(GSI2_PK.into(), s(erase_shard_key(shard)));
            item.insert(
                GSI2_SK.into(),
                s(format!("{due}#{}#{}", user.tenant_id, user.user_id)),
            );
        }
        Ok(item)
    }

    pub(super) fn guard_item(guard: &Guard) -> Item {
        let mut item = key(guard.pk.clone(), &guard.sk);
        item.insert("user_id".into(), s(guard.owner.to_string()));
        if let Some(identity) = &guard.identity {
            item.insert("identity".into(), s(identity.clone()));
        }
        if let Some(listed) = &guard.listed {
            item.insert(GSI3_PK.into(), s(listed.clone()));
            item.insert(GSI3_SK.into(), s(guard.owner.to_string()));
        }
        item
    }

    pub(super) fn guard_put(&self, guard: &Guard) -> Result<TransactWriteItem, StoreError> {
        self.put(
            Self::guard_item(guard),
            Some("attribute_not_exists(pk)"),
            None,
        )
    }

    /// A guard that changes hands (or identity), only from the owner it is known to have.
    pub(super) fn guard_repoint(
        &self,
        guard: &Guard,
        from: &UserId,
    ) -> Result<TransactWriteItem, StoreError> {
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
    pub(super) fn guard_writes(
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

    pub(super) fn guard_delete(
        &self,
        guard: &Guard,
        owner: &UserId,
    ) -> Result<TransactWriteItem, StoreError> {
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

    pub(super) fn password_put(
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

    /// A password hash moved to another item: removed where it was (only if still that hash)
    /// and written at `to`.
    pub(super) fn password_move(
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

    /// Reads profiles by id, in the order given, skipping ids that no longer exist.
    pub(super) async fn batch_get(
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

    /// Up to `limit` user ids of one shard of `index` after `after`, and whether the shard
    /// has no more.
    pub(super) async fn shard_page(
        &self,
        tenant: &TenantId,
        index: Index<'_>,
        shard: u16,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<(Vec<UserId>, bool), StoreError> {
        let (name, pk_attr, sk_attr) = index.attributes();
        let partition = index.partition(tenant, shard);
        let start = after.map(|after| {
            let mut k = key(keys::user(tenant, &after), &index.table_sk());
            k.insert(pk_attr.into(), s(partition.clone()));
            k.insert(sk_attr.into(), s(after.to_string()));
            k
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(name)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", pk_attr)
            .expression_attribute_values(":p", s(partition))
            .set_exclusive_start_key(start)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        let mut ids = Vec::new();
        for item in out.items.unwrap_or_default() {
            if let Some(AttributeValue::S(raw)) = item.get(sk_attr) {
                ids.push(UserId::parse(raw).map_err(|_| {
                    StoreError::Backend("a listing index holds a bad user id".into())
                })?);
            }
        }
        Ok((ids, out.last_evaluated_key.is_none()))
    }

    /// How many users each listing shard of the tenant holds: its count items, one `Query`
    /// of their partition (strongly consistent, a few hundred bytes).
    pub(super) async fn occupancy(&self, tenant: &TenantId) -> Result<Occupancy, StoreError> {
        let mut occupancy = Occupancy::default();
        for item in self.partition(&keys::count(tenant)).await? {
            if let Some(AttributeValue::S(sk)) = item.get(SK)
                && let Some(shard) = counted_shard(sk)
            {
                occupancy.add(shard, counted_users(&item));
            }
        }
        Ok(occupancy)
    }

    /// One page of `index`: the shards in order, each in user-id order. The shard the page
    /// starts in is read first, alone: a small tenant's users all share it, and a large
    /// tenant's shard holds more than a page, so that one query is usually the page. Only a
    /// page that reads a shard to its end reads the tenant's counts, to skip the shards that
    /// hold nobody and read the next ones that do at once, as many as their counts say fill
    /// the page.
    async fn list_in(
        &self,
        tenant: &TenantId,
        index: Index<'_>,
        page: &PageRequest,
    ) -> Result<Page, StoreError> {
        let mut pos = page.start;
        let mut ids: Vec<UserId> = Vec::with_capacity(page.limit);
        let mut occupancy: Option<Occupancy> = None;
        let mut wave = vec![pos.shard];
        // A search's entries are fewer than the shards' users, so the counts undersize its
        // waves: each wave of a search reads at least twice the shards of the one before.
        let mut reach = 1;
        let next = 'page: loop {
            let remaining = page.limit - ids.len();
            // One key more than the page needs, so a shard that ends with the page says so
            // and the page knows whether anything follows.
            let queries = wave.iter().map(|&shard| {
                let after = if shard == pos.shard { pos.after } else { None };
                self.shard_page(tenant, index, shard, after, remaining + 1)
            });
            let results = futures::future::join_all(queries).await;
            let mut cut = None;
            for (&shard, result) in wave.iter().zip(results) {
                let (found, exhausted) = result?;
                for id in found {
                    if ids.len() == page.limit {
                        // The next page starts here: past what this shard gave, or at its
                        // start when the shards before it filled the page.
                        break 'page Some(if pos.shard == shard {
                            pos
                        } else {
                            Position { shard, after: None }
                        });
                    }
                    ids.push(id);
                    pos = Position {
                        shard,
                        after: Some(id),
                    };
                }
                if !exhausted {
                    // DynamoDB cut the response at 1 MB: this shard is read on from here,
                    // and the shards after it of this wave again from their start.
                    if ids.len() == page.limit {
                        break 'page Some(pos);
                    }
                    cut = Some(shard);
                    break;
                }
                pos = Position {
                    shard: shard + 1,
                    after: None,
                };
            }
            if let Some(shard) = cut {
                wave = vec![shard];
                continue;
            }
            if pos.shard == SHARDS {
                break 'page None;
            }
            let counts = match occupancy {
                Some(counts) => counts,
                None => *occupancy.insert(self.occupancy(tenant).await?),
            };
            let held: Vec<u16> = counts.held_from(pos.shard).collect();
            if ids.len() == page.limit {
                break 'page held.first().map(|&shard| Position { shard, after: None });
            }
            let mut wanted = (page.limit - ids.len()) as u64;
            wave = Vec::new();
            for shard in held {
                wave.push(shard);
                let users = counts.users_in(shard);
                if users >= wanted && wave.len() >= reach {
                    break;
                }
                wanted = wanted.saturating_sub(users);
            }
            let Some(&first) = wave.first() else {
                break 'page None;
            };
            if matches!(index, Index::Where(_)) {
                reach = wave.len() * 2;
            }
            pos = Position {
                shard: first,
                after: None,
            };
        };
        let users = self.batch_get(tenant, &ids, false).await?;
        Ok(Page {
            users,
            next,
            occupancy,
        })
    }

    /// Writes users (profile, password, guards) with no condition and no uniqueness check, 25
    /// items per `BatchWriteItem`, then adds them to their count items (one `UpdateItem` per
    /// item touched), which the listing reads. Only for filling a table for a benchmark:
    /// anything else creates users with [`UserStore::create`].
    pub async fn seed(&self, users: &[(User, Option<PasswordHash>)]) -> Result<(), StoreError> {
        let mut counted: HashMap<(String, String), i64> = HashMap::new();
        for (user, _) in users {
            *counted
                .entry((keys::count(&user.tenant_id), count_sk_of(&user.user_id)))
                .or_default() += 1;
        }
        self.seed_items(users).await?;
        for ((pk, sk), n) in counted {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, &sk)))
                .update_expression("ADD #n :d")
                .expression_attribute_names("#n", "users")
                .expression_attribute_values(":d", AttributeValue::N(n.to_string()))
                .send()
                .await
                .map_err(|e| sdk_error("UpdateItem", e))?;
        }
        Ok(())
    }

    async fn seed_items(&self, users: &[(User, Option<PasswordHash>)]) -> Result<(), StoreError> {
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
}

#[async_trait]
impl UserStore for DynamoStore {
    async fn create_committing(
        &self,
        user: &User,
        password: Option<&PasswordHash>,
        mail: &[Queued],
        commit: Option<&Commit>,
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
        items.push(self.count_update(&user.tenant_id, &user.user_id, 1)?);
        on_fail.push(OnFail::Inconsistent);
        if let Some(commit) = commit {
            items.push(self.commit_put(commit, &user.user_id, user.created_at)?);
            on_fail.push(OnFail::Condition);
        }
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
            let v = e.value(attribute_of(value, field)?);
            e.set.push(format!("{n} = {v}"));
        }
        for field in &update.remove {
            let n = e.name(field);
            e.remove.push(n);
        }
        // The search index files the profile by whether its address is verified.
        let verified = update.set.iter().find(|(f, _)| *f == "email_verified");
        if let Some((_, serde_json::Value::Bool(verified))) = verified {
            let filter = Filter::EmailVerified(*verified);
            let n = e.name(GSI3_PK);
            let v = e.value(s(keys::filtered(tenant, &filter, shard_of(id))));
            e.set.push(format!("{n} = {v}"));
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
        let mut items = Vec::new();
        let mut on_fail = Vec::new();
        // First, so a ticket used by a concurrent redemption is the failure reported.
        if let Some((tenant, hash)) = effects.redeem {
            let [ticket, reference] = self.ticket_delete(tenant, &current.user_id, hash)?;
            items.extend([ticket, reference]);
            on_fail.extend([OnFail::Consumed, OnFail::Inconsistent]);
        }
        items.push(self.put_at_version(self.profile_item(next)?, current.version)?);
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
            } else if sk.starts_with(OUTBOX_PREFIX) {
                // One unreadable item leaves the export of everything else whole.
                let key = sk.clone();
                match message_of(item) {
                    Ok(message) => messages.push(message),
                    Err(_) => {
                        tracing::error!(item = %key, "an outbox item in an export does not read; left out")
                    }
                }
            } else if let Some(ticket) = referenced_ticket(&pk, sk) {
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
                match from_item::<Ticket>(item) {
                    Ok(ticket) => tickets.push(ticket),
                    Err(_) => tracing::error!("a ticket in an export does not read; left out"),
                }
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

    async fn count(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        Ok(self.occupancy(tenant).await?.total())
    }

    async fn list(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page, StoreError> {
        self.list_in(tenant, Index::All, page).await
    }

    async fn list_where(
        &self,
        tenant: &TenantId,
        filter: &Filter,
        page: &PageRequest,
    ) -> Result<Page, StoreError> {
        self.list_in(tenant, Index::Where(filter), page).await
    }

    async fn count_where(
        &self,
        tenant: &TenantId,
        filter: &Filter,
        at_most: u64,
        known: Option<&Occupancy>,
    ) -> Result<u64, StoreError> {
        let counts = match known {
            Some(counts) => *counts,
            None => self.occupancy(tenant).await?,
        };
        // The shards that hold users at once, each asked for its share of what is left, then
        // again those that had more: one round trip for a small tenant, and the read stops
        // near `at_most` for a large one.
        let mut open: Vec<(u16, Option<Item>)> =
            counts.held_from(0).map(|shard| (shard, None)).collect();
        let mut counted: u64 = 0;
        while counted < at_most && !open.is_empty() {
            let share = (at_most - counted).div_ceil(open.len() as u64).max(1);
            let queries = open.iter().map(|(shard, start)| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .index_name(GSI3)
                    .key_condition_expression("gsi3pk = :p")
                    .expression_attribute_values(":p", s(keys::filtered(tenant, filter, *shard)))
                    .select(aws_sdk_dynamodb::types::Select::Count)
                    .set_exclusive_start_key(start.clone())
                    .limit(i32::try_from(share).unwrap_or(i32::MAX))
                    .send()
            });
            let results = futures::future::join_all(queries).await;
            let mut still = Vec::new();
            for ((shard, _), result) in open.into_iter().zip(results) {
                let out = result.map_err(|e| sdk_error("Query", e))?;
                counted += u64::try_from(out.count).unwrap_or(0);
                if let Some(next) = out.last_evaluated_key {
                    still.push((shard, Some(next)));
                }
            }
            open = still;
        }
        Ok(counted.min(at_most))
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
        let guard = login_guard(tenant, identifier, connection);
        let found = self.item(guard.pk, &guard.sk).await?;
        Ok(found.as_ref().and_then(login_of))
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

/// The key of the guard item that says whom `identifier` signs in as in `connection`.
pub(super) struct LoginGuard {
    pub pk: String,
    pub sk: String,
}

pub(super) fn login_guard(
    tenant: &TenantId,
    identifier: &Identifier,
    connection: &Connection,
) -> LoginGuard {
    let pk = match identifier {
        Identifier::Email(email) => keys::email(tenant, email.normalized()),
        Identifier::Username(name) => keys::username(tenant, &username_key(name)),
    };
    LoginGuard {
        pk,
        sk: keys::connection(connection.as_str()),
    }
}

/// Whom a login guard item signs in as, and with which password.
pub(super) fn login_of(guard: &Item) -> Option<(UserId, Credential)> {
    let owner = match guard.get("user_id") {
        Some(AttributeValue::S(id)) => UserId::parse(id).ok(),
        _ => None,
    };
    let credential = match guard.get("identity") {
        Some(AttributeValue::S(identity)) => Credential::Linked(identity.clone()),
        _ => Credential::Own,
    };
    owner.map(|id| (id, credential))
}
