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
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => {
                Error::invalid("invalid_body", format!("The body does not fit: {e}."))
            }
            Category::Syntax | Category::Eof | Category::Io => {
                Error::invalid("invalid_json", format!("The body is not valid JSON: {e}."))
            }
        }
    })
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
