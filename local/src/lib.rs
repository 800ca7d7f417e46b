//! The local stand-in for API Gateway: route matching, the JWT authorizer (HS256 dev tokens),
//! and the payload 2.0 event each function receives. The same code serves `make dev` and the
//! tests, so what the tests exercise is what a developer runs.

pub mod auth;
pub mod fixtures;
pub mod gateway;
pub mod lambda;
pub mod mailbox;
pub mod moto;
pub mod queue;
pub mod reapply;
pub mod restore;
pub mod routes;
pub mod server;
pub mod stats;
pub mod template;
