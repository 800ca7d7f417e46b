use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Error;

/// An email address, checked against RFC 5321/5322 by `email_address`, at most 254
/// characters, in the forms mailbox providers hand out: no quoted local part, comment,
/// escape or address literal. The address is kept as given (trimmed, in Unicode NFC);
/// equality and uniqueness use [`Email::normalized`] ([`email_key`]), so `Ana@X.com` and
/// `ana@x.com`, composed and decomposed accents, and `bücher.example` and
/// `xn--bcher-kva.example` are each one account. See docs/api.md.
#[derive(Debug, Clone)]
pub struct Email {
    display: String,
    normalized: String,
}

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let composed = nfc(raw.trim());
        let trimmed = composed.as_str();
        if trimmed.is_empty() || trimmed.len() > Self::MAX_LEN {
            return Err(Self::invalid());
        }
        // An invisible or reordering character makes an address that reads as another's;
        // U+FFFD is what undecodable bytes became on the way in.
        if trimmed
            .chars()
            .any(|c| super::profile::is_hidden_char(c) || c == char::REPLACEMENT_CHARACTER)
        {
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
        // Quoted strings, comments and escapes are valid RFC 5322 but no provider hands them
        // out, and each is another spelling of some mailbox.
        if parsed
            .local_part()
            .chars()
            .any(|c| c.is_whitespace() || "\"\\(),:;<>[]".contains(c))
        {
            return Err(Self::invalid());
        }
        if idna::domain_to_ascii(parsed.domain()).is_err() {
            return Err(Self::invalid());
        }
        Ok(Email {
            display: trimmed.to_owned(),
            normalized: email_key(trimmed),
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

/// `s` in Unicode Normalization Form C (composed).
fn nfc(s: &str) -> String {
    icu_normalizer::ComposingNormalizerBorrowed::new_nfc()
        .normalize(s)
        .into_owned()
}

/// The key an address is unique and compared under: NFC, the domain in its ASCII (punycode)
/// form, all in lower case.
pub fn email_key(address: &str) -> String {
    let composed = nfc(address);
    match composed.rsplit_once('@') {
        Some((local, domain)) => {
            let domain = idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_owned());
            format!("{}@{}", local.to_lowercase(), domain.to_lowercase())
        }
        None => composed.to_lowercase(),
    }
}

/// Whether a stored address (if any) is `b`, compared as addresses compare ([`email_key`]).
pub fn same_address(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(b) || email_key(a) == email_key(b))
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

    #[test]
    fn composed_and_decomposed_forms_and_idn_spellings_are_one_address() {
        let composed = Email::parse("jos\u{e9}@example.com").unwrap();
        let decomposed = Email::parse("jose\u{301}@example.com").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(
            decomposed.as_str(),
            "jos\u{e9}@example.com",
            "stored composed"
        );
        let unicode = Email::parse("Ana@B\u{fc}cher.example").unwrap();
        let ascii = Email::parse("ana@xn--bcher-kva.example").unwrap();
        assert_eq!(unicode, ascii);
        assert_eq!(unicode.normalized(), "ana@xn--bcher-kva.example");
        assert_eq!(
            unicode.as_str(),
            "Ana@B\u{fc}cher.example",
            "shown as given"
        );
        assert!(same_address(
            Some("ANA@xn--bcher-kva.example"),
            "ana@b\u{fc}cher.example"
        ));
    }

    #[test]
    fn forms_no_mailbox_provider_hands_out_are_refused() {
        for bad in [
            "\"ana smith\"@example.com",
            "\"ana\"@example.com",
            "ana(comment)@example.com",
            "ana@[192.0.2.1]",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Email::parse("ana.o'neil+tag@example.com").is_ok());
    }

    #[test]
    fn invisible_reordering_and_replacement_characters_are_refused() {
        for bad in [
            "ana\u{200B}@example.com",
            "ana\u{202E}.lovelace@example.com",
            "\u{FEFF}ana@example.com",
            "ana@exa\u{2060}mple.com",
            "ana\u{FFFD}.lovelace@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
