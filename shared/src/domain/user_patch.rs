//! The body of `PATCH /users/{id}` and `PATCH /me`.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use zeroize::Zeroizing;

use super::email::Email;
use super::metadata::{Kind, MetadataPatch};
use super::password::Password;
use super::profile;
use super::time::Timestamp;
use super::user::User;
use super::{Error, json};

/// The fields an end user may change on their own profile (`PATCH /me`). Everything else on
/// the resource is the tenant's to manage, so naming it is 403 rather than 400: the field
/// exists, this token may not touch it.
pub const SELF_SERVICE_FIELDS: [&str; 8] = [
    "email",
    "user_metadata",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "username",
];

/// What `update:users_app_metadata` alone may change.
pub const METADATA_FIELDS: [&str; 2] = ["user_metadata", "app_metadata"];

/// Absent (`None`), `null` (`Some(None)`) or a value (`Some(Some(v))`).
type Tri<T> = Option<Option<T>>;

fn tri<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Tri<T>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct Body {
    #[serde(default, deserialize_with = "tri")]
    email: Tri<String>,
    #[serde(default, deserialize_with = "tri")]
    email_verified: Tri<bool>,
    #[serde(default, deserialize_with = "tri")]
    username: Tri<String>,
    #[serde(default, deserialize_with = "tri")]
    phone_number: Tri<String>,
    #[serde(default, deserialize_with = "tri")]
    phone_verified: Tri<bool>,
    #[serde(default, deserialize_with = "tri")]
    name: Tri<String>,
    #[serde(default, deserialize_with = "tri")]
    given_name: Tri<String>,
    #[serde(default, deserialize_with = "tri")]
    family_name: Tri<String>,
    #[serde(default, deserialize_with = "tri")]
    nickname: Tri<String>,
    #[serde(default, deserialize_with = "tri")]
    picture: Tri<String>,
    #[serde(default, deserialize_with = "tri")]
    user_metadata: Tri<Value>,
    #[serde(default, deserialize_with = "tri")]
    app_metadata: Tri<Value>,
    #[serde(default, deserialize_with = "tri")]
    blocked: Tri<bool>,
    #[serde(default, deserialize_with = "json::tri_secret")]
    password: Tri<Zeroizing<String>>,
    #[serde(default, deserialize_with = "tri")]
    verify_email: Tri<bool>,
    #[serde(default, deserialize_with = "tri")]
    deletion_scheduled_at: Tri<Value>,
}

/// A validated change to a user. `None` leaves a field alone; for optional fields
/// `Some(None)` removes it.
#[derive(Debug, Default)]
pub struct UserPatch {
    pub email: Option<Email>,
    pub email_verified: Option<bool>,
    pub username: Option<Option<String>>,
    pub phone_number: Option<Option<String>>,
    pub phone_verified: Option<bool>,
    pub name: Option<Option<String>>,
    pub given_name: Option<Option<String>>,
    pub family_name: Option<Option<String>>,
    pub nickname: Option<Option<String>>,
    pub picture: Option<Option<String>>,
    pub user_metadata: Option<MetadataPatch>,
    pub app_metadata: Option<MetadataPatch>,
    pub blocked: Option<bool>,
    /// Checked against the password policy once the resulting email and username are known.
    pub password: Option<Zeroizing<String>>,
    /// With a new `email`: whether to send it a verification (default yes, unless the patch
    /// also marks it verified).
    pub verify_email: Option<bool>,
    /// `"deletion_scheduled_at": null`: cancels a scheduled erasure.
    pub cancel_deletion: bool,
}

/// Fields whose value is required: `null` is refused rather than guessed at.
fn required<T>(field: &str, v: Tri<T>) -> Result<Option<T>, Error> {
    match v {
        None => Ok(None),
        Some(Some(v)) => Ok(Some(v)),
        Some(None) => Err(Error::body(format!("{field} cannot be null."))),
    }
}

fn optional<T>(
    v: Tri<String>,
    check: impl Fn(&str) -> Result<T, Error>,
) -> Result<Option<Option<T>>, Error> {
    v.map(|inner| inner.as_deref().map(&check).transpose())
        .transpose()
}

