//! Proving a password, and the two brute-force rules.
//!
//! - Per user and IP address (as Auth0): after [`BruteForce::pair_threshold`] consecutive
//!   failures from one address, that address is blocked for the user for
//!   [`BruteForce::pair_block_secs`], or until an admin clears the block or the password is
//!   reset. Other addresses still work, so an attacker cannot lock the owner out this way.
//! - Per user, from any address (as Cognito): the first [`BruteForce::user_free_failures`]
//!   consecutive failures cost nothing; each one after that locks the account for 1 s, 2 s,
//!   4 s, ... capped at [`BruteForce::user_max_lock_secs`] (15 min). An attacker spread over
//!   many addresses gets a handful of guesses per quarter hour, and the owner is never locked
//!   out for longer than that.
//!
//! A success resets the address's counter and makes the address trusted for the user for
//! [`BruteForce::trusted_secs`]: the per-user lock does not apply to it, so an attacker who
//! keeps the account locked from elsewhere does not lock out the owner's usual addresses.
//! Counters older than their window are forgotten (and DynamoDB's TTL removes them). While a
//! block is active, attempts are answered 429 with `Retry-After` and the password is not
//! checked.
//!
//! An attempt's outcome is revealed only once it has been recorded by a write conditional on
//! the counters it read: racing attempts are recorded one after another, each re-reading
//! the counters, so once a block is reached the rest are refused with their result unsaid.
//! Unknown accounts keep the same counters under a key derived from the identifier, so they
//! are throttled, blocked and timed exactly like real ones.
//!
//! IPv6 addresses count per /64 (what one host typically holds); IPv4-mapped IPv6 counts as
//! the IPv4 address.

use serde::Deserialize;
use zeroize::Zeroizing;

use super::email::Email;
use super::ids::{Connection, TenantId, UserId};
use super::password::{Password, PasswordHash};
use super::profile;
use super::time::Timestamp;
use super::user::User;
use super::{Error, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BruteForce {
    pub pair_threshold: u32,
    pub pair_block_secs: i64,
    pub user_free_failures: u32,
    pub user_max_lock_secs: i64,
    /// How long the per-user counter remembers a failure.
    pub user_window_secs: i64,
    /// How long an address that signed in successfully stays exempt from the per-user lock.
    pub trusted_secs: i64,
}

impl Default for BruteForce {
    fn default() -> Self {
        BruteForce {
            pair_threshold: 10,
            pair_block_secs: 24 * 3600,
            user_free_failures: 5,
            user_max_lock_secs: 15 * 60,
            user_window_secs: 3600,
            trusted_secs: 30 * 24 * 3600,
        }
    }
}

/// Consecutive failed attempts and when the last one happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub last: Timestamp,
}

/// Which counter: one address's, or the user's across all addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counter {
    Ip(String),
    User,
}

impl BruteForce {
    pub fn window(&self, counter: &Counter) -> i64 {
        match counter {
            Counter::Ip(_) => self.pair_block_secs,
            Counter::User => self.user_window_secs,
        }
    }

    /// The failures that still count at `now`.
    pub fn live(&self, counter: &Counter, failures: Option<&Failures>, now: Timestamp) -> u32 {
        match failures {
            Some(f) if f.last.plus_secs(self.window(counter)) > now => f.count,
            _ => 0,
        }
    }

    /// How long `count` consecutive failures lock the user across addresses.
    pub fn user_lock_secs(&self, count: u32) -> i64 {
        if count <= self.user_free_failures {
            return 0;
        }
        let doublings = (count - self.user_free_failures - 1).min(30);
        (1i64 << doublings).min(self.user_max_lock_secs)
    }

    /// Until when `failures` of `counter` block attempts, if they do at `now`.
    pub fn blocked_until(
        &self,
        counter: &Counter,
        failures: Option<&Failures>,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let f = failures?;
        let count = self.live(counter, Some(f), now);
        let until = match counter {
            Counter::Ip(_) if count >= self.pair_threshold => {
                f.last.plus_secs(self.pair_block_secs)
            }
            Counter::User if count > self.user_free_failures => {
                f.last.plus_secs(self.user_lock_secs(count))
            }
            _ => return None,
        };
        (until > now).then_some(until)
    }
}

/// A stored counter as read: failures (if any) and, for an address, its last success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterRecord {
    pub count: u32,
    pub last_failure: Option<Timestamp>,
    pub last_success: Option<Timestamp>,
}

