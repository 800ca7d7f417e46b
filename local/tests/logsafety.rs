//! Every log line the test suite made, read after it: none may carry a password, a password
//! hash, a ticket, a token or a whole email address (addresses are logged masked,
//! `a**@example.com`). The integration tests' processes and the Lambda processes the runtime
//! tests start write their lines under `LOG_CAPTURE_DIR`; `make test` runs this after them
//! (docs/testing.md, "Log safety").

use std::path::Path;

use regex::Regex;

/// Every password the suites send: string literals given as a password, read from their
/// sources, so a new test's password is checked without a list to keep.
fn passwords() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let literal = Regex::new(
        r#"(?i)(?:password\w*"?\s*[:=,]\s*(?:&str\s*=\s*)?|passphrase\w*\s*=\s*)"([^"\\]{8,})""#,
    )
    .unwrap();
    let mut found = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.to_string_lossy();
            if path.is_dir() {
                if !name.ends_with("node_modules") {
                    dirs.push(path);
                }
            } else if [".rs", ".py", ".js", ".mjs"]
                .iter()
                .any(|e| name.ends_with(e))
            {
                let text = std::fs::read_to_string(&path).unwrap();
                found.extend(literal.captures_iter(&text).map(|c| c[1].to_owned()));
            }
        }
    }
    // A route segment or field name given where a password could be ("password-reset",
    // "new_password") is no password; passwords in the tests have a space, a digit or a
    // capital.
    found.retain(|p| {
        !p.chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '-')
    });
    found.sort();
    found.dedup();
    found
}

/// What a line may not hold, each with what it is.
fn findings(line: &str, passwords: &[String], patterns: &[(&str, Regex)]) -> Vec<String> {
    let mut out: Vec<String> = patterns
        .iter()
        .flat_map(|(what, re)| {
            re.find_iter(line)
                .map(move |m| format!("{what} {:?}", m.as_str()))
        })
        .collect();
    out.extend(
        passwords
            .iter()
            .filter(|p| line.contains(p.as_str()))
            .map(|p| format!("the password {p:?}")),
    );
    out
}

fn patterns() -> Vec<(&'static str, Regex)> {
    vec![
        ("a password hash", Regex::new(r"\$argon2").unwrap()),
        ("a token", Regex::new(r"eyJ[A-Za-z0-9_-]{8,}\.").unwrap()),
        (
            "a bearer credential",
            Regex::new(r"(?i)bearer\s+[A-Za-z0-9._~+/-]{8,}").unwrap(),
        ),
        // A ticket (and an idempotency or erasure key) is 256 random bits in base64url.
        (
            "a ticket",
            Regex::new(r"(?:^|[^A-Za-z0-9_-])([A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)").unwrap(),
        ),
        // An address whose local part is not masked: `*` is not among the characters taken.
        (
            "an email address",
            Regex::new(
                r"[A-Za-z0-9._%+!#$&'/=?^`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
            )
            .unwrap(),
        ),
    ]
}

#[test]
fn no_log_line_of_the_suite_carries_a_secret_or_an_address() {
    let dir = std::env::var_os("LOG_CAPTURE_DIR").unwrap_or_else(|| {
        panic!("LOG_CAPTURE_DIR is not set: run this test through `make test`, after the suite")
    });
    let passwords = passwords();
    assert!(
        passwords.len() > 5,
        "too few passwords found in the tests: {passwords:?}"
    );
    let patterns = patterns();
    let mut lines = 0;
    let mut leaks = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            lines += 1;
            for finding in findings(line, &passwords, &patterns) {
                leaks.push(format!(
                    "{}:{}: {finding}\n    {line}",
                    path.display(),
                    n + 1
                ));
            }
        }
    }
    assert!(
        lines > 1000,
        "only {lines} log lines were captured in {dir:?}"
    );
    leaks.truncate(40);
    assert!(leaks.is_empty(), "\n{}", leaks.join("\n"));
}

#[test]
fn the_checks_catch_what_they_look_for() {
    let passwords = vec!["correct horse battery".to_owned()];
    let patterns = patterns();
    for leak in [
        r#"{"hash":"$argon2id$v=19$m=19456,t=2,p=1$abc"}"#,
        r#"{"auth":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig"}"#,
        "Authorization: Bearer abcdefgh12345678",
        r#"{"ticket":"Vq3n8Zx0pKc4Lr7Ty2Wm5Hb9Jd1Fs6Ga3Ne8Qu0Xi4O"}"#,
        r#"{"to":"ana@example.com"}"#,
        r#"{"body":"{\"password\":\"correct horse battery\"}"}"#,
    ] {
        assert!(!findings(leak, &passwords, &patterns).is_empty(), "{leak}");
    }
    for fine in [
        r#"{"to":"a**@example.com","request_id":"01M8MX5T7MJKHD2BMNR65NEX32"}"#,
        r#"{"pk":"TENANT#acme#TICKET#5f2b8c0a6d1e4f7a9b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"}"#,
    ] {
        assert!(findings(fine, &passwords, &patterns).is_empty(), "{fine}");
    }
}