impl UserPatch {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let b: Body = json::parse_body(body)?;
        let name = |field: &'static str| move |s: &str| profile::name(field, s);
        Ok(UserPatch {
            email: required("email", b.email)?
                .as_deref()
                .map(Email::parse)
                .transpose()?,
            email_verified: required("email_verified", b.email_verified)?,
            username: optional(b.username, profile::username)?,
            phone_number: optional(b.phone_number, profile::phone_number)?,
            phone_verified: required("phone_verified", b.phone_verified)?,
            name: optional(b.name, name("name"))?,
            given_name: optional(b.given_name, name("given_name"))?,
            family_name: optional(b.family_name, name("family_name"))?,
            nickname: optional(b.nickname, name("nickname"))?,
            picture: optional(b.picture, profile::picture)?,
            user_metadata: b
                .user_metadata
                .map(|v| MetadataPatch::parse(Kind::User, v.unwrap_or(Value::Null)))
                .transpose()?,
            app_metadata: b
                .app_metadata
                .map(|v| MetadataPatch::parse(Kind::App, v.unwrap_or(Value::Null)))
                .transpose()?,
            blocked: required("blocked", b.blocked)?,
            password: required("password", b.password)?,
            verify_email: required("verify_email", b.verify_email)?,
            cancel_deletion: match b.deletion_scheduled_at {
                None => false,
                Some(None) => true,
                Some(Some(_)) => {
                    return Err(Error::body(
                        "deletion_scheduled_at can only be null, which cancels a scheduled deletion; users schedule their own with DELETE /me.",
                    ));
                }
            },
        })
        .and_then(|patch| {
            if patch.verify_email.is_some() && patch.email.is_none() {
                return Err(Error::body("verify_email goes with a new email."));
            }
            Ok(patch)
        })
    }

    /// The names of the fields this patch touches, for scope checks.
    pub fn fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut add = |present: bool, name: &'static str| {
            if present {
                out.push(name);
            }
        };
        add(self.email.is_some(), "email");
        add(self.email_verified.is_some(), "email_verified");
        add(self.username.is_some(), "username");
        add(self.phone_number.is_some(), "phone_number");
        add(self.phone_verified.is_some(), "phone_verified");
        add(self.name.is_some(), "name");
        add(self.given_name.is_some(), "given_name");
        add(self.family_name.is_some(), "family_name");
        add(self.nickname.is_some(), "nickname");
        add(self.picture.is_some(), "picture");
        add(self.user_metadata.is_some(), "user_metadata");
        add(self.app_metadata.is_some(), "app_metadata");
        add(self.blocked.is_some(), "blocked");
        add(self.password.is_some(), "password");
        add(self.verify_email.is_some(), "verify_email");
        add(self.cancel_deletion, "deletion_scheduled_at");
        out
    }

    /// Refuses the patch if it names a field outside `allowed`.
    pub fn only(&self, allowed: &[&str], why: &str) -> Result<(), Error> {
        match self.fields().into_iter().find(|f| !allowed.contains(f)) {
            Some(field) => Err(Error::forbidden(format!(
                "{field} cannot be changed {why}."
            ))),
            None => Ok(()),
        }
    }

    /// True when applying the patch cannot change the user (`{}` or only `{}` metadata).
    pub fn is_noop(&self) -> bool {
        let meta_noop = |m: &Option<MetadataPatch>| m.as_ref().is_none_or(MetadataPatch::is_noop);
        self.fields()
            .iter()
            .all(|f| matches!(*f, "user_metadata" | "app_metadata"))
            && meta_noop(&self.user_metadata)
            && meta_noop(&self.app_metadata)
    }

    /// True when the change moves a uniqueness guard or writes a password, so it must be
    /// applied to the current user in a transaction.
    pub fn needs_current(&self) -> bool {
        // A cancelled deletion also leaves the due index, which only a whole write moves.
        self.email.is_some()
            || self.username.is_some()
            || self.password.is_some()
            || self.cancel_deletion
    }

    /// The root fields this patch sets and removes, as stored attribute names and JSON
    /// values, for a blind update. Only meaningful when `needs_current()` is false.
    pub fn root_changes(&self) -> (Vec<(&'static str, Value)>, Vec<&'static str>) {
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut opt = |field: &'static str, v: &Option<Option<String>>| match v {
            Some(Some(s)) => set.push((field, Value::from(s.clone()))),
            Some(None) => remove.push(field),
            None => {}
        };
        opt("phone_number", &self.phone_number);
        opt("name", &self.name);
        opt("given_name", &self.given_name);
        opt("family_name", &self.family_name);
        opt("nickname", &self.nickname);
        opt("picture", &self.picture);
        for (field, v) in [
            ("email_verified", self.email_verified),
            ("phone_verified", self.phone_verified),
            ("blocked", self.blocked),
        ] {
            if let Some(b) = v {
                set.push((field, Value::from(b)));
            }
        }
        // As `apply`: an address marked verified again is mailed again.
        if self.email_verified == Some(true) {
            remove.push("email_undeliverable");
        }
        (set, remove)
    }

    /// Applies the patch to `user` exactly, giving the next version. A changed email (not
    /// just its letter case) is unverified unless the patch says otherwise. Returns the
    /// password to hash, checked against the policy with the resulting email and username.
    pub fn apply(&self, user: &mut User, now: Timestamp) -> Result<Option<Password>, Error> {
        if let Some(email) = &self.email {
            let changed = user.email_key().as_deref() != Some(email.normalized());
            user.email = Some(email.as_str().to_owned());
            if changed {
                user.email_verified = false;
                // Set by an administrator, the address supersedes one the user asked for.
                user.pending_email = None;
                user.clear_undeliverable();
            }
        }
        if let Some(v) = self.email_verified {
            user.email_verified = v;
            // Whoever marks the address verified vouches that it reaches its owner again.
            if v {
                user.clear_undeliverable();
            }
        }
        let set = |slot: &mut Option<String>, v: &Option<Option<String>>| {
            if let Some(v) = v {
                slot.clone_from(v);
            }
        };
        set(&mut user.username, &self.username);
        set(&mut user.phone_number, &self.phone_number);
        set(&mut user.name, &self.name);
        set(&mut user.given_name, &self.given_name);
        set(&mut user.family_name, &self.family_name);
        set(&mut user.nickname, &self.nickname);
        set(&mut user.picture, &self.picture);
        if let Some(v) = self.phone_verified {
            user.phone_verified = v;
        }
        if let Some(v) = self.blocked {
            user.blocked = v;
        }
        if self.cancel_deletion {
            user.deletion_scheduled_at = None;
        }
        if let Some(m) = &self.user_metadata {
            m.apply(Kind::User, &mut user.user_metadata)?;
        }
        if let Some(m) = &self.app_metadata {
            m.apply(Kind::App, &mut user.app_metadata)?;
        }
        let password = match &self.password {
            None => None,
            Some(raw) => {
                if !user.connection().is_database() {
                    return Err(Error::body(format!(
                        "password can only be set for database users; this user signs in with {}.",
                        user.connection()
                    )));
                }
                let password =
                    Password::parse(raw.clone(), user.email.as_deref(), user.username.as_deref())?;
                user.last_password_reset = Some(now);
                Some(password)
            }
        };
        user.updated_at = now;
        user.version += 1;
        Ok(password)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::user::fixtures;

    fn parse(v: Value) -> Result<UserPatch, Error> {
        UserPatch::parse(v.to_string().as_bytes())
    }

    fn now() -> Timestamp {
        Timestamp::from_datetime(time::OffsetDateTime::now_utc())
    }

    #[test]
    fn null_unsets_optional_fields_and_is_refused_for_required_ones() {
        let p = parse(json!({"name": null, "nickname": "ana"})).unwrap();
        assert_eq!(p.name, Some(None));
        assert_eq!(p.nickname, Some(Some("ana".into())));
        for field in [
            "email",
            "email_verified",
            "blocked",
            "password",
            "phone_verified",
        ] {
            assert!(parse(json!({ field: null })).is_err(), "{field}");
        }
    }

    #[test]
    fn connection_and_user_id_cannot_be_patched() {
        for field in [
            "connection",
            "user_id",
            "identities",
            "created_at",
            "version",
        ] {
            let err = parse(json!({ field: "x" })).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Invalid {
                        code: "invalid_body",
                        ..
                    }
                ),
                "{field}"
            );
        }
    }

    #[test]
    fn changing_the_email_unverifies_it_unless_told_otherwise() {
        let mut user = fixtures::user();
        user.email_verified = true;
        parse(json!({"email": "new@example.com"}))
            .unwrap()
            .apply(&mut user, now())
            .unwrap();
        assert!(!user.email_verified);
        assert_eq!(user.version, 2);

        let mut user = fixtures::user();
        parse(json!({"email": "new@example.com", "email_verified": true}))
            .unwrap()
            .apply(&mut user, now())
            .unwrap();
        assert!(user.email_verified);

        let mut user = fixtures::user();
        user.email_verified = true;
        parse(json!({"email": "ANA@example.com"}))
            .unwrap()
            .apply(&mut user, now())
            .unwrap();
        assert!(
            user.email_verified,
            "a change of letter case is the same address"
        );
        assert_eq!(user.email.as_deref(), Some("ANA@example.com"));
    }

    #[test]
    fn a_new_address_or_a_new_verification_clears_the_undeliverable_mark_and_nothing_else_does() {
        use crate::domain::feedback::{Reason, Undeliverable};
        let marked = || {
            let mut user = fixtures::user();
            user.email_undeliverable = Some(Undeliverable {
                reason: Reason::Bounce,
                detail: None,
                at: now(),
            });
            user
        };
        for (body, clears) in [
            (json!({"email": "new@example.com"}), true),
            (json!({"email_verified": true}), true),
            (json!({"email": "ANA@example.com"}), false),
            (json!({"email_verified": false}), false),
            (json!({"name": "Ana Silva"}), false),
        ] {
            let patch = parse(body.clone()).unwrap();
            let mut user = marked();
            patch.apply(&mut user, now()).unwrap();
            assert_eq!(user.email_undeliverable.is_none(), clears, "{body}");
            if !patch.needs_current() {
                // The blind write removes the attribute exactly when `apply` clears it.
                let (_, remove) = patch.root_changes();
                assert_eq!(remove.contains(&"email_undeliverable"), clears, "{body}");
            }
        }
    }

    #[test]
    fn a_password_is_only_for_database_users_and_follows_the_policy() {
        let mut user = fixtures::user();
        let pw = parse(json!({"password": "a new passphrase"}))
            .unwrap()
            .apply(&mut user, now())
            .unwrap();
        assert!(pw.is_some() && user.last_password_reset.is_some());

        let mut user = fixtures::user();
        let err = parse(json!({"password": "Ana@Example.com"}))
            .unwrap()
            .apply(&mut user, now())
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Invalid {
                code: "password_too_weak",
                ..
            }
        ));

        let mut social = fixtures::user();
        social.identities[0].connection =
            crate::domain::ids::Connection::parse("google-oauth2").unwrap();
        let err = parse(json!({"password": "a new passphrase"}))
            .unwrap()
            .apply(&mut social, now())
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Invalid {
                code: "invalid_body",
                ..
            }
        ));
    }

    #[test]
    fn empty_bodies_and_empty_metadata_are_noops() {
        assert!(parse(json!({})).unwrap().is_noop());
        assert!(
            parse(json!({"user_metadata": {}, "app_metadata": {}}))
                .unwrap()
                .is_noop()
        );
        assert!(!parse(json!({"user_metadata": null})).unwrap().is_noop());
        assert!(!parse(json!({"blocked": false})).unwrap().is_noop());
    }

    #[test]
    fn only_refuses_fields_outside_the_allowed_set() {
        let p = parse(json!({"user_metadata": {"a": 1}, "blocked": true})).unwrap();
        let err = p
            .only(&["user_metadata", "app_metadata"], "with this scope")
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Forbidden {
                code: "insufficient_scope",
                ..
            }
        ));
        let p = parse(json!({"user_metadata": {"a": 1}})).unwrap();
        assert!(p.only(&["user_metadata"], "here").is_ok());
    }
}
