//! Rate-limit windows: one item per bucket, shard and window, counted up by a conditional add
//! that refuses once the window's tokens are spent.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::items::*;
use super::{ATTEMPT_TIMEOUT, CALL_TIMEOUT, CONNECT_TIMEOUT, DynamoStore, conditional};
use crate::domain::rate_limit::{BucketOf, Draw};
use crate::ports::{RateLimiter, StoreError};

/// How long a window's item outlives the window (DynamoDB's TTL deletes it some time later).
const KEEP_SECS: i64 = 60;

/// A window's partition: its own, so a busy bucket's windows spread across partitions.
pub(super) fn window_key(of: &BucketOf, draw: &Draw) -> String {
    match of {
        BucketOf::Tenant(t) => format!("TENANT#{t}#RATE#{}#{}", draw.window, draw.shard),
        BucketOf::Address(t, ip) => format!("TENANT#{t}#RATE#ADDRESS#{ip}#{}", draw.window),
    }
}

/// A draw fails open (the request is served), so it gets one quick try and a retry, not the
/// store's usual budget: a limiter that cannot answer must not spend the request's time.
/// Each try is cut at a sixth of a store call's try and the whole draw at 3/25 of a call
/// (250 and 600 ms of [`resilient`](super::resilient)'s 1.5 and 5 s), so a client given
/// longer timeouts, as the tests' is (docs/testing.md, "Faults"), relaxes its draws with
/// them. Its connect timeout is the store's, so it shares the store's connections.
fn draw_policy(store: Option<&TimeoutConfig>) -> aws_sdk_dynamodb::config::Builder {
    let set = |get: fn(&TimeoutConfig) -> Option<Duration>, or: Duration| {
        store.and_then(get).unwrap_or(or)
    };
    super::policy(
        aws_sdk_dynamodb::config::Builder::default(),
        2,
        Duration::from_millis(50),
        set(TimeoutConfig::connect_timeout, CONNECT_TIMEOUT),
        set(TimeoutConfig::operation_attempt_timeout, ATTEMPT_TIMEOUT) / 6,
        set(TimeoutConfig::operation_timeout, CALL_TIMEOUT) * 3 / 25,
    )
}

#[async_trait]
impl RateLimiter for DynamoStore {
    async fn take(&self, of: &BucketOf, draw: &Draw) -> Result<Option<u32>, StoreError> {
        let expires = draw.resets_at_ms.div_euclid(1000) + 1 + KEEP_SECS;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(window_key(of, draw), RATE)))
            .update_expression("ADD #n :one SET #e = :e")
            .condition_expression("attribute_not_exists(#n) OR #n < :cap")
            .expression_attribute_names("#n", "taken")
            .expression_attribute_names("#e", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":cap", AttributeValue::N(draw.capacity.to_string()))
            .expression_attribute_values(":e", AttributeValue::N(expires.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .customize()
            .config_override(draw_policy(self.client.config().timeout_config()))
            .send()
            .await;
        match result.map_err(|e| {
            conditional("UpdateItem", e, |s| {
                s.is_conditional_check_failed_exception()
            })
        }) {
            Ok(out) => {
                let taken = match out.attributes.as_ref().and_then(|a| a.get("taken")) {
                    Some(AttributeValue::N(n)) => n.parse().unwrap_or(draw.capacity),
                    _ => draw.capacity,
                };
                Ok(Some(taken))
            }
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::TenantId;

    #[test]
    fn every_window_key_is_fenced_by_its_tenant() {
        let t = TenantId::parse("acme").unwrap();
        let draw = Draw {
            window: 42,
            shard: 3,
            capacity: 10,
            resets_at_ms: 0,
        };
        assert_eq!(
            window_key(&BucketOf::Tenant(t.clone()), &draw),
            "TENANT#acme#RATE#42#3"
        );
        assert_eq!(
            window_key(&BucketOf::Address(t, "203.0.113.9".into()), &draw),
            "TENANT#acme#RATE#ADDRESS#203.0.113.9#42"
        );
    }
}
