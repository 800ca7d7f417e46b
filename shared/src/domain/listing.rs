//! Listing a tenant's users page by page.
//!
//! Every user is written to one of [`SHARDS`] listing partitions chosen by a hash of its id,
//! so no tenant, however large, concentrates its writes on one index partition. A listing
//! walks the shards in order and each shard in user-id (creation) order; a page is usually
//! one query. The cursor names a position (shard and last user id) and nothing else: the
//! tenant always comes from the authenticated path, so a cursor cannot reach another tenant,
//! and an edited cursor can only move within the caller's own tenant.

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

pub fn shard_of(id: &UserId) -> u16 {
    let digest = Sha256::digest(id.to_string().as_bytes());
    u16::from_be_bytes([digest[0], digest[1]]) % SHARDS
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
        };
        small.fit(1);
        assert_eq!(small.users.len(), 1, "a page always makes progress");
        let mut roomy = Page { users, next: None };
        roomy.fit(PAGE_BUDGET_BYTES);
        assert_eq!((roomy.users.len(), roomy.next), (5, None));
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