impl CounterRecord {
    pub fn failures(&self) -> Option<Failures> {
        Some(Failures {
            count: self.count,
            last: self.last_failure?,
        })
        .filter(|f| f.count > 0)
    }
}

/// Whose password a login checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The user's own.
    Own,
    /// That of the identity (this `user_id`) linked into the user: a linked database user's
    /// identifier still signs in, with its own password, as the user it was linked into.
    Linked(String),
}

/// Whose counters a login attempt uses, and (for a user) which password it checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginSubject {
    User(TenantId, UserId, Credential),
    /// No account has the identifier; its attempts are counted all the same.
    Unknown {
        tenant: TenantId,
        connection: Connection,
        identifier: Identifier,
    },
}

impl LoginSubject {
    /// The tenant whose account (or unknown identifier) the attempt names.
    pub fn tenant(&self) -> &TenantId {
        match self {
            LoginSubject::User(tenant, _, _) | LoginSubject::Unknown { tenant, .. } => tenant,
        }
    }
}

/// What a login attempt reads, in one round trip.
#[derive(Debug)]
pub struct LoginState {
    /// `None` for an unknown account.
    pub user: Option<User>,
    /// Which password `hash` is.
    pub credential: Credential,
    pub hash: Option<PasswordHash>,
    /// The counter of the attempt's address.
    pub ip: Option<CounterRecord>,
    /// The counter across all addresses.
    pub all: Option<CounterRecord>,
    /// When the address's throttle across the tenant's accounts drains
    /// ([`super::throttle`]); `None` when it holds nothing.
    pub address: Option<Timestamp>,
}

impl LoginState {
    /// Whether one more failure from `ip`, counted at `now`, starts a block worth telling the
    /// owner of: the address's block for the user (its counter reaching the threshold), or
    /// the per-user lock reaching its cap.
    pub fn failure_starts_block(&self, rules: &BruteForce, ip: &str, now: Timestamp) -> bool {
        let live = |counter: &Counter, read: Option<CounterRecord>| {
            rules.live(counter, read.and_then(|r| r.failures()).as_ref(), now)
        };
        let pair = live(&Counter::Ip(ip.to_owned()), self.ip) + 1;
        let all = live(&Counter::User, self.all) + 1;
        let cap = rules.user_max_lock_secs;
        pair == rules.pair_threshold
            || rules.user_lock_secs(all) >= cap && rules.user_lock_secs(all - 1) < cap
    }

    /// The latest moment a brute-force block holds at `now`, if any.
    pub fn blocked_until(&self, rules: &BruteForce, ip: &str, now: Timestamp) -> Option<Timestamp> {
        let ip_failures = self.ip.and_then(|r| r.failures());
        let pair = rules.blocked_until(&Counter::Ip(ip.to_owned()), ip_failures.as_ref(), now);
        let trusted = self
            .ip
            .and_then(|r| r.last_success)
            .is_some_and(|t| t.plus_secs(rules.trusted_secs) > now);
        let all_failures = self.all.and_then(|r| r.failures());
        let user = if trusted {
            None
        } else {
            rules.blocked_until(&Counter::User, all_failures.as_ref(), now)
        };
        pair.max(user)
    }
}

/// How a login names the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identifier {
    Email(Email),
    Username(String),
}

/// Whom a `/user-blocks` route names: a user, the email or username of a database user, or
/// an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlocksOf {
    User(UserId),
    Identifier(Identifier),
    /// An address's throttle across the tenant's accounts (its key: see [`parse_ip`]).
    Address(String),
}

