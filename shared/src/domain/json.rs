//! Request bodies: strict JSON into typed structs, with messages a developer can act on.

use serde::de::DeserializeOwned;

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
