//! Listing a tenant's users page by page.
//!
//! Every user is written to one of [`SHARDS`] listing partitions chosen by a hash of its id,
//! so no tenant, however large, concentrates its writes on one index partition. A listing
//! walks the shards in order and each shard in user-id (creation) order; a page is usually
//! one query. The cursor names a position (shard and last user id) and nothing else: the
//! tenant always comes from the authenticated path, so a cursor cannot reach another tenant,
//! and an edited cursor can only move within the caller's own tenant.
//!
//! A small tenant's users share one shard: a new user's id is drawn until its hash falls in
//! the first [`spread_for`] shards, a number that grows with the tenant (1 up to
//! [`USERS_PER_SHARD`] users, then 2, 4, 8 and 16). The hash, and so the shard, never changes
//! afterwards, whatever the tenant becomes. Which shards hold users is what the tenant's
//! per-shard counts ([`Occupancy`]) say, kept in the transactions that add and remove users,
//! so a listing reads only those and never depends on the spread a writer used.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::Error;
use super::ids::UserId;
use super::user::User;

/// Listing partitions per tenant. Changing it re-homes users, so it is fixed.
pub const SHARDS: u16 = 16;
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;

/// About how many users a shard takes before a tenant's new users go to twice as many shards.
/// One index partition takes about 1,000 writes a second: a tenant this small does not sign
/// up users at that rate, and a larger one spreads before it could.
pub const USERS_PER_SHARD: u64 = 1_000;

pub fn shard_of(id: &UserId) -> u16 {
    let digest = Sha256::digest(id.to_string().as_bytes());
    u16::from_be_bytes([digest[0], digest[1]]) % SHARDS
}

/// How many shards (the first ones) new users of a tenant holding `users` go to, each taking
/// about `per_shard`: 1, 2, 4, 8 or [`SHARDS`].
pub fn spread_for(users: u64, per_shard: u64) -> u16 {
    let needed = (users / per_shard.max(1)).saturating_add(1);
    let spread = needed.min(u64::from(SHARDS)).next_power_of_two();
    u16::try_from(spread).map_or(SHARDS, |s| s.min(SHARDS))
}

/// A new user's id whose listing shard is one of the first `spread`. Ids stay ULIDs (creation
/// order within a shard); drawing costs at most a few dozen hashes, about 16 / `spread` on
/// average.
pub fn placed_id(spread: u16) -> UserId {
    let spread = spread.clamp(1, SHARDS);
    loop {
        let id = UserId::generate();
        if shard_of(&id) < spread {
            return id;
        }
    }
}

/// How many users each listing shard of a tenant holds, as the transactions that add and
/// remove users count them: which shards a listing reads, and the tenant's total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Occupancy([i64; SHARDS as usize]);

impl Occupancy {
    /// Adds `users` (a count item's value, which may be negative: see the data model) to
    /// `shard`'s count; a shard out of range is ignored.
    pub fn add(&mut self, shard: u16, users: i64) {
        if let Some(n) = self.0.get_mut(usize::from(shard)) {
            *n = n.saturating_add(users);
        }
    }

    pub fn users_in(&self, shard: u16) -> u64 {
        self.0
            .get(usize::from(shard))
            .map_or(0, |n| u64::try_from(*n).unwrap_or(0))
    }

    pub fn total(&self) -> u64 {
        u64::try_from(self.0.iter().sum::<i64>()).unwrap_or(0)
    }

    /// The shards from `from` on that hold users, in listing order.
    pub fn held_from(&self, from: u16) -> impl Iterator<Item = u16> + '_ {
        (from..SHARDS).filter(|s| self.users_in(*s) > 0)
    }
}

/// Where a page starts: the shard, and the last user id already returned from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub shard: u16,
    pub after: Option<UserId>,
}

impl Position {
    pub fn to_cursor(self) -> String {
        let after = self.after.map(|id| id.to_string()).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(format!("v1:{}:{after}", self.shard))
    }

    pub fn from_cursor(cursor: &str) -> Result<Self, Error> {
        let invalid =
            || Error::invalid("invalid_cursor", "The cursor is not one this API returned.");
        let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        let raw = String::from_utf8(raw).map_err(|_| invalid())?;
        let mut parts = raw.splitn(3, ':');
        if parts.next() != Some("v1") {
            return Err(invalid());
        }
        let shard: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(invalid)?;
        if shard >= SHARDS {
            return Err(invalid());
        }
        let after = match parts.next().ok_or_else(invalid)? {
            "" => None,
            id => Some(UserId::parse(id).map_err(|_| invalid())?),
        };
        let position = Position { shard, after };
        // Only a cursor this API could have returned: `07` or `+7` for shard 7 would be
        // another spelling of one, and a cursor is compared and logged as a string.
        if position.to_cursor() != cursor {
            return Err(invalid());
        }
        Ok(position)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: usize,
    pub start: Position,
}

impl PageRequest {
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self, Error> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    Error::invalid(
                        "invalid_query",
                        format!("limit must be a whole number from 1 to {MAX_LIMIT}."),
                    )
                })?,
        };
        let start = cursor
            .map(Position::from_cursor)
            .transpose()?
            .unwrap_or_default();
        Ok(PageRequest { limit, start })
    }
}

