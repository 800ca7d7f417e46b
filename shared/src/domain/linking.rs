//! Account linking: one profile for several identities.
//!
//! Linking moves a secondary user into a primary: the secondary stops existing as a user and
//! its identity joins the primary's `identities`, carrying the secondary's profile fields
//! (`profile_data`), both of its metadata objects, and what it takes to restore it
//! (`standalone`). Unlinking gives that user back with the id, profile, metadata, login
//! history and password it had, at a version above any it had before.
//!
//! Rules, each a 4xx that changes nothing:
//! - only users of the path's tenant are ever read, so another tenant's user is not found;
//! - not with itself (400 `cannot_link_self`);
//! - a secondary that has linked identities of its own is refused (409
//!   `secondary_has_identities`): unlink them first, so no identity is moved twice;
//! - an identity already linked into a user is refused (409 `identity_already_linked`);
//! - an unverified email on either side is refused (409 `unverified_email`) unless the body
//!   says `"allow_unverified": true`: linking on an address nobody proved is how accounts
//!   are taken over. A side without an email has nothing unverified;
//! - an admin-blocked secondary (409 `secondary_blocked`) is refused, since linking would lift the
//!   block, and so is either side scheduled for deletion (409 `deletion_scheduled`), since
//!   linking would cancel one deletion or widen the other;
//! - a secondary under a brute-force block is refused (409 `secondary_locked`): linking would
//!   reset the lock someone guessing its password is held by; clear the blocks first;
//! - at most [`MAX_IDENTITIES`] identities per user (409 `too_many_identities`), and the
//!   linked identities must stay below [`MAX_LINKED_BYTES`] (409 `profile_too_large`).
//!
//! What happens to the secondary's other items: its password moves with its identity (the
//! linked database identity still signs in, as the primary); its email, username and identity
//! guards are re-pointed to the primary in the same transaction as the profiles, each
//! conditional on its owner, with both users' versions checked. Its tickets, queued email,
//! send counters and brute-force counters (and so its blocks) are removed: they were issued
//! to or counted against a user that no longer exists, and the primary's own counters now
//! guard every identity it holds.
//!
//! A linked database identity keeps its own password: its email or username signs in with
//! it (as the primary), and a reset or a password-change ticket asked for by its address
//! changes that password, not the primary's. `POST /me/password` and an admin PATCH of
//! `password` change the primary's own.

use serde::Deserialize;
use serde_json::Value;

use super::Error;
use super::ids::{Connection, ProviderUserId, UserId};
use super::json;
use super::stored_size;
use super::time::Timestamp;
use super::user::{Identity, ProfileData, Standalone, User};

/// Most identities one user holds, its own included. It bounds the item (and the erasure
/// transaction, which removes up to three guards per identity).
pub const MAX_IDENTITIES: usize = 10;

/// Largest size of the identities linked into a user, as DynamoDB measures them stored.
/// DynamoDB items stop at 400 KB and the user's own fields may grow to about 225 KB (both
/// metadata objects full), so every write to the user still fits whatever its metadata does
/// later (the budget: docs/data-model.md, "Item size").
pub const MAX_LINKED_BYTES: usize = 150 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct LinkBody {
    provider: Option<String>,
    user_id: Option<String>,
    link_with: Option<String>,
    allow_unverified: Option<bool>,
}

/// How the body names the user to link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secondary {
    User(UserId),
    Identity {
        provider: Connection,
        user_id: ProviderUserId,
    },
}

/// `POST /users/{user_id}/identities`.
#[derive(Debug, Clone)]
pub struct LinkRequest {
    pub secondary: Secondary,
    pub allow_unverified: bool,
}

impl LinkRequest {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let b: LinkBody = json::parse_body(body)?;
        let secondary = match (b.link_with, b.provider, b.user_id) {
            (Some(id), None, None) => Secondary::User(UserId::parse(&id)?),
            (None, Some(provider), Some(user_id)) => Secondary::Identity {
                provider: parse_provider(&provider)?,
                user_id: ProviderUserId::parse(&user_id)?,
            },
            _ => {
                return Err(Error::body(
                    "Name the user to link with link_with (its user_id), or with provider and user_id (its identity), not both.",
                ));
            }
        };
        Ok(LinkRequest {
            secondary,
            allow_unverified: b.allow_unverified.unwrap_or(false),
        })
    }
}

/// A provider name, as identities carry it: the connection's name.
pub fn parse_provider(raw: &str) -> Result<Connection, Error> {
    Connection::parse(raw).map_err(|_| {
        Error::invalid(
            "invalid_provider",
            "provider must be 1 to 64 characters of a-z, 0-9 and '-'.",
        )
    })
}

pub fn conflict(code: &'static str, message: impl Into<String>) -> Error {
    Error::Conflict {
        code,
        message: message.into(),
    }
}

pub fn identity_not_found() -> Error {
    Error::NotFound {
        code: "identity_not_found",
        message: "No user has this identity.".into(),
    }
}

