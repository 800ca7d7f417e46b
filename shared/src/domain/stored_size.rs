//! How many bytes a JSON value takes once stored, by DynamoDB's own item-size rules, so the
//! caps that keep a user inside one 400 KB item measure what DynamoDB measures: a number array
//! is half again as large stored as its JSON, an empty string a third. The rules and the
//! budget they serve are in docs/data-model.md ("Item size").

use serde_json::Value;

/// The largest item DynamoDB stores: 400 KB, attribute names included.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// Bytes of `value` stored as an attribute named `name`.
pub fn attribute(name: &str, value: &Value) -> usize {
    name.len() + value_size(value)
}

/// Bytes of `value` stored, without the name of the attribute holding it: strings by their
/// UTF-8 bytes, numbers one byte per two significant digits plus one, booleans and nulls one
/// byte, lists and maps three bytes plus one per element (a map's element adds its key).
pub fn value_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 1,
        Value::String(s) => s.len(),
        Value::Number(n) => number_size(&n.to_string()),
        Value::Array(items) => 3 + items.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        Value::Object(map) => {
            3 + map
                .iter()
                .map(|(k, v)| k.len() + value_size(v) + 1)
                .sum::<usize>()
        }
    }
}

/// A number written in decimal (`-12.50`, `3e8`): leading and trailing zeros do not count.
pub fn number_size(decimal: &str) -> usize {
    let mantissa = decimal.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_count_significant_digits_in_pairs() {
        assert_eq!(number_size("0"), 1);
        assert_eq!(number_size("7"), 2);
        assert_eq!(number_size("-12.50"), 3);
        assert_eq!(number_size("1234567"), 5);
        assert_eq!(number_size("3000e8"), 2);
    }

    #[test]
    fn lists_and_maps_cost_their_overheads() {
        assert_eq!(value_size(&json!([])), 3);
        assert_eq!(value_size(&json!([0, 0])), 3 + 2 * (1 + 1));
        assert_eq!(value_size(&json!({"ab": "xyz"})), 3 + 2 + 3 + 1);
        assert_eq!(attribute("k", &json!(null)), 2);
    }

    #[test]
    fn a_number_array_is_larger_stored_than_as_json() {
        let sevens = Value::Array(vec![json!(7); 1000]);
        let json = serde_json::to_vec(&sevens).unwrap().len();
        assert!(value_size(&sevens) > json * 3 / 2 - 10);
    }
}
