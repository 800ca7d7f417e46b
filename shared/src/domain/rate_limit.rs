//! Rate limits: each tenant's management requests, and each address's requests to a tenant's
//! public routes, draw on a token bucket. Rules, settings and the trade-offs:
//! docs/api.md ("Rate limits").
//!
//! A bucket holds `burst` tokens and is refilled whole every `burst / requests_per_second`
//! seconds (its window), so it admits `requests_per_second` on average and never more than
//! `burst` at once within a window. That shape needs one write a request and no read: the
//! store counts the window's requests with an atomic, conditional add on an item of that
//! window alone, which refuses (and changes nothing) once the bucket is empty. A continuous
//! refill would need the bucket's last state read first, or a second write whenever it had
//! been idle. Across a window's end a client can spend a full bucket on each side: `2 × burst`
//! in a moment, never more.
//!
//! A bucket whose rate one item could not take (DynamoDB writes one item about a thousand
//! times a second) is split into shards, each a bucket of its share, and a request draws on
//! one at random: the rate holds on average, and a request may be refused while another shard
//! still had a token.

use serde::{Deserialize, Serialize};

use super::time::Timestamp;

/// The rate one shard takes: half of what DynamoDB writes to one item a second.
pub const SHARD_RATE: u32 = 500;
/// Highest rate a bucket may be set to.
pub const MAX_RATE: u32 = 100_000;
/// Largest bucket.
pub const MAX_BURST: u32 = 1_000_000;

/// A bucket's setting, as `TENANT_SETTINGS` writes it. `requests_per_second: 0` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub requests_per_second: u32,
    #[serde(default)]
    pub burst: u32,
}

impl RateLimit {
    /// Each tenant's management requests, unless its settings say otherwise: Auth0's
    /// Management API allows paying tenants about this much.
    pub const MANAGEMENT: RateLimit = RateLimit {
        requests_per_second: 50,
        burst: 100,
    };

    /// One address's requests to one tenant's public routes (links opened, forms posted,
    /// resets asked for): far above what a person does, far below a flood.
    pub const PUBLIC: RateLimit = RateLimit {
        requests_per_second: 1,
        burst: 30,
    };

    /// The rule a setting must keep: a rate of at most [`MAX_RATE`] (0: no limit) and a
    /// bucket of 1 to [`MAX_BURST`] tokens when there is a rate.
    pub fn check(&self) -> Result<(), String> {
        if self.requests_per_second > MAX_RATE {
            return Err(format!(
                "requests_per_second must be from 0 (no limit) to {MAX_RATE}"
            ));
        }
        if self.requests_per_second > 0 && !(1..=MAX_BURST).contains(&self.burst) {
            return Err(format!("burst must be from 1 to {MAX_BURST}"));
        }
        Ok(())
    }

    /// The bucket this setting makes, or `None` for no limit.
    pub fn bucket(&self) -> Option<Bucket> {
        (self.requests_per_second > 0).then_some(Bucket {
            rate: self.requests_per_second,
            burst: self.burst.max(1),
        })
    }
}

/// Whose requests a bucket counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketOf {
    /// A tenant's management requests, whoever makes them.
    Tenant(super::ids::TenantId),
    /// One address's requests to a tenant's public routes: an IPv4 address, or an IPv6 /64
    /// ([`super::login::parse_ip`]).
    Address(super::ids::TenantId, String),
}

/// A limit in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    rate: u32,
    burst: u32,
}

/// Where a request draws: one shard of one window of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    /// The window's number since the epoch.
    pub window: i64,
    pub shard: u32,
    /// The tokens that shard holds in the window.
    pub capacity: u32,
    /// When the window ends, in epoch milliseconds: the bucket is full again.
    pub resets_at_ms: i64,
}

impl Bucket {
    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// How long a window lasts, in milliseconds (at least one).
    pub fn window_ms(&self) -> i64 {
        (i64::from(self.burst) * 1000 / i64::from(self.rate)).max(1)
    }

    /// Shards the bucket splits into.
    pub fn shards(&self) -> u32 {
        self.rate.div_ceil(SHARD_RATE)
    }

    /// The draw a request at `now` makes; `pick` (any number: a request id's hash) chooses
    /// the shard.
    pub fn draw(&self, now: Timestamp, pick: u64) -> Draw {
        let window_ms = self.window_ms();
        let window = now.epoch_millis().div_euclid(window_ms);
        let shards = self.shards();
        Draw {
            window,
            shard: (pick % u64::from(shards)) as u32,
            capacity: self.burst.div_ceil(shards),
            resets_at_ms: (window + 1) * window_ms,
        }
    }

    /// What the headers say after a draw that left `used` of the shard's tokens taken: the
    /// bucket's size, what is left of it (the shard's share, scaled to the whole), and when it
    /// is full again (epoch seconds, rounded up).
    pub fn headers(&self, draw: &Draw, used: u32) -> Quota {
        let left = draw.capacity.saturating_sub(used);
        Quota {
            limit: self.burst,
            remaining: (left.saturating_mul(self.shards())).min(self.burst),
            reset: draw.resets_at_ms.div_euclid(1000)
                + i64::from(draw.resets_at_ms.rem_euclid(1000) > 0),
        }
    }
}

/// The `X-RateLimit-*` values of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds.
    pub reset: i64,
}

impl Quota {
    /// Seconds until the bucket is full again, at least one.
    pub fn retry_after(&self, now: Timestamp) -> u64 {
        (self.reset - now.epoch_secs()).max(1) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_epoch_millis(ms).unwrap()
    }

    #[test]
    fn a_bucket_refills_whole_every_burst_over_rate_seconds() {
        let b = RateLimit::MANAGEMENT.bucket().unwrap();
        assert_eq!(b.window_ms(), 2000);
        let d = b.draw(at(1_000_500), 7);
        assert_eq!((d.window, d.shard, d.capacity), (500, 0, 100));
        assert_eq!(d.resets_at_ms, 1_002_000);
        let q = b.headers(&d, 30);
        assert_eq!((q.limit, q.remaining, q.reset), (100, 70, 1002));
        assert_eq!(q.retry_after(at(1_000_500)), 2);
        assert_eq!(b.headers(&d, 100).remaining, 0);
    }

    #[test]
    fn a_fast_bucket_splits_into_shards_that_share_its_tokens() {
        let b = RateLimit {
            requests_per_second: 2000,
            burst: 4000,
        }
        .bucket()
        .unwrap();
        assert_eq!(b.shards(), 4);
        let d = b.draw(at(0), 6);
        assert_eq!((d.shard, d.capacity), (2, 1000));
        assert_eq!(b.headers(&d, 10).remaining, 3960);
    }

    #[test]
    fn zero_is_no_limit_and_settings_keep_their_bounds() {
        assert_eq!(
            RateLimit {
                requests_per_second: 0,
                burst: 0
            }
            .bucket(),
            None
        );
        assert!(RateLimit::PUBLIC.check().is_ok());
        for bad in [(MAX_RATE + 1, 10), (10, 0), (10, MAX_BURST + 1)] {
            let limit = RateLimit {
                requests_per_second: bad.0,
                burst: bad.1,
            };
            assert!(limit.check().is_err(), "{bad:?}");
        }
        // A bucket smaller than a second's rate still has a window of at least a millisecond.
        let tiny = RateLimit {
            requests_per_second: 100_000,
            burst: 1,
        };
        assert_eq!(tiny.bucket().unwrap().window_ms(), 1);
    }
}