impl Identifier {
    /// An email if it has an `@` (usernames never do), else a username.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        if raw.contains('@') {
            Email::parse(raw).map(Identifier::Email)
        } else {
            profile::username(raw).map(Identifier::Username)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct AuthenticateBody {
    email: Option<String>,
    username: Option<String>,
    #[serde(default, deserialize_with = "json::secret")]
    password: Option<Zeroizing<String>>,
    connection: Option<String>,
    ip: Option<String>,
}

/// `POST /authenticate`.
#[derive(Debug)]
pub struct LoginRequest {
    pub identifier: Identifier,
    pub connection: Connection,
    /// `None` when the offered password cannot be any stored one (too long, empty).
    pub password: Option<Password>,
    /// The end user's address, as the login service saw it (its key: see [`parse_ip`]).
    /// Required: counted against the login service's own address, every failure would
    /// count against one address for everyone, and ten would lock the owner out.
    pub ip: String,
}

impl LoginRequest {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let b: AuthenticateBody = json::parse_body(body)?;
        let identifier = match (b.email, b.username) {
            (Some(email), None) => Identifier::Email(Email::parse(&email)?),
            (None, Some(username)) => Identifier::Username(profile::username(&username)?),
            _ => {
                return Err(Error::body(
                    "Name the account with exactly one of email and username.",
                ));
            }
        };
        let connection = match b.connection.as_deref() {
            None => Connection::database(),
            Some(raw) => Connection::parse(raw)?,
        };
        if !connection.is_database() {
            return Err(Error::body(format!(
                "{connection} users sign in with their provider; only database users have passwords here."
            )));
        }
        let password = b
            .password
            .ok_or_else(|| Error::body("password is required."))?;
        let ip = parse_ip(
            b.ip.as_deref()
                .ok_or_else(|| Error::body("ip is required: the end user's address."))?,
        )?;
        Ok(LoginRequest {
            identifier,
            connection,
            password: Password::offered(password),
            ip,
        })
    }
}

