//! Tickets, the outbox and send caps: queued in the writes that cause them, claimed and
//! retried by the scheduled sender through the sparse due index.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use super::items::*;
use super::{DynamoStore, OnFail, build_error, conditional, sdk_error};
use crate::domain::ids::TenantId;
use crate::domain::message::{JobRecord, JobStatus, Message, Queued, SendCap, Status};
use crate::domain::ticket::{Ticket, TicketHash};
use crate::domain::time::Timestamp;
use crate::ports::{DueMessages, OutboxStore, StoreError, TicketStore};

impl DynamoStore {
    fn message_item(&self, message: &Message) -> Result<Item, StoreError> {
        let mut item: Item =
            to_item(message).map_err(|e| StoreError::Backend(format!("serialize message: {e}")))?;
        item.extend(key(
            keys::user(&message.tenant_id, &message.user_id),
            &format!("{OUTBOX_PREFIX}{}", message.id),
        ));
        match message.status {
            Status::Pending => {
                item.insert(GSI2_PK.into(), s(due_shard(&message.id)));
                item.insert(GSI2_SK.into(), s(due_sk(message)));
            }
            Status::Abandoned => {
                let until = message.next_attempt.plus_secs(ABANDONED_KEEP_SECS);
                item.insert(
                    TTL_ATTRIBUTE.into(),
                    AttributeValue::N(until.epoch_secs().to_string()),
                );
            }
        }
        Ok(item)
    }

    /// The writes that queue `mail`: one send counter per user, kind and hour (conditional on
    /// the cap holding every message of this call), then each message's outbox item and its
    /// ticket with the reference to it.
    pub(super) fn mail_writes(
        &self,
        mail: &[Queued],
        cap: SendCap,
    ) -> Result<(Vec<TransactWriteItem>, Vec<OnFail>), StoreError> {
        // One counter write per user, kind and hour, adding every message of this call that
        // counts there: a transaction may touch an item only once.
        let mut counters: Vec<(String, String, i64, u32)> = Vec::new();
        for Queued { message, .. } in mail {
            let window = SendCap::window(message.created_at);
            let pk = keys::user(&message.tenant_id, &message.user_id);
            let sk = format!("{SENDS_PREFIX}{}#{window}", message.kind.name());
            match counters.iter_mut().find(|c| c.0 == pk && c.1 == sk) {
                Some(counter) => counter.3 += 1,
                None => counters.push((pk, sk, window, 1)),
            }
        }
        let mut writes = Vec::new();
        let mut on_fail = Vec::new();
        for (pk, sk, window, n) in counters {
            let Some(room) = cap.per_hour.checked_sub(n) else {
                return Err(StoreError::Capped);
            };
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk, &sk)))
                .update_expression("ADD #c :n SET #e = :ttl")
                .condition_expression("attribute_not_exists(#c) OR #c <= :room")
                .expression_attribute_names("#c", "count")
                .expression_attribute_names("#e", TTL_ATTRIBUTE)
                .expression_attribute_values(":n", AttributeValue::N(n.to_string()))
                .expression_attribute_values(":room", AttributeValue::N(room.to_string()))
                .expression_attribute_values(
                    ":ttl",
                    AttributeValue::N(((window + 2) * 3600).to_string()),
                )
                .build()
                .map_err(build_error)?;
            writes.push(TransactWriteItem::builder().update(update).build());
            on_fail.push(OnFail::Capped);
        }
        for Queued { message, ticket } in mail {
            writes.push(self.put(self.message_item(message)?, None, None)?);
            on_fail.push(OnFail::Inconsistent);
            if message.tracked {
                let record = JobRecord::of(message, JobStatus::Pending);
                writes.push(self.put(job_item(&message.tenant_id, &record)?, None, None)?);
                on_fail.push(OnFail::Inconsistent);
            }
            if let Some((hash, ticket)) = ticket {
                writes.extend(self.ticket_puts(hash, ticket)?);
                on_fail.extend([OnFail::Inconsistent, OnFail::Inconsistent]);
            }
        }
        Ok((writes, on_fail))
    }

    /// Takes an outbox item that does not read as a message out of the due index, marked
    /// `unreadable` and kept for inspection until its TTL. Logged by its sort key (the job
    /// id), which holds nothing about the person.
    async fn set_aside(&self, item: &Item, now: Timestamp) -> Result<(), StoreError> {
        let (Some(pk), Some(AttributeValue::S(sk))) = (item.get(PK), item.get(SK)) else {
            return Ok(());
        };
        tracing::error!(job = %sk, "an outbox item does not read as a message; set aside for inspection");
        let until = now.plus_secs(ABANDONED_KEEP_SECS);
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, pk.clone())
            .key(SK, AttributeValue::S(sk.clone()))
            .update_expression("SET #u = :t, #e = :ttl REMOVE #gp, #gs")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#u", "unreadable")
            .expression_attribute_names("#e", TTL_ATTRIBUTE)
            .expression_attribute_names("#gp", GSI2_PK)
            .expression_attribute_names("#gs", GSI2_SK)
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":ttl", AttributeValue::N(until.epoch_secs().to_string()))
            .send()
            .await
            .map(drop)
            .or_else(|e| {
                match conditional("UpdateItem", e, |e| {
                    e.is_conditional_check_failed_exception()
                }) {
                    StoreError::ConditionFailed => Ok(()),
                    other => Err(other),
                }
            })
    }

    /// A ticket's item and the reference to it in its user's partition, both expiring with it.
    fn ticket_puts(
        &self,
        hash: &TicketHash,
        ticket: &Ticket,
    ) -> Result<[TransactWriteItem; 2], StoreError> {
        let ttl = AttributeValue::N(ticket.expires.epoch_secs().to_string());
        let mut item: Item =
            to_item(ticket).map_err(|e| StoreError::Backend(format!("serialize ticket: {e}")))?;
        item.extend(key(ticket_pk(&ticket.tenant_id, hash), TICKET));
        item.insert(TTL_ATTRIBUTE.into(), ttl.clone());
        let mut reference = key(
            keys::user(&ticket.tenant_id, &ticket.user_id),
            &format!("{TICKET_REF_PREFIX}{}", hash.as_str()),
        );
        reference.insert(TTL_ATTRIBUTE.into(), ttl);
        Ok([
            self.put(item, None, None)?,
            self.put(reference, None, None)?,
        ])
    }

    /// The writes that consume a ticket (it must still exist) and its reference.
    pub(super) fn ticket_delete(
        &self,
        tenant: &TenantId,
        user: &crate::domain::ids::UserId,
        hash: &TicketHash,
    ) -> Result<[TransactWriteItem; 2], StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(ticket_pk(tenant, hash), TICKET)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build_error)?;
        let reference = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::user(tenant, user),
                &format!("{TICKET_REF_PREFIX}{}", hash.as_str()),
            )))
            .build()
            .map_err(build_error)?;
        Ok([
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().delete(reference).build(),
        ])
    }
}

