//! Auth0's Management API v2 dialect, spoken on the `/api/v2` routes: the tenant from the
//! token, user ids as `{provider}|{id}`, users and identities in Auth0's field names, and
//! errors in Auth0's words, so Auth0's SDKs work unchanged but for the base URL. Every field
//! and each difference: docs/auth0-compat.md.

use serde_json::{Map, Value, json};

use crate::domain::Error;
use crate::domain::ids::{Connection, TenantId, UserId};
use crate::domain::listing::{Filter, Occupancy};
use crate::domain::user::User;

/// What Auth0 calls the database provider in ids and identities.
const DATABASE_PROVIDER: &str = "auth0";

/// A user as an `/api/v2` path names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// `auth0|{id}`: a user whose own identity is a database one, by our id.
    Own(UserId),
    /// `{provider}|{id}`: a user whose own identity is that social one.
    Identity { provider: String, id: String },
}

impl UserRef {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let not_found = || Error::NotFound {
            code: "inexistent_user",
            message: "The user does not exist.".into(),
        };
        let (provider, id) = raw.split_once('|').ok_or_else(not_found)?;
        if id.is_empty() || provider.is_empty() {
            return Err(not_found());
        }
        if provider == DATABASE_PROVIDER {
            return UserId::parse(id).map(UserRef::Own).map_err(|_| not_found());
        }
        Ok(UserRef::Identity {
            provider: provider.to_owned(),
            id: id.to_owned(),
        })
    }
}

/// The user an Auth0 id names: by our id, or a social user through its identity guard, read
/// to check the identity is its own (one linked into another user names no user, as in
/// Auth0): one guard read and one user read more than by id.
pub async fn resolve<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
    app: &crate::operations::App<S, H>,
    tenant: &TenantId,
    raw: &str,
) -> Result<UserId, Error> {
    match UserRef::parse(raw)? {
        UserRef::Own(id) => Ok(id),
        UserRef::Identity { provider, id } => {
            let owner = app
                .identity_owner(tenant, &provider, &id)
                .await?
                .ok_or_else(Error::user_not_found)?;
            let user = app.get_user(tenant, &owner).await?;
            if user_id(&user) != raw {
                return Err(Error::user_not_found());
            }
            Ok(owner)
        }
    }
}

/// The id Auth0's clients know a user by: its own identity's provider and id.
pub fn user_id(user: &User) -> String {
    match user.identities.first() {
        Some(own) if !own.connection.is_database() => format!("{}|{}", own.provider, own.user_id),
        _ => format!("{DATABASE_PROVIDER}|{}", user.user_id),
    }
}

/// A user as Auth0's Management API shows it, the database connection named `database` (the
/// tenant's name for it). `name` and `nickname` default as Auth0 fills them (the email, and
/// its local part); fields Auth0 has no place for are left out, but for
/// `email_undeliverable`, which says why the user gets no mail (read-only, as Auth0's own
/// bookkeeping fields are).
pub fn user_json(user: &User, database: &str) -> Value {
    let admin = user.to_admin_json();
    let mut out = Map::new();
    out.insert("user_id".into(), Value::from(user_id(user)));
    for field in [
        "email",
        "email_verified",
        "email_undeliverable",
        "username",
        "phone_number",
        "phone_verified",
        "given_name",
        "family_name",
        "picture",
        "user_metadata",
        "app_metadata",
        "blocked",
        "created_at",
        "updated_at",
        "last_login",
        "logins_count",
        "last_password_reset",
    ] {
        if let Some(value) = admin.get(field).filter(|v| !v.is_null()) {
            out.insert(field.into(), value.clone());
        }
    }
    let fallback = user.email.as_deref().or(user.username.as_deref());
    let name = user.name.as_deref().or(fallback);
    let nickname = user
        .nickname
        .as_deref()
        .or_else(|| fallback.map(|f| f.split('@').next().unwrap_or(f)));
    if let Some(name) = name {
        out.insert("name".into(), Value::from(name));
    }
    if let Some(nickname) = nickname {
        out.insert("nickname".into(), Value::from(nickname));
    }
    out.insert("identities".into(), identities_json(user, database));
    Value::Object(out)
}