/// The key an address counts under: an IPv4 address as written canonically, an IPv6
/// address as its /64 (an IPv4-mapped one as the IPv4 address).
pub fn parse_ip(raw: &str) -> Result<String, Error> {
    let ip = raw
        .trim()
        .parse::<std::net::IpAddr>()
        .map_err(|_| Error::body("ip must be an IPv4 or IPv6 address."))?;
    Ok(match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct ChangeBody {
    #[serde(default, deserialize_with = "json::secret")]
    current_password: Option<Zeroizing<String>>,
    #[serde(default, deserialize_with = "json::secret")]
    new_password: Option<Zeroizing<String>>,
}

/// `POST /me/password`. The new password's policy is checked only once the current one is
/// proven, so the policy's answers tell a guesser nothing.
#[derive(Debug)]
pub struct PasswordChange {
    pub current: Option<Password>,
    pub new: Zeroizing<String>,
}

impl PasswordChange {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let b: ChangeBody = json::parse_body(body)?;
        let current = b
            .current_password
            .ok_or_else(|| Error::body("current_password is required."))?;
        let new = b
            .new_password
            .ok_or_else(|| Error::body("new_password is required."))?;
        Ok(PasswordChange {
            current: Password::offered(current),
            new,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_datetime(time::macros::datetime!(2026-01-01 00:00 UTC)).plus_secs(secs)
    }

    fn f(count: u32, last: i64) -> Failures {
        Failures {
            count,
            last: at(last),
        }
    }

    #[test]
    fn an_address_is_blocked_after_the_threshold_until_the_block_ends() {
        let r = BruteForce::default();
        let ip = Counter::Ip("198.51.100.7".into());
        assert_eq!(r.blocked_until(&ip, Some(&f(9, 0)), at(1)), None);
        assert_eq!(
            r.blocked_until(&ip, Some(&f(10, 0)), at(1)),
            Some(at(86_400))
        );
        assert_eq!(
            r.blocked_until(&ip, Some(&f(10, 0)), at(86_400)),
            None,
            "the block ends"
        );
        assert_eq!(
            r.live(&ip, Some(&f(10, 0)), at(86_401)),
            0,
            "and the count is forgotten"
        );
    }

    #[test]
    fn the_user_lock_grows_exponentially_and_is_capped() {
        let r = BruteForce::default();
        let u = Counter::User;
        assert_eq!(
            r.blocked_until(&u, Some(&f(5, 0)), at(0)),
            None,
            "five free failures"
        );
        assert_eq!(r.blocked_until(&u, Some(&f(6, 0)), at(0)), Some(at(1)));
        assert_eq!(r.blocked_until(&u, Some(&f(7, 0)), at(0)), Some(at(2)));
        assert_eq!(r.blocked_until(&u, Some(&f(10, 0)), at(0)), Some(at(16)));
        assert_eq!(
            r.blocked_until(&u, Some(&f(40, 0)), at(0)),
            Some(at(900)),
            "capped at 15 minutes"
        );
        assert_eq!(r.blocked_until(&u, Some(&f(40, 0)), at(900)), None);
        assert_eq!(
            r.live(&u, Some(&f(40, 0)), at(3600)),
            0,
            "forgotten after an hour"
        );
    }

    #[test]
    fn a_login_names_the_account_once_and_only_database_users_have_passwords() {
        let ok = LoginRequest::parse(
            br#"{"email":"Ana@Example.com","password":"x","ip":"2001:db8::0:1"}"#,
        )
        .unwrap();
        assert_eq!(
            ok.identifier,
            Identifier::Email(Email::parse("ana@example.com").unwrap())
        );
        assert_eq!(ok.ip, "2001:db8:0:0::/64");
        for bad in [
            r#"{"password":"x"}"#,
            r#"{"email":"a@example.com","username":"a","password":"x"}"#,
            r#"{"email":"a@example.com"}"#,
            r#"{"email":"a@example.com","password":"x","connection":"google-oauth2"}"#,
            r#"{"email":"a@example.com","password":"x","ip":"999.1.1.1"}"#,
            r#"{"email":"a@example.com","password":"x"}"#,
        ] {
            assert!(LoginRequest::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let long = format!(
            r#"{{"username":"ana","password":"{}","ip":"192.0.2.1"}}"#,
            "x".repeat(500)
        );
        assert!(
            LoginRequest::parse(long.as_bytes())
                .unwrap()
                .password
                .is_none()
        );
    }

    #[test]
    fn a_block_starts_at_the_tenth_failure_from_an_address_and_when_the_lock_reaches_its_cap() {
        let r = BruteForce::default();
        let read = |ip: u32, all: u32| LoginState {
            user: None,
            credential: Credential::Own,
            hash: None,
            ip: (ip > 0).then_some(CounterRecord {
                count: ip,
                last_failure: Some(at(0)),
                last_success: None,
            }),
            all: (all > 0).then_some(CounterRecord {
                count: all,
                last_failure: Some(at(0)),
                last_success: None,
            }),
            address: None,
        };
        let ip = "198.51.100.7";
        assert!(!read(8, 8).failure_starts_block(&r, ip, at(1)));
        assert!(read(9, 9).failure_starts_block(&r, ip, at(1)));
        assert!(
            !read(10, 10).failure_starts_block(&r, ip, at(1)),
            "already blocked"
        );
        // 1 s, 2 s, ... 512 s, then 900 s (the cap) at the sixteenth failure, told once.
        assert!(!read(1, 14).failure_starts_block(&r, ip, at(1)));
        assert!(read(1, 15).failure_starts_block(&r, ip, at(1)));
        assert!(!read(1, 16).failure_starts_block(&r, ip, at(1)));
    }

    #[test]
    fn addresses_count_per_ipv4_address_or_ipv6_64() {
        assert_eq!(parse_ip("198.51.100.7").unwrap(), "198.51.100.7");
        assert_eq!(parse_ip("::ffff:198.51.100.7").unwrap(), "198.51.100.7");
        assert_eq!(
            parse_ip("2001:db8:1:2:aaaa::1").unwrap(),
            parse_ip("2001:db8:1:2:bbbb::9").unwrap()
        );
        assert_ne!(
            parse_ip("2001:db8:1:2::1").unwrap(),
            parse_ip("2001:db8:1:3::1").unwrap()
        );
    }

    #[test]
    fn an_address_with_a_recent_success_is_exempt_from_the_user_lock_but_not_its_own_block() {
        let r = BruteForce::default();
        let locked_all = Some(CounterRecord {
            count: 20,
            last_failure: Some(at(0)),
            last_success: None,
        });
        let mut state = LoginState {
            user: None,
            credential: Credential::Own,
            hash: None,
            ip: None,
            all: locked_all,
            address: None,
        };
        assert_eq!(
            state.blocked_until(&r, "198.51.100.7", at(1)),
            Some(at(900))
        );
        state.ip = Some(CounterRecord {
            count: 0,
            last_failure: None,
            last_success: Some(at(-3600)),
        });
        assert_eq!(state.blocked_until(&r, "198.51.100.7", at(1)), None);
        state.ip = Some(CounterRecord {
            count: 10,
            last_failure: Some(at(0)),
            last_success: Some(at(-3600)),
        });
        assert_eq!(
            state.blocked_until(&r, "198.51.100.7", at(1)),
            Some(at(86_400))
        );
    }

    #[test]
    fn identifiers_with_an_at_sign_are_emails() {
        assert!(matches!(
            Identifier::parse("ana@example.com"),
            Ok(Identifier::Email(_))
        ));
        assert!(matches!(
            Identifier::parse("ana_s"),
            Ok(Identifier::Username(_))
        ));
        assert!(Identifier::parse("not valid").is_err());
    }
}
