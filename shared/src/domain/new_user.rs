//! The body of `POST /users`, parsed into a user that is valid by construction.

use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::email::Email;
use super::ids::{Connection, ProviderUserId, TenantId, UserId};
use super::metadata::{self, Kind, Metadata};
use super::password::Password;
use super::profile;
use super::time::Timestamp;
use super::user::{Identity, User};
use super::{Error, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct Body {
    connection: Option<String>,
    email: Option<String>,
    #[serde(default, deserialize_with = "json::secret")]
    password: Option<Zeroizing<String>>,
    user_id: Option<String>,
    email_verified: Option<bool>,
    username: Option<String>,
    phone_number: Option<String>,
    phone_verified: Option<bool>,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    nickname: Option<String>,
    picture: Option<String>,
    user_metadata: Option<Value>,
    app_metadata: Option<Value>,
    blocked: Option<bool>,
    verify_email: Option<bool>,
}

/// A user ready to be stored, with the password still to be hashed.
#[derive(Debug)]
pub struct NewUser {
    pub user: User,
    pub password: Option<Password>,
    /// Whether a verification email goes out: by default for a database user whose address
    /// is not verified yet; `"verify_email": false` in the body says no.
    pub verify_email: bool,
}

impl NewUser {
    /// Gives the user `id` in place of the one drawn when the body was parsed (the store
    /// places new users by their id: [`super::listing::placed_id`]). A database user's own
    /// identity is named by the user id, so it follows.
    pub fn place(&mut self, id: UserId) {
        let old = self.user.user_id.to_string();
        if let Some(own) = self.user.identities.first_mut()
            && own.connection.is_database()
            && own.user_id == old
        {
            own.user_id = id.to_string();
        }
        self.user.user_id = id;
    }

    /// Rules beyond the field formats: `database` users need an email and a password and get
    /// a server-generated identity; any other connection needs the provider's `user_id`, may
    /// omit the email and may not carry a password.
    pub fn parse(tenant: &TenantId, body: &[u8], now: Timestamp) -> Result<Self, Error> {
        let b: Body = json::parse_body(body)?;
        let connection = match b.connection.as_deref() {
            None => Connection::database(),
            Some(raw) => Connection::parse(raw)?,
        };
        let email = b.email.as_deref().map(Email::parse).transpose()?;
        let username = b.username.as_deref().map(profile::username).transpose()?;
        let id = UserId::generate();

        let (identity, password) = if connection.is_database() {
            if b.user_id.is_some() {
                return Err(Error::body(
                    "user_id is generated for database users; leave it out.",
                ));
            }
            if email.is_none() {
                return Err(Error::body(
                    "email is required for the database connection.",
                ));
            }
            let raw = b
                .password
                .ok_or_else(|| Error::body("password is required for the database connection."))?;
            let password =
                Password::parse(raw, email.as_ref().map(Email::as_str), username.as_deref())?;
            (Identity::database(&id), Some(password))
        } else {
            if b.password.is_some() {
                return Err(Error::body(format!(
                    "password is only accepted for the database connection, not {connection}."
                )));
            }
            let provider_id = b.user_id.as_deref().ok_or_else(|| {
                Error::body(format!(
                    "user_id (the provider's id) is required for {connection}."
                ))
            })?;
            let provider_id = ProviderUserId::parse(provider_id)?;
            (
                Identity::social(connection, provider_id.as_str().to_owned()),
                None,
            )
        };

        let opt_name =
            |field, v: Option<String>| v.as_deref().map(|s| profile::name(field, s)).transpose();
        let meta = |kind, v: Option<Value>| -> Result<Metadata, Error> {
            v.map(|raw| metadata::parse_initial(kind, raw))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let mut user = User::new(id, tenant.clone(), identity, now);
        user.email = email.map(|e| e.as_str().to_owned());
        user.email_verified = b.email_verified.unwrap_or(false);
        user.username = username;
        user.phone_number = b
            .phone_number
            .as_deref()
            .map(profile::phone_number)
            .transpose()?;
        user.phone_verified = b.phone_verified.unwrap_or(false);
        user.name = opt_name("name", b.name)?;
        user.given_name = opt_name("given_name", b.given_name)?;
        user.family_name = opt_name("family_name", b.family_name)?;
        user.nickname = opt_name("nickname", b.nickname)?;
        user.picture = b.picture.as_deref().map(profile::picture).transpose()?;
        user.user_metadata = meta(Kind::User, b.user_metadata)?;
        user.app_metadata = meta(Kind::App, b.app_metadata)?;
        user.blocked = b.blocked.unwrap_or(false);
        let verify_email = b.verify_email.unwrap_or(true)
            && user.connection().is_database()
            && user.email.is_some()
            && !user.email_verified;
        Ok(NewUser {
            user,
            password,
            verify_email,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_placed_user_keeps_its_own_identity_named_by_its_id() {
        let mut new =
            parse(json!({"email": "ana@example.com", "password": "correct horse battery"}))
                .unwrap();
        let id = UserId::generate();
        new.place(id);
        assert_eq!(new.user.user_id, id);
        assert_eq!(new.user.identities[0].user_id, id.to_string());
        let mut new = parse(json!({"connection": "google-oauth2", "user_id": "g-1"})).unwrap();
        new.place(id);
        assert_eq!(new.user.user_id, id);
        assert_eq!(
            new.user.identities[0].user_id, "g-1",
            "the provider's id stays"
        );
    }

    fn parse(body: Value) -> Result<NewUser, Error> {
        let now = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
        NewUser::parse(
            &TenantId::parse("acme").unwrap(),
            body.to_string().as_bytes(),
            now,
        )
    }

    fn code(r: Result<NewUser, Error>) -> &'static str {
        match r.unwrap_err() {
            Error::Invalid { code, .. } => code,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn a_database_user_needs_an_email_and_a_password() {
        let ok = parse(json!({"email": "ana@example.com", "password": "correct horse"})).unwrap();
        assert_eq!(ok.user.identities[0].connection.as_str(), "database");
        assert_eq!(ok.user.identities[0].user_id, ok.user.user_id.to_string());
        assert!(ok.password.is_some());
        assert_eq!(
            code(parse(json!({"password": "correct horse"}))),
            "invalid_body"
        );
        assert_eq!(
            code(parse(json!({"email": "ana@example.com"}))),
            "invalid_body"
        );
        assert_eq!(
            code(parse(
                json!({"email": "ana@example.com", "password": "short"})
            )),
            "password_too_weak"
        );
    }

    #[test]
    fn a_social_user_needs_the_provider_id_and_may_not_have_a_password() {
        let ok = parse(json!({"connection": "google-oauth2", "user_id": "1234567890"})).unwrap();
        assert_eq!(ok.user.identities[0].provider, "google-oauth2");
        assert!(ok.user.identities[0].is_social);
        assert!(ok.password.is_none());
        assert_eq!(
            code(parse(json!({"connection": "google-oauth2"}))),
            "invalid_body"
        );
        assert_eq!(
            code(parse(
                json!({"connection": "google-oauth2", "user_id": "1", "password": "correct horse"})
            )),
            "invalid_body"
        );
    }

    #[test]
    fn unknown_fields_wrong_types_and_bad_json_are_refused() {
        assert_eq!(
            code(parse(
                json!({"email": "a@x.com", "password": "correct horse", "role": 1})
            )),
            "invalid_body"
        );
        assert_eq!(
            code(parse(json!({"email": 5, "password": "correct horse"}))),
            "invalid_body"
        );
        assert_eq!(code(parse(json!([1, 2]))), "invalid_body");
        let now = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
        let err =
            NewUser::parse(&TenantId::parse("acme").unwrap(), b"{\"email\":", now).unwrap_err();
        assert!(matches!(
            err,
            Error::Invalid {
                code: "invalid_json",
                ..
            }
        ));
    }

    #[test]
    fn field_formats_are_checked() {
        let base = || json!({"email": "ana@example.com", "password": "correct horse"});
        for (field, value, expected) in [
            ("email", json!("not-an-email"), "invalid_email"),
            ("username", json!("has space"), "invalid_username"),
            ("phone_number", json!("555"), "invalid_phone_number"),
            ("picture", json!("javascript:x"), "invalid_body"),
            ("connection", json!("Bad Name"), "invalid_connection"),
            (
                "app_metadata",
                json!({"blocked": true}),
                "reserved_metadata_key",
            ),
        ] {
            let mut body = base();
            body[field] = value;
            assert_eq!(code(parse(body)), expected, "{field}");
        }
    }
}