/// A part of a tenant's users a listing can be narrowed to. Each is an index the writes keep
/// (docs/data-model.md), so a narrowed page costs what a plain one does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Users whose email address is verified (`true`) or not (`false`, users without an
    /// address included).
    EmailVerified(bool),
    /// Users holding an identity of this connection, their own or a linked one.
    Connection(super::ids::Connection),
}

#[derive(Debug)]
pub struct Page {
    pub users: Vec<User>,
    pub next: Option<Position>,
    /// The tenant's counts, when the page read them (it does once it leaves a shard, to know
    /// which come next): whoever also needs the total or the shards need not read them again.
    pub occupancy: Option<Occupancy>,
}

/// A Lambda response carries at most 6 MB, and 100 users at the metadata caps could pass it;
/// a page stops before its users' JSON exceeds this, and the cursor resumes there.
pub const PAGE_BUDGET_BYTES: usize = 5 * 1024 * 1024;

impl Page {
    /// Drops the users past `budget` bytes of JSON (always keeping the first) and points
    /// `next` just after the last one kept.
    pub fn fit(&mut self, budget: usize) {
        let mut total = 0;
        for i in 0..self.users.len() {
            total += serde_json::to_vec(&self.users[i])
                .map(|v| v.len() + 1)
                .unwrap_or(0);
            if total > budget && i > 0 {
                let last = self.users[i - 1].user_id;
                self.next = Some(Position {
                    shard: shard_of(&last),
                    after: Some(last),
                });
                self.users.truncate(i);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        for pos in [
            Position::default(),
            Position {
                shard: 7,
                after: Some(UserId::generate()),
            },
        ] {
            assert_eq!(Position::from_cursor(&pos.to_cursor()).unwrap(), pos);
        }
    }

    #[test]
    fn forged_cursors_are_refused() {
        let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
        for bad in [
            "garbage!".to_owned(),
            enc("v2:0:"),
            enc("v1:16:"),
            enc("v1:0:TENANT#other#USER#x"),
            enc("v1:x:"),
            enc("v1:07:"),
            enc("v1:+7:"),
            format!("{}=", enc("v1:7:")),
        ] {
            assert!(Position::from_cursor(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_default_to_50_and_stay_within_1_to_100() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, 50);
        assert_eq!(PageRequest::parse(Some("100"), None).unwrap().limit, 100);
        for bad in ["0", "101", "-1", "ten"] {
            assert!(PageRequest::parse(Some(bad), None).is_err());
        }
    }

    #[test]
    fn a_page_over_the_byte_budget_stops_early_and_resumes_after_its_last_user() {
        let users: Vec<User> = (0..5)
            .map(|_| crate::domain::user::fixtures::user())
            .collect();
        let one = serde_json::to_vec(&users[0]).unwrap().len() + 1;
        let mut page = Page {
            users: users.clone(),
            next: None,
            occupancy: None,
        };
        page.fit(one * 2 + one / 2);
        assert_eq!(page.users.len(), 2);
        let last = users[1].user_id;
        assert_eq!(
            page.next,
            Some(Position {
                shard: shard_of(&last),
                after: Some(last)
            })
        );
        let mut small = Page {
            users: users.clone(),
            next: None,
            occupancy: None,
        };
        small.fit(1);
        assert_eq!(small.users.len(), 1, "a page always makes progress");
        let mut roomy = Page {
            users,
            next: None,
            occupancy: None,
        };
        roomy.fit(PAGE_BUDGET_BYTES);
        assert_eq!((roomy.users.len(), roomy.next), (5, None));
    }

    #[test]
    fn a_tenant_spreads_over_twice_the_shards_each_time_it_doubles() {
        let per = USERS_PER_SHARD;
        assert_eq!(spread_for(0, per), 1);
        assert_eq!(spread_for(per - 1, per), 1);
        assert_eq!(spread_for(per, per), 2);
        assert_eq!(spread_for(2 * per, per), 4);
        assert_eq!(spread_for(3 * per, per), 4);
        assert_eq!(spread_for(4 * per, per), 8);
        assert_eq!(spread_for(8 * per, per), 16);
        assert_eq!(spread_for(u64::MAX, per), 16);
        assert_eq!(spread_for(5, 0), 8, "a zero per shard counts as one");
    }

    #[test]
    fn placed_ids_fall_in_the_first_shards_of_the_spread() {
        for spread in [1, 2, 4, 8, 16] {
            for _ in 0..50 {
                assert!(shard_of(&placed_id(spread)) < spread);
            }
        }
        assert_eq!(shard_of(&placed_id(0)), 0, "a spread of none is one");
    }

    #[test]
    fn occupancy_names_the_shards_that_hold_users_and_their_total() {
        let mut o = Occupancy::default();
        o.add(0, 3);
        o.add(5, 2);
        o.add(5, -2);
        o.add(9, 1);
        o.add(12, -1);
        o.add(SHARDS, 7);
        assert_eq!(o.held_from(0).collect::<Vec<_>>(), [0, 9]);
        assert_eq!(o.held_from(1).collect::<Vec<_>>(), [9]);
        assert_eq!(o.users_in(12), 0, "a count below zero holds nobody");
        assert_eq!(o.total(), 3);
    }

    #[test]
    fn users_spread_over_every_shard() {
        let mut seen = [false; SHARDS as usize];
        for _ in 0..2000 {
            seen[shard_of(&UserId::generate()) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
