//! The metadata merge: a stored object and a patch, each parsed as the API parses them, then
//! merged under the caps. Nothing may panic, and whenever both parse the merge must keep the
//! documented laws (docs/api.md, "Updating users"); a broken law aborts like a panic.
//!
//! Input: one byte choosing `user_metadata` or `app_metadata`, the stored object's JSON, a
//! 0xFF byte (never part of JSON text), the patch's JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shared::domain::Error;
use shared::domain::metadata::{Kind, MAX_KEYS, Metadata, MetadataPatch, parse_initial};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let kind = if which & 1 == 0 {
        Kind::User
    } else {
        Kind::App
    };
    let (stored, patch) = match rest.iter().position(|b| *b == 0xFF) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&b"{}"[..], rest),
    };
    let Ok(stored) = serde_json::from_slice::<Value>(stored) else {
        return;
    };
    let Ok(patch) = serde_json::from_slice::<Value>(patch) else {
        return;
    };
    // A stored object is one the rules accepted once.
    let Ok(stored) = parse_initial(kind, stored) else {
        return;
    };
    let Ok(parsed) = MetadataPatch::parse(kind, patch.clone()) else {
        return;
    };
    let mut once = stored.clone();
    match parsed.apply(kind, &mut once) {
        Ok(()) => check_laws(kind, &stored, &patch, &parsed, &once),
        Err(Error::Invalid {
            code: "metadata_too_large",
            ..
        }) => assert!(merged_len(&stored, &patch) > MAX_KEYS),
        Err(other) => panic!("a parsed patch failed to apply: {other:?}"),
    }
});

fn check_laws(
    kind: Kind,
    stored: &Metadata,
    patch: &Value,
    parsed: &MetadataPatch,
    once: &Metadata,
) {
    // The result is an object a create would accept: within every cap.
    if let Err(e) = parse_initial(kind, Value::Object(once.clone())) {
        panic!("a merge left metadata the rules refuse: {e:?}");
    }
    // Applying it again changes nothing.
    let mut twice = once.clone();
    parsed
        .apply(kind, &mut twice)
        .expect("a second application failed");
    assert_eq!(&twice, once, "the merge is not idempotent");
    match patch {
        Value::Null => assert!(once.is_empty(), "null left keys"),
        Value::Object(named) => {
            assert_eq!(once.len(), merged_len(stored, patch));
            for (k, v) in named {
                if v.is_null() {
                    assert!(!once.contains_key(k), "{k:?} set to null is still there");
                } else {
                    assert_eq!(
                        once.get(k),
                        Some(v),
                        "{k:?} does not hold the patch's value"
                    );
                }
            }
            for (k, v) in stored {
                if !named.contains_key(k) {
                    assert_eq!(once.get(k), Some(v), "{k:?} was not named and changed");
                }
            }
        }
        other => panic!("a patch of {other} parsed"),
    }
}

/// How many keys the merge should leave.
fn merged_len(stored: &Metadata, patch: &Value) -> usize {
    let Value::Object(named) = patch else {
        return 0;
    };
    let kept = stored.keys().filter(|k| !named.contains_key(*k)).count();
    kept + named.values().filter(|v| !v.is_null()).count()
}
