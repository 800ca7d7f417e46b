//! The user resource as stored and as returned (DESIGN §4).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::feedback::Undeliverable;
use super::ids::{Connection, TenantId, UserId};
use super::metadata::Metadata;
use super::time::Timestamp;

/// One identity a user signs in with. For `database` users `user_id` is the user's own id;
/// for other connections it is the provider's id.
///
/// The first identity is the user's own. Any other was linked in (see [`super::linking`]): it
/// carries what the standalone user it came from held, so unlinking gives that user back
/// unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub connection: Connection,
    pub provider: String,
    pub user_id: String,
    pub is_social: bool,
    /// The linked user's normalized profile fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_data: Option<ProfileData>,
    /// The linked user's `user_metadata`, kept apart from the primary's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<Metadata>,
    /// The linked user's `app_metadata`, kept apart from the primary's (and, like it, left out
    /// of the self-service view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_metadata: Option<Metadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_at: Option<Timestamp>,
    /// The standalone user this identity was, and becomes again when unlinked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standalone: Option<Standalone>,
}

/// A linked user's normalized profile fields, as Auth0's `profile_data` holds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ProfileData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub phone_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
}

/// The bookkeeping of a linked user that is not profile data: enough to restore it as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standalone {
    pub user_id: UserId,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login: Option<Timestamp>,
    #[serde(default)]
    pub logins_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_password_reset: Option<Timestamp>,
    /// Its version when linked; restored above it, so an `ETag` from before never matches.
    pub version: u64,
}

impl Identity {
    pub fn database(user_id: &UserId) -> Self {
        Identity {
            connection: Connection::database(),
            provider: Connection::DATABASE.to_owned(),
            user_id: user_id.to_string(),
            is_social: false,
            profile_data: None,
            user_metadata: None,
            app_metadata: None,
            linked_at: None,
            standalone: None,
        }
    }

    /// An identity of an external provider, as a new user's own.
    pub fn social(connection: Connection, provider_user_id: String) -> Self {
        Identity {
            provider: connection.as_str().to_owned(),
            connection,
            user_id: provider_user_id,
            is_social: true,
            profile_data: None,
            user_metadata: None,
            app_metadata: None,
            linked_at: None,
            standalone: None,
        }
    }

    pub fn is(&self, provider: &str, user_id: &str) -> bool {
        self.provider == provider && self.user_id == user_id
    }

    /// The email a linked identity brought (a user's own identity has the user's).
    pub fn email(&self) -> Option<&str> {
        self.profile_data.as_ref()?.email.as_deref()
    }

    pub fn username(&self) -> Option<&str> {
        self.profile_data.as_ref()?.username.as_deref()
    }

    /// The id of the database user this identity was, if it was one: its password lives on.
    pub fn linked_database_user(&self) -> Option<UserId> {
        if !self.connection.is_database() {
            return None;
        }
        self.standalone.as_ref().map(|s| s.user_id)
    }
}

/// A user profile. Optional fields that are unset are left out of responses and items alike.
/// It never holds a password hash or a ticket: those live in items of their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    /// Set when the mail provider reported `email` bounced for good or complained of
    /// ([`super::feedback`]): nothing is mailed to it while set. Read-only to every caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_undeliverable: Option<Undeliverable>,
    /// An address the user asked to switch to (`PATCH /me`); it replaces `email` only once
    /// verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub phone_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(default)]
    pub user_metadata: Metadata,
    #[serde(default)]
    pub app_metadata: Metadata,
    #[serde(deserialize_with = "at_least_one")]
    pub identities: Vec<Identity>,
    #[serde(default)]
    pub blocked: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login: Option<Timestamp>,
    #[serde(default)]
    pub logins_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_password_reset: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_scheduled_at: Option<Timestamp>,
    /// When the tenant's inactivity policy last warned the user by email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactivity_warned_at: Option<Timestamp>,
    /// When the scheduled purge next looks at the user under the tenant's policies (see
    /// [`super::erasure`]); bookkeeping, left out of every view of the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_at: Option<Timestamp>,
    pub version: u64,
}

/// Every user has its own identity first; a stored profile without one is refused when read
/// (a 500 with the cause logged) rather than trusted.
fn at_least_one<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Identity>, D::Error> {
    let identities = Vec::<Identity>::deserialize(d)?;
    if identities.is_empty() {
        return Err(serde::de::Error::custom("a user has at least one identity"));
    }
    Ok(identities)
}

