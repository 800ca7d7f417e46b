//! Request bodies: strict JSON into typed structs, with messages a developer can act on.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use zeroize::Zeroizing;

use super::Error;

/// Parses a JSON body. Malformed JSON is `invalid_json`; valid JSON of the wrong shape
/// (unknown field, wrong type, duplicate key) is `invalid_body`. The message names the field
/// and position, never more of the input than the part that was wrong.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid(
            "invalid_json",
            "The request needs a JSON body.",
        ));
    }
    // serde also fills a struct from a JSON array, positionally; only objects are bodies here.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => Error::invalid("invalid_body", "The body must be a JSON object."),
                Err(e) => {
                    Error::invalid("invalid_json", format!("The body is not valid JSON: {e}."))
                }
            },
        );
    }
    let parsed = serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => {
                Error::invalid("invalid_body", format!("The body does not fit: {e}."))
            }
            Category::Syntax | Category::Eof | Category::Io => {
                Error::invalid("invalid_json", format!("The body is not valid JSON: {e}."))
            }
        }
    })?;
    // Syntax is known good here, so the scan only looks for what serde lets through.
    scan(body)?;
    Ok(parsed)
}

/// What a JSON body may not hold although serde would take it, checked on the text as sent:
/// a key twice in one object (serde keeps the last one of a map quietly), and a number a
/// double cannot hold as written (serde would round it, and so would every JavaScript client
/// that reads it back; docs/api.md, "Numbers"). Anything but JSON passes, for the
/// handler's parser to refuse in its own words.
pub fn strict(body: &[u8]) -> Result<(), Error> {
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
        return Ok(());
    }
    scan(body)
}

/// [`strict`] on a body known to be JSON.
fn scan(body: &[u8]) -> Result<(), Error> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Ok(());
    };
    let bytes = text.as_bytes();
    // One set of keys per open object; `None` for an open array.
    let mut open: Vec<Option<std::collections::HashSet<String>>> = Vec::new();
    let mut expect_key = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                open.push(Some(Default::default()));
                expect_key = true;
                i += 1;
            }
            b'[' => {
                open.push(None);
                i += 1;
            }
            b'}' | b']' => {
                open.pop();
                i += 1;
            }
            b',' => {
                expect_key = matches!(open.last(), Some(Some(_)));
                i += 1;
            }
            b'"' => {
                let end = string_end(bytes, i);
                if expect_key {
                    let key: String = serde_json::from_str(&text[i..end]).unwrap_or_default();
                    if let Some(Some(keys)) = open.last_mut()
                        && !keys.insert(key)
                    {
                        return Err(Error::body(format!(
                            "The body names a key twice in one object (at byte {i})."
                        )));
                    }
                    expect_key = false;
                }
                i = end;
            }
            b'-' | b'0'..=b'9' => {
                let end = i + bytes[i..]
                    .iter()
                    .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .unwrap_or(bytes.len() - i);
                if !exact(&text[i..end]) {
                    return Err(Error::body(format!(
                        "The number at byte {i} has more precision than a double holds; send at most 15 significant digits, or the value as a string."
                    )));
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// The index just past the string that opens at `start`.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Whether serde's reading of the JSON number `literal` is the number as written: any
/// integer that fits 64 bits, else a double whose shortest form has the same digits.
fn exact(literal: &str) -> bool {
    if literal.parse::<i64>().is_ok() || literal.parse::<u64>().is_ok() {
        return true;
    }
    let Ok(value) = literal.parse::<f64>() else {
        return false;
    };
    value.is_finite() && decimal(literal) == decimal(&format!("{value:e}"))
}

/// A decimal literal as its significant digits and the power of ten of the last of them;
/// zero is no digits. `1.50e2` and `150` are both ("15", 1).
fn decimal(literal: &str) -> (bool, String, i64) {
    let (mantissa, exponent) = match literal.find(['e', 'E']) {
        Some(at) => (
            &literal[..at],
            literal[at + 1..].parse::<i64>().unwrap_or(0),
        ),
        None => (literal, 0),
    };
    let negative = mantissa.starts_with('-');
    let mantissa = mantissa.trim_start_matches('-');
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    let trimmed = digits.trim_end_matches('0');
    let power = exponent - fraction.len() as i64 + (digits.len() - trimmed.len()) as i64;
    let trimmed = trimmed.trim_start_matches('0');
    if trimmed.is_empty() {
        return (false, String::new(), 0);
    }
    (negative, trimmed.to_owned(), power)
}

/// A secret string field. A value of the wrong type is refused with a fixed message: serde's
/// own would quote the value back.
pub fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Zeroizing<String>>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(Zeroizing::new(s))),
        Some(_) => Err(D::Error::custom("password must be a string")),
    }
}

/// [`secret`] for a PATCH field, where `null` and absent differ.
pub fn tri_secret<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Zeroizing<String>>>, D::Error> {
    secret(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Error;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        #[serde(default, deserialize_with = "secret")]
        password: Option<Zeroizing<String>>,
    }

    #[test]
    fn a_wrongly_typed_secret_is_not_quoted_back() {
        let err = parse_body::<Body>(br#"{"password": 12345678}"#).unwrap_err();
        let Error::Invalid { code, message } = err else {
            panic!()
        };
        assert_eq!(code, "invalid_body");
        assert!(
            message.contains("password must be a string") && !message.contains("12345678"),
            "{message}"
        );
    }

    fn refused(body: &str) -> bool {
        matches!(
            parse_body::<Value>(body.as_bytes()),
            Err(Error::Invalid {
                code: "invalid_body",
                ..
            })
        )
    }

    #[test]
    fn a_key_twice_in_any_object_is_refused() {
        assert!(refused(r#"{"a": 1, "a": 2}"#));
        assert!(refused(r#"{"m": {"x": [{"k": 1, "\u006b": 2}]}}"#));
        assert!(!refused(
            r#"{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}], "s": "\"a\", \"a\""}"#
        ));
    }

    #[test]
    fn numbers_are_refused_when_a_double_would_change_them() {
        for exact in [
            "0",
            "-0.0",
            "1.5",
            "100.000",
            "1e38",
            "1E+38",
            "1e-130",
            "9.99999999999999e125",
            "18446744073709551615",
            "-9223372036854775808",
            "0.1",
            "123456789012345680000",
            "9007199254740993",
        ] {
            assert!(!refused(&format!(r#"{{"n": {exact}}}"#)), "{exact}");
        }
        for inexact in [
            "12345678901234567890123",
            "18446744073709551616",
            "0.12345678901234567891",
            "9007199254740993.5",
            "9.99999999999999999e-131",
            "-9223372036854775809",
        ] {
            assert!(refused(&format!(r#"{{"n": [{inexact}]}}"#)), "{inexact}");
        }
    }

    #[test]
    fn arrays_are_not_bodies() {
        assert!(matches!(
            parse_body::<Body>(b"[]"),
            Err(Error::Invalid {
                code: "invalid_body",
                ..
            })
        ));
        assert!(matches!(
            parse_body::<Body>(b"[1"),
            Err(Error::Invalid {
                code: "invalid_json",
                ..
            })
        ));
    }
}
