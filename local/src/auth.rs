//! HS256 dev tokens, standing in for API Gateway's JWT authorizer.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value, json};

pub const DEFAULT_SECRET: &str = "local-dev-secret";

/// Every management scope, for the dev admin token.
pub const ALL_SCOPES: &str = "read:users create:users update:users update:users_app_metadata delete:users create:user_tickets authenticate:users read:tenant_settings update:tenant_settings";

pub fn secret_from_env() -> String {
    std::env::var("DEV_JWT_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_SECRET.to_owned())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Mints a token for `tenant`, `sub` and a space-separated `scope`, valid for `ttl_secs`.
pub fn mint(secret: &str, tenant: &str, sub: &str, scope: &str, ttl_secs: u64) -> String {
    let claims = json!({
        "iss": "local-api",
        "sub": sub,
        "tenant_id": tenant,
        "scope": scope,
        "iat": now(),
        "exp": now() + ttl_secs,
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing of a JSON object cannot fail")
}

/// Verifies signature and `exp`, then flattens the claims as API Gateway does: strings as
/// they are, arrays as `[a b]`, other values as their JSON text.
pub fn verify(secret: &str, token: &str) -> Option<HashMap<String, String>> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .ok()?;
    Some(
        data.claims
            .into_iter()
            .map(|(k, v)| {
                let flat = match v {
                    Value::String(s) => s,
                    Value::Array(items) => {
                        let parts: Vec<String> = items
                            .iter()
                            .map(|i| {
                                i.as_str()
                                    .map(str::to_owned)
                                    .unwrap_or_else(|| i.to_string())
                            })
                            .collect();
                        format!("[{}]", parts.join(" "))
                    }
                    other => other.to_string(),
                };
                (k, flat)
            })
            .collect(),
    )
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_verifies_and_carries_the_claims() {
        let token = mint("s3cret", "acme", "usr_x", "read:users", 60);
        let claims = verify("s3cret", &token).unwrap();
        assert_eq!(claims["tenant_id"], "acme");
        assert_eq!(claims["sub"], "usr_x");
        assert_eq!(claims["scope"], "read:users");
    }

    #[test]
    fn a_wrong_secret_or_an_expired_token_is_refused() {
        let token = mint("s3cret", "acme", "usr_x", "read:users", 60);
        assert!(verify("other", &token).is_none());
        let claims = json!({"sub": "x", "exp": now() - 120});
        let expired = jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert!(verify("s3cret", &expired).is_none());
    }
}