impl User {
    /// A new user (version 1) with `identity` as its own and every optional field unset.
    pub fn new(user_id: UserId, tenant_id: TenantId, identity: Identity, now: Timestamp) -> Self {
        User {
            user_id,
            tenant_id,
            email: None,
            email_verified: false,
            email_undeliverable: None,
            pending_email: None,
            username: None,
            phone_number: None,
            phone_verified: false,
            name: None,
            given_name: None,
            family_name: None,
            nickname: None,
            picture: None,
            user_metadata: Metadata::new(),
            app_metadata: Metadata::new(),
            identities: vec![identity],
            blocked: false,
            created_at: now,
            updated_at: now,
            last_login: None,
            logins_count: 0,
            last_password_reset: None,
            deletion_scheduled_at: None,
            inactivity_warned_at: None,
            review_at: None,
            version: 1,
        }
    }

    /// The database identity `user_id` linked into this user.
    pub fn linked_database(&self, user_id: &str) -> Option<&Identity> {
        self.identities[1..]
            .iter()
            .find(|i| i.user_id == user_id && i.connection.is_database())
    }

    pub fn linked_database_mut(&mut self, user_id: &str) -> Option<&mut Identity> {
        self.identities[1..]
            .iter_mut()
            .find(|i| i.user_id == user_id && i.connection.is_database())
    }

    /// The connection of the user's own (first) identity: it scopes email and username
    /// uniqueness and decides whether the user has a password here.
    pub fn connection(&self) -> &Connection {
        &self.identities[0].connection
    }

    /// The address changed, or was proven to reach its owner again (verified): what the
    /// provider reported of it no longer holds, and mail may go to it again (docs/email.md,
    /// "Bounces and complaints").
    pub fn clear_undeliverable(&mut self) {
        self.email_undeliverable = None;
    }

    /// Whether mail to `to` must not be sent: it is the user's address, and the provider
    /// reported that address bounced for good or complained of.
    pub fn suppresses(&self, to: &str) -> bool {
        self.email_undeliverable.is_some() && super::email::same_address(self.email.as_deref(), to)
    }

    /// The normalized key the email is unique under.
    pub fn email_key(&self) -> Option<String> {
        self.email.as_deref().map(super::email::email_key)
    }

    /// The resource as a management caller sees it.
    pub fn to_admin_json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.remove("review_at");
        }
        value
    }

    /// When the user is next due in the erasure index: its scheduled deletion or its next
    /// policy review, whichever comes first.
    pub fn erasure_due(&self) -> Option<Timestamp> {
        match (self.deletion_scheduled_at, self.review_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The resource as the user sees it on /me: without `app_metadata`, which belongs to
    /// the tenant's back office.
    pub fn to_self_json(&self) -> Value {
        let mut value = self.to_admin_json();
        if let Value::Object(map) = &mut value {
            map.remove("app_metadata");
            if let Some(Value::Array(identities)) = map.get_mut("identities") {
                for identity in identities {
                    if let Value::Object(identity) = identity {
                        identity.remove("app_metadata");
                    }
                }
            }
        }
        value
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub fn user() -> User {
        let id = UserId::generate();
        let now = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
        let mut user = User::new(
            id,
            TenantId::parse("acme").unwrap(),
            Identity::database(&id),
            now,
        );
        user.email = Some("Ana@Example.com".into());
        user.name = Some("Ana".into());
        user.app_metadata
            .insert("plan".to_owned(), Value::from("pro"));
        user
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stored_user_without_identities_does_not_load() {
        let mut value = super::fixtures::user().to_admin_json();
        value["identities"] = serde_json::json!([]);
        assert!(serde_json::from_value::<super::User>(value).is_err());
    }

    #[test]
    fn the_self_view_has_no_app_metadata_and_unset_fields_are_left_out() {
        let user = super::fixtures::user();
        let admin = user.to_admin_json();
        assert_eq!(admin["app_metadata"]["plan"], "pro");
        assert!(admin.get("username").is_none());
        let own = user.to_self_json();
        assert!(own.get("app_metadata").is_none());
        assert_eq!(own["email"], "Ana@Example.com");
    }
}
