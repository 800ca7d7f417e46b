//! What template.yaml's names mean to the build.

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