/// A user's identities as Auth0 lists them, its own first.
pub fn identities_json(user: &User, database: &str) -> Value {
    Value::Array(
        user.identities
            .iter()
            .map(|i| identity_json(i, database))
            .collect(),
    )
}

/// A link request in our terms. Auth0 names a database secondary `{"provider": "auth0",
/// "user_id"}` (with or without `auth0|`), which is our `link_with`; `connection_id` only
/// disambiguates and is dropped. Auth0's `link_with` is an ID token, which this service
/// cannot verify: refused. Auth0's endpoint links whatever its trusted caller names, without
/// the verified-email check ours makes by default, so code moved from it keeps working.
pub fn link_body(body: &[u8]) -> Result<Vec<u8>, Error> {
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(body) else {
        return Ok(body.to_vec());
    };
    if map.contains_key("link_with") {
        return Err(Error::body(
            "link_with takes an ID token in Auth0, which this service cannot verify: name the secondary with provider and user_id.",
        ));
    }
    map.remove("connection_id");
    if let Some(Value::Number(n)) = map.get("user_id") {
        let id = n.to_string();
        map.insert("user_id".into(), Value::from(id));
    }
    if map.get("provider").and_then(Value::as_str) == Some(DATABASE_PROVIDER) {
        map.remove("provider");
        let id = map.remove("user_id").unwrap_or_default();
        let id = id.as_str().unwrap_or("");
        let id = id.strip_prefix("auth0|").unwrap_or(id).to_owned();
        map.insert("link_with".into(), Value::from(id));
    }
    map.entry("allow_unverified").or_insert(Value::Bool(true));
    Ok(serde_json::to_vec(&Value::Object(map)).unwrap_or_default())
}

/// A provider in a path, in our terms: Auth0's `auth0` is our database connection.
pub fn provider(raw: &str) -> &str {
    if raw == DATABASE_PROVIDER {
        Connection::DATABASE
    } else {
        raw
    }
}

fn identity_json(identity: &crate::domain::user::Identity, database: &str) -> Value {
    let own = identity.connection.is_database();
    let mut out = json!({
        "connection": if own { database } else { identity.connection.as_str() },
        "provider": if own { DATABASE_PROVIDER } else { identity.provider.as_str() },
        "user_id": identity.user_id,
        "isSocial": identity.is_social,
    });
    if let Some(profile) = &identity.profile_data {
        out["profileData"] = serde_json::to_value(profile).unwrap_or(Value::Null);
    }
    out
}

/// A request body in our terms: the database connection named as the tenant names it in
/// this dialect (`database`) is ours, and on a PATCH it only says which identity to change,
/// the user's own (dropped). Anything not a JSON object passes as it is, for the handler to
/// refuse.
pub fn request_body(method: &http::Method, body: Vec<u8>, database: &str) -> Vec<u8> {
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    if map.get("connection").and_then(Value::as_str) != Some(database) {
        return body;
    }
    if method == http::Method::PATCH {
        map.remove("connection");
    } else {
        map.insert("connection".into(), Value::from(Connection::DATABASE));
    }
    serde_json::to_vec(&Value::Object(map)).unwrap_or(body)
}

/// Names the database connection `database` in each entry of a list (`connection` fields).
pub fn name_connections(list: &mut Value, database: &str) {
    for entry in list.as_array_mut().into_iter().flatten() {
        if entry["connection"] == Connection::DATABASE {
            entry["connection"] = Value::from(database);
        }
    }
}