/// Why `secondary` cannot be linked into `primary`, if it cannot.
pub fn refusal(primary: &User, secondary: &User, allow_unverified: bool) -> Option<Error> {
    if primary.user_id == secondary.user_id {
        return Some(Error::invalid(
            "cannot_link_self",
            "A user cannot be linked with itself.",
        ));
    }
    if secondary.identities.len() > 1 {
        return Some(conflict(
            "secondary_has_identities",
            "The user to link has linked identities of its own; unlink them first.",
        ));
    }
    if secondary.blocked {
        return Some(conflict(
            "secondary_blocked",
            "The user to link is blocked; linking would lift the block. Unblock it first.",
        ));
    }
    if primary.deletion_scheduled_at.is_some() || secondary.deletion_scheduled_at.is_some() {
        return Some(conflict(
            "deletion_scheduled",
            "One of the users is scheduled for deletion; cancel that first.",
        ));
    }
    let unverified = |u: &User| u.email.is_some() && !u.email_verified;
    if !allow_unverified && (unverified(primary) || unverified(secondary)) {
        return Some(conflict(
            "unverified_email",
            "Both users' emails must be verified to link them; set allow_unverified to link anyway.",
        ));
    }
    if primary.identities.len() >= MAX_IDENTITIES {
        return Some(conflict(
            "too_many_identities",
            format!("A user holds at most {MAX_IDENTITIES} identities."),
        ));
    }
    None
}

/// `primary` holding `secondary`'s identity, with everything needed to give it back.
pub fn linked(primary: &User, secondary: &User, now: Timestamp) -> User {
    let own = &secondary.identities[0];
    let identity = Identity {
        connection: own.connection.clone(),
        provider: own.provider.clone(),
        user_id: own.user_id.clone(),
        is_social: own.is_social,
        profile_data: Some(ProfileData {
            email: secondary.email.clone(),
            email_verified: secondary.email_verified,
            username: secondary.username.clone(),
            phone_number: secondary.phone_number.clone(),
            phone_verified: secondary.phone_verified,
            name: secondary.name.clone(),
            given_name: secondary.given_name.clone(),
            family_name: secondary.family_name.clone(),
            nickname: secondary.nickname.clone(),
            picture: secondary.picture.clone(),
        }),
        user_metadata: Some(secondary.user_metadata.clone()),
        app_metadata: Some(secondary.app_metadata.clone()),
        linked_at: Some(now),
        standalone: Some(Standalone {
            user_id: secondary.user_id,
            created_at: secondary.created_at,
            last_login: secondary.last_login,
            logins_count: secondary.logins_count,
            last_password_reset: secondary.last_password_reset,
            version: secondary.version,
        }),
    };
    let mut next = primary.clone();
    next.identities.push(identity);
    next.updated_at = now;
    next.version += 1;
    next
}

/// `primary` without its identity at `index`, and the standalone user that identity becomes.
pub fn unlinked(primary: &User, index: usize, now: Timestamp) -> Result<(User, User), Error> {
    let mut next = primary.clone();
    let identity = next.identities.remove(index);
    let standalone = identity
        .standalone
        .ok_or_else(|| Error::internal("a linked identity has no standalone record to restore"))?;
    let own = Identity {
        connection: identity.connection,
        provider: identity.provider,
        user_id: identity.user_id,
        is_social: identity.is_social,
        profile_data: None,
        user_metadata: None,
        app_metadata: None,
        linked_at: None,
        standalone: None,
    };
    let mut user = User::new(
        standalone.user_id,
        primary.tenant_id.clone(),
        own,
        standalone.created_at,
    );
    let p = identity.profile_data.unwrap_or_default();
    user.email = p.email;
    user.email_verified = p.email_verified;
    user.username = p.username;
    user.phone_number = p.phone_number;
    user.phone_verified = p.phone_verified;
    user.name = p.name;
    user.given_name = p.given_name;
    user.family_name = p.family_name;
    user.nickname = p.nickname;
    user.picture = p.picture;
    user.user_metadata = identity.user_metadata.unwrap_or_default();
    user.app_metadata = identity.app_metadata.unwrap_or_default();
    user.last_login = standalone.last_login;
    user.logins_count = standalone.logins_count;
    user.last_password_reset = standalone.last_password_reset;
    user.updated_at = now;
    user.version = standalone.version + 1;
    next.updated_at = now;
    next.version += 1;
    Ok((next, user))
}

/// The identities as a management caller sees them.
pub fn identities_json(user: &User) -> Value {
    user.to_admin_json()
        .get("identities")
        .cloned()
        .unwrap_or(Value::Null)
}

