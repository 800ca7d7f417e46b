//! Idempotency keys: a POST that names one (`Idempotency-Key`) takes effect once. Its first
//! answer is kept a day and given again to a retry with the same key and body; the same key
//! with another body, or while the first is still running, is refused. Rules and routes:
//! docs/api.md ("Idempotency keys").
//!
//! A key is the caller's: its record is found by a digest of the tenant, the token's subject
//! and the key, so one caller's key never meets another's. The answer it keeps (a user, a
//! ticket's link) is sealed under a second digest of the same, which only the caller can make:
//! the table never holds a readable answer, nor a raw ticket.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Error;
use super::ids::{TenantId, UserId};
use super::time::Timestamp;

/// How long a key's answer is kept.
pub const KEEP_SECS: i64 = 24 * 3600;
/// How long a request holds its key before another may take it over: longer than any API
/// function runs, so a holder past it has surely stopped.
pub const LEASE_SECS: i64 = 60;
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// A caller's key, as its record is found and its answer sealed.
pub struct IdempotencyKey {
    id: String,
    seal: [u8; 32],
}

impl IdempotencyKey {
    /// A key as the header gives it: 1 to [`MAX_KEY_LEN`] visible ASCII characters (a UUID is
    /// what clients usually send), for `tenant` and the token's `subject`.
    pub fn parse(raw: &str, tenant: &TenantId, subject: &str) -> Result<Self, Error> {
        let ok =
            (1..=MAX_KEY_LEN).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(Error::invalid(
                "invalid_header",
                format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters."),
            ));
        }
        let digest = |purpose: &str| -> [u8; 32] {
            let mut h = Sha256::new();
            for part in [purpose, tenant.as_str(), subject, raw] {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part.as_bytes());
            }
            h.finalize().into()
        };
        let id: String = digest("record")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(IdempotencyKey {
            id,
            seal: digest("seal"),
        })
    }

    /// What the record is stored under.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `answer`, sealed (ChaCha20-Poly1305, a fresh nonce), as text to store.
    pub fn seal(&self, answer: &Answer) -> Result<String, Error> {
        let plain =
            serde_json::to_vec(answer).map_err(|e| Error::internal(format!("answer: {e}")))?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| Error::internal(format!("randomness: {e}")))?;
        let mut sealed = plain;
        self.cipher()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut sealed,
            )
            .map_err(|_| Error::internal("sealing an answer failed"))?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// A sealed answer, opened; an error if it was not sealed under this key.
    pub fn open(&self, sealed: &str) -> Result<Answer, Error> {
        let unreadable = || Error::internal("a kept answer does not open");
        let raw = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| unreadable())?;
        if raw.len() < NONCE_LEN {
            return Err(unreadable());
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unreadable())?;
        let mut rest = rest.to_vec();
        let plain = self
            .cipher()
            .open_in_place(nonce, Aad::empty(), &mut rest)
            .map_err(|_| unreadable())?;
        serde_json::from_slice(plain).map_err(|_| unreadable())
    }

    fn cipher(&self) -> LessSafeKey {
        LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, &self.seal).expect("a 32-byte key fits ChaCha20"),
        )
    }
}

/// What makes two requests "the same": the route and the body, byte for byte.
pub fn fingerprint(route: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update((route.len() as u64).to_be_bytes());
    h.update(route.as_bytes());
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// An answer as it is kept and given again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub status: u16,
    /// The JSON body, as sent.
    pub body: Option<String>,
    /// The headers that describe the result (`Location`, `ETag`).
    pub headers: Vec<(String, String)>,
}

/// Where a key stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A request holds it until `lease_until`.
    InFlight {
        fingerprint: String,
        lease_until: Timestamp,
    },
    /// The create it guards committed `user_id`; its answer was not kept yet.
    Committed {
        fingerprint: String,
        user_id: UserId,
    },
    /// Its answer, sealed.
    Done { fingerprint: String, sealed: String },
}

impl Record {
    pub fn fingerprint(&self) -> &str {
        match self {
            Record::InFlight { fingerprint, .. }
            | Record::Committed { fingerprint, .. }
            | Record::Done { fingerprint, .. } => fingerprint,
        }
    }
}

/// A create's share of a key: the record its transaction marks committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub tenant: TenantId,
    pub id: String,
    pub fingerprint: String,
}

pub fn reused() -> Error {
    Error::Conflict {
        code: "idempotency_key_reused",
        message: "This Idempotency-Key was used with another request: use a new key.".into(),
    }
}

pub fn in_flight() -> Error {
    Error::Conflict {
        code: "idempotency_key_in_flight",
        message: "A request with this Idempotency-Key is still running; retry shortly.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str, subject: &str) -> IdempotencyKey {
        IdempotencyKey::parse(raw, &TenantId::parse("acme").unwrap(), subject).unwrap()
    }

    #[test]
    fn a_key_is_its_callers_and_seals_what_only_it_opens() {
        let mine = key("8e1f7a3c-0b5d-4e7a-9c2f-1d3b5a7c9e0f", "svc@clients");
        let theirs = key("8e1f7a3c-0b5d-4e7a-9c2f-1d3b5a7c9e0f", "other@clients");
        assert_ne!(mine.id(), theirs.id());
        let answer = Answer {
            status: 201,
            body: Some(r#"{"ticket":"https://id.example.com/x?ticket=secret"}"#.into()),
            headers: vec![("etag".into(), "\"1\"".into())],
        };
        let sealed = mine.seal(&answer).unwrap();
        assert!(!sealed.contains("secret") && !sealed.contains("ticket"));
        assert_eq!(mine.open(&sealed).unwrap(), answer);
        assert!(theirs.open(&sealed).is_err());
        assert_ne!(
            mine.seal(&answer).unwrap(),
            sealed,
            "a fresh nonce each time"
        );
    }

    #[test]
    fn keys_are_visible_ascii_of_a_sane_length() {
        let t = TenantId::parse("acme").unwrap();
        for bad in ["", "has space", "tab\t", "é", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad, &t, "s").is_err(), "{bad:?}");
        }
        assert!(IdempotencyKey::parse(&"k".repeat(255), &t, "s").is_ok());
    }

    #[test]
    fn the_same_request_has_the_same_fingerprint() {
        let a = fingerprint(
            "POST /v1/tenants/{tenant_id}/users",
            b"{\"email\":\"a@b.c\"}",
        );
        assert_eq!(
            a,
            fingerprint(
                "POST /v1/tenants/{tenant_id}/users",
                b"{\"email\":\"a@b.c\"}"
            )
        );
        assert_ne!(
            a,
            fingerprint(
                "POST /v1/tenants/{tenant_id}/users",
                b"{\"email\":\"x@b.c\"}"
            )
        );
        assert_ne!(
            a,
            fingerprint("POST /api/v2/users", b"{\"email\":\"a@b.c\"}")
        );
    }
}
