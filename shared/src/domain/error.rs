use std::fmt;

/// Every failure an operation can report. The HTTP glue maps each variant to one status code
/// in one place; `Internal` and `Unavailable` carry a cause for the log, never for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// 400: the request is malformed or breaks a rule. Nothing was changed.
    Invalid { code: &'static str, message: String },
    /// 401: no verified identity reached the handler, or credentials were wrong.
    Unauthenticated { code: &'static str, message: String },
    /// 403: the caller is known but may not do this.
    Forbidden { code: &'static str, message: String },
    /// 404
    NotFound { code: &'static str, message: String },
    /// 409
    Conflict { code: &'static str, message: String },
    /// 412: `If-Match` named a version that is not the current one.
    PreconditionFailed { message: String },
    /// 413
    PayloadTooLarge { message: String },
    /// 415
    UnsupportedMediaType { message: String },
    /// 429: an attack-protection block is active; retry after this many seconds.
    TooManyAttempts { retry_after_secs: u64 },
    /// 429: a rate limit (such as a send cap) is reached; retry after this many seconds.
    TooManyRequests {
        retry_after_secs: u64,
        message: String,
    },
    /// 503: the store throttled us or a write kept losing races; safe to retry.
    Unavailable { cause: String },
    /// 500: a bug or an unexpected dependency failure.
    Internal { cause: String },
}

impl Error {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn body(message: impl Into<String>) -> Self {
        Error::invalid("invalid_body", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden {
            code: "insufficient_scope",
            message: message.into(),
        }
    }

    pub fn user_not_found() -> Self {
        Error::NotFound {
            code: "user_not_found",
            message: "The user does not exist.".into(),
        }
    }

    /// What a caller sees for a tenant that is not its own: the same answer as for a path
    /// that does not exist, so nothing about the other tenant leaks.
    pub fn not_found() -> Self {
        Error::NotFound {
            code: "not_found",
            message: "The resource does not exist.".into(),
        }
    }

    /// The one answer for an unknown user and a wrong password alike.
    pub fn invalid_credentials() -> Self {
        Error::Unauthenticated {
            code: "invalid_credentials",
            message: "Wrong email, username or password.".into(),
        }
    }

    pub fn no_email() -> Self {
        Error::invalid("no_email", "The user has no email address to verify.")
    }

    pub fn user_exists(message: impl Into<String>) -> Self {
        Error::Conflict {
            code: "user_exists",
            message: message.into(),
        }
    }

    /// 503, retry shortly: the store throttled, or a write kept losing races.
    pub fn unavailable(cause: impl fmt::Display) -> Self {
        Error::Unavailable {
            cause: cause.to_string(),
        }
    }

    pub fn internal(cause: impl fmt::Display) -> Self {
        Error::Internal {
            cause: cause.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooManyAttempts { retry_after_secs } => {
                write!(
                    f,
                    "Too many failed attempts; retry in {retry_after_secs} s."
                )
            }
            Error::Invalid { message, .. }
            | Error::TooManyRequests { message, .. }
            | Error::Unauthenticated { message, .. }
            | Error::Forbidden { message, .. }
            | Error::NotFound { message, .. }
            | Error::Conflict { message, .. }
            | Error::PreconditionFailed { message }
            | Error::PayloadTooLarge { message }
            | Error::UnsupportedMediaType { message } => f.write_str(message),
            Error::Unavailable { cause } | Error::Internal { cause } => f.write_str(cause),
        }
    }
}

impl std::error::Error for Error {}