/// Whether the identities linked into `user` exceed [`MAX_LINKED_BYTES`].
pub fn too_large(user: &User) -> bool {
    serde_json::to_value(&user.identities[1..]).map_or(true, |v| {
        stored_size::attribute("identities", &v) > MAX_LINKED_BYTES
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::user::fixtures;

    fn social() -> User {
        let mut user = fixtures::user();
        user.identities = vec![Identity::social(
            Connection::parse("google-oauth2").unwrap(),
            "10876".into(),
        )];
        user.email_verified = true;
        user.user_metadata.insert("theme".into(), "dark".into());
        user.logins_count = 7;
        user.version = 5;
        user
    }

    #[test]
    fn a_user_at_every_cap_fits_one_item_with_room_to_spare() {
        use crate::domain::metadata::{MAX_KEYS, MAX_VALUE_BYTES, Metadata};
        use crate::domain::profile::{MAX_NAME_CHARS, MAX_URL_BYTES, MAX_USERNAME_CHARS};
        let mut user = social();
        // Each number two bytes stored and each element one: the longest list the cap allows.
        let value = Value::Array(vec![Value::from(7); (MAX_VALUE_BYTES - 3) / 3]);
        assert!(stored_size::value_size(&value) <= MAX_VALUE_BYTES);
        let full: Metadata = (0..MAX_KEYS)
            .map(|i| (format!("{i:0>64}"), value.clone()))
            .collect();
        user.user_metadata = full.clone();
        user.app_metadata = full;
        let long = "\u{1F600}".repeat(MAX_NAME_CHARS);
        for field in [
            &mut user.name,
            &mut user.given_name,
            &mut user.family_name,
            &mut user.nickname,
        ] {
            *field = Some(long.clone());
        }
        user.picture = Some("p".repeat(MAX_URL_BYTES));
        user.username = Some("\u{1F600}".repeat(MAX_USERNAME_CHARS));
        user.email = Some(format!("{}@{}", "a".repeat(64), "b".repeat(189)));
        user.pending_email = user.email.clone();
        let own = stored_size::value_size(&serde_json::to_value(&user).unwrap());
        // Keys, indexes' attributes and the version: well under a kilobyte.
        let keys = 1024;
        assert!(
            own + MAX_LINKED_BYTES + keys <= stored_size::MAX_ITEM_BYTES - 16 * 1024,
            "{own} bytes of own fields"
        );
    }

    #[test]
    fn the_body_names_the_secondary_one_way_only() {
        let by_id =
            LinkRequest::parse(br#"{"link_with": "usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1"}"#).unwrap();
        assert!(matches!(by_id.secondary, Secondary::User(_)));
        assert!(!by_id.allow_unverified);
        let by_identity = LinkRequest::parse(
            br#"{"provider": "google-oauth2", "user_id": "10876", "allow_unverified": true}"#,
        )
        .unwrap();
        assert!(by_identity.allow_unverified);
        for bad in [
            r#"{}"#,
            r#"{"provider": "google-oauth2"}"#,
            r#"{"link_with": "usr_01JDQ8Z6V3N4W5X6Y7Z8A9B0C1", "provider": "x", "user_id": "1"}"#,
            r#"{"provider": "Google", "user_id": "1"}"#,
            r#"{"link_with": "auth0|1"}"#,
            r#"{"provider": "x", "user_id": "1", "connection_id": "c"}"#,
        ] {
            assert!(LinkRequest::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn unlinking_gives_back_the_user_that_was_linked() {
        let mut primary = fixtures::user();
        primary.email_verified = true;
        let secondary = social();
        let now = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
        let next = linked(&primary, &secondary, now);
        assert_eq!(next.identities.len(), 2);
        assert_eq!(next.version, primary.version + 1);
        assert_eq!(next.user_metadata, primary.user_metadata);
        let (back, restored) = unlinked(&next, 1, now).unwrap();
        assert_eq!(back.identities, primary.identities);
        assert_eq!(restored.user_id, secondary.user_id);
        assert_eq!(restored.user_metadata, secondary.user_metadata);
        assert_eq!(restored.app_metadata, secondary.app_metadata);
        assert_eq!(restored.email, secondary.email);
        assert_eq!(restored.logins_count, 7);
        assert_eq!(restored.identities, secondary.identities);
        assert_eq!(restored.version, 6);
    }

    #[test]
    fn an_unverified_side_is_refused_unless_allowed() {
        let mut primary = fixtures::user();
        primary.email_verified = false;
        let secondary = social();
        let refused = refusal(&primary, &secondary, false).unwrap();
        assert!(matches!(
            refused,
            Error::Conflict {
                code: "unverified_email",
                ..
            }
        ));
        assert!(refusal(&primary, &secondary, true).is_none());
        primary.email = None;
        assert!(refusal(&primary, &secondary, false).is_none());
    }

    #[test]
    fn the_self_view_hides_a_linked_identitys_app_metadata() {
        let mut primary = fixtures::user();
        primary.email_verified = true;
        let mut secondary = social();
        secondary
            .app_metadata
            .insert("secret_plan".into(), "gold".into());
        let next = linked(&primary, &secondary, primary.created_at);
        let own = next.to_self_json().to_string();
        assert!(!own.contains("secret_plan"));
        assert!(own.contains("dark"));
        assert!(next.to_admin_json().to_string().contains("secret_plan"));
    }
}