/// Keeps only the fields `fields` names (`include_fields=false`: all but those), as Auth0's
/// `fields` and `include_fields` query parameters do.
pub fn project(value: Value, fields: Option<&str>, include: bool) -> Value {
    let (Some(fields), Value::Object(map)) = (fields.filter(|f| !f.is_empty()), &value) else {
        return value;
    };
    let named: Vec<&str> = fields.split(',').map(str::trim).collect();
    Value::Object(
        map.iter()
            .filter(|(k, _)| named.contains(&k.as_str()) == include)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// An error as Auth0 words it: its codes and messages where its clients look for them.
pub fn error_code_and_message(code: &str, message: &str) -> (String, String) {
    match code {
        "user_not_found" => ("inexistent_user".into(), "The user does not exist.".into()),
        "user_exists" => ("auth0_idp_error".into(), "The user already exists.".into()),
        "invalid_query" => ("invalid_query_string".into(), message.into()),
        _ => (code.into(), message.into()),
    }
}

/// Most results a listing pages through, as in Auth0 (whose search caps the same way).
pub const MAX_RESULTS: usize = 1000;

/// `GET /api/v2/users`: Auth0's `page` / `per_page` (default 50, at most 100) over the first
/// [`MAX_RESULTS`] users in listing order; `include_totals=true` (what the SDKs send) wraps
/// them as `{start, limit, length, total, users}`, `total` from the tenant's count. `q`
/// (with `search_engine=v3`) takes one term of [`Query`]; anything else is 400, as is
/// `sort`.
pub async fn list_users<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
    app: &crate::operations::App<S, H>,
    call: &super::Call,
    tenant: &TenantId,
) -> Result<super::Reply, Error> {
    call.only_query(&[
        "page",
        "per_page",
        "include_totals",
        "q",
        "search_engine",
        "fields",
        "include_fields",
        "sort",
    ])?;
    let number = |name: &str, default: usize| -> Result<usize, Error> {
        match call.query(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|_| bad_query(format!("{name} must be a whole number."))),
        }
    };
    let page = number("page", 0)?;
    let per_page = number("per_page", 50)?;
    if !(1..=100).contains(&per_page) {
        return Err(bad_query("per_page must be from 1 to 100.".into()));
    }
    let start = page.saturating_mul(per_page);
    if start.saturating_add(per_page) > MAX_RESULTS {
        return Err(bad_query(format!(
            "You can only page through the first {MAX_RESULTS} users; narrow the query instead."
        )));
    }
    if call.query("search_engine").is_some_and(|e| e != "v3") {
        return Err(bad_query("Only search_engine=v3 is supported.".into()));
    }
    if call.query("sort").is_some() {
        return Err(bad_query(
            "sort is not supported: users list in a fixed order.".into(),
        ));
    }
    let q = call.query("q").map(str::trim).filter(|q| !q.is_empty());
    let database = call.database_connection();
    let query = q.map(|q| Query::parse(q, database)).transpose()?;
    // `total` only when asked for (the SDKs ask), from the counts a page read if it did.
    let totals = call.query("include_totals") == Some("true");
    let (users, total) = match query {
        None => {
            let (users, counts) = page_of_users(app, tenant, None, start, per_page).await?;
            let total = match (totals, counts) {
                (false, _) => 0,
                (true, Some(counts)) => counts.total(),
                (true, None) => app.count_users(tenant).await?,
            };
            (users, total)
        }
        Some(Query::Where(filter)) => {
            let (users, counts) =
                page_of_users(app, tenant, Some(&filter), start, per_page).await?;
            let total = if totals {
                app.count_users_where(tenant, &filter, MAX_RESULTS as u64, counts.as_ref())
                    .await?
            } else {
                0
            };
            (users, total)
        }
        Some(Query::Email(email)) => {
            window(app.users_by_email(tenant, &email).await?, start, per_page)
        }
        Some(Query::UserId(raw)) => {
            let found = match resolve(app, tenant, &raw).await {
                Ok(id) => vec![app.get_user(tenant, &id).await?],
                Err(Error::NotFound { .. }) => Vec::new(),
                Err(e) => return Err(e),
            };
            window(found, start, per_page)
        }
    };
    let list: Vec<Value> = users
        .iter()
        .map(|u| {
            let include = call.query("include_fields") != Some("false");
            project(user_json(u, database), call.query("fields"), include)
        })
        .collect();
    let body = if totals {
        json!({"start": start, "limit": per_page, "length": list.len(), "total": total, "users": list})
    } else {
        Value::Array(list)
    };
    Ok(super::Reply::json(http::StatusCode::OK, body))
}

