//! Validation of the normalized profile's root fields.

use super::Error;

/// Longest `name`, `given_name`, `family_name` or `nickname`, in characters.
pub const MAX_NAME_CHARS: usize = 300;
/// Longest `picture` URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 128;

/// A username: 1 to 128 of `A-Z a-z 0-9 _ . + -`. It is unique per tenant and connection,
/// compared case-insensitively. `@` is excluded so a username can never read as
/// someone else's email address at login.
pub fn username(raw: &str) -> Result<String, Error> {
    let ok = (1..=MAX_USERNAME_CHARS).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(Error::invalid(
            "invalid_username",
            format!(
                "username must be 1 to {MAX_USERNAME_CHARS} characters of A-Z, a-z, 0-9, '_', '.', '+' and '-'."
            ),
        ))
    }
}

/// The key a username is unique under.
pub fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// A phone number in E.164 form: `+`, then 7 to 15 digits, the first not 0.
pub fn phone_number(raw: &str) -> Result<String, Error> {
    let digits = raw.strip_prefix('+').unwrap_or("");
    let ok = (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(Error::invalid(
            "invalid_phone_number",
            "phone_number must be in E.164 form, such as +14155550123.",
        ))
    }
}

/// Whether `c` is a Unicode control or format character (categories Cc and Cf): invisible,
/// and some (the bidirectional overrides and isolates) reorder the text around them, so a
/// name holding one can make a mail or page read other than it is.
pub fn is_hidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0001}'
                | '\u{E0020}'..='\u{E007F}'
        )
}

/// A display name field: 1 to 300 characters, no control or format characters
/// ([`is_hidden_char`]).
pub fn name(field: &'static str, raw: &str) -> Result<String, Error> {
    let count = raw.chars().count();
    if count == 0 || count > MAX_NAME_CHARS || raw.chars().any(is_hidden_char) {
        return Err(Error::invalid(
            "invalid_body",
            format!(
                "{field} must be 1 to {MAX_NAME_CHARS} characters without control or format characters (such as text-direction marks); use null to remove it."
            ),
        ));
    }
    Ok(raw.to_owned())
}

/// `picture`: an absolute http(s) URL of at most 2048 bytes.
pub fn picture(raw: &str) -> Result<String, Error> {
    let ok = raw.len() <= MAX_URL_BYTES
        && url::Url::parse(raw)
            .map(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
            .unwrap_or(false);
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(Error::invalid(
            "invalid_body",
            format!(
                "picture must be an absolute http or https URL of at most {MAX_URL_BYTES} bytes."
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_refuse_at_signs_and_spaces() {
        assert!(username("ana_silva-1.x+y").is_ok());
        for bad in ["", "ana@x.com", "ana silva", &"a".repeat(129)] {
            assert!(username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn phone_numbers_must_be_e164() {
        assert!(phone_number("+14155550123").is_ok());
        for bad in [
            "14155550123",
            "+0123456789",
            "+1 415 555",
            "+1234",
            "+1234567890123456",
        ] {
            assert!(phone_number(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_and_pictures_are_bounded() {
        assert!(name("name", "Ana Silva").is_ok());
        assert!(name("name", "").is_err());
        assert!(name("name", "a\u{0}b").is_err());
        assert!(name("name", &"é".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(name("name", &"é".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(picture("https://cdn.example.com/a.png").is_ok());
        for bad in ["javascript:alert(1)", "/relative.png", "ftp://x.com/a"] {
            assert!(picture(bad).is_err(), "{bad:?}");
        }
    }
}
