//! Admission: a rate-limited request takes a token from its bucket before anything else
//! ([`crate::domain::rate_limit`]; docs/api.md, "Rate limits").

use super::App;
use crate::domain::rate_limit::{Bucket, BucketOf, Quota};
use crate::ports::{PasswordHasher, Store};

/// What a request's draw came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// No limit applies.
    Unlimited,
    /// A token was taken; what is left.
    Admitted(Quota),
    /// The bucket is empty until `Quota::reset`.
    Refused(Quota),
    /// The limiter could not be asked: served anyway (logged here, counted by the caller).
    FailedOpen,
}

impl<S: Store, H: PasswordHasher> App<S, H> {
    /// Draws one token for a request from `of`'s `bucket` (`None`: no limit). `pick` (a hash
    /// of the request id) chooses the shard of a sharded bucket. When the store cannot take
    /// the draw (throttled, unreachable), the request is served: a limiter that failed closed
    /// would turn a DynamoDB hiccup into an outage of every route, while serving costs at
    /// most the protection for as long as the store is unwell.
    pub async fn admit(&self, of: &BucketOf, bucket: Option<Bucket>, pick: u64) -> Admission {
        let Some(bucket) = bucket else {
            return Admission::Unlimited;
        };
        let draw = bucket.draw(self.clock.now(), pick);
        match self.rate_limiter.take(of, &draw).await {
            Ok(Some(taken)) => Admission::Admitted(bucket.headers(&draw, taken)),
            Ok(None) => Admission::Refused(bucket.headers(&draw, draw.capacity)),
            Err(e) => {
                tracing::warn!(error = ?e, "rate limiter unavailable: request served");
                Admission::FailedOpen
            }
        }
    }
}
