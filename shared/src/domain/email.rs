use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Error;

/// An email address, checked against RFC 5321/5322 by `email_address`, at most 254
/// characters. The address is kept as given (trimmed); equality and uniqueness use
/// [`Email::normalized`], the whole address in lower case, so `Ana@X.com` and `ana@x.com`
/// are one account.
#[derive(Debug, Clone)]
pub struct Email {
    display: String,
    normalized: String,
}

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.len() > Self::MAX_LEN {
            return Err(Self::invalid());
        }
        let parsed: email_address::EmailAddress = trimmed.parse().map_err(|_| Self::invalid())?;
        // email_address accepts display-name forms ("Ana <ana@x.com>"); only the bare
        // address is an account identifier.
        if parsed.email() != trimmed || parsed.domain().starts_with('[') {
            return Err(Self::invalid());
        }
        // A domain without a dot cannot receive mail from the internet.
        if !parsed.domain().contains('.') {
            return Err(Self::invalid());
        }
        Ok(Email {
            display: trimmed.to_owned(),
            normalized: trimmed.to_lowercase(),
        })
    }

    fn invalid() -> Error {
        Error::invalid("invalid_email", "The email address is not valid.")
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

impl PartialEq for Email {
    fn eq(&self, other: &Self) -> bool {
        self.normalized == other.normalized
    }
}

impl Eq for Email {}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.display)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Email::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Whether a stored address (if any) is `b`, compared as addresses compare: case-insensitively.
pub fn same_address(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_differing_only_in_case_are_the_same_account() {
        let a = Email::parse(" Ana.Silva@Example.COM ").unwrap();
        let b = Email::parse("ana.silva@example.com").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "Ana.Silva@Example.COM");
        assert_eq!(a.normalized(), "ana.silva@example.com");
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            "plain",
            "a@",
            "@x.com",
            "a@localhost",
            "Ana <ana@x.com>",
            "a b@x.com",
            &format!("{}@x.com", "a".repeat(250)),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
