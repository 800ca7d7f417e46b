//! The domain crate every function links.
//!
//! `domain` holds the model, the validation and merge rules, the ports and the operations; it
//! knows nothing about HTTP or AWS. `adapters` implements the ports (DynamoDB, argon2id),
//! `http` turns an API Gateway request into a domain call and a domain error into the JSON
//! error shape, and `app` wires them together once per cold start.

pub mod adapters;
pub mod app;
pub mod domain;
pub mod http;
pub mod table;
pub mod telemetry;

pub use app::App;
