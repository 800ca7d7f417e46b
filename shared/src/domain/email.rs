use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Error;
use super::profile::is_hidden_char;

/// An email address, checked against RFC 5321/5322 by `email_address`, at most 254 bytes,
/// in the forms mailbox providers hand out: no quoted local part, comment, escape, address
/// literal, control or format character. The address is kept as given (trimmed, in Unicode
/// NFC); equality and uniqueness use [`Email::normalized`] ([`email_key`]), so `Ana@X.com`
/// and `ana@x.com`, composed and decomposed accents, and `bücher.example` and
/// `xn--bcher-kva.example` are each one account. Whether an address is accepted depends on
/// that key alone, not on which of those spellings is used, so one spelling of a mailbox is
/// never taken while another is refused: the limits (254 bytes, 64 for the local part, 63
/// for a label of the domain) are those of the address as it travels, its domain in ASCII.
/// See docs/api.md.
#[derive(Debug, Clone)]
pub struct Email {
    display: String,
    normalized: String,
}

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let display = nfc(raw.trim());
        let (_, domain) = display.rsplit_once('@').ok_or_else(Self::invalid)?;
        let ascii = idna::domain_to_ascii(domain).map_err(|_| Self::invalid())?;
        if !plain_spelling(domain, &ascii) {
            return Err(Self::invalid());
        }
        let normalized = email_key(&display);
        Self::check(&normalized)?;
        Ok(Email {
            display,
            normalized,
        })
    }

    /// The rules an address's key must meet.
    fn check(key: &str) -> Result<(), Error> {
        if key.is_empty() || key.len() > Self::MAX_LEN {
            return Err(Self::invalid());
        }
        let parsed: email_address::EmailAddress = key.parse().map_err(|_| Self::invalid())?;
        // email_address accepts display-name forms ("Ana <ana@x.com>"); only the bare
        // address is an account identifier.
        if parsed.email() != key || parsed.domain().starts_with('[') {
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
        // RFC 6531 admits any non-ASCII character, C1 controls and invisible format
        // characters too: `a\u{200b}na@x.com` would read as `ana@x.com` and be another account.
        // U+FFFD is what bytes that were no UTF-8 became on the way in.
        if parsed
            .local_part()
            .chars()
            .any(|c| is_hidden_char(c) || c == char::REPLACEMENT_CHARACTER)
        {
            return Err(Self::invalid());
        }
        Ok(())
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
/// form, all in lower case. Each letter is lowered on its own: `str::to_lowercase` lowers a
/// word-final `Σ` to `ς`, which would make `ΑΣ` and `ασ`, one mailbox in two letter cases,
/// two accounts. Lowering can undo a composition (`T` with a combining diaeresis has no
/// composed form, `t` with one has), so the key is composed again after it.
pub fn email_key(address: &str) -> String {
    let composed = nfc(address);
    match composed.rsplit_once('@') {
        Some((local, domain)) => {
            let domain = idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_owned());
            nfc(&format!("{}@{}", lower(local), lower(&domain)))
        }
        None => nfc(&lower(&composed)),
    }
}

fn lower(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// Whether `domain` is written as the domain `ascii` names, each label in some letter case,
/// in Unicode or punycode. IDNA would also take full-width letters and ideographic full
/// stops for their ASCII counterparts; no one hands those out as an address.
fn plain_spelling(domain: &str, ascii: &str) -> bool {
    let given: Vec<&str> = domain.split('.').collect();
    let names: Vec<&str> = ascii.split('.').collect();
    given.len() == names.len()
        && given.iter().zip(&names).all(|(label, name)| {
            let label = lower(label);
            label == *name || label == idna::domain_to_unicode(name).0
        })
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
    fn an_address_is_accepted_or_refused_by_its_key_not_by_its_spelling() {
        // 252 bytes as written, 256 with its domain in ASCII: too long to travel.
        let long = format!("ana@{}\u{4e2d}\u{56fd}", "abcdefghij.".repeat(22));
        assert_eq!(long.len(), 252);
        assert!(Email::parse(&long).is_err());
        assert!(Email::parse(&email_key(&long)).is_err());
        // 64 bytes in UTF-8, far fewer in punycode: a label DNS holds, in either spelling.
        let unicode = Email::parse(&format!("ana@{}.example", "\u{fc}".repeat(32))).unwrap();
        let ascii = Email::parse(unicode.normalized()).unwrap();
        assert_eq!(unicode, ascii);
    }

    #[test]
    fn an_address_key_is_its_own_key() {
        // `T` with a combining diaeresis has no composed form; lowered, it does (U+1E97).
        let key = email_key("T\u{308}@example.com");
        assert_eq!(key, "\u{1e97}@example.com");
        assert_eq!(email_key(&key), key);
    }

    #[test]
    fn a_word_final_capital_sigma_is_the_same_letter_as_a_small_one() {
        let upper = Email::parse("\u{391}\u{3a3}@example.com").unwrap();
        let lower = Email::parse("\u{3b1}\u{3c3}@example.com").unwrap();
        assert_eq!(upper, lower);
        assert_eq!(upper.normalized(), "\u{3b1}\u{3c3}@example.com");
    }

    #[test]
    fn a_domain_spelt_with_full_width_letters_or_ideographic_stops_is_refused() {
        for bad in ["ana@example\u{3002}com", "ana@\u{ff45}xample.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn control_and_format_characters_are_refused() {
        for bad in [
            "\u{80}ana@example.com",
            "a\u{85}na@example.com",
            "a\u{200b}na@example.com",
            "ana\u{202e}@example.com",
            "\u{feff}ana@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
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
