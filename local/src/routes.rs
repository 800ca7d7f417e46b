//! The routes of template.yaml, each bound to the handler its function runs.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use lambda_http::{Body, Request, Response};
use shared::App;

pub type Reply<'a> = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send + 'a>>;
pub type Handler = for<'a> fn(&'a App, Request) -> Reply<'a>;

pub struct Route {
    /// The function's crate and binary name; template.yaml builds the function from it.
    pub function: &'static str,
    /// API Gateway's route key, `METHOD /path/{param}`.
    pub key: &'static str,
    /// Served without a token (template.yaml: `Auth: Authorizer: NONE`): a ticket in the
    /// request, or nothing at all, is the caller's only credential.
    pub public: bool,
    /// The scopes template.yaml's `AuthorizationScopes` lists (any one suffices); the local
    /// server refuses a token without one before the handler runs, as API Gateway does.
    pub scopes: &'static [&'static str],
    /// The scopes the handler itself requires (any one suffices): the function's `SCOPES`,
    /// whether the gateway checks them first or not.
    pub handler_scopes: &'static [&'static str],
    pub handler: Handler,
}

macro_rules! route {
    ($name:literal, $krate:ident) => {
        route!($name, $krate, ROUTE)
    };
    ($name:literal, $krate:ident, $key:ident) => {
        route!($name, $krate, $key, false)
    };
    // Auth0's routes leave the scope check to the handler, which refuses in Auth0's words
    // (template.yaml: no `AuthorizationScopes`; docs/auth0-compat.md).
    ($name:literal, $krate:ident, $key:ident, auth0) => {
        Route {
            function: $name,
            key: $krate::$key,
            public: false,
            scopes: &[],
            handler_scopes: $krate::SCOPES,
            handler: |app, req| Box::pin($krate::handle(app, req)),
        }
    };
    ($name:literal, $krate:ident, $key:ident, $public:literal) => {
        Route {
            function: $name,
            key: $krate::$key,
            public: $public,
            scopes: $krate::SCOPES,
            handler_scopes: $krate::SCOPES,
            handler: |app, req| Box::pin($krate::handle(app, req)),
        }
    };
}

pub const ROUTES: [Route; 50] = [
    route!("create-user", create_user),
    route!("create-user", create_user, ROUTE_AUTH0, auth0),
    route!("get-user", get_user),
    route!("get-user", get_user, ROUTE_AUTH0, auth0),
    route!("patch-user", patch_user),
    route!("patch-user", patch_user, ROUTE_AUTH0, auth0),
    route!("delete-user", delete_user),
    route!("delete-user", delete_user, ROUTE_AUTH0, auth0),
    route!("list-users", list_users),
    route!("list-users", list_users, ROUTE_AUTH0, auth0),
    route!("users-by-email", users_by_email),
    route!("users-by-email", users_by_email, ROUTE_AUTH0, auth0),
    route!("link-identity", link_identity),
    route!("link-identity", link_identity, ROUTE_AUTH0, auth0),
    route!("unlink-identity", unlink_identity),
    route!("unlink-identity", unlink_identity, ROUTE_AUTH0, auth0),
    route!("get-me", get_me),
    route!("patch-me", patch_me),
    route!("delete-me", delete_me),
    route!("export-user", export_user),
    route!("export-me", export_me),
    route!("authenticate", authenticate),
    route!("change-password", change_password),
    route!("get-tenant-settings", get_tenant_settings),
    route!("patch-tenant-settings", patch_tenant_settings),
    route!("get-user-blocks", get_user_blocks),
    route!("get-user-blocks", get_user_blocks, ROUTE_BY_IDENTIFIER),
    route!("get-user-blocks", get_user_blocks, ROUTE_AUTH0, auth0),
    route!(
        "get-user-blocks",
        get_user_blocks,
        ROUTE_BY_IDENTIFIER_AUTH0,
        auth0
    ),
    route!("delete-user-blocks", delete_user_blocks),
    route!("delete-user-blocks", delete_user_blocks, ROUTE_AUTH0, auth0),
    route!(
        "delete-user-blocks",
        delete_user_blocks,
        ROUTE_BY_IDENTIFIER_AUTH0,
        auth0
    ),
    route!(
        "delete-user-blocks",
        delete_user_blocks,
        ROUTE_BY_IDENTIFIER
    ),
    route!("send-verification-email", send_verification_email),
    route!(
        "send-verification-email",
        send_verification_email,
        ROUTE_AUTH0,
        auth0
    ),
    route!("get-job", get_job),
    route!("get-job", get_job, ROUTE_AUTH0, auth0),
    route!(
        "create-email-verification-ticket",
        create_email_verification_ticket
    ),
    route!(
        "create-email-verification-ticket",
        create_email_verification_ticket,
        ROUTE_AUTH0,
        auth0
    ),
    route!(
        "create-password-change-ticket",
        create_password_change_ticket
    ),
    route!(
        "create-password-change-ticket",
        create_password_change_ticket,
        ROUTE_AUTH0,
        auth0
    ),
    route!(
        "confirm-email-verification",
        confirm_email_verification,
        ROUTE,
        true
    ),
    route!(
        "confirm-email-verification",
        confirm_email_verification,
        ROUTE_POST,
        true
    ),
    route!(
        "request-password-reset",
        request_password_reset,
        ROUTE,
        true
    ),
    route!(
        "confirm-password-reset",
        confirm_password_reset,
        ROUTE,
        true
    ),
    route!(
        "confirm-password-reset",
        confirm_password_reset,
        ROUTE_PAGE,
        true
    ),
    route!("cancel-email-change", cancel_email_change, ROUTE, true),
    route!("cancel-email-change", cancel_email_change, ROUTE_POST, true),
    route!("unblock-account", unblock_account, ROUTE, true),
    route!("unblock-account", unblock_account, ROUTE_POST, true),
];

impl Route {
    pub fn method(&self) -> &'static str {
        self.key.split_once(' ').map(|(m, _)| m).unwrap_or("")
    }

    pub fn path(&self) -> &'static str {
        self.key.split_once(' ').map(|(_, p)| p).unwrap_or("")
    }

    /// The path parameters, if `path` matches this route's template.
    pub fn matches(&self, method: &str, path: &str) -> Option<HashMap<String, String>> {
        if !self.method().eq_ignore_ascii_case(method) {
            return None;
        }
        let pattern: Vec<&str> = self.path().split('/').collect();
        let actual: Vec<&str> = path.split('/').collect();
        if pattern.len() != actual.len() {
            return None;
        }
        let mut params = HashMap::new();
        for (p, a) in pattern.iter().zip(&actual) {
            match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !a.is_empty() => {
                    params.insert(name.to_owned(), percent_decode(a));
                }
                Some(_) => return None,
                None if p == a => {}
                None => return None,
            }
        }
        Some(params)
    }
}

pub fn find(method: &str, path: &str) -> Option<(&'static Route, HashMap<String, String>)> {
    ROUTES
        .iter()
        .find_map(|r| r.matches(method, path).map(|params| (r, params)))
}

/// API Gateway hands path parameters to the function decoded.
pub fn percent_decode(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}