#[async_trait]
impl TicketStore for DynamoStore {
    async fn put_ticket(&self, hash: &TicketHash, ticket: &Ticket) -> Result<(), StoreError> {
        let writes = self.ticket_puts(hash, ticket)?.to_vec();
        self.transact(writes, &[OnFail::Inconsistent, OnFail::Inconsistent])
            .await
    }

    async fn ticket(
        &self,
        tenant: &TenantId,
        hash: &TicketHash,
    ) -> Result<Option<Ticket>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(ticket_pk(tenant, hash), TICKET)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        out.item.map_or(Ok(None), |item| ticket_of(item, tenant))
    }
}

/// The ticket a ticket item of `tenant` holds.
pub(super) fn ticket_of(item: Item, tenant: &TenantId) -> Result<Option<Ticket>, StoreError> {
    let ticket: Ticket = from_item(item)
        .map_err(|e| StoreError::Backend(format!("stored ticket does not parse: {e}")))?;
    // A hash is unique across tenants, but the key already fences the tenant; this only
    // refuses an item that contradicts its own key.
    Ok(Some(ticket).filter(|t| &t.tenant_id == tenant))
}

fn job_item(tenant: &TenantId, record: &JobRecord) -> Result<Item, StoreError> {
    let mut item: Item =
        to_item(record).map_err(|e| StoreError::Backend(format!("serialize job: {e}")))?;
    item.extend(key(keys::job(tenant, &record.id), JOB));
    let until = record.created_at.plus_secs(JobRecord::KEEP_SECS);
    item.insert(
        TTL_ATTRIBUTE.into(),
        AttributeValue::N(until.epoch_secs().to_string()),
    );
    Ok(item)
}

