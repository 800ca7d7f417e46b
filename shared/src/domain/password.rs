//! Passwords as secrets: held in zeroizing memory, never printed, checked against a minimum
//! policy before they are hashed.

use std::fmt;

use zeroize::Zeroizing;

use super::Error;

pub const MIN_CHARS: usize = 8;
/// Long enough for any passphrase or generated password; short enough that a hash request
/// cannot be used to burn CPU on megabytes of input.
pub const MAX_CHARS: usize = 128;

/// A plaintext password. `Debug` never shows it and the memory is wiped on drop.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Applies the policy: 8 to 128 characters, not the account's email address or username
    /// (compared case-insensitively).
    pub fn parse(
        raw: Zeroizing<String>,
        email: Option<&str>,
        username: Option<&str>,
    ) -> Result<Self, Error> {
        let chars = raw.chars().count();
        if chars < MIN_CHARS {
            return Err(weak(format!(
                "The password must be at least {MIN_CHARS} characters long."
            )));
        }
        if chars > MAX_CHARS {
            return Err(weak(format!(
                "The password must be at most {MAX_CHARS} characters long."
            )));
        }
        let lowered = Zeroizing::new(raw.to_lowercase());
        if email.is_some_and(|e| e.to_lowercase() == *lowered) {
            return Err(weak("The password may not be the email address."));
        }
        if username.is_some_and(|u| u.to_lowercase() == *lowered) {
            return Err(weak("The password may not be the username."));
        }
        Ok(Password(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn weak(message: impl Into<String>) -> Error {
    Error::invalid("password_too_weak", message)
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A PHC-format hash (`$argon2id$v=19$m=...`). Stored in its own item that no read path
/// returns; `Debug` does not show it either.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_phc(phc: String) -> Self {
        PasswordHash(phc)
    }

    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pw: &str, email: Option<&str>, username: Option<&str>) -> Result<Password, Error> {
        Password::parse(Zeroizing::new(pw.to_owned()), email, username)
    }

    #[test]
    fn short_and_overlong_passwords_are_too_weak() {
        assert!(matches!(
            parse("short7!", None, None),
            Err(Error::Invalid {
                code: "password_too_weak",
                ..
            })
        ));
        assert!(parse("eight ch", None, None).is_ok());
        assert!(parse(&"é".repeat(MAX_CHARS), None, None).is_ok());
        assert!(parse(&"é".repeat(MAX_CHARS + 1), None, None).is_err());
    }

    #[test]
    fn the_password_may_not_be_the_email_or_username() {
        assert!(parse("Ana@Example.com", Some("ana@example.com"), None).is_err());
        assert!(parse("AnaSilva99", None, Some("anasilva99")).is_err());
        assert!(parse("correct horse", Some("ana@example.com"), Some("ana")).is_ok());
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let pw = parse("hunter2hunter2", None, None).unwrap();
        assert!(!format!("{pw:?}").contains("hunter2"));
        let hash = PasswordHash::from_phc("$argon2id$v=19$secret".into());
        assert!(!format!("{hash:?}").contains("secret"));
    }
}