fn bad_query(message: String) -> Error {
    Error::invalid("invalid_query_string", message)
}

/// Found users from `start`, at most `count`, and how many were found.
fn window(found: Vec<User>, start: usize, count: usize) -> (Vec<User>, u64) {
    let total = found.len() as u64;
    (found.into_iter().skip(start).take(count).collect(), total)
}

/// What an Auth0 `q` may ask, one exact term: `email:"…"`, `user_id:"…"`,
/// `email_verified:true|false` or `identities.connection:"…"` (the database connection by
/// the tenant's name for it). Each is answered from an index (the email guards, the user's
/// id, the search index), never a scan; values may be quoted or not.
#[derive(Debug, PartialEq, Eq)]
pub enum Query {
    Email(crate::domain::email::Email),
    UserId(String),
    Where(Filter),
}

impl Query {
    pub fn parse(q: &str, database: &str) -> Result<Self, Error> {
        let unsupported = || {
            bad_query(format!(
                "This query is not supported: {q}. Search takes one exact term: email:\"…\", user_id:\"…\", email_verified:true|false or identities.connection:\"…\"."
            ))
        };
        let (field, value) = q.split_once(':').ok_or_else(unsupported)?;
        let value = match value.strip_prefix('"') {
            Some(quoted) => quoted.strip_suffix('"').ok_or_else(unsupported)?,
            None => value,
        };
        let lucene = |c: char| c.is_whitespace() || "\"*?~()[]{}^!:\\".contains(c);
        if value.is_empty() || value.contains(lucene) {
            return Err(unsupported());
        }
        match field {
            "email" => Ok(Query::Email(crate::domain::email::Email::parse(value)?)),
            "user_id" => Ok(Query::UserId(value.to_owned())),
            "email_verified" => match value {
                "true" => Ok(Query::Where(Filter::EmailVerified(true))),
                "false" => Ok(Query::Where(Filter::EmailVerified(false))),
                _ => Err(unsupported()),
            },
            "identities.connection" => {
                let connection = if value == database {
                    Ok(Connection::database())
                } else {
                    Connection::parse(value)
                };
                connection
                    .map(|c| Query::Where(Filter::Connection(c)))
                    .map_err(|_| unsupported())
            }
            _ => Err(unsupported()),
        }
    }
}

