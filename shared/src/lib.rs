//! The crate every function links. Layers, each importing only those before it:
//! `domain` (pure types and rules) ← `ports` (traits) ← `operations` (use cases) ←
//! {`adapters` (DynamoDB, SES, argon2id), `http` (API Gateway in, JSON out)} ← `config` and
//! `app` (wiring, once per cold start). `schedule` is the drain loop of the scheduled
//! functions. See the README's layout section.

pub mod adapters;
pub mod app;
pub mod config;
pub mod domain;
pub mod http;
pub mod operations;
pub mod ports;
pub mod schedule;
pub mod telemetry;

/// The app every function runs: the operations over the DynamoDB table.
pub type App = operations::App<adapters::dynamo::DynamoStore, adapters::argon::Argon2Hasher>;
