//! Identifiers, each parsed once at the edge and carried as a type afterwards.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

use super::Error;

/// A tenant id: `^[a-z0-9][a-z0-9-]{1,62}$`. It is embedded in every partition key, so the
/// character set also keeps keys unambiguous (no `#`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let bytes = raw.as_bytes();
        let ok = (2..=63).contains(&bytes.len())
            && matches!(bytes[0], b'a'..=b'z' | b'0'..=b'9')
            && bytes[1..]
                .iter()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'));
        if ok {
            Ok(TenantId(raw.to_owned()))
        } else {
            Err(Error::invalid(
                "invalid_tenant_id",
                "The tenant id must be 2 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user id: `usr_` followed by a ULID (26 Crockford base32 characters, upper case).
/// Time-ordered, so a listing shard reads in creation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Ulid);

impl UserId {
    const PREFIX: &'static str = "usr_";

    pub fn generate() -> Self {
        UserId(Ulid::generate())
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let invalid = || {
            Error::invalid(
                "invalid_user_id",
                "The user id must look like usr_ followed by 26 characters (a ULID).",
            )
        };
        let rest = raw.strip_prefix(Self::PREFIX).ok_or_else(invalid)?;
        // Only the canonical spelling is accepted so one user has exactly one id string: the
        // decoder would also take lower case, Crockford's look-alike letters, and a first
        // character past `7` whose high bits it drops.
        let id = Ulid::from_string(rest).map_err(|_| invalid())?;
        if id.to_string() != rest {
            return Err(invalid());
        }
        Ok(UserId(id))
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, self.0)
    }
}

impl FromStr for UserId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        UserId::parse(s)
    }
}

impl Serialize for UserId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        UserId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl Serialize for TenantId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        TenantId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A connection name: 1 to 64 characters of a-z, 0-9 and '-', starting with a letter or
/// digit (`database`, `google-oauth2`, `facebook`, ...). `database` is the connection whose
/// users have passwords here; any other name is an external identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Connection(String);

impl Connection {
    pub const DATABASE: &'static str = "database";

    pub fn database() -> Self {
        Connection(Self::DATABASE.to_owned())
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let bytes = raw.as_bytes();
        let ok = (1..=64).contains(&bytes.len())
            && matches!(bytes[0], b'a'..=b'z' | b'0'..=b'9')
            && bytes
                .iter()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'));
        if ok {
            Ok(Connection(raw.to_owned()))
        } else {
            Err(Error::invalid(
                "invalid_connection",
                "The connection must be 1 to 64 characters of a-z, 0-9 and '-'.",
            ))
        }
    }

    pub fn is_database(&self) -> bool {
        self.0 == Self::DATABASE
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Connection::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id an external provider gave the user (Google's `sub`, ...): 1 to 255 printable
/// characters without whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProviderUserId(String);

impl ProviderUserId {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let ok = (1..=255).contains(&raw.chars().count())
            && raw.chars().all(|c| !c.is_control() && !c.is_whitespace());
        if ok {
            Ok(ProviderUserId(raw.to_owned()))
        } else {
            Err(Error::invalid(
                "invalid_user_id",
                "user_id must be 1 to 255 characters without whitespace or control characters.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_follow_the_documented_pattern() {
        assert!(TenantId::parse("acme").is_ok());
        assert!(TenantId::parse("a1-b2").is_ok());
        assert!(TenantId::parse(&"a".repeat(63)).is_ok());
        for bad in ["", "a", "-acme", "Acme", "ac#me", "ac me", &"a".repeat(64)] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn user_ids_round_trip_and_refuse_other_spellings() {
        let id = UserId::generate();
        assert_eq!(UserId::parse(&id.to_string()).unwrap(), id);
        let lower = id.to_string().to_lowercase();
        assert!(UserId::parse(&lower).is_err());
        for bad in [
            "",
            "usr_",
            "01HZY",
            "auth0|123",
            "usr_01HZYABCDEFGHJKMNPQRSTVWXY!",
            // Spellings the ULID decoder takes for another id: a first character past `7`,
            // Crockford's look-alikes of 1 and 0.
            "usr_81M8MXQ230GG3YSRG9HE9DWY2V",
            "usr_Z1M8MXQ230GG3YSRG9HE9DWY2V",
            "usr_0IM8MXQ230GG3YSRG9HE9DWY2V",
            "usr_01M8MXQ23OGG3YSRG9HE9DWY2V",
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_user_id_whose_first_character_overflows_128_bits_is_refused() {
        let max = UserId::parse("usr_7ZZZZZZZZZZZZZZZZZZZZZZZZZ").unwrap();
        assert_eq!(max.to_string(), "usr_7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
        // `8…` would decode to the same bits as `0…`.
        for bad in [
            "usr_8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
            "usr_A0M0A000M0MPA0AAA00J0P00AJ",
            "usr_ZZZZZZZZZZZZZZZZZZZZZZZZZZ",
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn connection_names_are_restricted() {
        assert!(Connection::parse("google-oauth2").unwrap().as_str() == "google-oauth2");
        assert!(Connection::parse("database").unwrap().is_database());
        for bad in ["", "Google", "a b", "x#y", &"a".repeat(65)] {
            assert!(Connection::parse(bad).is_err());
        }
    }
}
