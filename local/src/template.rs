//! What template.yaml's names mean to the build, which function each `events/` file is for,
//! and what the functions are sized by.

/// The functions that hash or verify passwords (argon2id): their `MemorySize` buys a whole
/// vCPU for the hash, and the cold-start bench does not hold them to the memory budget of
/// the rest (docs/performance.md, "Memory sizes").
pub const HASHING: [&str; 5] = [
    "create-user",
    "patch-user",
    "authenticate",
    "change-password",
    "confirm-password-reset",
];

/// The functions that erase users: only they get the receipt key's secret
/// (`ERASURE_RECEIPT_SECRET`) and may read it, once, at init (docs/erasure.md, "The receipt
/// key").
pub const ERASING: [&str; 2] = ["delete-user", "purge"];

/// Lambda's memory size that comes with one full vCPU.
pub const ONE_VCPU_MB: u64 = 1769;

/// The smallest memory size Lambda offers; every function that does not hash fits in it.
pub const SMALLEST_MB: u64 = 128;

/// The binary (the crate under `functions/`) a function's logical id builds: the id without
/// `Function`, in kebab case, as deploy/Makefile derives it (`GetUserFunction` is
/// `get-user`).
pub fn binary_of(logical_id: &str) -> String {
    let stem = logical_id.strip_suffix("Function").unwrap_or(logical_id);
    let mut binary = String::with_capacity(stem.len() + 4);
    let mut previous: Option<char> = None;
    for c in stem.chars() {
        if c.is_ascii_uppercase()
            && previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
        {
            binary.push('-');
        }
        binary.push(c.to_ascii_lowercase());
        previous = Some(c);
    }
    binary
}

/// The function an `events/` file (named without `.json`) is a sample event of: the file's
/// own name, but for the two of `ses-feedback`, one for each kind of record SES publishes to
/// it.
pub fn function_of_event(file: &str) -> &str {
    match file {
        "ses-bounce" | "ses-complaint" => "ses-feedback",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::binary_of;

    #[test]
    fn a_logical_id_names_its_function_crate_in_kebab_case() {
        assert_eq!(binary_of("GetUserFunction"), "get-user");
        assert_eq!(
            binary_of("CreateEmailVerificationTicketFunction"),
            "create-email-verification-ticket"
        );
        assert_eq!(binary_of("PurgeFunction"), "purge");
    }
}