/// Users `start` to `start + count` in listing order (of those `filter` names): the pages
/// before are read and passed over (at most [`MAX_RESULTS`] users); with the tenant's
/// per-shard counts if a page read them.
async fn page_of_users<S: crate::ports::Store, H: crate::ports::PasswordHasher>(
    app: &crate::operations::App<S, H>,
    tenant: &TenantId,
    filter: Option<&Filter>,
    start: usize,
    count: usize,
) -> Result<(Vec<User>, Option<Occupancy>), Error> {
    use crate::domain::listing::{MAX_LIMIT, PageRequest, Position};
    let mut request = PageRequest {
        limit: MAX_LIMIT,
        start: Position::default(),
    };
    let mut seen = 0;
    let mut out = Vec::with_capacity(count);
    let mut counts = None;
    loop {
        // No page reads past the last user wanted.
        request.limit = (start + count - seen).min(MAX_LIMIT);
        let page = match filter {
            None => app.list_users(tenant, &request).await?,
            Some(filter) => app.list_users_where(tenant, filter, &request).await?,
        };
        counts = page.occupancy.or(counts);
        for user in page.users {
            if seen >= start && out.len() < count {
                out.push(user);
            }
            seen += 1;
        }
        match page.next {
            Some(next) if out.len() < count => request.start = next,
            _ => return Ok((out, counts)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tenant::AUTH0_DATABASE_CONNECTION;
    use crate::domain::time::Timestamp;
    use crate::domain::user::Identity;

    fn database_user() -> User {
        let id = UserId::generate();
        let mut user = User::new(
            id,
            TenantId::parse("acme").unwrap(),
            Identity::database(&id),
            Timestamp::from_datetime(time::OffsetDateTime::UNIX_EPOCH),
        );
        user.email = Some("ana.silva@example.com".into());
        user
    }

    #[test]
    fn a_database_user_is_auth0_pipe_its_id_with_auth0s_defaults_and_field_names() {
        let user = database_user();
        let v = user_json(&user, AUTH0_DATABASE_CONNECTION);
        assert_eq!(v["user_id"], format!("auth0|{}", user.user_id));
        assert_eq!(v["name"], "ana.silva@example.com");
        assert_eq!(v["nickname"], "ana.silva");
        assert_eq!(
            v["identities"],
            json!([{
                "connection": "Username-Password-Authentication",
                "provider": "auth0",
                "user_id": user.user_id.to_string(),
                "isSocial": false,
            }])
        );
        assert!(v.get("version").is_none() && v.get("tenant_id").is_none());
        assert_eq!(
            UserRef::parse(&format!("auth0|{}", user.user_id)).unwrap(),
            UserRef::Own(user.user_id)
        );
    }

    #[test]
    fn a_social_user_is_known_by_its_provider_and_id() {
        let mut user = database_user();
        user.identities = vec![Identity::social(
            Connection::parse("google-oauth2").unwrap(),
            "10876".into(),
        )];
        assert_eq!(user_id(&user), "google-oauth2|10876");
        assert_eq!(
            UserRef::parse("google-oauth2|10876").unwrap(),
            UserRef::Identity {
                provider: "google-oauth2".into(),
                id: "10876".into()
            }
        );
        for bad in ["", "auth0|", "|x", "auth0|not-ours", "no-pipe"] {
            assert!(UserRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_query_is_one_exact_term_an_index_answers() {
        let parse = |q: &str| Query::parse(q, AUTH0_DATABASE_CONNECTION).unwrap();
        assert_eq!(
            parse("email_verified:false"),
            Query::Where(Filter::EmailVerified(false))
        );
        assert_eq!(
            parse(r#"identities.connection:"Username-Password-Authentication""#),
            Query::Where(Filter::Connection(Connection::database()))
        );
        assert_eq!(
            parse("identities.connection:google-oauth2"),
            Query::Where(Filter::Connection(
                Connection::parse("google-oauth2").unwrap()
            ))
        );
        assert_eq!(
            parse(r#"user_id:"auth0|x""#),
            Query::UserId("auth0|x".into())
        );
        for bad in [
            "name:ana",
            "email_verified:maybe",
            r#"email:"a*@example.com""#,
            r#"email:"a@b.c" OR email:"d@e.f""#,
            r#"identities.connection:"""#,
            "logins_count:[1 TO 5]",
            "email_verified",
        ] {
            assert!(
                Query::parse(bad, AUTH0_DATABASE_CONNECTION).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn fields_keep_or_drop_what_they_name() {
        let v = json!({"user_id": "auth0|x", "email": "a@b.c", "name": "A"});
        assert_eq!(
            project(v.clone(), Some("email,user_id"), true),
            json!({"user_id": "auth0|x", "email": "a@b.c"})
        );
        assert_eq!(
            project(v.clone(), Some("email"), false),
            json!({"user_id": "auth0|x", "name": "A"})
        );
        assert_eq!(project(v.clone(), None, true), v);
    }
}
