//! Passwords as secrets: held in zeroizing memory, never printed, checked against a minimum
//! policy before they are hashed.

use std::fmt;

use zeroize::Zeroizing;

use super::Error;

pub const MIN_CHARS: usize = 8;
/// zxcvbn's score (0 to 4) a password needs: 3 is "safely unguessable" for an online attack
/// with throttling, its authors' advice for account passwords.
pub const MIN_STRENGTH: u8 = 3;
/// Long enough for any passphrase or generated password; short enough that a hash request
/// cannot be used to burn CPU on megabytes of input.
pub const MAX_CHARS: usize = 128;

/// A plaintext password. `Debug` never shows it and the memory is wiped on drop.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Applies the policy: 8 to 128 characters, not the account's email address or username
    /// (compared case-insensitively), and hard enough to guess: a zxcvbn score of at least
    /// [`MIN_STRENGTH`], with the email and username counted as known words.
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
        let inputs: Vec<&str> = email.into_iter().chain(username).collect();
        let estimate = zxcvbn::zxcvbn(&raw, &inputs);
        if u8::from(estimate.score()) < MIN_STRENGTH {
            let hint = estimate
                .feedback()
                .and_then(|f| {
                    f.warning()
                        .map(|w| w.to_string())
                        .or_else(|| f.suggestions().first().map(|s| s.to_string()))
                })
                .unwrap_or_else(|| "Use a longer phrase of uncommon words.".to_owned());
            return Err(weak(format!("The password is too easy to guess. {hint}")));
        }
        Ok(Password(raw))
    }

    /// A password offered to prove an identity: no policy applies (it was set under older
    /// rules, or is a guess), only the length cap that bounds hashing work. `None` for one
    /// that cannot be any stored password.
    pub fn offered(raw: Zeroizing<String>) -> Option<Self> {
        (raw.chars().count() <= MAX_CHARS && !raw.is_empty()).then_some(Password(raw))
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
        assert!(parse("Quartz-Eel-9", None, None).is_ok());
        let random: String = (0..6).map(|_| ulid::Ulid::generate().to_string()).collect();
        assert!(parse(&random[..MAX_CHARS], None, None).is_ok());
        assert!(parse(&"é".repeat(MAX_CHARS + 1), None, None).is_err());
    }

    #[test]
    fn the_password_may_not_be_the_email_or_username() {
        assert!(parse("Ana@Example.com", Some("ana@example.com"), None).is_err());
        assert!(parse("AnaSilva99", None, Some("anasilva99")).is_err());
        assert!(parse("correct horse", Some("ana@example.com"), Some("ana")).is_ok());
    }

    #[test]
    fn common_and_guessable_passwords_are_too_weak() {
        for pw in [
            "password123",
            "qwertyuiop",
            "iloveyou2",
            "aaaaaaaaaaaa",
            "ana@example.com1",
        ] {
            let err = parse(pw, Some("ana@example.com"), None).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Invalid {
                        code: "password_too_weak",
                        ..
                    }
                ),
                "{pw}"
            );
        }
        assert!(parse("correct horse battery", Some("ana@example.com"), None).is_ok());
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let pw = parse("hunter2-Quartz-Eel", None, None).unwrap();
        assert!(!format!("{pw:?}").contains("hunter2"));
        let hash = PasswordHash::from_phc("$argon2id$v=19$secret".into());
        assert!(!format!("{hash:?}").contains("secret"));
    }
}
