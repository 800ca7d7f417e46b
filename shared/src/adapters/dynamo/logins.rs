//! Sign-in bookkeeping: per-address and per-user failure counters, written conditionally on
//! what the login read.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update,
};

use super::items::*;
use super::{DynamoStore, OnFail, build_error, sdk_error};
use crate::domain::ids::{TenantId, UserId};
use crate::domain::login::Credential;
use crate::domain::login::{
    BruteForce, Counter, CounterRecord, Failures, LoginState, LoginSubject,
};
use crate::domain::password::PasswordHash;
use crate::domain::tenant::StoredSettings;
use crate::domain::time::Timestamp;
use crate::domain::user::User;
use crate::ports::LoginStore;
use crate::ports::StoreError;

/// When an address's throttle drains, stored as epoch milliseconds so failures add to it.
fn drained_at(item: &Item) -> Option<Timestamp> {
    match item.get(DRAINED_AT) {
        Some(AttributeValue::N(n)) => n.parse().ok().and_then(Timestamp::from_epoch_millis),
        _ => None,
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

/// A login write that lost to a concurrent one (a failed condition, or transactions that
/// kept colliding) is read again and retried by the caller, never answered as an error: the
/// answer to a password guess must not depend on how its bookkeeping fared.
fn login_write<T>(result: Result<T, StoreError>) -> Result<T, StoreError> {
    match result {
        Err(StoreError::Throttled(_)) => Err(StoreError::ConditionFailed),
        other => other,
    }
}

impl DynamoStore {
    /// The failure counter items of a user.
    pub(super) async fn counter_items(
        &self,
        tenant: &TenantId,
        id: &UserId,
    ) -> Result<Vec<Item>, StoreError> {
        self.query(&keys::user(tenant, id), Some(LOGIN_PREFIX))
            .await
    }

    /// The delete of a counter, only while it is as `read`.
    fn counter_delete(
        &self,
        pk: &str,
        counter: &Counter,
        read: &CounterRecord,
    ) -> Result<TransactWriteItem, StoreError> {
        let (condition, seen) = unchanged(Some(read));
        let mut delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_owned(), &counter_sk(counter))))
            .condition_expression(condition);
        for (placeholder, name) in [("#c", "count"), ("#l", "last"), ("#s", "last_success")] {
            delete = delete.expression_attribute_names(placeholder, name);
        }
        for (placeholder, value) in seen {
            delete = delete.expression_attribute_values(placeholder, value);
        }
        Ok(TransactWriteItem::builder()
            .delete(delete.build().map_err(build_error)?)
            .build())
    }

    /// Takes away the failures a clear read from a counter that has counted more since: it
    /// is removed if it is still as read, else keeps only what came after the read (a counter
    /// that started again since keeps everything).
    async fn forget(
        &self,
        pk: &str,
        counter: &Counter,
        read: &CounterRecord,
    ) -> Result<(), StoreError> {
        match self
            .transact(
                vec![self.counter_delete(pk, counter, read)?],
                &[OnFail::Condition],
            )
            .await
        {
            Err(StoreError::ConditionFailed) => {}
            other => return other,
        }
        let read_count = AttributeValue::N(read.count.to_string());
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_owned(), &counter_sk(counter))))
            .update_expression("SET #c = #c - :read")
            .condition_expression("#c >= :read")
            .expression_attribute_names("#c", "count")
            .expression_attribute_values(":read", read_count)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }

    /// A check, writing nothing, that a counter is as `read`.
    pub(super) fn counter_check(
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
    pub(super) fn counter_update(
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
}

#[async_trait]
impl LoginStore for DynamoStore {
    async fn login_state(
        &self,
        subject: &LoginSubject,
        ip: &str,
    ) -> Result<LoginState, StoreError> {
        Ok(self.login_state_reading(subject, ip, false).await?.0)
    }

    async fn login_state_and_settings(
        &self,
        subject: &LoginSubject,
        ip: &str,
    ) -> Result<(LoginState, Option<StoredSettings>), StoreError> {
        self.login_state_reading(subject, ip, true).await
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
        let on_fail = vec![OnFail::Condition; items.len()];
        login_write(self.transact(items, &on_fail).await)
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

    async fn fill_address_throttle(
        &self,
        tenant: &TenantId,
        ip: &str,
        now: Timestamp,
        interval_secs: i64,
        read: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let interval = AttributeValue::N(interval_secs.saturating_mul(1000).to_string());
        let now_ms = AttributeValue::N(now.epoch_millis().to_string());
        let restart = AttributeValue::N(now.plus_secs(interval_secs).epoch_millis().to_string());
        // A full bucket counts no more failures, so it drains within a day (and an interval)
        // of its last one: two days after each failure, nothing is left to keep.
        let expires = AttributeValue::N(now.plus_secs(2 * 24 * 3600).epoch_secs().to_string());
        let key = key(keys::address(tenant, ip), THROTTLE);
        // While the bucket holds failures, an atomic add: concurrent failures add up.
        let add = || {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key.clone()))
                .update_expression("SET #e = :e ADD #d :interval")
                .condition_expression("#d > :now")
                .expression_attribute_names("#d", DRAINED_AT)
                .expression_attribute_names("#e", TTL_ATTRIBUTE)
                .expression_attribute_values(":interval", interval.clone())
                .expression_attribute_values(":now", now_ms.clone())
                .expression_attribute_values(":e", expires.clone())
        };
        // Empty (drained, or never filled): it starts again from now.
        let start = || {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key.clone()))
                .update_expression("SET #d = :restart, #e = :e")
                .condition_expression("attribute_not_exists(#d) OR #d <= :now")
                .expression_attribute_names("#d", DRAINED_AT)
                .expression_attribute_names("#e", TTL_ATTRIBUTE)
                .expression_attribute_values(":restart", restart.clone())
                .expression_attribute_values(":now", now_ms.clone())
                .expression_attribute_values(":e", expires.clone())
        };
        // Whichever write the read says applies goes first; a concurrent failure that
        // started or drained the bucket meanwhile makes the other one apply.
        let mut adding = read.is_some_and(|d| d > now);
        for _ in 0..4 {
            let sent = if adding {
                add().send().await
            } else {
                start().send().await
            };
            match sent {
                Ok(_) => return Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    adding = !adding;
                }
                Err(e) => return Err(sdk_error("UpdateItem", e)),
            }
        }
        Err(StoreError::Throttled(
            "the address throttle kept changing between its two writes".into(),
        ))
    }

    async fn address_throttle(
        &self,
        tenant: &TenantId,
        ip: &str,
    ) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .item(keys::address(tenant, ip), THROTTLE)
            .await?
            .and_then(|item| drained_at(&item)))
    }

    async fn clear_address_throttle(&self, tenant: &TenantId, ip: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::address(tenant, ip), THROTTLE)))
            .send()
            .await
            .map_err(|e| sdk_error("DeleteItem", e))?;
        Ok(())
    }

    async fn clear_failures(&self, tenant: &TenantId, id: &UserId) -> Result<(), StoreError> {
        let pk = keys::user(tenant, id);
        let counters: Vec<(Counter, CounterRecord)> = self
            .counter_items(tenant, id)
            .await?
            .iter()
            .filter_map(counter_of)
            .collect();
        for chunk in counters.chunks(100) {
            let writes = chunk
                .iter()
                .map(|(counter, read)| self.counter_delete(&pk, counter, read))
                .collect::<Result<Vec<_>, _>>()?;
            match self
                .transact(writes, &vec![OnFail::Condition; chunk.len()])
                .await
            {
                Ok(()) => {}
                // A failure was counted meanwhile: each counter loses only what was read.
                Err(StoreError::ConditionFailed) => {
                    for (counter, read) in chunk {
                        self.forget(&pk, counter, read).await?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl DynamoStore {
    /// The login's state, and with `with_settings` the tenant's settings item, in one
    /// `BatchGetItem`.
    async fn login_state_reading(
        &self,
        subject: &LoginSubject,
        ip: &str,
        with_settings: bool,
    ) -> Result<(LoginState, Option<StoredSettings>), StoreError> {
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
        let mut keys: Vec<Item> = wanted.into_iter().map(|sk| key(pk.clone(), sk)).collect();
        let tenant = subject.tenant();
        keys.push(key(keys::address(tenant, ip), THROTTLE));
        if with_settings {
            keys.push(key(keys::settings(tenant), SETTINGS));
        }
        let mut settings = None;
        let mut state = LoginState {
            user: None,
            credential,
            hash: None,
            ip: None,
            all: None,
            address: None,
        };
        for item in self.batch_items(keys, true).await? {
            match item.get(SK) {
                Some(AttributeValue::S(sk)) if sk == THROTTLE => {
                    state.address = drained_at(&item);
                }
                Some(AttributeValue::S(sk)) if sk == PROFILE => state.user = Some(user_of(item)?),
                // No item of a login's own has this sort key.
                Some(AttributeValue::S(sk)) if sk == SETTINGS => {
                    settings = Some(settings_of(item)?);
                }
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
        Ok((state, settings))
    }
}