#[async_trait]
impl OutboxStore for DynamoStore {
    async fn enqueue(
        &self,
        mail: &[Queued],
        cap: SendCap,
        _now: Timestamp,
    ) -> Result<(), StoreError> {
        if mail.is_empty() {
            return Ok(());
        }
        let (writes, on_fail) = self.mail_writes(mail, cap)?;
        self.transact(writes, &on_fail).await
    }

    async fn claim(&self, message: &Message, lease_until: Timestamp) -> Result<(), StoreError> {
        let mut leased = message.clone();
        leased.next_attempt = lease_until;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::user(&message.tenant_id, &message.user_id),
                &format!("{OUTBOX_PREFIX}{}", message.id),
            )))
            .update_expression("SET next_attempt = :lease, gsi2sk = :sk")
            .condition_expression(
                "next_attempt = :read AND attempts = :attempts AND #status = :pending",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":lease", s(lease_until.to_string()))
            .expression_attribute_values(":sk", s(due_sk(&leased)))
            .expression_attribute_values(":read", s(message.next_attempt.to_string()))
            .expression_attribute_values(
                ":attempts",
                AttributeValue::N(message.attempts.to_string()),
            )
            .expression_attribute_values(":pending", s("pending"))
            .send()
            .await;
        result.map(|_| ()).map_err(|e| {
            conditional("UpdateItem", e, |s| {
                s.is_conditional_check_failed_exception()
            })
        })
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<DueMessages, StoreError> {
        let queries = (0..DUE_SHARDS)
            .map(|shard| self.due_shard(format!("DUE#OUTBOX#{shard:02}"), now, limit));
        let mut due = DueMessages::default();
        for out in futures::future::join_all(queries).await {
            for item in out?.items.unwrap_or_default() {
                match message_of(item.clone()) {
                    Ok(message) => due.messages.push(message),
                    Err(_) => {
                        self.set_aside(&item, now).await?;
                        due.unreadable += 1;
                    }
                }
            }
        }
        due.messages.sort_by_key(|m| m.next_attempt);
        due.messages.truncate(limit);
        Ok(due)
    }

    async fn save(&self, message: &Message, taken: (u32, Timestamp)) -> Result<(), StoreError> {
        // Never brings back the message of a user erased meanwhile, nor overwrites a message
        // another sender has taken since (an attempt that outlived its lease).
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.message_item(message)?))
            .condition_expression("attempts = :attempts AND next_attempt = :next")
            .expression_attribute_values(":attempts", AttributeValue::N(taken.0.to_string()))
            .expression_attribute_values(":next", s(taken.1.to_string()))
            .send()
            .await;
        result
            .map(|_| ())
            .map_err(|e| conditional("PutItem", e, |s| s.is_conditional_check_failed_exception()))
    }

    async fn remove(&self, message: &Message) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::user(&message.tenant_id, &message.user_id),
                &format!("{OUTBOX_PREFIX}{}", message.id),
            )))
            .send()
            .await
            .map_err(|e| sdk_error("DeleteItem", e))?;
        Ok(())
    }

    async fn finish_job(&self, tenant: &TenantId, record: &JobRecord) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(job_item(tenant, record)?))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result
            .map_err(|e| conditional("PutItem", e, |s| s.is_conditional_check_failed_exception()))
        {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn job(&self, tenant: &TenantId, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let Some(item) = self.item(keys::job(tenant, id), JOB).await? else {
            return Ok(None);
        };
        from_item(item)
            .map(Some)
            .map_err(|e| StoreError::Backend(format!("a job record does not read: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_shards_spread_and_stay_in_range() {
        let shards: std::collections::HashSet<String> = (0..200)
            .map(|_| due_shard(&format!("job_{}", ulid::Ulid::generate())))
            .collect();
        assert!(shards.len() > 8);
        assert!(
            shards
                .iter()
                .all(|s| s.starts_with("DUE#OUTBOX#") && s.len() == 13)
        );
    }

    #[test]
    fn a_ticket_key_is_fenced_by_its_tenant() {
        let hash = TicketHash::parse(&"A".repeat(43)).unwrap();
        assert!(ticket_pk(&TenantId::parse("acme").unwrap(), &hash).starts_with("TENANT#acme#"));
    }
}
